"""Cluster component: the EKS Auto Mode control plane and an explicit Kubernetes provider."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components import wellknown as wk
from components.config import StackConfig
from components.network_lookup import NetworkFacts

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


@dataclass(frozen=True)
class ClusterArgs:
    config: StackConfig
    network: NetworkFacts


class Cluster(pulumi.ComponentResource):
    """EKS with Auto Mode (built-in general-purpose and system pools), API authentication."""

    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    eks: eks.Cluster

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("training-on-eks:cluster:Cluster", name, None, opts)
        cfg, net = args.config, args.network
        self.eks = eks.Cluster(
            f"{name}-eks",
            name=cfg.cluster_name,
            version=cfg.kubernetes_version,
            vpc_id=net.vpc.id,
            private_subnet_ids=[s.id for s in net.private],
            public_subnet_ids=[s.id for s in net.public] or None,
            authentication_mode=eks.AuthenticationMode.API,
            # Auto Mode; its built-in pools bring the `default` NodeClass the GPU pool uses.
            auto_mode=eks.AutoModeOptionsArgs(
                enabled=True,
                compute_config=eks.ClusterComputeConfigArgs(
                    node_pools=list(wk.AUTO_MODE_BUILTIN_POOLS)
                ),
            ),
            skip_default_node_group=True,
            # With Auto Mode pulumi-eks skips vpc-cni and kube-proxy; managed node groups need
            # both to join (FACTS.md, "pulumi-eks 4.x").
            use_default_vpc_cni=False,
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(enabled=True),
            endpoint_private_access=True,
            endpoint_public_access=cfg.endpoint_public_access,
            public_access_cidrs=list(cfg.public_access_cidrs)
            if cfg.endpoint_public_access
            else None,
            # The identity running `pulumi up` is made admin by EKS (bootstrap creator admin).
            access_entries={
                f"admin-{index}": eks.AccessEntryArgs(
                    principal_arn=arn,
                    access_policies={
                        "cluster-admin": eks.AccessPolicyAssociationArgs(
                            policy_arn=CLUSTER_ADMIN_POLICY,
                            access_scope={"type": "cluster"},
                        )
                    },
                )
                for index, arn in enumerate(cfg.cluster_admin_arns)
            }
            or None,
            tags={"training-on-eks/stack": cfg.stack},
            opts=pulumi.ResourceOptions(parent=self),
        )
        # pulumi-eks does not mark the kubeconfig secret (FACTS.md): do it here, once.
        self.kubeconfig = pulumi.Output.secret(self.eks.kubeconfig_json)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = pulumi.Output.from_input(cfg.cluster_name)
        kubeconfig_cluster = self.eks.kubeconfig.apply(lambda kc: kc["clusters"][0]["cluster"])
        self.endpoint = kubeconfig_cluster.apply(lambda c: c["server"])
        self.certificate_authority = kubeconfig_cluster.apply(
            lambda c: c["certificate-authority-data"]
        )
        self.register_outputs(
            {
                "name": self.name,
                "endpoint": self.endpoint,
                "certificate_authority": self.certificate_authority,
                "kubeconfig": self.kubeconfig,
            }
        )
