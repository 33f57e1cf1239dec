"""The workshop stack: look up the VPC, then cluster, node groups, subnet tags, GPU pool, checks."""

from __future__ import annotations

import pulumi

from components import inputs, outputs
from components.cluster import Cluster, ClusterArgs
from components.gpu_pool import GpuNodePool, GpuNodePoolArgs
from components.network import Network, NetworkArgs
from components.node_groups import NodeGroups, NodeGroupsArgs
from components.validation import Validation, ValidationArgs
from core import config
from core.account_checks import PulumiAccountApi
from core.network_lookup import PulumiNetworkApi

# Every configuration, look-up and account problem is reported at once, before anything exists.
stack = inputs.resolve(
    config.from_pulumi(), pulumi.get_stack(), PulumiNetworkApi(), PulumiAccountApi()
)
cfg = stack.config

network = Network("network", NetworkArgs(facts=stack.network, config=cfg))
cluster = Cluster("cluster", ClusterArgs(config=cfg, network=stack.network))
gpu_pool = GpuNodePool(
    "gpu",
    GpuNodePoolArgs(
        spec=cfg.gpu_pool,
        provider=cluster.provider,
        access=cfg.access,
        cluster_name=cfg.cluster_name,
    ),
)
node_groups = NodeGroups(
    "nodes",
    NodeGroupsArgs(
        cluster=cluster.eks,
        cluster_name=cfg.cluster_name,
        groups=cfg.node_groups,
        subnet_ids=tuple(s.id for s in stack.network.private),
    ),
)
validation = Validation(
    "validation",
    ValidationArgs(
        checks=cfg.checks,
        nodepool=gpu_pool,
        provider=cluster.provider,
        cluster_name=cfg.cluster_name,
        access=cfg.access,
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
pulumi.export(outputs.NETWORK_NOTES, network.notes)
pulumi.export(outputs.NODE_GROUPS, node_groups.summary)
pulumi.export(outputs.GPU_NODE_POOL, gpu_pool.summary)
pulumi.export(outputs.UPDATE_KUBECONFIG_COMMAND, cluster.update_kubeconfig_command)
pulumi.export(outputs.VALIDATION, validation.results)
pulumi.export(outputs.VALIDATION_SUMMARY, validation.summary)
