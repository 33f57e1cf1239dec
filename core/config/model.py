"""The configuration's shapes: Pulumi.yaml's schema, the validated specs, and the limits the
rules check against (each with its source).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from core import durations
from core.problems import ConfigError, Problem

PROJECT_FILE = Path(__file__).resolve().parents[2] / "Pulumi.yaml"


# Patterns are matched whole (`fullmatch`): `$` would also match before a trailing newline.
# Kubernetes MAJOR.MINOR in ASCII digits (`\d` would also take other scripts' digits).
VERSION_RE = re.compile(r"1\.(0|[1-9][0-9]*)")


# YAML reads an unquoted 1.30 as the number 1.3: one digit after the dot.
YAML_ATE_A_ZERO_RE = re.compile(r"1\.[1-9]")


# EKS cluster names (botocore EKS model, shape ClusterName: 1-100, `^[0-9A-Za-z][A-Za-z0-9\-_]*`).
CLUSTER_NAME_RE = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}")


# EKS node group names: 1-63 characters of the same alphabet.
NODE_GROUP_NAME_RE = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,62}")


# Kubernetes label values and keys (apimachinery validation: IsValidLabelValue, IsQualifiedName).
LABEL_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


LABEL_NAME_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


# The NodePool CRD's duration pattern for consolidateAfter / expireAfter (one home: durations).
DURATION_RE = durations.PATTERN


CATEGORY_RE = re.compile(r"[a-z]+")


DECIMAL_RE = re.compile(r"[0-9]+(\.[0-9]+)?")


MAX_BUSBW_GBPS = 10_000.0  # far beyond any interconnect: a typo, not a bound


FAMILY_RE = re.compile(r"[a-z][a-z0-9-]*")


ARN_RE = re.compile(r"arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[A-Za-z-]+/.+")


K8S_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


# The CLI's integer check is Go's strconv.Atoi (pulumi sdk workspace.ValidateConfigValue).
INTEGER_RE = re.compile(r"[+-]?[0-9]+")


# Integers of the EKS API are 32-bit (Smithy `integer`, e.g. NodegroupScalingConfig); Kubernetes
# takes int64 seconds. A check that needs more than a day is broken, not slow.
INT32_MAX = 2**31 - 1


MAX_CHECK_TIMEOUT_SECONDS = 86_400


MIN_CHECK_TIMEOUT_SECONDS = 300


# EKS taint keys and values: 1-63 and 0-63 characters (botocore EKS model, shape Taint).
TAINT_KEY_MAX, TAINT_VALUE_MAX = 63, 63


# Kubernetes taint effect -> EKS API TaintEffect.
TAINT_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}


KARPENTER_CAPACITY_TYPES = ("on-demand", "spot", "reserved")


# The fields of one taint in a node group (EKS Taint: key, value, effect).
TAINT_FIELDS = ("key", "value", "effect")

NODE_GROUP_FIELDS = (
    "name",
    "instanceType",
    "minSize",
    "desiredSize",
    "maxSize",
    "labels",
    "taints",
    "capacityType",
    "diskSize",
    "amiType",
)


NODE_GROUP_EXAMPLE = [
    {"name": "ng-arm", "instanceType": "c7g.2xlarge", "minSize": 2, "desiredSize": 2, "maxSize": 2}
]


@dataclass(frozen=True)
class Declaration:
    """One key of Pulumi.yaml's `config:` block."""

    key: str
    type: str | None
    description: str
    default: Any = None
    has_default: bool = False


@cache
def schema(path: Path = PROJECT_FILE) -> dict[str, Declaration]:
    """The project's configuration schema declared in Pulumi.yaml (`ns:key` values excluded)."""
    declared = yaml.safe_load(path.read_text())["config"]
    return {
        key: Declaration(
            key=key,
            type=spec.get("type"),
            description=" ".join(str(spec.get("description", "")).split()),
            default=spec.get("default"),
            has_default="default" in spec,
        )
        for key, spec in declared.items()
        if ":" not in key
    }


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str  # Kubernetes spelling, e.g. NoSchedule

    @property
    def eks_effect(self) -> str:
        return TAINT_EFFECTS[self.effect]


@dataclass(frozen=True)
class NodeGroupSpec:
    """A managed node group as configured, with its AMI type resolved."""

    name: str
    instance_type: str
    min_size: int
    desired_size: int
    max_size: int
    ami_type: str
    arch: str  # kubernetes.io/arch of its nodes
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[Taint, ...] = ()
    capacity_type: str = "ON_DEMAND"
    disk_size: int = 50


@dataclass(frozen=True)
class GpuPoolSpec:
    name: str
    instance_categories: tuple[str, ...]
    instance_families: tuple[str, ...]
    capacity_types: tuple[str, ...]
    max_gpus: int
    max_cpu: int
    max_memory_gi: int
    consolidate_after: str
    expire_after: str


@dataclass(frozen=True)
class DistributedSpec:
    """The optional two-node all-reduce check (distributedCheck and its keys)."""

    enabled: bool = False
    image: str = ""
    min_busbw_gbps: float | None = None  # None: the instance type's floor (core/fabric.py)
    required: bool = False
    families: tuple[str, ...] = ()  # empty: the pool's `g` category
    instance_type: str = ""  # efaInstanceType when EFA is requested: both nodes use EFA

    @property
    def efa(self) -> bool:
        return bool(self.instance_type)


@dataclass(frozen=True)
class ChecksSpec:
    run_id: str
    gpu_image: str
    efa_image: str
    efa_instance_type: str
    efa_required: bool
    timeout_seconds: int
    distributed: DistributedSpec = field(default_factory=DistributedSpec)

    @property
    def efa_requested(self) -> bool:
        return bool(self.efa_instance_type)


@dataclass(frozen=True)
class AwsAccess:
    """How the aws provider reaches AWS (`aws:region`, `aws:profile`, `aws:assumeRoles`): the
    readout and the teardown hook build their boto3 sessions the same way."""

    region: str
    profile: str | None = None
    # Every `aws:assumeRoles` entry in the provider's field names (roleArn, sessionName, ...), in
    # order: the provider assumes each from the credentials of the one before (role chaining:
    # terraform-provider-aws internal/provider/sdkv2/provider.go hands every assume_role block
    # to aws-sdk-go-base), so the identity `pulumi up` runs as is the last one's.
    assume_roles: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)


@dataclass(frozen=True)
class NetworkInputs:
    """The keys the VPC look-up needs, when they are valid (even if other keys are not)."""

    region: str
    vpc_name: str
    private_pattern: str
    public_pattern: str


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs from configuration, validated."""

    project: str
    stack: str
    region: str
    cluster_name: str
    kubernetes_version: str
    network: NetworkInputs  # where the VPC and subnets are looked up
    manage_subnet_role_tags: bool
    endpoint_public_access: bool
    public_access_cidrs: tuple[str, ...]
    cluster_admin_arns: tuple[str, ...]
    node_groups: tuple[NodeGroupSpec, ...]
    gpu_pool: GpuPoolSpec
    checks: ChecksSpec
    skip_account_checks: bool = False
    aws: AwsAccess | None = None

    @property
    def minor_version(self) -> int:
        return int(self.kubernetes_version.split(".")[1])

    @property
    def access(self) -> AwsAccess:
        return self.aws or AwsAccess(self.region)


@dataclass(frozen=True)
class Reading:
    """What `read()` found: the config when every key is valid, and every problem otherwise."""

    config: StackConfig | None
    problems: tuple[Problem, ...]
    network: NetworkInputs | None = None

    def checked(self, stack: str) -> StackConfig:
        """The config; when any key is bad, one ConfigError listing every problem."""
        if self.config is None:
            raise ConfigError(stack, self.problems)
        return self.config


def derive_cluster_name(stack: str) -> str:
    """`toe-<stack>`, exactly: a stack whose derived name EKS refuses must set clusterName."""
    return f"toe-{stack}"


def cleaned_cluster_name(text: str) -> str | None:
    """A valid EKS name close to `text` (`Team.07` as Team-07), for fixes only: the program
    never renames silently."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")[:100]
    return cleaned if CLUSTER_NAME_RE.fullmatch(cleaned) else None
