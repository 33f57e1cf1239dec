"""The workshop stack: look up the VPC, then cluster, node groups, subnet tags, GPU pool, checks."""

from __future__ import annotations

import pulumi

from components import config, outputs
from components.account_checks import PulumiAccountApi, check_account
from components.cluster import Cluster, ClusterArgs
from components.gpu_pool import GpuNodePool, GpuNodePoolArgs
from components.network import Network, NetworkArgs
from components.network_lookup import PulumiNetworkApi, resolve_network
from components.node_groups import NodeGroups, NodeGroupsArgs
from components.validation import Validation, ValidationArgs

# Every configuration and look-up problem is reported before any resource is registered.
cfg = config.from_pulumi()
facts = resolve_network(
    PulumiNetworkApi(),
    stack=cfg.stack,
    region=cfg.region,
    vpc_name=cfg.vpc_name,
    private_pattern=cfg.private_subnet_pattern,
    public_pattern=cfg.public_subnet_pattern,
)
# Node types offered in every private zone, a GPU node within the quotas (same rules as preflight).
check_account(PulumiAccountApi(), cfg, facts)

network = Network(
    "network",
    NetworkArgs(
        facts=facts, cluster_name=cfg.cluster_name, manage_role_tags=cfg.manage_subnet_role_tags
    ),
)
cluster = Cluster("cluster", ClusterArgs(config=cfg, network=facts))
gpu_pool = GpuNodePool(
    "gpu",
    GpuNodePoolArgs(
        spec=cfg.gpu_pool,
        provider=cluster.provider,
        cluster_name=cfg.cluster_name,
        region=cfg.region,
    ),
)
node_groups = NodeGroups(
    "nodes",
    NodeGroupsArgs(
        cluster=cluster.eks,
        cluster_name=cfg.cluster_name,
        groups=cfg.node_groups,
        subnet_ids=tuple(s.id for s in facts.private),
    ),
)

validation = Validation(
    "validation",
    ValidationArgs(
        checks=cfg.checks,
        nodepool_name=cfg.gpu_pool.name,
        provider=cluster.provider,
        nodepool=gpu_pool.nodepool,
        cluster_name=cfg.cluster_name,
        region=cfg.region,
        endpoint=cluster.endpoint,
        certificate_authority=cluster.certificate_authority,
    ),
)

pulumi.export(outputs.KUBECONFIG, cluster.kubeconfig)
pulumi.export(outputs.CLUSTER_NAME, cluster.name)
pulumi.export(outputs.CLUSTER_ENDPOINT, cluster.endpoint)
pulumi.export(outputs.REGION, cfg.region)
pulumi.export(outputs.VPC_ID, network.vpc_id)
pulumi.export(outputs.PRIVATE_SUBNET_IDS, network.private_subnet_ids)
pulumi.export(outputs.PUBLIC_SUBNET_IDS, network.public_subnet_ids)
pulumi.export(
    outputs.NETWORK_NOTES,
    "internal-only: no public subnets matched, so no internet-facing load balancers"
    if not facts.public
    else f"{len(facts.public)} public and {len(facts.private)} private subnets in "
    f"{', '.join(facts.private_azs)}",
)
pulumi.export(
    outputs.NODE_GROUPS,
    [
        {
            "name": g.name,
            "instanceType": g.instance_type,
            "amiType": g.ami_type,
            "arch": g.arch,
            "minSize": g.min_size,
            "desiredSize": g.desired_size,
            "maxSize": g.max_size,
        }
        for g in cfg.node_groups
    ],
)
pulumi.export(outputs.GPU_NODE_POOL, gpu_pool.summary)
pulumi.export(
    outputs.UPDATE_KUBECONFIG_COMMAND,
    f"aws eks update-kubeconfig --region {cfg.region} --name {cfg.cluster_name}",
)
pulumi.export(outputs.VALIDATION, validation.results)
pulumi.export(outputs.VALIDATION_SUMMARY, validation.summary)
