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
from core.account_apis import PulumiAccountApi
from core.network_lookup import PulumiNetworkApi

# Every configuration, look-up and account problem is reported at once, before anything exists.
stack = inputs.resolve(
    config.from_pulumi(), pulumi.get_stack(), PulumiNetworkApi(), PulumiAccountApi()
)
cfg = stack.config

network = Network("network", NetworkArgs(facts=stack.network, config=cfg))
cluster = Cluster("cluster", ClusterArgs(config=cfg, network=stack.network))
gpu_pool = GpuNodePool(
    "gpu", GpuNodePoolArgs(spec=cfg.gpu_pool, cluster=cluster, access=cfg.access)
)
node_groups = NodeGroups(
    "nodes",
    NodeGroupsArgs(cluster=cluster, groups=cfg.node_groups, subnets=stack.network.private),
)
validation = Validation(
    "validation",
    ValidationArgs(checks=cfg.checks, nodepool=gpu_pool, cluster=cluster, access=cfg.access),
)

outputs.export(cfg.region, cluster, network, node_groups, gpu_pool, validation)
