"""Well-known names: tag keys, label keys, taints and resource names, each defined once."""

from __future__ import annotations

PROJECT = "training-on-eks"

# Subnet tags read by the AWS Load Balancer Controller and EKS Auto Mode to place load balancers.
TAG_ROLE_ELB = "kubernetes.io/role/elb"
TAG_ROLE_INTERNAL_ELB = "kubernetes.io/role/internal-elb"
TAG_CLUSTER_PREFIX = "kubernetes.io/cluster/"
TAG_CLUSTER_SHARED = "shared"
TAG_CLUSTER_OWNED = "owned"
# Marks the subnets whose role tags a stack created (value: the stack), so they stay its own.
TAG_ROLE_TAGS_OWNER = "training-on-eks/role-tags"


def cluster_tag_key(cluster_name: str) -> str:
    """The per-cluster subnet tag key, `kubernetes.io/cluster/<name>`."""
    return f"{TAG_CLUSTER_PREFIX}{cluster_name}"


# Kubernetes well-known node labels.
LABEL_ARCH = "kubernetes.io/arch"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_CAPACITY_TYPE = "karpenter.sh/capacity-type"
LABEL_NODEPOOL = "karpenter.sh/nodepool"
# EKS Auto Mode labels live under eks.amazonaws.com/ (FACTS.md, "EKS Auto Mode").
LABEL_INSTANCE_CATEGORY = "eks.amazonaws.com/instance-category"
LABEL_INSTANCE_FAMILY = "eks.amazonaws.com/instance-family"
LABEL_INSTANCE_GPU_COUNT = "eks.amazonaws.com/instance-gpu-count"
# instance-gpu-name, -manufacturer, -count, -memory (MiB) on Auto Mode nodes (FACTS.md).
LABEL_INSTANCE_GPU_PREFIX = "eks.amazonaws.com/instance-gpu-"

# Node conditions: Kubernetes' Ready, and those the EKS node monitoring agent sets (built into
# Auto Mode): one per category, True while healthy (EKS user guide, "Detect node health issues
# and enable automatic node repair"; aws/eks-node-monitoring-agent README).
CONDITION_READY = "Ready"
NODE_HEALTH_CONDITIONS = (
    "AcceleratedHardwareReady",
    "ContainerRuntimeReady",
    "KernelReady",
    "NetworkingReady",
    "StorageReady",
)

# Our own labels on node groups and workloads.
LABEL_NODE_GROUP = "training-on-eks/node-group"
LABEL_APP_NAME = "app.kubernetes.io/name"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_RUN_ID = "training-on-eks/run-id"
# Set by the Job controller on its pods (Kubernetes >= 1.27).
LABEL_JOB_NAME = "batch.kubernetes.io/job-name"

# The GPU pool's taint: custom, so only pods that opt in land on GPU nodes. EKS's
# ExtendedResourceToleration plugin adds a toleration only for `nvidia.com/gpu` taints
# (FACTS.md, "EKS and node groups"), so GPU pods must tolerate this one explicitly.
GPU_TAINT_KEY = "gpu-workload"
GPU_TAINT_EFFECT = "NoSchedule"

# Extended resources advertised by the Auto Mode device plugins. EFA is `vpc.amazonaws.com/efa`,
# not the workshop text's `aws.amazon.com/efa` (FACTS.md, "EKS Auto Mode").
RESOURCE_GPU = "nvidia.com/gpu"
RESOURCE_EFA = "vpc.amazonaws.com/efa"

# Auto Mode's built-in NodeClass, present while a built-in pool is enabled.
NODECLASS_GROUP = "eks.amazonaws.com"
NODECLASS_KIND = "NodeClass"
NODECLASS_DEFAULT = "default"
AUTO_MODE_BUILTIN_POOLS = ("general-purpose", "system")

KARPENTER_API_VERSION = "karpenter.sh/v1"

VALIDATION_NAMESPACE = "toe-validation"
GPU_CHECK = "gpu-check"
EFA_CHECK = "efa-check"
DISTRIBUTED_CHECK = "distributed-check"
# The headless Service that gives the distributed check's pods their DNS names.
DISTRIBUTED_SERVICE = "toe-distributed"
LABEL_COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
ANNOTATION_SKIP_AWAIT = "pulumi.com/skipAwait"

# pulumi-kubernetes await annotations (FACTS.md, "pulumi-kubernetes 4.x await").
ANNOTATION_TIMEOUT = "pulumi.com/timeoutSeconds"
ANNOTATION_REPLACE_UNREADY = "pulumi.com/replaceUnready"

# On a pod, blocks Karpenter's voluntary disruption of its node (drift, consolidation) while it
# runs; expiry ignores it (FACTS.md, "Karpenter disruption").
ANNOTATION_DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"

# Managed policies for EKS worker nodes.
NODE_ROLE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
)
