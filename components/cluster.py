"""Cluster component: the EKS Auto Mode control plane and an explicit Kubernetes provider."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import pulumi
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from core import wellknown as wk
from core.config import AwsAccess, StackConfig
from core.iam import parse_principal
from core.network_lookup import NetworkFacts

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def principal_of(arn: str) -> tuple[str, str, str] | None:
    """(account, kind, name) of the principal an ARN names (an STS session names its role, whose
    creator access entry EKS makes); None for anything else."""
    principal = parse_principal(arn)
    return principal.identity if principal else None


def extra_admins(admins: tuple[str, ...], deployer_arn: str | None) -> tuple[list[str], list[str]]:
    """The admin ARNs that need an access entry, and those skipped because they are the identity
    running `pulumi up`: EKS gives it one already (bootstrapClusterCreatorAdminPermissions) and
    rejects a second for the same principal."""
    me = principal_of(deployer_arn) if deployer_arn else None
    keep = [a for a in admins if me is None or principal_of(a) != me]
    return keep, [a for a in admins if a not in keep]


def _deployer_arn() -> str | None:
    import pulumi_aws as aws

    try:
        return aws.get_caller_identity().arn
    except Exception as err:  # no identity: every listed admin gets an entry
        pulumi.log.warn(f"could not read the caller identity: {err}")
        return None


def kubeconfig_options(access: AwsAccess) -> dict[str, str]:
    """The kubeconfig options under which `aws eks get-token` reaches AWS as the aws provider
    does: its profile and the role it assumes. Without them pulumi-eks takes `aws:profile` but no
    role (nodejs/eks/cluster/cluster.ts, createCluster), and its `kubeconfig` output has no profile
    (genKubeconfig(false)): pulumi-kubernetes would run as the default credentials, an identity
    EKS did not make admin. Config allows one role at most (core/config/aws_keys.py)."""
    options = {"profile_name": access.profile} if access.profile else {}
    if access.assume_roles:
        options["role_arn"] = access.assume_roles[-1]["roleArn"]
    return options


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
    update_kubeconfig_command: pulumi.Output[str]
    provider: k8s.Provider
    eks: eks.Cluster
    cluster_name: str  # the EKS name as configured (known at preview, for hooks and tags)

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("training-on-eks:cluster:Cluster", name, None, opts)
        cfg, net = args.config, args.network
        self.cluster_name = cfg.cluster_name
        options = kubeconfig_options(cfg.access)
        admins, skipped = extra_admins(cfg.cluster_admin_arns, _deployer_arn())
        for arn in skipped:
            pulumi.log.warn(
                f"clusterAdminArns: {arn} is the identity running this update; EKS makes it "
                "cluster admin already, so no second access entry is created",
                self,
            )
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
                for index, arn in enumerate(admins)
            }
            or None,
            # pulumi-eks's own provider gets both; its exported kubeconfig the role (so it reaches
            # the cluster as its admin), not the profile (cluster.ts: "multi-user access").
            provider_credential_opts=eks.KubeconfigOptionsArgs(**options) if options else None,
            tags={"training-on-eks/stack": cfg.stack},
            opts=pulumi.ResourceOptions(parent=self),
        )
        # pulumi-eks does not mark the kubeconfig secret (FACTS.md): do it here, once.
        self.kubeconfig = pulumi.Output.secret(self.eks.kubeconfig_json)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.secret(self.eks.get_kubeconfig(**options)),
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = pulumi.Output.from_input(cfg.cluster_name)
        kubeconfig_cluster = self.eks.kubeconfig.apply(lambda kc: kc["clusters"][0]["cluster"])
        self.endpoint = kubeconfig_cluster.apply(lambda c: c["server"])
        self.certificate_authority = kubeconfig_cluster.apply(
            lambda c: c["certificate-authority-data"]
        )
        # The same identity as the exported kubeconfig: the role, when the stack assumes one.
        role = f" --role-arn {shlex.quote(options['role_arn'])}" if "role_arn" in options else ""
        self.update_kubeconfig_command = pulumi.Output.from_input(
            f"aws eks update-kubeconfig --region {cfg.region} --name {cfg.cluster_name}{role}"
        )
        self.register_outputs(
            {
                "name": self.name,
                "update_kubeconfig_command": self.update_kubeconfig_command,
                "endpoint": self.endpoint,
                "certificate_authority": self.certificate_authority,
                "kubeconfig": self.kubeconfig,
            }
        )
