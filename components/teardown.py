"""Teardown: after the GPU NodePool is deleted, wait (bounded) until Auto Mode removed its nodes.

Deleting a NodePool makes Auto Mode drain and terminate its nodes. pulumi-kubernetes deletes with
foreground cascading deletion by default (provider pkg/await/await.go), and Karpenter's NodeClaims
block their NodePool's deletion (ownerReference blockOwnerDeletion), so the NodePool's delete
itself normally ends after its nodes (the rehearsal measures this with real Karpenter). This hook
is the guard for when it does not (background propagation, a delete that timed out): without it,
`pulumi destroy` would move on to the node groups and the cluster while GPU instances and their
network interfaces are still going away, and the cluster delete can then fail or leave orphans.
Delete hooks run only when the program runs: `pulumi destroy --run-program`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from core import wellknown as wk
from core.config import AwsAccess

DEFAULT_TIMEOUT_SECONDS = 900
POLL_SECONDS = 15


class NodesRemainError(Exception):
    """Nodes of the pool were still there when the wait ran out."""


@dataclass(frozen=True)
class DrainTarget:
    cluster_name: str
    nodepool: str
    access: AwsAccess  # the aws provider's region, profile and role: the hook acts as it does

    @property
    def region(self) -> str:
        return self.access.region


def eks_core_api(target: DrainTarget) -> Any:
    """CoreV1Api for the cluster, from EKS DescribeCluster and a boto3-built token."""
    from kubernetes import client

    from core import eks_token

    session = eks_token.session_for_access(target.access)
    return client.CoreV1Api(
        eks_token.cluster_api_client(target.cluster_name, target.region, session)
    )


def remaining_nodes(api: Any, nodepool: str) -> list[str]:
    from components.readout import bounded

    selector = f"{wk.LABEL_NODEPOOL}={nodepool}"
    nodes = api.list_node(label_selector=selector, **bounded()).items
    return sorted(n.metadata.name for n in nodes)


def wait_for_nodes_gone(
    target: DrainTarget,
    *,
    api_factory: Callable[[DrainTarget], Any] = eks_core_api,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    poll_seconds: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = pulumi.log.info,
) -> None:
    """Poll until no node carries `karpenter.sh/nodepool=<pool>`; raise if the time runs out."""
    api = api_factory(target)
    deadline = clock() + timeout_seconds
    while True:
        nodes = remaining_nodes(api, target.nodepool)
        if not nodes:
            log(f"{target.nodepool}: all nodes removed")
            return
        if clock() >= deadline:
            raise NodesRemainError(
                f"{len(nodes)} node(s) of NodePool {target.nodepool} still exist after "
                f"{int(timeout_seconds)} s: {', '.join(nodes)}. Run `pulumi destroy --run-program` "
                f"again, or list what is left with `python -m toe sweep --cluster "
                f"{target.cluster_name} --region {target.region}`."
            )
        log(f"{target.nodepool}: waiting for {len(nodes)} node(s) to go: {', '.join(nodes)}")
        sleep(poll_seconds)


def nodepool_drain_hook(target: DrainTarget) -> pulumi.ResourceHook:
    """An after-delete hook for the NodePool resource that waits for its nodes to be gone."""

    def after_delete(_args: pulumi.ResourceHookArgs) -> None:
        wait_for_nodes_gone(target)

    return pulumi.ResourceHook(f"wait-for-{target.nodepool}-nodes", after_delete)
