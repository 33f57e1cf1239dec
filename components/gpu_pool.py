"""GPU NodePool component: the Auto Mode pool that launches tainted, bounded GPU nodes."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.cluster import Cluster
from components.teardown import DrainTarget, nodepool_drain_hook
from core import k8s_objects
from core.config import AwsAccess, GpuPoolSpec


@dataclass(frozen=True)
class GpuNodePoolArgs:
    spec: GpuPoolSpec
    cluster: Cluster
    access: AwsAccess


class GpuNodePool(pulumi.ComponentResource):
    """A `karpenter.sh/v1` NodePool on Auto Mode's `default` NodeClass."""

    name: pulumi.Output[str]
    summary: pulumi.Output[dict]
    nodepool: k8s.apiextensions.CustomResource
    spec_name: str  # the NodePool's name as configured (known at preview)

    def __init__(
        self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("training-on-eks:gpu:GpuNodePool", name, None, opts)
        self.spec_name = args.spec.name
        body = k8s_objects.gpu_nodepool(args.spec)
        self.nodepool = k8s.apiextensions.CustomResource(
            f"{name}-nodepool",
            api_version=body["apiVersion"],
            kind=body["kind"],
            metadata=body["metadata"],
            spec=body["spec"],
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.cluster.provider,
                # On destroy, wait until Auto Mode has removed the pool's GPU nodes before the
                # node groups and the cluster go (needs `pulumi destroy --run-program`).
                hooks=pulumi.ResourceHookBinding(
                    after_delete=[
                        nodepool_drain_hook(
                            DrainTarget(args.cluster.cluster_name, args.spec.name, args.access)
                        )
                    ]
                ),
            ),
        )
        self.name = self.nodepool.metadata.apply(lambda m: m["name"])
        spec = body["spec"]
        self.summary = pulumi.Output.from_input(
            {
                "name": args.spec.name,
                "requirements": {
                    r["key"]: f"{r['operator']} {','.join(r['values'])}"
                    for r in spec["template"]["spec"]["requirements"]
                },
                "taints": [f"{t['key']}:{t['effect']}" for t in spec["template"]["spec"]["taints"]],
                "limits": spec["limits"],
                "consolidateAfter": args.spec.consolidate_after,
                "expireAfter": args.spec.expire_after,
            }
        )
        self.register_outputs({"name": self.name, "summary": self.summary})
