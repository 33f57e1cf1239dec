"""Read the validation Jobs' results from the cluster: a dict for the stack output, summary lines.

`read_validation(api, ...)` takes a `kubernetes.client.CoreV1Api` (or any object with the same
`list_namespaced_pod`, `read_node` and `list_namespaced_event` methods) and never raises: an
unreachable API, a pod that never scheduled or an image that never pulled each become a result
with a status and a reason. `ReadoutProvider` runs it once per `pulumi up` (never at preview) and
`ValidationReadout` exposes the outcome as the `validation` / `validationSummary` outputs.

Pulumi 3.272 pickles the provider with dill, its class by reference (pulumi/pulumi#7453), and runs
it in `python -m pulumi.dynamic` started in the program directory (pulumi/pulumi#5455): that
process imports this module, so it must stay importable from the project root and must not
create resources at import time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from core import results
from core import wellknown as wk
from core.config import AwsAccess
from core.results import (
    ERROR,
    FAILED,
    PASSED,
    PENDING,
    UNAVAILABLE,
    UNPARSEABLE,
    EfaResult,
    GpuResult,
)

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
IMAGE_PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
CONTAINER_ERROR_REASONS = (
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)
NOT_REQUESTED_HINT = (
    "set training-on-eks:efaInstanceType to an EFA-capable GPU instance type (g5.8xlarge+, "
    "g6.8xlarge+, p4d, p5) to run it"
)
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


EXIT_NO_EFA_DEVICE = 61


@dataclass(frozen=True)
class PodFacts:
    """Where and when a check's pod ran, and how its container ended."""

    job_name: str
    pod_name: str | None = None
    node_name: str | None = None
    instance_type: str | None = None
    zone: str | None = None
    capacity_type: str | None = None
    arch: str | None = None
    exit_code: int | None = None
    scheduled_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class _Observation:
    """A pod's state: either a termination message to parse, or a status decided already."""

    facts: PodFacts
    message: str | None = None
    status: str | None = None
    reason: str = ""


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_exception(exc: Exception) -> str:
    """One line for an API or connection error: `HTTP 401 Unauthorized`, `ConnectionError: ...`."""
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if status is not None:  # kubernetes.client.ApiException
        return f"HTTP {status} {reason or ''}".strip()
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def newest(items: list[Any]) -> Any:
    """The item (pod, Job, ...) with the latest creationTimestamp."""
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return max(items, key=lambda item: item.metadata.creation_timestamp or epoch)


def _condition_time(pod: Any, kind: str) -> dt.datetime | None:
    for condition in pod.status.conditions or []:
        if condition.type == kind and condition.status == "True":
            return condition.last_transition_time
    return None


def _node_facts(api: Any, node_name: str | None) -> dict[str, str | None]:
    if not node_name:
        return {}
    try:
        labels = api.read_node(node_name, **bounded()).metadata.labels or {}
    except Exception:  # the node may be gone (consolidated) by the time we read it
        return {}
    return {
        "instance_type": labels.get(wk.LABEL_INSTANCE_TYPE),
        "zone": labels.get(wk.LABEL_ZONE),
        "capacity_type": labels.get(wk.LABEL_CAPACITY_TYPE),
        "arch": labels.get(wk.LABEL_ARCH),
    }


def _scheduling_failure(api: Any, namespace: str, pod: Any) -> str:
    """The newest FailedScheduling event's message for the pod, else PodScheduled's message."""
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
        latest = max(failed, key=lambda e: e.last_timestamp or e.event_time or epoch)
        return f'FailedScheduling: "{(latest.message or "").strip()}"'
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


def _observe(api: Any, namespace: str, job_name: str, container: str | None) -> _Observation:
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
            return _Observation(facts, status=ERROR, reason=f"image pull failed ({detail})")
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


def _reconcile(
    parsed: GpuResult | EfaResult, exit_code: int | None, message: str
) -> tuple[str, str]:
    """Status and reason from the parsed message and the container's exit code together."""
    if exit_code not in (None, 0):
        if parsed.status == UNPARSEABLE:
            what = "an empty termination message" if not message else "an unreadable result"
            return FAILED, f"check container exited {exit_code} with {what}"
        if parsed.status == PASSED:
            return FAILED, f"check reported passed but its container exited {exit_code}"
    return parsed.status, parsed.reason


def _facts_dict(facts: PodFacts) -> dict[str, Any]:
    return {
        "jobName": facts.job_name,
        "podName": facts.pod_name,
        "instanceType": facts.instance_type,
        "zone": facts.zone,
        "capacityType": facts.capacity_type,
        "arch": facts.arch,
        "nodeName": facts.node_name,
        "exitCode": facts.exit_code,
        "scheduledAt": _iso(facts.scheduled_at),
        "startedAt": _iso(facts.started_at),
        "finishedAt": _iso(facts.finished_at),
        "durationSeconds": facts.duration_seconds,
    }


def gpu_dict(result: GpuResult, facts: PodFacts) -> dict[str, Any]:
    """The `validation.gpu` output for a GPU result and the pod it came from."""
    return {
        "status": result.status,
        "reason": result.reason,
        "gpus": [
            {"name": g.name, "driverVersion": g.driver_version, "memoryMiB": g.memory_mib}
            for g in result.gpus
        ],
        "cudaVersion": result.cuda_version,
        "toolExitCode": result.exit_code,
        **_facts_dict(facts),
    }


def efa_dict(result: EfaResult, facts: PodFacts) -> dict[str, Any]:
    """The `validation.efa` output for an EFA result and the pod it came from."""
    return {
        "status": result.status,
        "reason": result.reason,
        "requested": result.requested,
        "providers": [
            {"provider": p.provider, "fabric": p.fabric, "domain": p.domain, "type": p.type}
            for p in result.providers
        ],
        "toolExitCode": result.exit_code,
        **_facts_dict(facts),
    }


def read_gpu(
    api: Any, namespace: str, job_name: str, container: str | None = None
) -> dict[str, Any]:
    """The GPU check's result read from its Job's newest pod; never raises."""
    seen = _observe(api, namespace, job_name, container)
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
    seen = _observe(api, namespace, job_name, container)
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


COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
# Words in a scheduler's or Karpenter's message that mean "no capacity for it", not "later".
_NO_CAPACITY = ("exceed", "limit", "VcpuLimitExceeded", "InsufficientInstanceCapacity", "quota")
DISTRIBUTED_POLL_SECONDS = 10.0


def distributed_dict(
    result: results.DistributedResult, job_name: str, pods: list[PodFacts]
) -> dict[str, Any]:
    """The `validation.distributed` output."""
    at_256 = next((x.busbw_gbps for x in result.sizes if x.bytes == 256 * 1024 * 1024), None)
    zones = sorted({f.zone for f in pods if f.zone})
    return {
        "status": result.status,
        "reason": result.reason,
        "backend": result.backend,
        "transport": result.transport,
        "nodes": list(result.nodes) or [f.node_name for f in pods if f.node_name],
        "instanceTypes": [f.instance_type for f in pods if f.instance_type],
        "zone": zones[0] if len(zones) == 1 else (", ".join(zones) or None),
        "sizes": [
            {"bytes": x.bytes, "algbwGBps": x.algbw_gbps, "busbwGBps": x.busbw_gbps}
            for x in result.sizes
        ],
        "busbwGBps": {"peak": result.peak_busbw_gbps, "at256MiB": at_256},
        "minBusbwGBps": result.min_busbw_gbps,
        "jobName": job_name,
        "pods": [_facts_dict(f) for f in pods],
    }


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
) -> dict[str, Any]:
    """Wait (at most `timeout_seconds`) for rank 0 of the distributed check to finish, then read
    its result; a pod that never got a node is `pending` (or `unavailable` when the scheduler
    says there is no capacity), quoting why. Never raises."""
    import time

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
            return distributed_dict(parsed, job_name, facts)
        for pod in pods:
            waiting = _container_status(pod, None)
            waiting = waiting.state.waiting if waiting and waiting.state else None
            if waiting and waiting.reason in IMAGE_PULL_REASONS:
                detail = f"{waiting.reason}: {(waiting.message or '').strip()}".rstrip(": ")
                reason = f"{pod.metadata.name}: image pull failed ({detail})"
                return distributed_dict(results.DistributedResult(ERROR, reason), job_name, facts)
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
) -> dict[str, Any]:
    """`{"gpu": {...}, "efa": {...}[, "distributed": {...}]}`, JSON-serialisable, camelCase
    keys; never raises."""
    validation = {
        "gpu": read_gpu(api, namespace, gpu_job_name),
        "efa": read_efa(api, namespace, efa_job_name, efa_requested),
    }
    if distributed_job_name:
        validation["distributed"] = read_distributed(
            api, namespace, distributed_job_name, distributed_timeout
        )
    return validation


def _where(check: Mapping[str, Any]) -> str:
    instance_type = check.get("instanceType")
    if not instance_type:
        return ""
    zone = check.get("zone")
    return f" on {instance_type}" + (f" ({zone})" if zone else "")


def _gpu_line(gpu: Mapping[str, Any]) -> str:
    gpus = gpu.get("gpus") or []
    if gpu.get("status") != PASSED or not gpus:
        return f"gpu: {gpu.get('status')} — {gpu.get('reason')}{_where(gpu)}"
    names = sorted({g["name"] for g in gpus})
    drivers = sorted({g["driverVersion"] for g in gpus})
    memory = sorted({g["memoryMiB"] for g in gpus})
    count = f"{len(gpus)}x " if len(gpus) > 1 else ""
    parts = [f"{count}{' + '.join(names)}{_where(gpu)}", f"driver {', '.join(drivers)}"]
    if gpu.get("cudaVersion"):
        parts.append(f"CUDA {gpu['cudaVersion']}")
    each = " each" if len(gpus) > 1 else ""
    parts.append(", ".join(f"{m} MiB" for m in memory) + each)
    return f"gpu: passed — {', '.join(parts)}"


def _efa_line(efa: Mapping[str, Any]) -> str:
    providers = [p for p in efa.get("providers") or [] if p.get("provider") == "efa"]
    if efa.get("status") != PASSED or not providers:
        return f"efa: {efa.get('status')} — {efa.get('reason')}"
    domains = sorted({f"{p['domain']} ({p['type']})" for p in providers})
    return f"efa: passed — {len(providers)} efa endpoints{_where(efa)}: {', '.join(domains)}"


def summary_lines(validation: Mapping[str, Any]) -> list[str]:
    """One readable line per check, e.g. `gpu: passed — NVIDIA A10G on g5.xlarge (...), ...`."""
    lines = []
    if "gpu" in validation:
        lines.append(_gpu_line(validation["gpu"]))
    if "efa" in validation:
        lines.append(_efa_line(validation["efa"]))
    if "distributed" in validation:
        lines.append(_distributed_line(validation["distributed"]))
    return lines


def _distributed_line(check: Mapping[str, Any]) -> str:
    if check.get("status") != PASSED:
        return f"distributed: {check.get('status')} — {check.get('reason')}"
    bw = check.get("busbwGBps") or {}
    types = check.get("instanceTypes") or []
    where = f"{len(types)} x {types[0]}" if types and len(set(types)) == 1 else ", ".join(types)
    zone = f" ({check['zone']})" if check.get("zone") else ""
    return (
        f"distributed: passed — busbw {bw.get('at256MiB') or 0:.2f} GB/s at 256 MiB (peak "
        f"{bw.get('peak') or 0:.2f}) over {check.get('transport')}, {where or 'two nodes'}{zone}"
    )


# --- Pulumi dynamic provider -----------------------------------------------------------------

INPUT_KEYS = (
    "clusterName",
    "region",
    "awsProfile",
    "assumeRoleArn",
    "assumeRoleSessionName",
    "assumeRoleExternalId",
    "endpoint",
    "certificateAuthority",
    "namespace",
    "gpuJobName",
    "efaJobName",
    "efaRequested",
    "efaRequired",
    "distributedJobName",
    "distributedRequired",
    "distributedTimeoutSeconds",
    "runId",
)
_REQUIRED_STRINGS = ("clusterName", "region", "endpoint", "certificateAuthority", "namespace")

ApiFactory = Callable[[Mapping[str, Any]], Any]


def is_unknown(value: Any) -> bool:
    """A value the engine does not know yet: `pulumi.output.Unknown()` as the dynamic host
    deserializes it, or the wire sentinel string where something skipped deserialization."""
    from pulumi.output import Unknown
    from pulumi.runtime.rpc import UNKNOWN

    return isinstance(value, Unknown) or (isinstance(value, str) and value == UNKNOWN)


# Tests (and the provider process of a test) replace this to answer with a fake API.
API_FACTORY: ApiFactory | None = None


def eks_api_factory(props: Mapping[str, Any]) -> Any:
    """CoreV1Api for the cluster in `props`, authenticated with a boto3-built EKS token from a
    session made as the aws provider makes its own (profile, assumed role, region)."""
    from core import eks_token

    session = eks_token.session_for(
        props["region"],
        props.get("awsProfile") or None,
        props.get("assumeRoleArn") or None,
        props.get("assumeRoleSessionName") or None,
        props.get("assumeRoleExternalId") or None,
    )
    token = eks_token.get_token(props["clusterName"], props["region"], session)
    return eks_token.core_v1_api(props["endpoint"], props["certificateAuthority"], token)


class ReadoutError(Exception):
    """The readout found a result that must fail `pulumi up`: the GPU check did not pass, or EFA
    is required and did not pass."""


class ReadoutProvider(pulumi.dynamic.ResourceProvider):
    """Reads both validation Jobs once per create/update; `check` and `diff` call nothing."""

    # The provider captures no secrets; its inputs are visible in state anyway.
    serialize_as_secret_always = False

    def __init__(self, api_factory: ApiFactory | None = None) -> None:
        super().__init__()
        self._api_factory = api_factory

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        """Validate the inputs that are known; during a preview the engine hands the rest over
        as `pulumi.output.Unknown()` (the dynamic host deserializes with keep_unknowns=True;
        FACTS.md, "The engine's behaviour that mocks hide"), and those are checked at `up`."""
        failures = []
        for key in (*_REQUIRED_STRINGS, "gpuJobName"):
            if key not in news:
                failures.append(pulumi.dynamic.CheckFailure(key, f"{key} is required"))
            elif not is_unknown(news[key]) and (not isinstance(news[key], str) or not news[key]):
                failures.append(
                    pulumi.dynamic.CheckFailure(key, f"{key} must be a non-empty string")
                )
        for key in ("efaRequested", "efaRequired", "distributedRequired"):
            value = news.get(key)
            if key in news and not is_unknown(value) and not isinstance(value, bool | str):
                failures.append(pulumi.dynamic.CheckFailure(key, f"{key} must be a boolean"))
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        """Any input change replaces the readout; an input not known yet (preview) may change."""
        changed = [k for k in INPUT_KEYS if is_unknown(news.get(k)) or olds.get(k) != news.get(k)]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=changed, delete_before_replace=False
        )

    def _read(self, props: Mapping[str, Any]) -> dict[str, Any]:
        factory = self._api_factory or API_FACTORY or eks_api_factory
        efa_requested = props.get("efaRequested") is True
        try:
            api = factory(props)
        except Exception as exc:
            reason = f"could not build a Kubernetes client: {describe_exception(exc)}"
            gpu = gpu_dict(GpuResult(ERROR, reason), PodFacts(props.get("gpuJobName", "")))
            efa = efa_dict(
                EfaResult(ERROR, reason, requested=efa_requested),
                PodFacts(props.get("efaJobName") or ""),
            )
            validation = {"gpu": gpu, "efa": efa}
            if props.get("distributedJobName"):
                validation["distributed"] = distributed_dict(
                    results.DistributedResult(ERROR, reason), props["distributedJobName"], []
                )
        else:
            validation = read_validation(
                api,
                props["namespace"],
                props["gpuJobName"],
                props.get("efaJobName") or None,
                efa_requested,
                props.get("distributedJobName") or None,
                float(props.get("distributedTimeoutSeconds") or 0),
            )
        summary = "\n".join(summary_lines(validation))
        gpu_status = validation["gpu"]["status"]
        if gpu_status != PASSED:
            # The check scripts report and exit 0; this is where a broken GPU node fails `up`.
            raise ReadoutError(
                f"the GPU check is {gpu_status}: {validation['gpu']['reason']}\n{summary}"
            )
        efa_status = validation["efa"]["status"]
        if props.get("efaRequired") is True and efa_status != PASSED:
            raise ReadoutError(
                f"EFA is required (efaRequired) but the EFA check is {efa_status}: "
                f"{validation['efa']['reason']}\n{summary}"
            )
        distributed = validation.get("distributed")
        if (
            distributed is not None
            and props.get("distributedRequired") is True
            and distributed["status"] != PASSED
        ):
            raise ReadoutError(
                f"the distributed check is required (distributedRequired) but is "
                f"{distributed['status']}: {distributed['reason']}\n{summary}"
            )
        return {
            **{k: props[k] for k in INPUT_KEYS if k in props},
            "validation": validation,
            "validationSummary": summary,
        }

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = self._read(props)
        run = props.get("runId") or "0"
        return pulumi.dynamic.CreateResult(
            f"{props['namespace']}/{props['gpuJobName']}/{run}", outs
        )

    def update(
        self, _id: str, _olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(self._read(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to tear down: the readout only reads."""


@dataclass(frozen=True)
class ValidationReadoutArgs:
    """Inputs of ValidationReadout; the cluster and Job names usually come from other resources."""

    cluster_name: pulumi.Input[str]
    access: AwsAccess
    endpoint: pulumi.Input[str]
    certificate_authority: pulumi.Input[str]
    namespace: pulumi.Input[str]
    gpu_job_name: pulumi.Input[str]
    efa_job_name: pulumi.Input[str] | None = None
    efa_requested: pulumi.Input[bool] = False
    efa_required: pulumi.Input[bool] = False
    distributed_job_name: pulumi.Input[str] | None = None
    distributed_required: pulumi.Input[bool] = False
    distributed_timeout_seconds: pulumi.Input[int] = 0
    run_id: pulumi.Input[str] = "0"


class ValidationReadout(
    pulumi.dynamic.Resource, module="training-on-eks", name="ValidationReadout"
):
    """The validation Jobs' results, read once they finished: `validation`, `validation_summary`."""

    validation: pulumi.Output[dict[str, Any]]

    def __init__(
        self,
        name: str,
        args: ValidationReadoutArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: ReadoutProvider | None = None,
    ) -> None:
        props = {
            "clusterName": args.cluster_name,
            "region": args.access.region,
            "awsProfile": args.access.profile or "",
            "assumeRoleArn": args.access.assume_role_arn or "",
            "assumeRoleSessionName": args.access.assume_role_session_name or "",
            "assumeRoleExternalId": args.access.assume_role_external_id or "",
            "endpoint": args.endpoint,
            "certificateAuthority": args.certificate_authority,
            "namespace": args.namespace,
            "gpuJobName": args.gpu_job_name,
            "efaJobName": args.efa_job_name if args.efa_job_name is not None else "",
            "efaRequested": args.efa_requested,
            "efaRequired": args.efa_required,
            "distributedJobName": (
                args.distributed_job_name if args.distributed_job_name is not None else ""
            ),
            "distributedRequired": args.distributed_required,
            "distributedTimeoutSeconds": args.distributed_timeout_seconds,
            "runId": args.run_id,
            "validation": None,
            "validationSummary": None,
        }
        super().__init__(provider or ReadoutProvider(), name, props, opts)

    @property
    def validation_summary(self) -> pulumi.Output[str]:
        """`validationSummary`: one line per check, joined by newlines."""
        # Outputs of a dynamic resource are attributes named as the engine names them.
        return self.__dict__["validationSummary"]
