"""What a sweep finds and how it reports: the kinds of leftover, the tags that mark them, the
error codes that mean retry or already gone, and the retry policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from core import wellknown as wk
from core.aws_errors import aws_error, call_failed, unparsable
from core.config.model import CLUSTER_NAME_RE

if TYPE_CHECKING:
    pass

# The package `toe.sweep` exports these as its own.
__all__ = [
    "AWS_FAILURES",
    "DELETE_ORDER",
    "FREE_KINDS",
    "GONE_CODES",
    "INSTANCE",
    "LOAD_BALANCER",
    "NETWORK_INTERFACE",
    "NO_CHARGE",
    "RETRYABLE_CODES",
    "RULES",
    "SECURITY_GROUP",
    "SUBNET_TAG",
    "TARGET_GROUP",
    "VOLUME",
    "DeleteReport",
    "Failure",
    "Leftover",
    "ResponseParserError",
    "RetryPolicy",
    "SweepCheckError",
    "TagRule",
    "client_config",
    "total_hourly",
    "validate_cluster_name",
]


# What a call can raise when AWS (or whatever answers in its place) refuses it: botocore's own
# errors, an error response, and an answer no parser could read (an HTML page from a proxy).
ResponseParserError = unparsable()


AWS_FAILURES = (BotoCoreError, ClientError, ResponseParserError)


INSTANCE = "instance"


LOAD_BALANCER = "load-balancer"


TARGET_GROUP = "target-group"


NETWORK_INTERFACE = "network-interface"


VOLUME = "volume"


SECURITY_GROUP = "security-group"


SUBNET_TAG = "subnet-tag"


# Dependents before what they depend on: instances hold ENIs and volumes, load balancers hold
# target groups, ENIs and security groups; cluster tags on subnets go last.
DELETE_ORDER: tuple[str, ...] = (
    INSTANCE,
    LOAD_BALANCER,
    TARGET_GROUP,
    NETWORK_INTERFACE,
    VOLUME,
    SECURITY_GROUP,
    SUBNET_TAG,
)


# Error codes that mean "something still uses it, try again later".
RETRYABLE_CODES = frozenset(
    {
        "DependencyViolation",
        "VolumeInUse",
        "ResourceInUse",
        "IncorrectState",
        "InvalidNetworkInterface.InUse",
    }
)


# Error codes that mean the resource is already gone, which is what a delete wants.
GONE_CODES = frozenset(
    {
        "InvalidInstanceID.NotFound",
        "LoadBalancerNotFound",
        "TargetGroupNotFound",
        "InvalidNetworkInterfaceID.NotFound",
        "InvalidVolume.NotFound",
        "InvalidGroup.NotFound",
        "InvalidSubnetID.NotFound",
    }
)


# Detached ENIs (without a public IPv4 address), security groups, target groups and tags have no
# hourly charge of their own.
NO_CHARGE = 0.0


FREE_KINDS = frozenset({NETWORK_INTERFACE, TARGET_GROUP, SECURITY_GROUP, SUBNET_TAG})


_LIVE_INSTANCE_STATES = ("pending", "running", "shutting-down", "stopping", "stopped")


_BILLED_INSTANCE_STATES = frozenset({"pending", "running"})


class SweepCheckError(RuntimeError):
    """The account could not be inspected (no credentials, no access, API unreachable)."""


@dataclass(frozen=True)
class TagRule:
    """A tag that ties a resource to a cluster; `{cluster}` in key or value is the cluster name."""

    key: str
    value: str | None = None  # None: any value

    def key_for(self, cluster: str) -> str:
        return self.key.format(cluster=cluster)

    def value_for(self, cluster: str) -> str | None:
        return None if self.value is None else self.value.format(cluster=cluster)

    def ec2_filter(self, cluster: str) -> dict[str, Any]:
        key, value = self.key_for(cluster), self.value_for(cluster)
        if value is None:
            return {"Name": "tag-key", "Values": [key]}
        return {"Name": f"tag:{key}", "Values": [value]}

    def reason(self, tags: Mapping[str, str], cluster: str) -> str | None:
        key, value = self.key_for(cluster), self.value_for(cluster)
        if key not in tags or (value is not None and tags[key] != value):
            return None
        return f"tag {key}={tags[key]}"


# Tags written by the components that create resources Pulumi never sees: EKS Auto Mode
# (`eks:eks-cluster-name`), managed node groups and the Kubernetes cloud provider
# (`kubernetes.io/cluster/<name>`), the VPC CNI (`cluster.k8s.amazonaws.com/name`), the AWS Load
# Balancer Controller (`elbv2.k8s.aws/cluster`), the EBS CSI driver (`KubernetesCluster`) and EKS's
# own cluster security group (`aws:eks:cluster-name`).
_EKS_AUTO = TagRule("eks:eks-cluster-name", "{cluster}")


_K8S_OWNED = TagRule(wk.TAG_CLUSTER_PREFIX + "{cluster}", wk.TAG_CLUSTER_OWNED)


_K8S_ANY = TagRule(wk.TAG_CLUSTER_PREFIX + "{cluster}")


_LBC = TagRule("elbv2.k8s.aws/cluster", "{cluster}")


# `kubernetes.io/cluster/<name>=owned` marks what was made for the cluster; `=shared` marks what
# the cluster uses and someone else owns (the workshop's subnets, a shared security group): only
# `owned` and the controllers' own tags make a leftover (FACTS.md, "Workshop-scale facts";
# kubernetes cloud-provider-aws, tags.go ResourceLifecycleOwned/Shared). Subnets are never
# deleted: only the cluster's tag comes off them.
RULES: Mapping[str, tuple[TagRule, ...]] = {
    INSTANCE: (_EKS_AUTO, _K8S_OWNED),
    NETWORK_INTERFACE: (TagRule("cluster.k8s.amazonaws.com/name", "{cluster}"), _K8S_OWNED),
    LOAD_BALANCER: (_LBC, _K8S_OWNED, _EKS_AUTO),
    TARGET_GROUP: (_LBC, _K8S_OWNED, _EKS_AUTO),
    VOLUME: (_K8S_OWNED, TagRule("KubernetesCluster", "{cluster}"), _EKS_AUTO),
    SECURITY_GROUP: (_K8S_OWNED, _LBC, TagRule("aws:eks:cluster-name", "{cluster}"), _EKS_AUTO),
    SUBNET_TAG: (_K8S_ANY,),
}


@dataclass(frozen=True)
class Leftover:
    """One resource tied to the cluster; `hourly_usd` is None where its price is not known."""

    kind: str
    id: str
    reason: str
    hourly_usd: float | None
    region: str
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["extra"] = dict(self.extra)
        return data


@dataclass(frozen=True)
class Failure:
    """A leftover that could not be deleted, with the last error AWS gave."""

    leftover: Leftover
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.leftover.to_dict(), "error": self.error}


@dataclass(frozen=True)
class DeleteReport:
    """What `delete_leftovers` removed and what it could not."""

    deleted: tuple[Leftover, ...]
    failed: tuple[Failure, ...]

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for deletes refused because something still depends on the resource."""

    attempts: int = 8
    base_delay_s: float = 2.0
    max_delay_s: float = 30.0
    sleep: Callable[[float], None] | None = None  # None: time.sleep

    def delay(self, attempt: int) -> float:
        return min(self.max_delay_s, self.base_delay_s * 2**attempt)

    def wait(self, attempt: int) -> None:
        (self.sleep or time.sleep)(self.delay(attempt))


def client_config(max_attempts: int = 6, mode: str = "adaptive") -> Config:
    """Client settings: botocore retries throttled and transient calls with backoff.

    `adaptive` adds client-side rate limiting on top of `standard` (boto3 guide, "Retries").
    """
    return Config(
        retries={"max_attempts": max_attempts, "mode": mode},
        connect_timeout=5,
        read_timeout=60,
    )


def validate_cluster_name(cluster: str) -> str:
    # The EKS name pattern (core.config) leaves no room for EC2 filter wildcards (`*`, `?`), so a
    # tag filter built from a valid name matches it exactly.
    if not CLUSTER_NAME_RE.fullmatch(cluster):
        raise ValueError(
            f"{cluster!r} is not an EKS cluster name: use letters, digits, '-' and '_', "
            "starting with a letter or digit, at most 100 characters"
        )
    return cluster


def _tags(items: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in items or ()}


def _reason(kind: str, tags: Mapping[str, str], cluster: str) -> str | None:
    """The first rule of `kind` that the tags satisfy, checked here even after a server filter.

    A resource that declares itself shared with the cluster is never a leftover, whatever other
    tag it carries (a subnet only loses the cluster's tag).
    """
    if kind != SUBNET_TAG and tags.get(_K8S_ANY.key_for(cluster)) == "shared":
        return None
    for rule in RULES[kind]:
        reason = rule.reason(tags, cluster)
        if reason:
            return reason
    return None


def _describe_failure(err: Exception) -> str:
    from toe import guidance

    if isinstance(err, NoCredentialsError):
        return guidance.NO_CREDENTIALS
    if isinstance(err, EndpointConnectionError):
        return guidance.unreachable("the AWS API", err)
    if isinstance(err, ClientError):
        return call_failed(err)
    return aws_error(err)  # one line, whatever the body was


def total_hourly(leftovers: Iterable[Leftover]) -> float:
    """Sum of the known hourly prices (unknown ones count as zero)."""
    return round(sum(item.hourly_usd or 0.0 for item in leftovers), 4)
