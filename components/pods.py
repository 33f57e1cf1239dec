"""The check pods as the cluster's API shows them: each Job's newest pod, its node, its
container's state and termination message, bounded in time; what they mean is core.readings.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core import fabric, results
from core import wellknown as wk
from core.readings import (
    _NO_CAPACITY,
    COMPLETION_INDEX_LABEL,
    CONTAINER_ERROR_REASONS,
    EXIT_NO_EFA_DEVICE,
    IMAGE_PULL_REASONS,
    NOT_REQUESTED_HINT,
    NodeCondition,
    PodFacts,
    _reconcile,
    describe_exception,
    distributed_dict,
    efa_dict,
    gpu_dict,
    image_pull_reading,
    newest,
)
from core.results import (
    ERROR,
    FAILED,
    PENDING,
    UNAVAILABLE,
    UNPARSEABLE,
    EfaResult,
    GpuResult,
)

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


# Every API call is bounded (connect, read seconds): an API server that accepts connections and
# never answers must not hang `pulumi up`, the report or the teardown hook. `report --timeout`
# changes it for one run.
REQUEST_TIMEOUT = (5, 30)


_timeout = {"seconds": REQUEST_TIMEOUT}


def set_request_timeout(seconds: float) -> None:
    _timeout["seconds"] = (min(5.0, seconds), seconds)


def bounded() -> dict[str, Any]:
    """The keyword that bounds one kubernetes client call."""
    return {"_request_timeout": _timeout["seconds"]}


@dataclass(frozen=True)
class _Observation:
    """A pod's state: either a termination message to parse, or a status decided already."""

    facts: PodFacts
    message: str | None = None
    status: str | None = None
    reason: str = ""


def _condition_time(pod: Any, kind: str) -> dt.datetime | None:
    for condition in pod.status.conditions or []:
        if condition.type == kind and condition.status == "True":
            return condition.last_transition_time
    return None


def _node_facts(api: Any, node_name: str | None) -> dict[str, Any]:
    if not node_name:
        return {}
    try:
        node = api.read_node(node_name, **bounded())
    except Exception:  # the node may be gone (consolidated) by the time we read it
        return {}
    labels = node.metadata.labels or {}
    wanted = (wk.CONDITION_READY, *wk.NODE_HEALTH_CONDITIONS)
    found = {
        c.type: c
        for c in ((node.status.conditions if node.status else None) or [])
        if c.type in wanted
    }
    return {
        "instance_type": labels.get(wk.LABEL_INSTANCE_TYPE),
        "zone": labels.get(wk.LABEL_ZONE),
        "capacity_type": labels.get(wk.LABEL_CAPACITY_TYPE),
        "arch": labels.get(wk.LABEL_ARCH),
        "node_conditions": tuple(
            NodeCondition(t, found[t].status or "", found[t].reason or "", found[t].message or "")
            for t in wanted
            if t in found
        ),
        "gpu_labels": tuple(
            sorted((k, v) for k, v in labels.items() if k.startswith(wk.LABEL_INSTANCE_GPU_PREFIX))
        ),
    }


# Karpenter records why it cannot launch a node for a pod as a FailedScheduling event of its own
# ("Failed to schedule pod, <why>": sigs.k8s.io/karpenter v1.15.0
# pkg/controllers/provisioning/scheduling/events.go, PodFailedToScheduleEvent), from the component
# named by its AppName, "karpenter" (pkg/operator/operator.go). Its words say why no node will
# come; kube-scheduler's say only that no node fits now.
KARPENTER_COMPONENT = "karpenter"


def _component(event: Any) -> str:
    source = getattr(event, "source", None)
    return (getattr(source, "component", None) or event.reporting_component or "").strip()


def _scheduling_failure(api: Any, namespace: str, pod: Any) -> str:
    """The newest FailedScheduling event's message for the pod (Karpenter's when it gave one),
    else PodScheduled's message."""
    selector = f"involvedObject.kind=Pod,involvedObject.name={pod.metadata.name}"
    try:
        events = (
            api.list_namespaced_event(namespace, field_selector=selector, **bounded()).items or []
        )
    except Exception:
        events = []
    failed = [e for e in events if e.reason == "FailedScheduling"]
    if failed:
        epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
        karpenter = [e for e in failed if _component(e) == KARPENTER_COMPONENT]
        latest = max(karpenter or failed, key=lambda e: e.last_timestamp or e.event_time or epoch)
        who = f" ({KARPENTER_COMPONENT})" if karpenter else ""
        return f'FailedScheduling{who}: "{(latest.message or "").strip()}"'
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status != "True" and condition.message:
            return f'{condition.reason or "Unschedulable"}: "{condition.message.strip()}"'
    return "waiting for a node"


def _container_status(pod: Any, container: str | None) -> Any:
    statuses = pod.status.container_statuses or []
    for status in statuses:
        if container is None or status.name == container:
            return status
    return None


def _image_of(pod: Any, status: Any) -> str | None:
    """The image the container runs or waits for: its status's, else the pod spec's."""
    image = getattr(status, "image", None) if status is not None else None
    if image:
        return image
    name = getattr(status, "name", None) if status is not None else None
    for container in (pod.spec.containers or []) if pod.spec else []:
        if name is None or container.name == name:
            return container.image
    return None


def _observe(
    api: Any, namespace: str, job_name: str, container: str | None, image_key: str
) -> _Observation:
    facts = PodFacts(job_name=job_name)
    try:
        pods = api.list_namespaced_pod(
            namespace,
            label_selector=f"{JOB_NAME_LABEL}={job_name}",
            **bounded(),
        )
    except Exception as exc:
        reason = f"Kubernetes API unreachable: {describe_exception(exc)}"
        return _Observation(facts, status=ERROR, reason=reason)
    if not pods.items:
        reason = (
            f"job {namespace}/{job_name} has no pods (not created yet, or deleted after it "
            "finished)"
        )
        return _Observation(facts, status=ERROR, reason=reason)
    pod = newest(pods.items)
    node_name = pod.spec.node_name if pod.spec else None
    status = _container_status(pod, container)
    state = status.state if status else None
    terminated = state.terminated if state else None
    running = state.running if state else None
    facts = _pod_facts(api, job_name, pod, container)
    if terminated:
        return _Observation(facts, message=terminated.message or "")
    if state and state.waiting:
        waiting = state.waiting
        detail = f"{waiting.reason}: {(waiting.message or '').strip()}".rstrip(": ")
        if waiting.reason in IMAGE_PULL_REASONS:
            status_, reason = image_pull_reading(
                waiting.reason, waiting.message, _image_of(pod, status), image_key
            )
            return _Observation(facts, status=status_, reason=reason)
        if waiting.reason in CONTAINER_ERROR_REASONS:
            return _Observation(facts, status=ERROR, reason=f"container not started ({detail})")
        return _Observation(facts, status=PENDING, reason=f"container waiting ({detail})")
    if running:
        return _Observation(facts, status=PENDING, reason=f"running on {node_name}")
    if pod.status.phase == "Failed":
        detail = f"{pod.status.reason or 'Failed'}: {(pod.status.message or '').strip()}"
        return _Observation(facts, status=FAILED, reason=f"pod failed ({detail.rstrip(': ')})")
    if not node_name:
        reason = f"not scheduled ({_scheduling_failure(api, namespace, pod)})"
        return _Observation(facts, status=PENDING, reason=reason)
    return _Observation(facts, status=PENDING, reason=f"pod {pod.status.phase} on {node_name}")


def read_gpu(
    api: Any, namespace: str, job_name: str, container: str | None = None
) -> dict[str, Any]:
    """The GPU check's result read from its Job's newest pod; never raises."""
    seen = _observe(api, namespace, job_name, container, "gpuCheckImage")
    if seen.status is not None:
        return gpu_dict(GpuResult(seen.status, seen.reason), seen.facts)
    parsed = results.parse_gpu_result(seen.message)
    status, reason = _reconcile(parsed, seen.facts.exit_code, seen.message or "")
    return gpu_dict(
        GpuResult(status, reason, parsed.gpus, parsed.cuda_version, parsed.exit_code), seen.facts
    )


def read_efa(
    api: Any,
    namespace: str,
    job_name: str | None,
    requested: bool,
    container: str | None = None,
) -> dict[str, Any]:
    """The EFA check's result; "unavailable, not requested" when there is no EFA Job."""
    if not job_name:
        result = EfaResult(UNAVAILABLE, f"not requested ({NOT_REQUESTED_HINT})", requested=False)
        return efa_dict(result, PodFacts(job_name=""))
    seen = _observe(api, namespace, job_name, container, "efaCheckImage")
    if seen.status is not None:
        return efa_dict(EfaResult(seen.status, seen.reason, requested=requested), seen.facts)
    parsed = results.parse_efa_result(seen.message)
    status, reason = _reconcile(parsed, seen.facts.exit_code, seen.message or "")
    if parsed.status != UNPARSEABLE and parsed.exit_code == EXIT_NO_EFA_DEVICE:
        where = seen.facts.instance_type or seen.facts.node_name or "the node"
        reason = (
            f"no EFA device on {where} (fi_info exit 61): not an EFA-capable instance type, "
            "or the pod did not request vpc.amazonaws.com/efa"
        )
        if parsed.requested is False:
            reason = f"not requested; {reason}"
    if parsed.requested is False:
        reason = f"{reason} ({NOT_REQUESTED_HINT})"
    result = EfaResult(status, reason, parsed.providers, parsed.requested, parsed.exit_code)
    return efa_dict(result, seen.facts)


DISTRIBUTED_POLL_SECONDS = 10.0


def _distributed_pods(api: Any, namespace: str, job_name: str) -> list[Any]:
    pods = api.list_namespaced_pod(
        namespace, label_selector=f"{JOB_NAME_LABEL}={job_name}", **bounded()
    ).items
    newest_by_rank: dict[str, Any] = {}
    for pod in sorted(pods or [], key=lambda p: p.metadata.creation_timestamp or dt.datetime.min):
        rank = (pod.metadata.labels or {}).get(COMPLETION_INDEX_LABEL, "?")
        newest_by_rank[rank] = pod
    return [newest_by_rank[k] for k in sorted(newest_by_rank)]


def read_distributed(
    api: Any,
    namespace: str,
    job_name: str,
    timeout_seconds: float,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
    *,
    efa_expected: bool = False,
    min_busbw_gbps: float | None = None,
) -> dict[str, Any]:
    """Wait (at most `timeout_seconds`) for rank 0 of the distributed check to finish, then read
    its result and judge it (core/fabric.py: EFA carried it when expected, busbw at least the
    floor); a pod that never got a node is `pending` (or `unavailable` when the scheduler says
    there is no capacity), quoting why. Never raises."""
    sleep, clock = sleep or time.sleep, clock or time.monotonic
    deadline = clock() + timeout_seconds
    while True:
        try:
            pods = _distributed_pods(api, namespace, job_name)
        except Exception as exc:
            reason = f"Kubernetes API unreachable: {describe_exception(exc)}"
            return distributed_dict(results.DistributedResult(ERROR, reason), job_name, [])
        facts = [_pod_facts(api, job_name, pod) for pod in pods]
        first = (
            pods[0]
            if pods and (pods[0].metadata.labels or {}).get(COMPLETION_INDEX_LABEL) == "0"
            else None
        )
        status = _container_status(first, None) if first is not None else None
        terminated = status.state.terminated if status and status.state else None
        if terminated:
            parsed = results.parse_distributed_result(terminated.message or "")
            if parsed.status == UNPARSEABLE and terminated.exit_code not in (None, 0):
                parsed = results.DistributedResult(
                    FAILED,
                    f"rank 0 exited {terminated.exit_code} without a result "
                    f"({terminated.reason or 'no reason'})",
                )
            types = [f.instance_type for f in facts if f.instance_type]
            verdict = fabric.judge(
                parsed, types, efa_expected=efa_expected, override=min_busbw_gbps
            )
            return distributed_dict(parsed, job_name, facts, verdict)
        for pod in pods:
            waiting = _container_status(pod, None)
            waiting = waiting.state.waiting if waiting and waiting.state else None
            if waiting and waiting.reason in IMAGE_PULL_REASONS:
                image = _image_of(pod, _container_status(pod, None))
                status_, why = image_pull_reading(
                    waiting.reason, waiting.message, image, "distributedCheckImage"
                )
                reason = f"{pod.metadata.name}: {why}"
                return distributed_dict(results.DistributedResult(status_, reason), job_name, facts)
        if clock() >= deadline:
            return distributed_dict(_not_finished(api, namespace, pods), job_name, facts)
        sleep(min(DISTRIBUTED_POLL_SECONDS, max(0.0, deadline - clock())))


def _pod_facts(api: Any, job_name: str, pod: Any, container: str | None = None) -> PodFacts:
    """Where and when the pod ran, and how its container ended."""
    node_name = pod.spec.node_name if pod.spec else None
    status = _container_status(pod, container)
    state = status.state if status else None
    terminated = state.terminated if state else None
    running = state.running if state else None
    return PodFacts(
        job_name=job_name,
        pod_name=pod.metadata.name,
        node_name=node_name,
        exit_code=terminated.exit_code if terminated else None,
        scheduled_at=_condition_time(pod, "PodScheduled"),
        started_at=(
            terminated.started_at if terminated else running.started_at if running else None
        ),
        finished_at=terminated.finished_at if terminated else None,
        **_node_facts(api, node_name),
    )


def _not_finished(api: Any, namespace: str, pods: list[Any]) -> results.DistributedResult:
    if len(pods) < 2:
        return results.DistributedResult(
            PENDING, f"{len(pods)} of 2 pods exist: the Job controller has not created them"
        )
    unscheduled = [p for p in pods if not (p.spec and p.spec.node_name)]
    if unscheduled:
        pod = unscheduled[0]
        why = _scheduling_failure(api, namespace, pod)
        status = UNAVAILABLE if any(w.lower() in why.lower() for w in _NO_CAPACITY) else PENDING
        return results.DistributedResult(
            status, f"{len(unscheduled)} of 2 pods never got a node: {pod.metadata.name}: {why}"
        )
    return results.DistributedResult(
        PENDING, "both pods are on nodes but rank 0 has not finished (still pulling or running)"
    )


def read_validation(
    api: Any,
    namespace: str,
    gpu_job_name: str,
    efa_job_name: str | None,
    efa_requested: bool,
    distributed_job_name: str | None = None,
    distributed_timeout: float = 0.0,
    *,
    distributed_efa: bool = False,
    min_busbw_gbps: float | None = None,
) -> dict[str, Any]:
    """`{"gpu": {...}, "efa": {...}[, "distributed": {...}]}`, JSON-serialisable, camelCase
    keys; never raises."""
    validation = {
        "gpu": read_gpu(api, namespace, gpu_job_name),
        "efa": read_efa(api, namespace, efa_job_name, efa_requested),
    }
    if distributed_job_name:
        validation["distributed"] = read_distributed(
            api,
            namespace,
            distributed_job_name,
            distributed_timeout,
            efa_expected=distributed_efa,
            min_busbw_gbps=min_busbw_gbps,
        )
    return validation
