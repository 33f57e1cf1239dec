"""Finding leftovers: paged, tag-filtered searches of EC2 and ELB for what a cluster made."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)

from core.aws_errors import asking
from toe.prices import PriceTable, load_prices

if TYPE_CHECKING:
    import boto3
from toe.sweep.model import (
    _BILLED_INSTANCE_STATES,
    _K8S_ANY,
    _LIVE_INSTANCE_STATES,
    AWS_FAILURES,
    DELETE_ORDER,
    INSTANCE,
    LOAD_BALANCER,
    NETWORK_INTERFACE,
    NO_CHARGE,
    RULES,
    SECURITY_GROUP,
    SUBNET_TAG,
    TARGET_GROUP,
    VOLUME,
    Leftover,
    ResponseParserError,
    SweepCheckError,
    _describe_failure,
    _reason,
    _tags,
    client_config,
    validate_cluster_name,
)

Filters = list[dict[str, Any]]


_ELBV2_TAG_BATCH = 20  # DescribeTags takes at most 20 ARNs


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
