"""Verdicts, checks and reports: what each check found, its status and the exit code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core import instance_types as it

PASS, WARN, UNCHECKED, FAIL = "pass", "warn", "unchecked", "fail"


STATUS_RANK = {PASS: 0, WARN: 1, UNCHECKED: 2, FAIL: 3}


EXIT_PASS, EXIT_FAIL, EXIT_UNCHECKED = 0, 1, 2


@dataclass(frozen=True)
class Check:
    """One check's verdict with the evidence behind it (lines for people, data for --json)."""

    id: str
    title: str
    status: str
    summary: str
    evidence: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "data": _jsonable(self.data),
        }


class Verdicts:
    """The overall status, exit code and look-up of a report's `checks` (one stack or a fleet)."""

    region: str
    account: str
    caller: str
    checks: tuple[Check, ...]

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=STATUS_RANK.__getitem__, default=PASS)

    @property
    def exit_code(self) -> int:
        """0 pass (warnings included), 1 a check failed, 2 a check could not be run."""
        return {FAIL: EXIT_FAIL, UNCHECKED: EXIT_UNCHECKED}.get(self.status, EXIT_PASS)

    def check(self, check_id: str) -> Check:
        return next(c for c in self.checks if c.id == check_id)

    def verdicts_json(self) -> dict:
        """Where the checks ran and what they found: the keys both reports' JSON share, in order."""
        return {
            "region": self.region,
            "account": self.account,
            "caller": self.caller,
            "status": self.status,
            "exitCode": self.exit_code,
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass(frozen=True)
class Report(Verdicts):
    stack: str
    region: str
    account: str
    caller: str
    checks: tuple[Check, ...]
    gpu_types: tuple[it.InstanceFacts, ...] = ()

    def to_json(self) -> dict:
        return {
            "stack": self.stack,
            **self.verdicts_json(),
            "gpuTypes": [gpu_row(f) for f in self.gpu_types],
        }


class CouldNotCheck(Exception):
    """The account could not be asked at all (no or bad credentials, no endpoint)."""


def gpu_row(f: it.InstanceFacts) -> dict:
    return {
        "instanceType": f.instance_type,
        "gpuModel": " ".join(part for part in (f.gpu_manufacturer, f.gpu_name) if part),
        "gpuCount": f.gpu_count,
        "gpuMemoryGiB": round(f.gpu_memory_mib / 1024, 1),
        "vcpus": f.vcpus,
        "memoryGiB": round(f.memory_mib / 1024, 1),
        "efa": f.efa_supported,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value
