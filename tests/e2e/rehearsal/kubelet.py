"""The kubelet of Karpenter's nodes, stood in for: the rehearsal has no machines, so this marks
the Nodes the cloud provider registered Ready, keeps their leases, and runs the pods bound to them.

Karpenter decides which nodes exist (tests/e2e/rehearsal/karpenter.py); this never creates or
removes one. What it does, as the kubelet would:
- a Node of an Auto Mode NodePool (label `karpenter.sh/nodepool`, provider ID `aws:///...`) gets
  the Ready condition and node info, then a heartbeat (its Lease in kube-node-lease and Ready's
  lastHeartbeatTime) every few seconds;
- a pod bound to such a node runs its container command on this machine with the ConfigMap and
  emptyDir volumes written to a folder (mount paths in the command are mapped onto it), the
  container's env, and `nvidia-smi`/`fi_info` replaying real captures (rehearsal/fakes.py) for
  the GPU EC2 reports for the node's type; EFA devices are there when the pod asked for
  `vpc.amazonaws.com/efa` and the node advertises it (EKS user guide, "Manage EFA devices": Auto
  Mode configures EFA for such pods). The container's termination message is the file the check
  scripts are pointed at with TERMINATION_LOG (the pod's terminationMessagePath otherwise);
- a pod being deleted (Karpenter's drain evicts) is killed and removed at once.
There is no container runtime: an image "pulls" when the recorded catalogue of check images
(core/image_catalogue.py) holds its reference; any other ends as on a real node, ErrImagePull on
each try and ImagePullBackOff between tries (10 s, doubling to 300 s: the kubelet's image pull
back-off, pkg/kubelet/kubelet.go backOffPeriod and MaxContainerBackOff), and never runs.

Every step is recorded with its time in `history`, for the tests' judge (rehearsal/judge.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.utils import parse_quantity
from rehearsal import fakes

from core import image_catalogue

GPU = "nvidia.com/gpu"
EFA = "vpc.amazonaws.com/efa"
NODEPOOL = "karpenter.sh/nodepool"
TERMINATION_MESSAGE_MAX = 4096  # bytes the kubelet keeps of a termination message
HEARTBEAT_SECONDS = 5.0
PULL_BACK_OFF_SECONDS, PULL_BACK_OFF_MAX = 10.0, 300.0


def quantity(text: Any) -> float:
    """A Kubernetes quantity (`250m`, `256Mi`, `4`) as a number (bytes for memory), read by the
    kubernetes client's own parser."""
    return float(parse_quantity(text))


def pod_requests(pod: dict) -> dict[str, float]:
    total: dict[str, float] = {}
    for container in pod["spec"].get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        limits = (container.get("resources") or {}).get("limits") or {}
        for name, value in {**limits, **requests}.items():
            total[name] = total.get(name, 0.0) + quantity(value)
    return total


def _ready_condition(heartbeat: str) -> dict:
    """The Ready condition the kubelet posts (pkg/kubelet/nodestatus/setters.go ReadyCondition)."""
    return {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": heartbeat,
    }


def _container_status(container: dict, state: dict) -> dict:
    """A container's status as the kubelet writes it: ready and started only while running."""
    running = "running" in state
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": running,
        "started": running,
        "restartCount": 0,
        "state": state,
    }


@dataclass
class KubeletNode:
    name: str
    pool: str
    instance_type: str
    zone: str
    arch: str
    gpu_name: str | None
    efa: int


@dataclass
class Running:
    process: subprocess.Popen
    sandbox: Path
    started: dt.datetime
    log: Any


@dataclass
class Kubelet:
    """The kubelets of one cluster's Auto Mode nodes, polling its API server."""

    cluster: str
    plane: Any
    gpu_names: dict[str, str | None]  # instance type -> the GPU EC2 reports for it
    fixtures: Path
    nodes: dict[str, KubeletNode] = field(default_factory=dict)
    running: dict[str, Running] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    _pods: dict[str, tuple] = field(default_factory=dict)
    _pulls: dict[str, dict] = field(default_factory=dict)  # pod uid -> failed tries, next try

    def start(self) -> None:
        from kubernetes import client

        api = self.plane.admin_client()
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self.thread = threading.Thread(
            target=self._loop, name=f"kubelet-{self.cluster}", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        for run in list(self.running.values()):
            if run.process.poll() is None:
                run.process.kill()

    def _record(self, event: str, **fields: Any) -> None:
        self.history.append({"t": round(time.time(), 3), "event": event, **fields})

    def _loop(self) -> None:
        last_heartbeat = 0.0
        while not self.stopping.is_set():
            try:
                self._sync_nodes()
                serialize = self.core.api_client.sanitize_for_serialization
                for pod in (serialize(p) for p in self.core.list_pod_for_all_namespaces().items):
                    self._kubelet(pod)
                self._finish_runs()
                if time.monotonic() - last_heartbeat > HEARTBEAT_SECONDS:
                    self._heartbeat()
                    last_heartbeat = time.monotonic()
            except Exception:  # keep serving; the history says what went wrong
                self._record("error", detail=traceback.format_exc())
            self.stopping.wait(0.5)

    def _sync_nodes(self) -> None:
        seen = set()
        for node in self.core.list_node(label_selector=NODEPOOL).items:
            if not (node.spec.provider_id or "").startswith("aws:///"):
                continue
            name, labels = node.metadata.name, node.metadata.labels or {}
            seen.add(name)
            if name in self.nodes:
                continue
            kind = labels.get("node.kubernetes.io/instance-type", "")
            capacity = node.status.capacity or {}
            self.nodes[name] = KubeletNode(
                name=name,
                pool=labels.get(NODEPOOL, ""),
                instance_type=kind,
                zone=labels.get("topology.kubernetes.io/zone", ""),
                arch=labels.get("kubernetes.io/arch", "amd64"),
                gpu_name=self.gpu_names.get(kind),
                efa=int(capacity.get(EFA, 0) or 0),
            )
            self._record(
                "node-launched",
                node=name,
                pool=self.nodes[name].pool,
                instanceType=kind,
                zone=self.nodes[name].zone,
            )
            self._ready(name)
            self._record("node-registered", node=name)
        for name in list(self.nodes):
            if name not in seen:
                gone = self.nodes.pop(name)
                self._record(
                    "node-gone", node=name, pool=gone.pool, instanceType=gone.instance_type
                )

    def _ready(self, name: str) -> None:
        now = dt.datetime.now(dt.UTC).isoformat()
        node = self.nodes[name]
        self.core.patch_node_status(
            name,
            {
                "status": {
                    "conditions": [{**_ready_condition(now), "lastTransitionTime": now}],
                    "nodeInfo": {
                        "architecture": node.arch,
                        "operatingSystem": "linux",
                        "kubeletVersion": "v1.33.13-eks",
                        "kubeProxyVersion": "",
                        "containerRuntimeVersion": "containerd://rehearsal",
                        "osImage": "Bottlerocket (EKS Auto Mode), rehearsal kubelet",
                        "kernelVersion": "",
                        "bootID": "",
                        "machineID": "",
                        "systemUUID": "",
                    },
                }
            },
        )

    def _heartbeat(self) -> None:
        now = dt.datetime.now(dt.UTC)
        for node in list(self.nodes.values()):
            body = {
                "metadata": {"name": node.name, "namespace": "kube-node-lease"},
                "spec": {
                    "holderIdentity": node.name,
                    "leaseDurationSeconds": 40,
                    "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                },
            }
            try:
                self.coordination.patch_namespaced_lease(node.name, "kube-node-lease", body)
            except Exception:
                with contextlib.suppress(Exception):
                    self.coordination.create_namespaced_lease("kube-node-lease", body)
            with contextlib.suppress(Exception):
                self.core.patch_node_status(
                    node.name,
                    {"status": {"conditions": [_ready_condition(now.isoformat())]}},
                )

    # ------------------------------------------------------------------ kubelet

    def _kubelet(self, pod: dict) -> None:
        node = self.nodes.get(pod["spec"].get("nodeName") or "")
        if node is None:
            return
        meta, uid = pod["metadata"], pod["metadata"]["uid"]
        if meta.get("deletionTimestamp"):
            run = self.running.pop(uid, None)
            if run is not None and run.process.poll() is None:
                run.process.kill()
            with contextlib.suppress(Exception):
                self.core.delete_namespaced_pod(
                    meta["name"], meta["namespace"], grace_period_seconds=0
                )
            self._record("pod-deleted", node=node.name, pod=f"{meta['namespace']}/{meta['name']}")
            return
        phase = (pod.get("status") or {}).get("phase")
        if uid in self.running or phase in ("Running", "Succeeded", "Failed"):
            return
        if self._pulled(pod, node):
            self._start(pod, node)

    def _pulled(self, pod: dict, node: KubeletNode) -> bool:
        meta, container = pod["metadata"], pod["spec"]["containers"][0]
        failed = self._pulls.get(meta["uid"])
        now = time.monotonic()
        if failed is not None and now < failed["next"]:
            if not failed["backingOff"]:  # between tries the kubelet reports the back-off
                failed["backingOff"] = True
                self._waiting(pod, image_catalogue.pull(container["image"], 2).waiting())
            return False
        result = image_catalogue.pull(container["image"], 1)
        if result.pulled:
            return True
        tries = (failed or {}).get("tries", 0) + 1
        delay = min(PULL_BACK_OFF_SECONDS * 2 ** (tries - 1), PULL_BACK_OFF_MAX)
        self._pulls[meta["uid"]] = {"tries": tries, "next": now + delay, "backingOff": False}
        self._waiting(pod, result.waiting())
        self._record(
            "image-pull-failed",
            node=node.name,
            pod=f"{meta['namespace']}/{meta['name']}",
            image=container["image"],
        )
        return False

    def _waiting(self, pod: dict, waiting: dict) -> None:
        meta, container = pod["metadata"], pod["spec"]["containers"][0]
        status = {
            "phase": "Pending",
            "containerStatuses": [_container_status(container, {"waiting": waiting})],
        }
        with contextlib.suppress(Exception):
            self.core.patch_namespaced_pod_status(
                meta["name"], meta["namespace"], {"status": status}
            )

    def _start(self, pod: dict, node: KubeletNode) -> None:
        meta = pod["metadata"]
        container = pod["spec"]["containers"][0]
        sandbox = Path(tempfile.mkdtemp(prefix=f"pod-{meta['name']}-"))
        mounts = self._volumes(pod, container, sandbox)
        needs = pod_requests(pod)
        fakes.node_tools(
            sandbox / "bin",
            self.fixtures,
            node.gpu_name,
            int(needs.get(GPU, 0)),
            int(needs.get(EFA, 0)) if node.efa else 0,
        )
        argv = [
            self._mapped(arg, mounts)
            for arg in (container.get("command") or []) + (container.get("args") or [])
        ]
        env = self._env(pod, container)
        if "MASTER_ADDR" in env:
            # Every "node" is this machine and there is no cluster DNS: rank 0 listens on
            # loopback, at a port of this Job's own.
            job = (meta.get("labels") or {}).get("batch.kubernetes.io/job-name", meta["name"])
            env["MASTER_ADDR"] = "127.0.0.1"
            owner = (meta.get("ownerReferences") or [{}])[0].get("uid", job)
            env["TOE_RENDEZVOUS"] = str(Path(tempfile.gettempdir()) / "toe-rendezvous" / owner)
            env["MASTER_PORT"] = str(
                20000 + int(hashlib.sha1(job.encode()).hexdigest(), 16) % 20000
            )
        env.update(
            PATH=f"{sandbox / 'bin'}:/usr/bin:/bin",
            HOME=str(sandbox / "home"),
            HOSTNAME=meta["name"],
            TERMINATION_LOG=str(sandbox / "termination-log"),
        )
        (sandbox / "home").mkdir()
        log = (sandbox / "container.log").open("w")
        started = dt.datetime.now(dt.UTC)
        process = subprocess.Popen(argv, cwd=sandbox, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.running[meta["uid"]] = Running(process, sandbox, started, log)
        status = {
            "phase": "Running",
            "hostIP": "10.0.0.10",
            "podIP": "10.0.0.11",
            "startTime": started.isoformat(),
            "conditions": [
                {
                    "type": "Initialized",
                    "status": "True",
                    "lastTransitionTime": started.isoformat(),
                },
                {"type": "Ready", "status": "True", "lastTransitionTime": started.isoformat()},
                {
                    "type": "ContainersReady",
                    "status": "True",
                    "lastTransitionTime": started.isoformat(),
                },
            ],
            "containerStatuses": [
                _container_status(container, {"running": {"startedAt": started.isoformat()}})
            ],
        }
        self.core.patch_namespaced_pod_status(meta["name"], meta["namespace"], {"status": status})
        self._pods[meta["uid"]] = (meta["name"], meta["namespace"], container, node.name)
        self._record("pod-started", node=node.name, pod=f"{meta['namespace']}/{meta['name']}")

    @staticmethod
    def _env(pod: dict, container: dict) -> dict[str, str]:
        """The container's environment as the kubelet builds it: fieldRef values from the pod
        (labels, annotations, name, node), then `$(VAR)` references to earlier variables."""
        meta = pod["metadata"]
        env: dict[str, str] = {}
        for item in container.get("env") or []:
            if "valueFrom" in item:
                path = ((item["valueFrom"].get("fieldRef") or {}).get("fieldPath")) or ""
                found = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
                if found:
                    value = (meta.get(found[1]) or {}).get(found[2], "")
                else:
                    value = {
                        "metadata.name": meta.get("name", ""),
                        "metadata.namespace": meta.get("namespace", ""),
                        "spec.nodeName": pod["spec"].get("nodeName", ""),
                    }.get(path, "")
            else:
                value = re.sub(
                    r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                    lambda m: env.get(m[1], m[0]),
                    item.get("value", ""),
                )
            env[item["name"]] = value
        return env

    def _volumes(self, pod: dict, container: dict, sandbox: Path) -> dict[str, Path]:
        by_name = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        mounts = {}
        for mount in container.get("volumeMounts") or []:
            volume = by_name[mount["name"]]
            where = sandbox / "volumes" / mount["name"]
            where.mkdir(parents=True, exist_ok=True)
            if "configMap" in volume:
                config = self.core.read_namespaced_config_map(
                    volume["configMap"]["name"], pod["metadata"]["namespace"]
                )
                for key, value in (config.data or {}).items():
                    (where / key).write_text(value)
            mounts[mount["mountPath"].rstrip("/")] = where
        return mounts

    @staticmethod
    def _mapped(arg: str, mounts: dict[str, Path]) -> str:
        for path, local in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
            if arg == path or arg.startswith(path + "/"):
                return str(local) + arg[len(path) :]
        return arg

    def _finish_runs(self) -> None:
        for uid, run in list(self.running.items()):
            code = run.process.poll()
            if code is None:
                continue
            run.log.close()
            name, namespace, container, node_name = self._pods.pop(uid)
            del self.running[uid]
            path = run.sandbox / "termination-log"
            message = (
                path.read_bytes()[:TERMINATION_MESSAGE_MAX].decode(errors="replace")
                if path.exists()
                else ""
            )
            finished = dt.datetime.now(dt.UTC)
            state = {
                "terminated": {
                    "exitCode": code,
                    "reason": "Completed" if code == 0 else "Error",
                    "message": message,
                    "startedAt": run.started.isoformat(),
                    "finishedAt": finished.isoformat(),
                }
            }
            status = {
                "phase": "Succeeded" if code == 0 else "Failed",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "PodCompleted",
                        "lastTransitionTime": finished.isoformat(),
                    },
                    {
                        "type": "ContainersReady",
                        "status": "False",
                        "reason": "PodCompleted",
                        "lastTransitionTime": finished.isoformat(),
                    },
                ],
                "containerStatuses": [_container_status(container, state)],
            }
            with contextlib.suppress(Exception):
                self.core.patch_namespaced_pod_status(name, namespace, {"status": status})
            self._record("pod-exited", node=node_name, pod=f"{namespace}/{name}", exitCode=code)
            shutil.rmtree(run.sandbox, ignore_errors=True)
