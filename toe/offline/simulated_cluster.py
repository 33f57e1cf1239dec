"""A simulated cluster: the CoreV1Api calls the validation readout makes, answered from memory.

The offline harness uses it to give the readout the pods and node a real `pulumi up` would find,
with the termination messages the check scripts write (from the simulated account); the tests use
it to stage every failure the readout must explain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes.client import (
    CoreV1Event,
    CoreV1EventList,
    V1Node,
    V1NodeList,
    V1Pod,
    V1PodList,
)
from kubernetes.client.exceptions import ApiException

from core import wellknown as wk
from toe.offline.account import SimulatedCluster

NS = wk.VALIDATION_NAMESPACE
T0 = "2026-11-28T17:45:00Z"
SCHEDULED = "2026-11-28T17:45:02Z"
STARTED = "2026-11-28T17:46:10Z"
FINISHED = "2026-11-28T17:46:13Z"


class FakeCoreV1:
    """The three CoreV1Api methods the readout uses, answering from in-memory objects."""

    def __init__(
        self,
        pods: list[V1Pod] = (),  # type: ignore[assignment]
        nodes: list[V1Node] = (),  # type: ignore[assignment]
        events: list[CoreV1Event] = (),  # type: ignore[assignment]
        fail: Exception | None = None,
    ) -> None:
        self.pods, self.nodes, self.events, self.fail = list(pods), list(nodes), list(events), fail
        self.calls: list[tuple[str, ...]] = []

    def list_namespaced_pod(
        self, namespace: str, label_selector: str = "", _request_timeout=None
    ) -> V1PodList:
        self.calls.append(("list_namespaced_pod", namespace, label_selector))
        if self.fail:
            raise self.fail
        key, _, value = label_selector.partition("=")
        items = [
            p
            for p in self.pods
            if p.metadata.namespace == namespace and (p.metadata.labels or {}).get(key) == value
        ]
        return V1PodList(items=items)

    def list_node(self, label_selector: str = "", _request_timeout=None) -> V1NodeList:
        self.calls.append(("list_node", label_selector))
        if self.fail:
            raise self.fail
        key, _, value = label_selector.partition("=")
        items = [n for n in self.nodes if not key or (n.metadata.labels or {}).get(key) == value]
        return V1NodeList(items=items)

    def read_node(self, name: str, _request_timeout=None) -> V1Node:
        self.calls.append(("read_node", name))
        for node in self.nodes:
            if node.metadata.name == name:
                return node
        raise ApiException(status=404, reason="Not Found")

    def list_namespaced_event(
        self, namespace: str, field_selector: str = "", _request_timeout=None
    ) -> CoreV1EventList:
        self.calls.append(("list_namespaced_event", namespace, field_selector))
        wanted = dict(part.split("=", 1) for part in field_selector.split(","))
        items = [
            e
            for e in self.events
            if e.metadata.namespace == namespace
            and e.involved_object.name == wanted.get("involvedObject.name")
            and e.involved_object.kind == wanted.get("involvedObject.kind")
        ]
        return CoreV1EventList(items=items)


def node(
    name: str,
    instance_type: str,
    zone: str = "ap-northeast-2a",
    *,
    labels: Mapping[str, str] | None = None,
    conditions: list[dict[str, Any]] | None = None,
) -> V1Node:
    """A node as the API shows it: the well-known labels (plus `labels`), and `conditions`
    (`{"type", "status", "reason", "message"}`) in its status when given."""
    every = {
        wk.LABEL_INSTANCE_TYPE: instance_type,
        wk.LABEL_ZONE: zone,
        wk.LABEL_CAPACITY_TYPE: "on-demand",
        wk.LABEL_ARCH: "arm64" if instance_type.startswith("g5g") else "amd64",
        **(labels or {}),
    }
    body: dict[str, Any] = {"metadata": {"name": name, "labels": every}}
    if conditions:
        body["status"] = {"conditions": conditions}
    return V1Node.from_dict(body)


def pod(
    job: str,
    name: str,
    *,
    node_name: str | None = None,
    phase: str = "Succeeded",
    state: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    created: str = T0,
    image: str = "nvidia/cuda",
) -> V1Pod:
    body: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": NS,
            "creationTimestamp": created,
            "labels": {wk.LABEL_JOB_NAME: job, "job-name": job},
        },
        "spec": {"containers": [{"name": "check", "image": image}]},
        "status": {"phase": phase},
    }
    if node_name:
        body["spec"]["nodeName"] = node_name
        conditions = conditions or [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": SCHEDULED}
        ]
    if conditions:
        body["status"]["conditions"] = conditions
    if state is not None:
        body["status"]["containerStatuses"] = [
            {
                "name": "check",
                "image": image,
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": state,
            }
        ]
    return V1Pod.from_dict(body)


def terminated(message: str, exit_code: int = 0) -> dict[str, Any]:
    return {
        "terminated": {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "message": message,
            "startedAt": STARTED,
            "finishedAt": FINISHED,
        }
    }


def event(
    pod_name: str, reason: str, message: str, when: str, component: str = "default-scheduler"
) -> CoreV1Event:
    return CoreV1Event.from_dict(
        {
            "metadata": {"name": f"{pod_name}.{when}", "namespace": NS},
            "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": NS},
            "reason": reason,
            "message": message,
            "type": "Warning",
            "lastTimestamp": when,
            "source": {"component": component},
        }
    )


def from_account(cluster: SimulatedCluster | None, job_names: Mapping[str, str]) -> FakeCoreV1:
    """The cluster a real `up` would leave: one finished pod per validation Job on the GPU node.

    `job_names` maps a check (`gpu-check`, `efa-check`) to its Job's name. Without a simulated
    cluster the pods are missing, and the readout says so.
    """
    if cluster is None:
        return FakeCoreV1()
    node_name = "i-0123456789abcdef0"
    pods = [
        pod(
            job,
            f"{job}-x7k2p",
            node_name=node_name,
            state=terminated(outcome.message, outcome.exit_code),
        )
        for check, job in sorted(job_names.items())
        if job
        and check != wk.DISTRIBUTED_CHECK
        and (outcome := cluster.checks.get(check)) is not None
    ]
    nodes = [node(node_name, cluster.instance_type, cluster.zone)]
    distributed = job_names.get(wk.DISTRIBUTED_CHECK)
    outcome = cluster.checks.get(wk.DISTRIBUTED_CHECK)
    if distributed and outcome is not None:
        # Two pods of the Indexed Job on two more GPU nodes in the same zone; rank 0 reports.
        for rank, name in enumerate(("i-0123456789abcdef1", "i-0123456789abcdef2")):
            nodes.append(node(name, cluster.instance_type, cluster.zone))
            ranked = pod(
                distributed,
                f"{distributed}-{rank}-q4m8z",
                node_name=name,
                state=terminated(outcome.message if rank == 0 else "", outcome.exit_code),
            )
            ranked.metadata.labels[wk.LABEL_COMPLETION_INDEX] = str(rank)
            pods.append(ranked)
    for each in nodes:
        each.metadata.labels[wk.LABEL_CAPACITY_TYPE] = cluster.capacity_type
    return FakeCoreV1(pods=pods, nodes=nodes)
