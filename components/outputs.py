"""Stack output names, defined once and shared by the program, the tools and the tests."""

from __future__ import annotations

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
