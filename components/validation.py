"""Validation component: bounded Jobs that prove a GPU node works and whether EFA is there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster import Cluster
from components.gpu_pool import GpuNodePool
from components.readout import ValidationReadout, ValidationReadoutArgs
from core import k8s_objects
from core import wellknown as wk
from core.config import AwsAccess, ChecksSpec


@dataclass(frozen=True)
class ValidationArgs:
    checks: ChecksSpec
    nodepool: GpuNodePool
    cluster: Cluster
    access: AwsAccess


def job_specs(checks: ChecksSpec, nodepool: str, configmap: Any) -> list[k8s_objects.CheckJobSpec]:
    """The two checks as plain specs (the same for `pulumi up`, synth and the tests)."""
    common = {
        "namespace": wk.VALIDATION_NAMESPACE,
        "configmap": configmap,
        "run_id": checks.run_id,
        "nodepool": nodepool,
        "timeout_seconds": checks.timeout_seconds,
    }
    gpu = k8s_objects.CheckJobSpec(
        check=wk.GPU_CHECK,
        image=checks.gpu_image,
        resources={wk.RESOURCE_GPU: "1"},
        # The base image's CUDA may be newer than the node's driver (FACTS.md, "GPU and EFA").
        env={"NVIDIA_DISABLE_REQUIRE": "true"},
        **common,
    )
    efa_env = {"EFA_REQUESTED": str(checks.efa_requested).lower()}
    efa = k8s_objects.CheckJobSpec(
        check=wk.EFA_CHECK,
        image=checks.efa_image,
        resources={wk.RESOURCE_EFA: "1"} if checks.efa_requested else {},
        node_selector=(
            {wk.LABEL_INSTANCE_TYPE: checks.efa_instance_type} if checks.efa_requested else {}
        ),
        env=efa_env,
        # The Deep Learning Container runs as root and its libfabric needs the device files.
        run_as_non_root=False,
        **common,
    )
    return [gpu, efa]


class Validation(pulumi.ComponentResource):
    """Namespace, the check scripts' ConfigMap, one Job per check, and the readout of both."""

    job_names: pulumi.Output[dict]
    jobs: dict[str, k8s.batch.v1.Job]
    results: pulumi.Output[dict]
    summary: pulumi.Output[str]

    def __init__(
        self, name: str, args: ValidationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("training-on-eks:validation:Validation", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.cluster.provider)
        ns = k8s_objects.namespace(wk.VALIDATION_NAMESPACE)
        namespace = k8s.core.v1.Namespace(f"{name}-ns", metadata=ns["metadata"], opts=on_cluster)
        cm = k8s_objects.scripts_configmap(
            "check-scripts", wk.VALIDATION_NAMESPACE, k8s_objects.check_scripts()
        )
        scripts = k8s.core.v1.ConfigMap(
            f"{name}-scripts",
            metadata={k: v for k, v in cm["metadata"].items() if k != "name"},
            data=cm["data"],
            opts=pulumi.ResourceOptions.merge(
                on_cluster, pulumi.ResourceOptions(depends_on=[namespace])
            ),
        )
        configmap_name = scripts.metadata.apply(lambda m: m["name"])
        self.jobs = {}
        for spec in job_specs(args.checks, args.nodepool.spec_name, configmap_name):
            body = k8s_objects.check_job(spec)
            self.jobs[spec.check] = k8s.batch.v1.Job(
                f"{name}-{spec.check}",
                metadata=body["metadata"],
                spec=body["spec"],
                # Only the cluster and the NodePool: never the node groups, so the GPU check
                # runs while they are still being created.
                opts=pulumi.ResourceOptions.merge(
                    on_cluster, pulumi.ResourceOptions(depends_on=[args.nodepool.nodepool, scripts])
                ),
            )
        distributed = args.checks.distributed
        if distributed.enabled:
            self.jobs[wk.DISTRIBUTED_CHECK] = self._distributed(
                name, args, on_cluster, namespace, scripts, configmap_name
            )
        names = {check: job.metadata.apply(lambda m: m["name"]) for check, job in self.jobs.items()}
        self.job_names = pulumi.Output.from_input(names)
        # Reads the finished Jobs' pods (a dynamic resource: nothing runs during preview). Its
        # inputs are the Jobs' names, so it waits for them and is replaced with them (runId).
        readout = ValidationReadout(
            f"{name}-readout",
            ValidationReadoutArgs(
                cluster_name=args.cluster.cluster_name,
                access=args.access,
                endpoint=args.cluster.endpoint,
                certificate_authority=args.cluster.certificate_authority,
                namespace=wk.VALIDATION_NAMESPACE,
                gpu_job_name=names[wk.GPU_CHECK],
                efa_job_name=names[wk.EFA_CHECK],
                efa_requested=args.checks.efa_requested,
                efa_required=args.checks.efa_required,
                distributed_job_name=names.get(wk.DISTRIBUTED_CHECK),
                distributed_required=distributed.required,
                distributed_efa=distributed.efa,
                distributed_min_busbw_gbps=(
                    "" if distributed.min_busbw_gbps is None else f"{distributed.min_busbw_gbps:g}"
                ),
                # The Job is not awaited by `up` (skipAwait): the readout waits for it as long
                # as the Job may run.
                distributed_timeout_seconds=args.checks.timeout_seconds,
                run_id=args.checks.run_id,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.results = readout.validation
        self.summary = readout.validation_summary
        self.register_outputs(
            {"job_names": self.job_names, "results": self.results, "summary": self.summary}
        )

    def _distributed(self, name, args, on_cluster, namespace, scripts, configmap_name):
        """The headless Service and the Indexed Job of the distributed check."""
        checks = args.checks
        body = k8s_objects.distributed_service(wk.VALIDATION_NAMESPACE, checks.run_id)
        service = k8s.core.v1.Service(
            f"{name}-distributed-svc",
            metadata=body["metadata"],
            spec=body["spec"],
            opts=pulumi.ResourceOptions.merge(
                on_cluster, pulumi.ResourceOptions(depends_on=[namespace])
            ),
        )
        job = k8s_objects.distributed_job(
            checks.distributed,
            namespace=wk.VALIDATION_NAMESPACE,
            configmap=configmap_name,
            run_id=checks.run_id,
            nodepool=args.nodepool.spec_name,
            timeout_seconds=checks.timeout_seconds,
        )
        return k8s.batch.v1.Job(
            f"{name}-{wk.DISTRIBUTED_CHECK}",
            metadata=job["metadata"],
            spec=job["spec"],
            opts=pulumi.ResourceOptions.merge(
                on_cluster,
                pulumi.ResourceOptions(depends_on=[args.nodepool.nodepool, scripts, service]),
            ),
        )
