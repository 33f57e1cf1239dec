"""Find and delete the AWS resources an EKS cluster leaves behind outside Pulumi's state."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from core.aws_errors import asking, aws_error, call_failed, unparsable
from toe.prices import PriceTable, load_prices

# What a call can raise when AWS (or whatever answers in its place) refuses it: botocore's own
# errors, an error response, and an answer no parser could read (an HTML page from a proxy).
ResponseParserError = unparsable()
AWS_FAILURES = (BotoCoreError, ClientError, ResponseParserError)

if TYPE_CHECKING:
    import boto3

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

# The pattern of an EKS cluster name (botocore's EKS model, shape `ClusterName`). It leaves no room
# for EC2 filter wildcards (`*`, `?`), so a tag filter built from a valid name matches it exactly.
CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")


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

Filters = list[dict[str, Any]]

_LIVE_INSTANCE_STATES = ("pending", "running", "shutting-down", "stopping", "stopped")
_BILLED_INSTANCE_STATES = frozenset({"pending", "running"})
_ELBV2_TAG_BATCH = 20  # DescribeTags takes at most 20 ARNs


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
    if not CLUSTER_NAME.match(cluster):
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


def _page_config(page_size: int | None) -> dict[str, int]:
    return {"PageSize": page_size} if page_size else {}


def _ec2_search(
    ec2: Any,
    operation: str,
    expression: str,
    kind: str,
    cluster: str,
    extra_filters: Sequence[Mapping[str, Any]],
    page_size: int | None,
) -> Iterator[tuple[dict[str, Any], str]]:
    """Items of a paginated EC2 describe call matching any rule of `kind`, each once, with why."""
    seen: set[str] = set()
    id_key = {
        "describe_instances": "InstanceId",
        "describe_network_interfaces": "NetworkInterfaceId",
        "describe_volumes": "VolumeId",
        "describe_security_groups": "GroupId",
        "describe_subnets": "SubnetId",
    }[operation]
    for rule in RULES[kind]:
        pages = ec2.get_paginator(operation).paginate(
            Filters=[rule.ec2_filter(cluster), *extra_filters],
            PaginationConfig=_page_config(page_size),
        )
        for item in pages.search(expression):
            if item[id_key] in seen:
                continue
            # ENIs carry their tags as `TagSet`, everything else as `Tags`.
            reason = _reason(kind, _tags(item.get("Tags") or item.get("TagSet")), cluster)
            if reason is None:
                continue
            seen.add(item[id_key])
            yield item, reason


def _find_instances(
    ec2: Any,
    cluster: str,
    vpc_filters: Filters,
    page_size: int | None,
    prices: PriceTable,
    region: str,
) -> list[Leftover]:
    state_filter = {"Name": "instance-state-name", "Values": list(_LIVE_INSTANCE_STATES)}
    found = []
    for item, reason in _ec2_search(
        ec2,
        "describe_instances",
        "Reservations[].Instances[]",
        INSTANCE,
        cluster,
        [state_filter, *vpc_filters],
        page_size,
    ):
        state = item["State"]["Name"]
        price = prices.instance(item["InstanceType"])
        hourly = price if state in _BILLED_INSTANCE_STATES or price is None else 0.0
        found.append(
            Leftover(
                INSTANCE,
                item["InstanceId"],
                reason,
                hourly,
                region,
                {
                    "type": item["InstanceType"],
                    "state": state,
                    "name": _tags(item.get("Tags")).get("Name", ""),
                    "lifecycle": item.get("InstanceLifecycle", "on-demand"),
                    "vpc": item.get("VpcId", ""),
                },
            )
        )
    return found


def _find_network_interfaces(
    ec2: Any, cluster: str, vpc_filters: Filters, page_size: int | None, region: str
) -> list[Leftover]:
    found = []
    for item, reason in _ec2_search(
        ec2,
        "describe_network_interfaces",
        "NetworkInterfaces[]",
        NETWORK_INTERFACE,
        cluster,
        vpc_filters,
        page_size,
    ):
        # Only detached ones: an attached ENI goes with its instance or load balancer. Checked
        # here rather than with a `status` filter, which moto does not implement.
        if item.get("Status") != "available":
            continue
        found.append(
            Leftover(
                NETWORK_INTERFACE,
                item["NetworkInterfaceId"],
                reason,
                NO_CHARGE,
                region,
                {
                    "vpc": item.get("VpcId", ""),
                    "subnet": item.get("SubnetId", ""),
                    "description": item.get("Description", ""),
                },
            )
        )
    return found


def _find_volumes(
    ec2: Any, cluster: str, page_size: int | None, prices: PriceTable, region: str
) -> list[Leftover]:
    found = []
    for item, reason in _ec2_search(
        ec2, "describe_volumes", "Volumes[]", VOLUME, cluster, (), page_size
    ):
        found.append(
            Leftover(
                VOLUME,
                item["VolumeId"],
                reason,
                prices.volume(item["VolumeType"], item["Size"]),
                region,
                {
                    "size_gb": item["Size"],
                    "type": item["VolumeType"],
                    "state": item["State"],
                    "zone": item.get("AvailabilityZone", ""),
                },
            )
        )
    return found


def _find_security_groups(
    ec2: Any, cluster: str, vpc_filters: Filters, page_size: int | None, region: str
) -> list[Leftover]:
    found = []
    for item, reason in _ec2_search(
        ec2,
        "describe_security_groups",
        "SecurityGroups[]",
        SECURITY_GROUP,
        cluster,
        vpc_filters,
        page_size,
    ):
        if item["GroupName"] == "default":  # a VPC's default group cannot be deleted
            continue
        found.append(
            Leftover(
                SECURITY_GROUP,
                item["GroupId"],
                reason,
                NO_CHARGE,
                region,
                {"name": item["GroupName"], "vpc": item.get("VpcId", "")},
            )
        )
    return found


def _find_subnet_tags(
    ec2: Any, cluster: str, vpc_filters: Filters, page_size: int | None, region: str
) -> list[Leftover]:
    key = _K8S_ANY.key_for(cluster)
    found = []
    for item, reason in _ec2_search(
        ec2, "describe_subnets", "Subnets[]", SUBNET_TAG, cluster, vpc_filters, page_size
    ):
        tags = _tags(item.get("Tags"))
        found.append(
            Leftover(
                SUBNET_TAG,
                item["SubnetId"],
                reason,
                NO_CHARGE,
                region,
                {
                    "key": key,
                    "value": tags[key],
                    "vpc": item.get("VpcId", ""),
                    "name": tags.get("Name", ""),
                },
            )
        )
    return found


def _elbv2_tags(elbv2: Any, arns: Sequence[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), _ELBV2_TAG_BATCH):
        batch = list(arns[start : start + _ELBV2_TAG_BATCH])
        for description in elbv2.describe_tags(ResourceArns=batch)["TagDescriptions"]:
            tags[description["ResourceArn"]] = _tags(description.get("Tags"))
    return tags


def _find_load_balancers(
    elbv2: Any,
    cluster: str,
    vpc_id: str | None,
    page_size: int | None,
    prices: PriceTable,
    region: str,
) -> list[Leftover]:
    pages = elbv2.get_paginator("describe_load_balancers").paginate(
        PaginationConfig=_page_config(page_size)
    )
    balancers = [
        lb for lb in pages.search("LoadBalancers[]") if not vpc_id or lb["VpcId"] == vpc_id
    ]
    tags = _elbv2_tags(elbv2, [lb["LoadBalancerArn"] for lb in balancers])
    found = []
    for lb in balancers:
        reason = _reason(LOAD_BALANCER, tags.get(lb["LoadBalancerArn"], {}), cluster)
        if reason is None:
            continue
        found.append(
            Leftover(
                LOAD_BALANCER,
                lb["LoadBalancerArn"],
                reason,
                prices.load_balancer(lb.get("Type", "")),
                region,
                {
                    "name": lb["LoadBalancerName"],
                    "type": lb.get("Type", ""),
                    "dns": lb.get("DNSName", ""),
                    "vpc": lb.get("VpcId", ""),
                },
            )
        )
    return found


def _find_target_groups(
    elbv2: Any, cluster: str, vpc_id: str | None, page_size: int | None, region: str
) -> list[Leftover]:
    pages = elbv2.get_paginator("describe_target_groups").paginate(
        PaginationConfig=_page_config(page_size)
    )
    groups = [
        tg
        for tg in pages.search("TargetGroups[]")
        if not vpc_id or tg.get("VpcId") in (None, vpc_id)
    ]
    tags = _elbv2_tags(elbv2, [tg["TargetGroupArn"] for tg in groups])
    found = []
    for tg in groups:
        reason = _reason(TARGET_GROUP, tags.get(tg["TargetGroupArn"], {}), cluster)
        if reason is None:
            continue
        found.append(
            Leftover(
                TARGET_GROUP,
                tg["TargetGroupArn"],
                reason,
                NO_CHARGE,
                region,
                {"name": tg["TargetGroupName"], "vpc": tg.get("VpcId", "")},
            )
        )
    return found


def _describe_failure(err: Exception) -> str:
    from toe import guidance

    if isinstance(err, NoCredentialsError):
        return guidance.NO_CREDENTIALS
    if isinstance(err, EndpointConnectionError):
        return guidance.unreachable("the AWS API", err)
    if isinstance(err, ClientError):
        return call_failed(err)
    return aws_error(err)  # one line, whatever the body was


def caller_identity(session: boto3.Session, config: Config | None = None) -> str:
    """The ARN the session acts as; `SweepCheckError` when AWS cannot be asked."""
    try:
        sts = session.client("sts", config=config or client_config())
        with asking("STS"):
            return sts.get_caller_identity()["Arn"]
    except AWS_FAILURES as err:
        raise SweepCheckError(_describe_failure(err)) from err


def cluster_status(
    session: boto3.Session, cluster: str, config: Config | None = None
) -> str | None:
    """EKS's status for the cluster (`ACTIVE`, `DELETING`, ...), None when it does not exist.

    Returns `UNKNOWN` when EKS cannot be asked (for example no `eks:DescribeCluster` permission).
    """
    try:
        eks = session.client("eks", config=config or client_config())
        return eks.describe_cluster(name=cluster)["cluster"]["status"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        return "UNKNOWN"
    except (BotoCoreError, ResponseParserError):
        return "UNKNOWN"


def find_leftovers(
    session: boto3.Session,
    cluster: str,
    vpc_id: str | None = None,
    *,
    config: Config | None = None,
    page_size: int | None = None,
) -> list[Leftover]:
    """Everything in the session's region tied to `cluster` by its tags, in delete order.

    Only exact tag keys and values of `cluster` match, so `toe-dev2` never matches `toe-dev`.
    Raises `SweepCheckError` when the account cannot be inspected.
    """
    validate_cluster_name(cluster)
    region = session.region_name
    if not region:
        raise SweepCheckError("no region: pass --region or set AWS_REGION")
    config = config or client_config()
    caller_identity(session, config)
    prices = load_prices(region)
    vpc_filters = [{"Name": "vpc-id", "Values": [vpc_id]}] if vpc_id else []
    try:
        ec2 = session.client("ec2", config=config)
        elbv2 = session.client("elbv2", config=config)
        found = [
            *_find_instances(ec2, cluster, vpc_filters, page_size, prices, region),
            *_find_load_balancers(elbv2, cluster, vpc_id, page_size, prices, region),
            *_find_target_groups(elbv2, cluster, vpc_id, page_size, region),
            *_find_network_interfaces(ec2, cluster, vpc_filters, page_size, region),
            *_find_volumes(ec2, cluster, page_size, prices, region),
            *_find_security_groups(ec2, cluster, vpc_filters, page_size, region),
            *_find_subnet_tags(ec2, cluster, vpc_filters, page_size, region),
        ]
    except AWS_FAILURES as err:
        raise SweepCheckError(_describe_failure(err)) from err
    return sorted(found, key=lambda item: (DELETE_ORDER.index(item.kind), item.id))


def total_hourly(leftovers: Iterable[Leftover]) -> float:
    """Sum of the known hourly prices (unknown ones count as zero)."""
    return round(sum(item.hourly_usd or 0.0 for item in leftovers), 4)


def _with_retries(call: Callable[[], Any], retry: RetryPolicy) -> str | None:
    """Run a delete; None when it succeeded or the resource is gone, else the last error."""
    for attempt in range(retry.attempts):
        try:
            call()
            return None
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in GONE_CODES:
                return None
            if code not in RETRYABLE_CODES or attempt == retry.attempts - 1:
                suffix = f" (after {attempt + 1} attempts)" if code in RETRYABLE_CODES else ""
                return _describe_failure(err) + suffix
            retry.wait(attempt)
        except (BotoCoreError, ResponseParserError) as err:
            return _describe_failure(err)
    return f"not attempted: {retry.attempts} attempts allowed"


def _terminate_instances(
    ec2: Any, items: Sequence[Leftover], retry: RetryPolicy, wait: bool
) -> list[tuple[Leftover, str | None]]:
    # One call per instance: a batch fails as a whole when one ID is unknown, which would hide
    # whether the others were terminated. Clusters leave tens of nodes at most.
    results = [
        (
            item,
            _with_retries(lambda item=item: ec2.terminate_instances(InstanceIds=[item.id]), retry),
        )
        for item in items
    ]
    terminated = [item.id for item, error in results if error is None]
    if wait and terminated:
        # Volumes and ENIs stay in use until their instance is gone: wait (up to 10 minutes).
        # What still depends on them is retried below and reported if it stays stuck.
        with contextlib.suppress(BotoCoreError, ClientError):
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=terminated, WaiterConfig={"Delay": 15, "MaxAttempts": 40}
            )
    return results


def _delete_one(clients: Mapping[str, Any], item: Leftover) -> Callable[[], Any]:
    ec2, elbv2 = clients["ec2"], clients["elbv2"]
    if item.kind == LOAD_BALANCER:
        return lambda: elbv2.delete_load_balancer(LoadBalancerArn=item.id)
    if item.kind == TARGET_GROUP:
        return lambda: elbv2.delete_target_group(TargetGroupArn=item.id)
    if item.kind == NETWORK_INTERFACE:
        return lambda: ec2.delete_network_interface(NetworkInterfaceId=item.id)
    if item.kind == VOLUME:
        return lambda: ec2.delete_volume(VolumeId=item.id)
    if item.kind == SECURITY_GROUP:
        return lambda: ec2.delete_security_group(GroupId=item.id)
    if item.kind == SUBNET_TAG:
        return lambda: ec2.delete_tags(Resources=[item.id], Tags=[{"Key": item.extra["key"]}])
    raise ValueError(f"unknown leftover kind {item.kind!r}")


def _revoke_cross_references(ec2: Any, groups: Sequence[Leftover]) -> None:
    """Drop rules by which leftover security groups refer to each other, which block deletes."""
    ids = {item.id for item in groups}
    if not ids:
        return
    try:
        described = ec2.describe_security_groups(GroupIds=sorted(ids))["SecurityGroups"]
    except (BotoCoreError, ClientError):
        return
    for group in described:
        for direction, field_name in (
            ("ingress", "IpPermissions"),
            ("egress", "IpPermissionsEgress"),
        ):
            for permission in group.get(field_name, []):
                pairs = [
                    pair
                    for pair in permission.get("UserIdGroupPairs", [])
                    if pair.get("GroupId") in ids and pair.get("GroupId") != group["GroupId"]
                ]
                if not pairs:
                    continue
                rule = {
                    key: value
                    for key, value in permission.items()
                    if key in ("IpProtocol", "FromPort", "ToPort")
                }
                rule["UserIdGroupPairs"] = [{"GroupId": pair["GroupId"]} for pair in pairs]
                revoke = getattr(ec2, f"revoke_security_group_{direction}")
                # If this fails, the delete that follows reports the dependency.
                with contextlib.suppress(BotoCoreError, ClientError):
                    revoke(GroupId=group["GroupId"], IpPermissions=[rule])


def delete_leftovers(
    session: boto3.Session,
    leftovers: Iterable[Leftover],
    *,
    config: Config | None = None,
    retry: RetryPolicy | None = None,
    wait_for_instances: bool = True,
) -> DeleteReport:
    """Delete the leftovers in `DELETE_ORDER`, retrying with backoff while others depend on them.

    Never raises for an AWS error: what could not be deleted comes back in `DeleteReport.failed`.
    """
    retry = retry or RetryPolicy()
    config = config or client_config()
    by_kind: dict[str, list[Leftover]] = {kind: [] for kind in DELETE_ORDER}
    results: list[tuple[Leftover, str | None]] = []
    for item in leftovers:
        if item.region != session.region_name:
            results.append((item, f"found in {item.region}, session is in {session.region_name}"))
        else:
            by_kind[item.kind].append(item)
    clients = {
        "ec2": session.client("ec2", config=config),
        "elbv2": session.client("elbv2", config=config),
    }
    for kind in DELETE_ORDER:
        items = by_kind[kind]
        if not items:
            continue
        if kind == INSTANCE:
            results += _terminate_instances(clients["ec2"], items, retry, wait_for_instances)
            continue
        if kind == SECURITY_GROUP:
            _revoke_cross_references(clients["ec2"], items)
        results += [(item, _with_retries(_delete_one(clients, item), retry)) for item in items]
    return DeleteReport(
        deleted=tuple(item for item, error in results if error is None),
        failed=tuple(Failure(item, error) for item, error in results if error is not None),
    )
