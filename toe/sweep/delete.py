"""Deleting leftovers in dependency order, with retries for what is still in use."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)

if TYPE_CHECKING:
    import boto3
from toe.sweep.model import (
    DELETE_ORDER,
    GONE_CODES,
    INSTANCE,
    LOAD_BALANCER,
    NETWORK_INTERFACE,
    RETRYABLE_CODES,
    SECURITY_GROUP,
    SUBNET_TAG,
    TARGET_GROUP,
    VOLUME,
    DeleteReport,
    Failure,
    Leftover,
    ResponseParserError,
    RetryPolicy,
    _describe_failure,
    client_config,
)


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
