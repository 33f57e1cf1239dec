"""Typed builders for the Kubernetes objects the stack creates; each returns a plain dict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import fabric
from core import wellknown as wk
from core.config import DistributedSpec, GpuPoolSpec

CHECKS_DIR = Path(__file__).resolve().parents[1] / "checks"
CHECKS_MOUNT = "/checks"
# Small fixed requests keep the check pods schedulable next to anything else on the node.
CHECK_REQUESTS = {"cpu": "250m", "memory": "256Mi"}
NON_ROOT_UID = 65534  # nobody
# `pulumi up` waits a little longer than the Job's own deadline, so a Job that runs out of time
# fails the update with Kubernetes' DeadlineExceeded rather than with a generic await timeout.
AWAIT_MARGIN_SECONDS = 60
# A running check must not lose its node to drift or consolidation half-way (Karpenter v1:
# `karpenter.sh/do-not-disrupt: "true"` on a pod blocks voluntary disruption of its node).
POD_ANNOTATIONS = {wk.ANNOTATION_DO_NOT_DISRUPT: "true"}


def common_labels(component: str, run_id: str | None = None) -> dict[str, str]:
    labels = {
        wk.LABEL_APP_NAME: component,
        wk.LABEL_PART_OF: wk.PROJECT,
        wk.LABEL_MANAGED_BY: "pulumi",
    }
    if run_id is not None:
        labels[wk.LABEL_RUN_ID] = run_id
    return labels


def gpu_nodepool(spec: GpuPoolSpec) -> dict:
    """The Auto Mode NodePool that launches on-demand amd64 GPU nodes (karpenter.sh/v1)."""
    requirements = [
        {"key": wk.LABEL_ARCH, "operator": "In", "values": ["amd64"]},
        {"key": wk.LABEL_CAPACITY_TYPE, "operator": "In", "values": list(spec.capacity_types)},
        {
            "key": wk.LABEL_INSTANCE_CATEGORY,
            "operator": "In",
            "values": list(spec.instance_categories),
        },
        # Only sizes with at least one GPU: category g/p alone still admits none-GPU edge cases.
        {"key": wk.LABEL_INSTANCE_GPU_COUNT, "operator": "Gt", "values": ["0"]},
    ]
    if spec.instance_families:
        requirements.append(
            {
                "key": wk.LABEL_INSTANCE_FAMILY,
                "operator": "In",
                "values": list(spec.instance_families),
            }
        )
    return {
        "apiVersion": wk.KARPENTER_API_VERSION,
        "kind": "NodePool",
        "metadata": {"name": spec.name, "labels": common_labels(spec.name)},
        "spec": {
            "template": {
                "metadata": {"labels": {wk.LABEL_NODE_GROUP: spec.name}},
                "spec": {
                    "nodeClassRef": {
                        "group": wk.NODECLASS_GROUP,
                        "kind": wk.NODECLASS_KIND,
                        "name": wk.NODECLASS_DEFAULT,
                    },
                    "requirements": requirements,
                    "taints": [{"key": wk.GPU_TAINT_KEY, "effect": wk.GPU_TAINT_EFFECT}],
                    "expireAfter": spec.expire_after,
                },
            },
            "limits": {
                wk.RESOURCE_GPU: str(spec.max_gpus),
                "cpu": str(spec.max_cpu),
                "memory": f"{spec.max_memory_gi}Gi",
            },
            "disruption": {
                "consolidationPolicy": "WhenEmpty",
                "consolidateAfter": spec.consolidate_after,
            },
        },
    }


def namespace(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": common_labels("validation")},
    }


def check_scripts() -> dict[str, str]:
    """The check scripts shipped in `checks/` (shell and Python), keyed by file name."""
    return {
        p.name: p.read_text()
        for p in sorted(CHECKS_DIR.iterdir())
        if p.suffix in (".sh", ".py") and p.is_file()
    }


def scripts_configmap(name: str, ns: str, scripts: Mapping[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": common_labels("check-scripts")},
        "data": dict(scripts),
    }


@dataclass(frozen=True)
class CheckJobSpec:
    """One validation Job: a script from the ConfigMap, run once on a GPU-pool node."""

    check: str  # gpu-check | efa-check
    namespace: str
    configmap: Any  # the ConfigMap's name: a string, or a Pulumi Output of one
    image: str
    run_id: str
    nodepool: str
    timeout_seconds: int
    resources: Mapping[str, str] = field(default_factory=dict)  # extended resources to request
    node_selector: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    run_as_non_root: bool = True
    backoff_limit: int = 1


def check_job(spec: CheckJobSpec) -> dict:
    """A bounded Job: never restarts in place, gives up after `backoff_limit`, and has a deadline.

    A bare Pod that exits is restarted forever and keeps its GPU node (FACTS.md, "GPU and EFA
    checks"); this Job ends, and the empty node is consolidated.
    """
    labels = common_labels(spec.check, spec.run_id)
    container_security: dict = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }
    pod_security: dict = {"seccompProfile": {"type": "RuntimeDefault"}}
    if spec.run_as_non_root:
        pod_security.update({"runAsNonRoot": True, "runAsUser": NON_ROOT_UID})
    limits = {k: str(v) for k, v in spec.resources.items()}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "namespace": spec.namespace,
            "labels": labels,
            "annotations": {
                wk.ANNOTATION_TIMEOUT: str(spec.timeout_seconds + AWAIT_MARGIN_SECONDS),
                # A failed check stays failed in state; replace it on the next `up` (re-run).
                wk.ANNOTATION_REPLACE_UNREADY: "true",
            },
        },
        "spec": {
            "backoffLimit": spec.backoff_limit,
            "activeDeadlineSeconds": spec.timeout_seconds,
            "template": {
                "metadata": {"labels": labels, "annotations": dict(POD_ANNOTATIONS)},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "nodeSelector": {
                        wk.LABEL_NODEPOOL: spec.nodepool,
                        wk.LABEL_ARCH: "amd64",
                        **spec.node_selector,
                    },
                    "tolerations": [
                        {
                            "key": wk.GPU_TAINT_KEY,
                            "operator": "Exists",
                            "effect": wk.GPU_TAINT_EFFECT,
                        }
                    ],
                    "securityContext": pod_security,
                    "containers": [
                        {
                            "name": "check",
                            "image": spec.image,
                            "command": ["sh", f"{CHECKS_MOUNT}/{spec.check}.sh"],
                            "env": [{"name": k, "value": v} for k, v in spec.env.items()],
                            "resources": {
                                "requests": {**CHECK_REQUESTS, **limits},
                                "limits": {"memory": CHECK_REQUESTS["memory"], **limits},
                            },
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "securityContext": container_security,
                            "volumeMounts": [
                                {"name": "checks", "mountPath": CHECKS_MOUNT, "readOnly": True},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "checks", "configMap": {"name": spec.configmap}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    }


# ---------------------------------------------------------------------------- distributed check

DISTRIBUTED_RANKS = 2
DISTRIBUTED_PORT = 29500  # torchrun's default rendezvous port
# torch's shared-memory collectives and NCCL's buffers need more /dev/shm than the runtime's
# 64 MiB default; memory-backed, bounded.
SHM_SIZE = "2Gi"
# Keep the finished Job and its pods a day: `toe report` and the readout read their results.
DISTRIBUTED_TTL_SECONDS = 86_400


def distributed_selector(run_id: str) -> dict[str, str]:
    return {wk.LABEL_APP_NAME: wk.DISTRIBUTED_CHECK, wk.LABEL_RUN_ID: run_id}


def distributed_service(namespace: str, run_id: str) -> dict:
    """Headless Service for the distributed check's pods: `<job>-<index>.<service>` resolves,
    before the pods are ready (the rendezvous happens while they start)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": wk.DISTRIBUTED_SERVICE,
            "namespace": namespace,
            "labels": common_labels(wk.DISTRIBUTED_CHECK),
        },
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": distributed_selector(run_id),
            "ports": [{"name": "rendezvous", "port": DISTRIBUTED_PORT, "protocol": "TCP"}],
        },
    }


def distributed_job(
    spec: DistributedSpec,
    *,
    namespace: str,
    configmap: Any,
    run_id: str,
    nodepool: str,
    timeout_seconds: int,
) -> dict:
    """An Indexed Job of two pods, one GPU each, on two nodes of one zone, running torchrun.

    No operator: the pods find each other through the headless Service (`subdomain`), rank 0 at
    `<job>-0.<service>`. `pulumi up` does not wait for it (skipAwait): the readout does, so that
    `distributedRequired` decides whether a failure fails the update.
    """
    labels = {**common_labels(wk.DISTRIBUTED_CHECK, run_id), **distributed_selector(run_id)}
    resources = {wk.RESOURCE_GPU: "1"}
    requirements = []
    selector = {wk.LABEL_NODEPOOL: nodepool, wk.LABEL_ARCH: "amd64"}
    if spec.efa:
        resources[wk.RESOURCE_EFA] = "1"
        selector[wk.LABEL_INSTANCE_TYPE] = spec.instance_type
    elif spec.families:
        requirements.append(
            {"key": wk.LABEL_INSTANCE_FAMILY, "operator": "In", "values": list(spec.families)}
        )
    else:  # the g category only: never the p instances unless named
        requirements.append({"key": wk.LABEL_INSTANCE_CATEGORY, "operator": "In", "values": ["g"]})
    same_check = {"labelSelector": {"matchLabels": distributed_selector(run_id)}}
    affinity: dict = {
        # Two nodes: the point is traffic between them.
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {**same_check, "topologyKey": wk.LABEL_HOSTNAME}
            ]
        },
        # One zone: a training job's nodes sit together (cross-zone traffic is slower and billed).
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {**same_check, "topologyKey": wk.LABEL_ZONE}
            ]
        },
    }
    if requirements:
        affinity["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": requirements}]
            }
        }
    env = [
        {
            "name": "JOB_NAME",
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{wk.LABEL_JOB_NAME}']"}},
        },
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "MASTER_ADDR", "value": f"$(JOB_NAME)-0.{wk.DISTRIBUTED_SERVICE}"},
        {"name": "MASTER_PORT", "value": str(DISTRIBUTED_PORT)},
        {"name": "NNODES", "value": str(DISTRIBUTED_RANKS)},
        # Up to 4 GiB, and to where a published figure was measured (core/data/fabric.yaml).
        {
            "name": "TOE_SIZES_MIB",
            "value": " ".join(map(str, fabric.sizes_mib(spec.instance_type))),
        },
        # The root filesystem is read-only: torch's and Python's caches go to /tmp.
        {"name": "HOME", "value": "/tmp"},
        {"name": "NCCL_DEBUG", "value": "INFO"},
        {"name": "NCCL_DEBUG_FILE", "value": "/tmp/nccl.%h.%p.log"},
    ]
    if spec.efa:
        env.append({"name": "FI_PROVIDER", "value": "efa"})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                wk.ANNOTATION_SKIP_AWAIT: "true",
                wk.ANNOTATION_TIMEOUT: str(timeout_seconds + AWAIT_MARGIN_SECONDS),
                wk.ANNOTATION_REPLACE_UNREADY: "true",
            },
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": DISTRIBUTED_RANKS,
            "parallelism": DISTRIBUTED_RANKS,
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout_seconds,
            "ttlSecondsAfterFinished": DISTRIBUTED_TTL_SECONDS,
            "template": {
                "metadata": {"labels": labels, "annotations": dict(POD_ANNOTATIONS)},
                "spec": {
                    "subdomain": wk.DISTRIBUTED_SERVICE,
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "nodeSelector": selector,
                    "affinity": affinity,
                    "tolerations": [
                        {
                            "key": wk.GPU_TAINT_KEY,
                            "operator": "Exists",
                            "effect": wk.GPU_TAINT_EFFECT,
                        }
                    ],
                    # The Deep Learning Container runs as root; everything else is locked down.
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "check",
                            "image": spec.image,
                            "command": ["sh", f"{CHECKS_MOUNT}/distributed.sh"],
                            "env": env,
                            "ports": [{"name": "rendezvous", "containerPort": DISTRIBUTED_PORT}],
                            "resources": {
                                "requests": {"cpu": "1", "memory": "4Gi", **resources},
                                "limits": {"memory": "8Gi", **resources},
                            },
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True,
                            },
                            "volumeMounts": [
                                {"name": "checks", "mountPath": CHECKS_MOUNT, "readOnly": True},
                                {"name": "tmp", "mountPath": "/tmp"},
                                {"name": "shm", "mountPath": "/dev/shm"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "checks", "configMap": {"name": configmap}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}},
                    ],
                },
            },
        },
    }
