"""Stack output names, defined once and shared by the program, the tools and the tests."""

from __future__ import annotations

import pulumi

KUBECONFIG = "kubeconfig"
CLUSTER_NAME = "clusterName"
CLUSTER_ENDPOINT = "clusterEndpoint"
REGION = "region"
VPC_ID = "vpcId"
PRIVATE_SUBNET_IDS = "privateSubnetIds"
PUBLIC_SUBNET_IDS = "publicSubnetIds"
NETWORK_NOTES = "networkNotes"
NODE_GROUPS = "nodeGroups"
GPU_NODE_POOL = "gpuNodePool"
UPDATE_KUBECONFIG_COMMAND = "updateKubeconfigCommand"
VALIDATION = "validation"
VALIDATION_SUMMARY = "validationSummary"

ALL = (
    KUBECONFIG,
    CLUSTER_NAME,
    CLUSTER_ENDPOINT,
    REGION,
    VPC_ID,
    PRIVATE_SUBNET_IDS,
    PUBLIC_SUBNET_IDS,
    NETWORK_NOTES,
    NODE_GROUPS,
    GPU_NODE_POOL,
    UPDATE_KUBECONFIG_COMMAND,
    VALIDATION,
    VALIDATION_SUMMARY,
)


def export(region: str, cluster, network, node_groups, gpu_pool, validation) -> None:
    """Export every stack output, in the order of ALL, from the components that make them."""
    values = {
        KUBECONFIG: cluster.kubeconfig,
        CLUSTER_NAME: cluster.name,
        CLUSTER_ENDPOINT: cluster.endpoint,
        REGION: region,
        VPC_ID: network.vpc_id,
        PRIVATE_SUBNET_IDS: network.private_subnet_ids,
        PUBLIC_SUBNET_IDS: network.public_subnet_ids,
        NETWORK_NOTES: network.notes,
        NODE_GROUPS: node_groups.summary,
        GPU_NODE_POOL: gpu_pool.summary,
        UPDATE_KUBECONFIG_COMMAND: cluster.update_kubeconfig_command,
        VALIDATION: validation.results,
        VALIDATION_SUMMARY: validation.summary,
    }
    for name in ALL:
        pulumi.export(name, values[name])
