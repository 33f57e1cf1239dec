"""What the readout makes of the check pods it read: their facts, each check's result as a
stack output, and the summary lines; pure (the reading of the cluster is components.readout).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import results
from core.fabric import Verdict
from core.results import (
    ERROR,
    FAILED,
    PASSED,
    UNPARSEABLE,
    EfaResult,
    GpuResult,
)

# The kubelet's waiting reasons for an image it could not pull (kubernetes
# pkg/kubelet/images/types.go: ErrImagePull, ErrImagePullBackOff = "ImagePullBackOff",
# ErrInvalidImageName = "InvalidImageName", ErrImageNeverPull; ErrRegistryUnavailable =
# "RegistryUnavailable" and "SignatureValidationFailed" come from the runtime's error,
# image_manager.go evalCRIPullErr).
IMAGE_PULL_REASONS = (
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
    "SignatureValidationFailed",
)

# Words of a runtime's pull error that mean the registry has no such image (containerd:
# `...: not found`, gRPC `code = NotFound`; the distribution API's MANIFEST_UNKNOWN and
# NAME_UNKNOWN, "manifest unknown"), as opposed to one it could not fetch for now.
_NOT_FOUND = (
    "code = NotFound",
    ": not found",
    "manifest unknown",
    "MANIFEST_UNKNOWN",
    "NAME_UNKNOWN",
)


CONTAINER_ERROR_REASONS = (
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)


NOT_REQUESTED_HINT = (
    "set training-on-eks:efaInstanceType to an EFA-capable GPU instance type (g5.8xlarge+, "
    "g6.8xlarge+, p4d, p5) to run it"
)


EXIT_NO_EFA_DEVICE = 61


@dataclass(frozen=True)
class NodeCondition:
    """One of the node's health conditions as its status reports it."""

    type: str
    status: str  # True | False | Unknown
    reason: str = ""
    message: str = ""

    @property
    def healthy(self) -> bool:
        return self.status == "True"


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
    # Ready and the node monitoring agent's conditions, when the node could be read.
    node_conditions: tuple[NodeCondition, ...] = ()
    gpu_labels: tuple[tuple[str, str], ...] = ()  # eks.amazonaws.com/instance-gpu-* labels

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


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


def image_pull_reading(
    reason: str | None, message: str | None, image: str | None, key: str
) -> tuple[str, str]:
    """Status and reason for a check container the kubelet could not start for its image, in
    the kubelet's own words (`reason: message`). An image its registry does not have, or a
    reference that cannot be parsed, is `failed` (`pulumi up` fails on it; waiting out the
    deadline changes nothing) and names the config key; a pull that may still succeed (the
    registry unavailable, a rate limit, credentials) is `error`."""
    detail = f"{reason}: {(message or '').strip()}".rstrip(": ")
    what = f"{key} {image}" if image else key
    if reason == "InvalidImageName":
        return FAILED, f"image reference not valid ({detail}): fix {what}"
    if reason in ("ErrImagePull", "ImagePullBackOff") and any(
        word in (message or "") for word in _NOT_FOUND
    ):
        return FAILED, (
            f"image not found ({detail}): {what} does not exist in its registry; "
            "`python -m toe preflight` names the nearest tags"
        )
    return ERROR, f"image pull failed ({detail})"


def newest(items: list[Any]) -> Any:
    """The item (pod, Job, ...) with the latest creationTimestamp."""
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return max(items, key=lambda item: item.metadata.creation_timestamp or epoch)


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


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(str(text).split())[:limit]


def node_health_dict(facts: PodFacts) -> dict[str, Any]:
    """The node's health as Kubernetes reports it: its conditions and its GPU labels."""
    conditions = facts.node_conditions
    return {
        "healthy": all(c.healthy for c in conditions) if conditions else None,
        "conditions": [
            {
                "type": c.type,
                "status": c.status,
                "reason": c.reason,
                "message": _one_line(c.message),
            }
            for c in conditions
        ],
        "gpuLabels": dict(facts.gpu_labels),
    }


def gpu_dict(result: GpuResult, facts: PodFacts) -> dict[str, Any]:
    """The `validation.gpu` output for a GPU result and the pod it came from."""
    return {
        "node": node_health_dict(facts),
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


COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"


# Words in a scheduler's or Karpenter's message that mean "no capacity for it", not "later".
_NO_CAPACITY = ("exceed", "limit", "VcpuLimitExceeded", "InsufficientInstanceCapacity", "quota")


def _floor_dict(verdict: Verdict | None) -> dict[str, Any] | None:
    if verdict is None or verdict.floor is None:
        return None
    floor, judged = verdict.floor, verdict.judged
    return {
        "busbwGBps": floor.gbps,
        "bytes": floor.bytes or None,
        "appliesTo": floor.applies_to,
        "source": floor.source,
        "judgedAtBytes": judged.bytes if judged else None,
        "judgedBusbwGBps": judged.busbw_gbps if judged else None,
    }


def _fabric_dict(result: results.DistributedResult, verdict: Verdict | None) -> dict[str, Any]:
    ev = result.evidence
    return {
        "efaRequested": verdict.efa_expected if verdict is not None else None,
        "overEfa": verdict.over_efa if verdict is not None else None,
        "netPlugin": ev.net_plugin,
        "netPluginError": ev.net_plugin_error,
        "network": ev.network,
        "awsOfiNccl": ev.ofi,
        "provider": ev.ofi_provider,
        "nics": ev.ofi_nics,
        "ofiError": ev.ofi_error,
        "channels": {via: count for via, count in ev.via},
        "fiProvider": ev.fi_provider,
        "efaDevices": ev.efa_devices,
    }


def distributed_dict(
    result: results.DistributedResult,
    job_name: str,
    pods: list[PodFacts],
    verdict: Verdict | None = None,
) -> dict[str, Any]:
    """The `validation.distributed` output; `verdict` (core/fabric.py) decides its status."""
    at_256 = next((x.busbw_gbps for x in result.sizes if x.bytes == 256 * 1024 * 1024), None)
    zones = sorted({f.zone for f in pods if f.zone})
    return {
        "status": verdict.status if verdict else result.status,
        "reason": verdict.reason if verdict else result.reason,
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
        "skippedMiB": list(result.skipped_mib),
        "floor": _floor_dict(verdict),
        "fabric": _fabric_dict(result, verdict),
        "jobName": job_name,
        "pods": [_facts_dict(f) for f in pods],
    }


def _where(check: Mapping[str, Any]) -> str:
    instance_type = check.get("instanceType")
    if not instance_type:
        return ""
    zone = check.get("zone")
    return f" on {instance_type}" + (f" ({zone})" if zone else "")


def _node_note(gpu: Mapping[str, Any]) -> str:
    """`; node i-0abc unhealthy: KernelReady=False (reason)` when a condition is not True."""
    bad = [c for c in (gpu.get("node") or {}).get("conditions") or [] if c["status"] != "True"]
    if not bad:
        return ""
    shown = ", ".join(
        f"{c['type']}={c['status']}" + (f" ({c['reason']})" if c.get("reason") else "") for c in bad
    )
    return f"; node {gpu.get('nodeName') or '?'} unhealthy: {shown}"


def _gpu_line(gpu: Mapping[str, Any]) -> str:
    return _gpu_result_line(gpu) + _node_note(gpu)


def _gpu_result_line(gpu: Mapping[str, Any]) -> str:
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
    floor = check.get("floor") or {}
    at = floor.get("judgedAtBytes")
    if at:
        size = f"{at >> 30} GiB" if at >= 1 << 30 else f"{at >> 20} MiB"
        measured = f"busbw {floor.get('judgedBusbwGBps') or 0:.2f} GB/s at {size}"
    else:
        measured = f"busbw {bw.get('at256MiB') or 0:.2f} GB/s at 256 MiB"
    line = (
        f"distributed: passed — {measured} (peak {bw.get('peak') or 0:.2f}) over "
        f"{check.get('transport')}, {where or 'two nodes'}{zone}"
    )
    if floor:
        line += f"; floor {floor.get('busbwGBps'):g} GB/s ({floor.get('appliesTo')})"
    return line
