"""The policy pack's rules: each policy's name, enforcement and description, and the function
that judges it (policies/views.py reads the resources; cluster.py and workloads.py judge).
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from core.images import image_pinned  # noqa: F401  (re-exported: the one pinning rule)
from policies.cluster import (
    validate_auto_mode_addons,
    validate_no_al2_from_1_33,
    validate_node_group_ami_architecture,
    validate_node_groups_private,
    validate_private_endpoint,
    validate_public_endpoint,
    validate_standard_support,
)
from policies.views import (  # noqa: F401  (re-exported)
    ENGINE_ADDON,
    ENGINE_CLUSTER,
    ENGINE_NODE_GROUP,
    SUBNET_TAG,
    _tolerates,
    instance_arch,
    is_graviton,
    nodepool_can_launch_gpus,
)
from policies.workloads import (
    validate_containers_hardened,
    validate_gpu_jobs_fit_pool,
    validate_gpu_jobs_not_disruptible,
    validate_gpu_nodepool_guardrails,
    validate_gpu_nodepool_p_bounded,
    validate_gpu_pods_tolerate,
    validate_jobs_bounded,
    validate_non_root,
)

PACK_NAME = "training-on-eks"


MANDATORY = EnforcementLevel.MANDATORY


ADVISORY = EnforcementLevel.ADVISORY


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="node-group-ami-architecture",
        description="A node group's AMI type matches the architecture of its instance types.",
        validate=validate_node_group_ami_architecture,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="no-al2-ami-from-kubernetes-1-33",
        description="Node groups do not use Amazon Linux 2 AMI types on Kubernetes 1.33 or later.",
        validate=validate_no_al2_from_1_33,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="node-groups-in-private-subnets",
        description="Node groups are placed only in the stack's private subnets.",
        validate=validate_node_groups_private,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="gpu-nodepool-guardrails",
        description=(
            "A NodePool that can launch GPU instances has a NoSchedule taint, limits and "
            "consolidateAfter of 30m or less."
        ),
        validate=validate_gpu_nodepool_guardrails,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="gpu-nodepool-p-instances-bounded",
        description="A GPU NodePool that allows p instances bounds their family or size.",
        validate=validate_gpu_nodepool_p_bounded,
        enforcement_level=ADVISORY,
    ),
    ResourceValidationPolicy(
        name="jobs-bounded",
        description=(
            "Jobs never restart in place, retry at most 3 times, have a deadline and an await "
            "timeout, and use pinned images."
        ),
        validate=validate_jobs_bounded,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="gpu-pods-tolerate-gpu-taint",
        description="A pod template that requests nvidia.com/gpu tolerates the GPU pool's taint.",
        validate=validate_gpu_pods_tolerate,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="gpu-jobs-fit-gpu-pool",
        description="The GPU Jobs that run at once fit the GPU limit of the NodePool they select.",
        validate=validate_gpu_jobs_fit_pool,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="auto-mode-node-group-addons",
        description=(
            "An Auto Mode cluster with managed node groups enables the vpc-cni and kube-proxy "
            "add-ons."
        ),
        validate=validate_auto_mode_addons,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="kubernetes-version-standard-support",
        description="The cluster's Kubernetes version is in EKS standard support, not extended.",
        validate=validate_standard_support,
        enforcement_level=ADVISORY,
        config_schema=PolicyConfigSchema(
            properties={"today": {"type": "string", "description": "ISO date to compare against"}}
        ),
    ),
    ResourceValidationPolicy(
        name="gpu-jobs-do-not-disrupt",
        description=(
            "GPU Jobs' pods carry karpenter.sh/do-not-disrupt, so no voluntary disruption "
            "stops a running check."
        ),
        validate=validate_gpu_jobs_not_disruptible,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="containers-hardened",
        description=(
            "Containers disallow privilege escalation, drop all capabilities and run with the "
            "RuntimeDefault seccomp profile."
        ),
        validate=validate_containers_hardened,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="containers-run-as-non-root",
        description="Containers run as a non-root user unless their image is allow-listed.",
        validate=validate_non_root,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="cluster-endpoint-private-access",
        description="The cluster API endpoint is reachable privately from inside the VPC.",
        validate=validate_private_endpoint,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="cluster-public-endpoint-restricted",
        description="The cluster's public API endpoint is not open to 0.0.0.0/0.",
        validate=validate_public_endpoint,
        enforcement_level=ADVISORY,
    ),
]
