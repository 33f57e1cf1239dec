"""The `eks` provider plugin of the rehearsal: `Construct` for `eks:index:Cluster` and
`eks:index:ManagedNodeGroup`, registering the children pulumi-eks 4.x registers for this stack.

What pulumi-eks registers was read from its source (pulumi/pulumi-eks v4.3.0+, nodejs/eks/cluster/
cluster.ts and nodes/nodegroup.ts; line numbers in the comments): for an Auto Mode cluster with
API authentication, `useDefaultVpcCni: false` and kube-proxy enabled, the cluster role with the
cluster and Auto Mode policies, the Auto Mode node role, the EKS cluster, the kube-proxy, vpc-cni
and CoreDNS add-ons, one access entry (and policy association) per `accessEntries` item and a
Kubernetes provider; no security groups, instance role, aws-auth ConfigMap or OIDC provider. A
managed node group with IMDSv2 gets a launch template that also carries its disk size. The
children are `aws:*` resources of the pulumi_aws SDK, so the engine runs them through the `aws`
plugin, and the policy pack sees what a real preview shows.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pulumi
import pulumi.provider as provider
import pulumi_aws as aws

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))  # the project: the kubeconfig pulumi-eks makes is one fact, shared

from core import pulumi_eks  # noqa: E402

POLICY = "arn:{partition}:iam::aws:policy/{name}"
CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
# Added because Auto Mode is on (cluster.ts L520-527).
AUTO_MODE_POLICIES = (
    "AmazonEKSComputePolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingPolicy",
)
NODE_POLICIES = ("AmazonEKSWorkerNodeMinimalPolicy", "AmazonEC2ContainerRegistryPullOnly")
# The VPC CNI add-on's configuration values (addons/cni-addon.ts defaults).
VPC_CNI_VALUES = {
    "env": {
        "AWS_VPC_ENI_MTU": "9001",
        "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false",
        "AWS_VPC_K8S_CNI_EXTERNALSNAT": "false",
        "AWS_VPC_K8S_CNI_LOGLEVEL": "DEBUG",
        "AWS_VPC_K8S_CNI_LOG_FILE": "/host/var/log/aws-routed-eni/ipamd.log",
        "AWS_VPC_K8S_CNI_VETHPREFIX": "eni",
        "AWS_VPC_K8S_PLUGIN_LOG_FILE": "/var/log/aws-routed-eni/plugin.log",
        "AWS_VPC_K8S_PLUGIN_LOG_LEVEL": "DEBUG",
        "ENABLE_POD_ENI": "false",
        "WARM_ENI_TARGET": "1",
    },
    "init": {"env": {"DISABLE_TCP_EARLY_DEMUX": "false"}},
}


def assume_role(service: str, actions: tuple[str, ...] = ("sts:AssumeRole",)) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": list(actions), "Effect": "Allow", "Principal": {"Service": [service]}}
            ],
        }
    )


class ServiceRole(pulumi.ComponentResource):
    """eks:index:ServiceRole (servicerole.ts): a role and one attachment per managed policy."""

    def __init__(
        self,
        name: str,
        service: str,
        policies,
        description=None,
        actions=("sts:AssumeRole",),
        tags=None,
        opts=None,
    ):
        super().__init__("eks:index:ServiceRole", name, None, opts)
        partition = aws.get_partition(opts=pulumi.InvokeOptions(parent=self)).partition
        self.role = aws.iam.Role(
            f"{name}-role",
            description=description,
            assume_role_policy=assume_role(service, actions),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.attachments = []
        for policy in policies:
            arn = POLICY.format(partition=partition, name=policy)
            # The logical name's suffix is the first 8 hex digits of the SHA-1 of the policy ARN.
            suffix = hashlib.sha1(f"arn:aws:iam::aws:policy/{policy}".encode()).hexdigest()[:8]
            self.attachments.append(
                aws.iam.RolePolicyAttachment(
                    f"{name}-{suffix}",
                    role=self.role.name,
                    policy_arn=arn,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        self.register_outputs({"role": self.role})


def wait_for_healthz(endpoint: str, ca_data: str) -> str:
    """As pulumi-eks does before it hands out the endpoint (cluster.ts L805-846): GET /healthz
    up to 60 times, 5 s apart."""
    if pulumi.runtime.is_dry_run():
        return endpoint
    import base64

    context = ssl.create_default_context(cadata=base64.b64decode(ca_data).decode())
    for _ in range(60):
        try:
            with urllib.request.urlopen(
                f"{endpoint}/healthz", context=context, timeout=1
            ) as answer:
                if answer.status == 200:
                    return endpoint
        except OSError:
            pass
        time.sleep(5)
    return endpoint


class Cluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: dict, opts: pulumi.ResourceOptions) -> None:
        super().__init__("eks:index:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.get("tags")
        auto = args.get("autoMode") or {}
        if auto.get("enabled") and args.get("authenticationMode") not in (
            "API",
            "API_AND_CONFIG_MAP",
        ):
            raise Exception("Auto Mode requires authenticationMode API or API_AND_CONFIG_MAP")
        eks_role = ServiceRole(
            f"{name}-eksRole",
            "eks.amazonaws.com",
            CLUSTER_POLICIES + (AUTO_MODE_POLICIES if auto.get("enabled") else ()),
            description="Allows EKS to manage clusters on your behalf.",
            actions=("sts:AssumeRole", "sts:TagSession"),
            tags=tags,
            opts=child,
        )
        node_role = ServiceRole(
            f"{name}-nodeRole", "ec2.amazonaws.com", NODE_POLICIES, tags=tags, opts=child
        )
        subnets = list(args.get("publicSubnetIds") or []) + list(args.get("privateSubnetIds") or [])
        compute = {
            "enabled": True,
            "node_role_arn": node_role.role.arn,
            "node_pools": (auto.get("computeConfig") or {}).get("nodePools")
            or ["general-purpose", "system"],
        }
        self.eks_cluster = aws.eks.Cluster(
            f"{name}-eksCluster",
            name=args.get("name"),
            version=args.get("version"),
            role_arn=eks_role.role.arn,
            compute_config=compute,
            storage_config={"block_storage": {"enabled": True}},
            kubernetes_network_config={
                "ip_family": "ipv4",
                "elastic_load_balancing": {"enabled": True},
            },
            bootstrap_self_managed_addons=False,
            vpc_config={
                "subnet_ids": subnets,
                "endpoint_private_access": args.get("endpointPrivateAccess", False),
                "endpoint_public_access": args.get("endpointPublicAccess", True),
                "public_access_cidrs": args.get("publicAccessCidrs"),
            },
            access_config={
                "authentication_mode": args.get("authenticationMode"),
                "bootstrap_cluster_creator_admin_permissions": True,
            },
            tags={"Name": f"{name}-eksCluster", **(tags or {})},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[eks_role, node_role],
                ignore_changes=[
                    "accessConfig.bootstrapClusterCreatorAdminPermissions",
                    "bootstrapSelfManagedAddons",
                ],
            ),
        )
        if (args.get("kubeProxyAddonOptions") or {}).get("enabled", not auto.get("enabled")):
            addon(f"{name}-kube-proxy", self.eks_cluster, "kube-proxy", tags, self)
        region = self.eks_cluster.arn.apply(lambda arn: arn.split(":")[3])
        endpoint = pulumi.Output.all(
            self.eks_cluster.endpoint, self.eks_cluster.certificate_authority.data
        ).apply(lambda v: wait_for_healthz(v[0], v[1]))
        parts = pulumi.Output.all(
            endpoint, self.eks_cluster.certificate_authority.data, region, self.eks_cluster.name
        )
        # createCluster (cluster.ts): the options given, else AWS_PROFILE, else aws:profile; the
        # output leaves the profile out (genKubeconfig(false)), the provider's keeps it.
        options = pulumi_eks.credential_options(
            args.get("providerCredentialOpts"), pulumi.Config("aws").get("profile"), os.environ
        )
        shared = {**options, "profileName": None}
        self.kubeconfig = parts.apply(lambda v: pulumi_eks.kubeconfig(*v, shared))
        provider_config = parts.apply(lambda v: json.dumps(pulumi_eks.kubeconfig(*v, options)))
        k8s_provider = pulumi.ProviderResource(
            "kubernetes",
            f"{name}-eks-k8s",
            {"kubeconfig": provider_config},
            pulumi.ResourceOptions(parent=self),
        )
        entries = []
        for key, entry in (args.get("accessEntries") or {}).items():
            access = aws.eks.AccessEntry(
                f"{name}-{key}",
                cluster_name=self.eks_cluster.name,
                principal_arn=entry["principalArn"],
                kubernetes_groups=entry.get("kubernetesGroups"),
                type=entry.get("type"),
                user_name=entry.get("username"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.eks_cluster]),
            )
            entries.append(access)
            for policy_key, policy in (entry.get("accessPolicies") or {}).items():
                aws.eks.AccessPolicyAssociation(
                    f"{name}-{key}-{policy_key}",
                    cluster_name=self.eks_cluster.name,
                    principal_arn=entry["principalArn"],
                    policy_arn=policy["policyArn"],
                    access_scope=policy["accessScope"],
                    opts=pulumi.ResourceOptions(parent=access, depends_on=[access]),
                )
        use_default_cni = args.get("useDefaultVpcCni")
        if (not use_default_cni) if use_default_cni is not None else not auto.get("enabled"):
            VpcCniAddon(
                f"{name}-vpc-cni",
                self.eks_cluster,
                tags,
                pulumi.ResourceOptions(
                    parent=self, depends_on=entries, providers={"kubernetes": k8s_provider}
                ),
            )
        if (args.get("corednsAddonOptions") or {}).get("enabled", True) and auto.get("enabled"):
            addon(f"{name}-coredns", self.eks_cluster, "coredns", tags, self)
        self.kubeconfig_json = self.kubeconfig.apply(
            lambda kc: json.dumps(kc, separators=(",", ":"))
        )
        security_group = self.eks_cluster.vpc_config.cluster_security_group_id
        issuer = self.eks_cluster.identities.apply(
            lambda ids: ids[0]["oidcs"][0]["issuer"] if ids else ""
        )
        self.core = pulumi.Output.all(
            self.eks_cluster.name, self.eks_cluster.version, endpoint
        ).apply(
            lambda v: {
                "vpcId": args.get("vpcId"),
                "subnetIds": subnets,
                "publicSubnetIds": list(args.get("publicSubnetIds") or []),
                "privateSubnetIds": list(args.get("privateSubnetIds") or []),
                "clusterName": v[0],
                "endpoint": v[2],
                "nodeGroupOptions": {"version": v[1]},
                "instanceRoles": [],
                "tags": tags or {},
                "storageClasses": {},
            }
        )
        self.outputs = {
            "kubeconfig": self.kubeconfig,
            "kubeconfigJson": self.kubeconfig_json,
            "eksCluster": self.eks_cluster,
            "core": self.core,
            "instanceRoles": [],
            "clusterSecurityGroupId": security_group,
            "nodeSecurityGroupId": security_group,
            "clusterIngressRuleId": "",
            "defaultNodeGroupAsgName": "",
            "fargateProfileId": "",
            "fargateProfileStatus": "",
            "oidcProviderArn": "",
            "oidcProviderUrl": issuer,
            "oidcIssuer": issuer.apply(lambda url: url.replace("https://", "")),
            "autoModeNodeRoleName": node_role.role.name,
        }
        self.register_outputs(self.outputs)


def addon(name: str, cluster, addon_name: str, tags, parent, **extra) -> aws.eks.Addon:
    """An EKS add-on at the newest version for the cluster's Kubernetes, as pulumi-eks creates
    them (preserve on delete, OVERWRITE conflicts)."""
    version = aws.eks.get_addon_version_output(
        addon_name=addon_name,
        kubernetes_version=cluster.version,
        most_recent=True,
        opts=pulumi.InvokeOutputOptions(parent=parent),
    )
    return aws.eks.Addon(
        name,
        cluster_name=cluster.name,
        addon_name=addon_name,
        addon_version=version.version,
        preserve=True,
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent),
        **extra,
    )


class VpcCniAddon(pulumi.ComponentResource):
    def __init__(self, name: str, cluster, tags, opts) -> None:
        super().__init__("eks:index:VpcCniAddon", name, None, opts)
        values = json.dumps(VPC_CNI_VALUES, sort_keys=True, separators=(",", ":"))
        addon(name, cluster, "vpc-cni", tags, self, configuration_values=values)
        self.register_outputs({})


def registered_outputs(urn: str) -> pulumi.Output:
    """A resource's outputs as the engine holds them (`pulumi:pulumi:getResource`, how the SDKs
    read a resource reference back): references arrive as URNs here."""
    return pulumi.runtime.invoke_output("pulumi:pulumi:getResource", {"urn": urn}).apply(
        lambda found: found["state"]
    )


def _cluster_name(cluster: Any) -> pulumi.Output:
    """The EKS name of the cluster a node group joins: `core.cluster.name` in pulumi-eks
    (nodegroup.ts L1847-1851, L2097), read from the Cluster component's registered `core`."""
    return registered_outputs(cluster).apply(lambda state: state["core"]["clusterName"])


def _eks_cluster(cluster_urn: str) -> pulumi.Resource:
    """The component's `aws:eks/cluster:Cluster` (named `<component>-eksCluster` above), as a
    dependency: `core.cluster.name` carries it in pulumi-eks, so the node group is created after
    the cluster and deleted before it."""
    from pulumi.resource import DependencyResource

    return DependencyResource(_eks_cluster_urn(cluster_urn))


def _eks_cluster_urn(cluster_urn: str) -> str:
    prefix, name = cluster_urn.rsplit("::", 1)
    return f"{prefix}$aws:eks/cluster:Cluster::{name}-eksCluster"


class ManagedNodeGroup(pulumi.ComponentResource):
    def __init__(self, name: str, args: dict, opts: pulumi.ResourceOptions) -> None:
        super().__init__("eks:index:ManagedNodeGroup", name, None, opts)
        if args.get("nodeRole") is not None and args.get("nodeRoleArn") is not None:
            raise Exception("nodeRole and nodeRoleArn are mutually exclusive")
        role = args.get("nodeRole")
        role_arn = (
            registered_outputs(role).apply(lambda state: state["arn"])
            if isinstance(role, str)
            else role.arn
            if role is not None
            else args.get("nodeRoleArn")
        )
        if role_arn is None:
            raise Exception("nodeRole or nodeRoleArn must be set")
        cluster_name = _cluster_name(args["cluster"])
        template = None
        if args.get("enableIMDSv2") is not None or args.get("diskSize") is not None:
            # enableIMDSv2 needs a custom launch template; diskSize moves into it (L2049-2060).
            ami = str(args.get("amiType") or "")
            device = "/dev/xvda"  # AL2023 and AL2 root device (L2245-2270)
            if ami.startswith("BOTTLEROCKET"):
                device = "/dev/xvdb"
            template = aws.ec2.LaunchTemplate(
                f"{name}-launchTemplate",
                metadata_options={
                    "http_tokens": "required" if args.get("enableIMDSv2") else "optional",
                    "http_put_response_hop_limit": 2,
                    "http_endpoint": "enabled",
                },
                block_device_mappings=[
                    {"device_name": device, "ebs": {"volume_size": args.get("diskSize")}}
                ]
                if args.get("diskSize")
                else None,
                opts=pulumi.ResourceOptions(parent=self),
            )
        scaling = args.get("scalingConfig") or {"desiredSize": 2, "minSize": 1, "maxSize": 2}
        self.node_group = aws.eks.NodeGroup(
            name,
            cluster_name=cluster_name,
            node_group_name=args.get("nodeGroupName"),
            node_role_arn=role_arn,
            instance_types=args.get("instanceTypes"),
            ami_type=args.get("amiType"),
            capacity_type=args.get("capacityType"),
            subnet_ids=args.get("subnetIds"),
            scaling_config={
                "desired_size": scaling.get("desiredSize"),
                "min_size": scaling.get("minSize"),
                "max_size": scaling.get("maxSize"),
            },
            labels=args.get("labels"),
            taints=[
                {"key": t["key"], "value": t.get("value"), "effect": t["effect"]}
                for t in args.get("taints") or []
            ]
            or None,
            tags=args.get("tags"),
            launch_template={"id": template.id, "version": template.latest_version.apply(str)}
            if template
            else None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[_eks_cluster(args["cluster"])]),
        )
        self.register_outputs({"nodeGroup": self.node_group, "placementGroupName": ""})


class EksProvider(provider.Provider):
    def __init__(self) -> None:
        super().__init__(version="4.4.0")

    def construct(self, name, resource_type, inputs, options=None) -> provider.ConstructResult:
        if resource_type == "eks:index:Cluster":
            component = Cluster(name, inputs, options)
            return provider.ConstructResult(urn=component.urn, state=component.outputs)
        if resource_type == "eks:index:ManagedNodeGroup":
            component = ManagedNodeGroup(name, inputs, options)
            return provider.ConstructResult(
                urn=component.urn,
                state={"nodeGroup": component.node_group, "placementGroupName": ""},
            )
        raise Exception(f"{resource_type} is not implemented by the rehearsal's eks plugin")

    def call(self, token, args) -> provider.CallResult:
        if token != "eks:index:Cluster/getKubeconfig":
            raise Exception(f"{token} is not implemented by the rehearsal's eks plugin")
        # Cluster.getKubeconfig (cluster.ts L2324-2335): the EKS cluster's name, endpoint, region
        # and CA with these options, the profile included; JSON text.
        from pulumi.resource import DependencyResource

        options = {k: args.get(k) for k in ("profileName", "roleArn")}
        component = args["__self__"]
        urn = pulumi.Output.from_input(component if isinstance(component, str) else component.urn)
        # Made from the EKS cluster's outputs, the result depends on it (the call's
        # returnDependencies), as pulumi-eks's does: what uses it is deleted before the cluster.
        cluster = urn.apply(lambda u: DependencyResource(_eks_cluster_urn(u)).urn)
        state = pulumi.Output.all(cluster, cluster.apply(registered_outputs)).apply(lambda v: v[1])
        result = state.apply(
            lambda c: json.dumps(
                pulumi_eks.kubeconfig(
                    c["endpoint"],
                    c["certificateAuthority"]["data"],
                    c["arn"].split(":")[3],
                    c["name"],
                    options,
                )
            )
        )
        return provider.CallResult(outputs={"result": result})


if __name__ == "__main__":
    provider.main(EksProvider(), sys.argv[1:])
