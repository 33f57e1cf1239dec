"""Modelled `pulumi up` timeline: critical path and parallel work from a synth plan's graph.

A resource starts once everything it depends on (recorded dependencies and property
dependencies, its provider, a custom parent) has been created; a dependency on a component means
all of that component's resources. How long each resource takes comes from a latency table kept
with its sources (`toe/data/latencies.yaml`). It is a model, not a measurement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import wellknown as wk
from toe.offline.latencies import (  # noqa: F401  (re-exported: one name for callers)
    BASES,
    LATENCIES,
    RECORDED,
    Estimate,
    ImageSize,
    Latencies,
    LatencyTableError,
    load_latencies,
)

# Steps shorter than this are not worth naming when saying what a Job does not wait for.
NOTABLE_SECONDS = 60.0
# Off-path steps shorter than this are summarised in one line.
SHORT_SECONDS = 10.0


@dataclass(frozen=True)
class Phase:
    """One part of a resource's creation, e.g. `image_pull nvidia/cuda:...`."""

    name: str
    seconds: float
    low: float
    high: float
    basis: str


@dataclass(frozen=True)
class Step:
    """A resource in the modelled `up`: what it waits for, its phases, when it runs."""

    urn: str
    name: str
    type: str
    component: str
    phases: tuple[Phase, ...]
    waits_for: tuple[str, ...]  # URNs of the steps it waits for directly
    start: float
    finish: float
    finish_low: float
    finish_high: float

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)


@dataclass(frozen=True)
class Timeline:
    steps: Mapping[str, Step]  # by URN
    critical_path: tuple[str, ...]  # URNs, first to last
    total: float
    total_low: float
    total_high: float
    latencies: Latencies

    def named(self, name: str) -> Step:
        matches = [s for s in self.steps.values() if s.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} steps named {name!r}")
        return matches[0]

    def ancestors(self, urn: str) -> set[str]:
        """Every step that must finish before this one starts (transitively)."""
        seen: set[str] = set()
        todo = list(self.steps[urn].waits_for)
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                todo.extend(self.steps[dep].waits_for)
        return seen


def _pod_spec(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((inputs.get("spec") or {}).get("template") or {}).get("spec") or {}


def _phases(resource: Mapping[str, Any], table: Latencies) -> list[Phase]:
    phases = []
    for name in table.phases_of(resource["type"]):
        est = table.step(name)
        phases.append(Phase(name, est.seconds, est.low, est.high, est.basis))
    if resource["type"] == "kubernetes:batch/v1:Job":
        inputs = resource.get("inputs") or {}
        # kubelet pulls one image at a time by default (serializeImagePulls).
        for container in _pod_spec(inputs).get("containers") or []:
            image = str(container.get("image", ""))
            size = table.image(image)
            t = table.throughput
            name = f"image_pull {image.rsplit('/', 1)[-1]}"
            phases.append(Phase(name, size.bytes / t, size.low / t, size.high / t, size.basis))
        labels = (inputs.get("metadata") or {}).get("labels") or {}
        check = labels.get(wk.LABEL_APP_NAME, "")
        run = table.job_runs.get(check) or table.job_runs["default"]
        phases.append(Phase(f"job_run {check or 'job'}", run.seconds, run.low, run.high, run.basis))
    return phases


def build(plan: Mapping[str, Any], table: Latencies | None = None) -> Timeline:
    """Schedule every resource of a synth plan as early as its dependencies allow."""
    table = table or load_latencies()
    resources = {r["urn"]: r for r in plan["resources"]}
    children: dict[str, list[str]] = defaultdict(list)
    for r in resources.values():
        children[r["parent"]].append(r["urn"])

    def is_group(urn: str) -> bool:  # a component: no work of its own, stands for its children
        r = resources[urn]
        return not r["custom"] and bool(children.get(urn))

    def expand(urn: str) -> set[str]:
        if urn not in resources:
            return set()
        if not is_group(urn):
            return {urn}
        found: set[str] = set()
        for child in children[urn]:
            found |= expand(child)
        return found

    def component_of(urn: str) -> str:
        r = resources[urn]
        top = r["name"]
        while r["parent"] in resources:
            r = resources[r["parent"]]
            top = r["name"]
        return top if top != resources[urn]["name"] else ""

    work = sorted(u for u in resources if not is_group(u))
    waits: dict[str, set[str]] = {}
    for urn in work:
        r = resources[urn]
        deps: set[str] = set()
        for dep in [*r["dependencies"], r.get("provider") or ""]:
            deps |= expand(dep)
        if r["parent"] in resources and not is_group(r["parent"]):
            deps.add(r["parent"])
        deps.discard(urn)
        waits[urn] = deps

    phases = {urn: _phases(resources[urn], table) for urn in work}
    finish: dict[str, tuple[float, float, float]] = {}
    start: dict[str, float] = {}
    visiting: set[str] = set()

    def schedule(urn: str) -> tuple[float, float, float]:
        if urn in finish:
            return finish[urn]
        if urn in visiting:
            raise ValueError(f"dependency cycle through {urn}")
        visiting.add(urn)
        before = [schedule(d) for d in sorted(waits[urn])]
        begin = tuple(max((b[i] for b in before), default=0.0) for i in range(3))
        own = phases[urn]
        start[urn] = begin[0]
        finish[urn] = (
            begin[0] + sum(p.seconds for p in own),
            begin[1] + sum(p.low for p in own),
            begin[2] + sum(p.high for p in own),
        )
        visiting.discard(urn)
        return finish[urn]

    for urn in work:
        schedule(urn)

    steps = {
        urn: Step(
            urn=urn,
            name=resources[urn]["name"],
            type=resources[urn]["type"],
            component=component_of(urn),
            phases=tuple(phases[urn]),
            waits_for=tuple(sorted(waits[urn])),
            start=start[urn],
            finish=finish[urn][0],
            finish_low=finish[urn][1],
            finish_high=finish[urn][2],
        )
        for urn in work
    }
    path: list[str] = []
    if steps:
        last = max(steps.values(), key=lambda s: (s.finish, s.name))
        path.append(last.urn)
        while last.waits_for:
            last = max((steps[d] for d in last.waits_for), key=lambda s: (s.finish, s.name))
            path.append(last.urn)
    return Timeline(
        steps=steps,
        critical_path=tuple(reversed(path)),
        total=max((s.finish for s in steps.values()), default=0.0),
        total_low=max((s.finish_low for s in steps.values()), default=0.0),
        total_high=max((s.finish_high for s in steps.values()), default=0.0),
        latencies=table,
    )


# ---------------------------------------------------------------------------- text


def clock(seconds: float) -> str:
    """`1h02m03s`, `12m05s`, `7s`."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _phase_text(phases: Sequence[Phase]) -> str:
    return " + ".join(f"{p.name} {clock(p.seconds)} ({p.basis})" for p in phases) or "-"


def not_waited_for(timeline: Timeline, urn: str) -> list[Step]:
    """Long steps that run while this one goes ahead (neither before nor after it)."""
    before = timeline.ancestors(urn)
    return sorted(
        (
            s
            for s in timeline.steps.values()
            if s.urn != urn
            and s.urn not in before
            and urn not in timeline.ancestors(s.urn)
            and s.seconds >= NOTABLE_SECONDS
        ),
        key=lambda s: s.name,
    )


def render(timeline: Timeline) -> str:
    """The critical path, the total, what runs in parallel and what the Jobs do not wait for."""
    t = timeline
    lines = [
        "Modelled `pulumi up` (a model from the dependency graph, not a measurement)",
        f"Total: {clock(t.total)} typical (range {clock(t.total_low)} - {clock(t.total_high)})",
        "",
        "Critical path:",
    ]
    for urn in t.critical_path:
        s = t.steps[urn]
        lines.append(
            f"  {clock(s.start):>8} -> {clock(s.finish):>8}  {s.name}  [{s.type}]"
            f"  {_phase_text(s.phases)}"
        )
    on_path = set(t.critical_path)
    off_path = [s for s in t.steps.values() if s.urn not in on_path]
    parallel = sorted(
        (s for s in off_path if s.seconds >= SHORT_SECONDS), key=lambda s: (s.start, s.name)
    )
    short = [s for s in off_path if s.seconds < SHORT_SECONDS]
    if off_path:
        lines += ["", "In parallel (off the critical path; slack = how much later it could end):"]
        for s in parallel:
            lines.append(
                f"  {clock(s.start):>8} -> {clock(s.finish):>8}  {s.name}  [{s.type}]"
                f"  slack {clock(t.total - s.finish)}"
            )
        if short:
            kinds = sorted({s.type.rsplit(":", 1)[-1] for s in short})
            lines.append(
                f"  and {len(short)} steps under {clock(SHORT_SECONDS)} each ({', '.join(kinds)}),"
                f" all done by {clock(max(s.finish for s in short))}"
            )
    jobs = sorted(
        (s for s in t.steps.values() if s.type == "kubernetes:batch/v1:Job"), key=lambda s: s.name
    )
    if jobs:
        lines += ["", "Validation Jobs:"]
        for job in jobs:
            free = ", ".join(s.name for s in not_waited_for(t, job.urn)) or "nothing long"
            lines.append(
                f"  {job.name} starts at {clock(job.start)}, done at {clock(job.finish)}; "
                f"does not wait for: {free}"
            )
            lines.append(f"    {_phase_text(job.phases)}")
    lines += [
        "",
        f"Latencies: {Path(t.latencies.source).name} (each entry: measured | docs | estimate, "
        "with its source); image pulls at "
        f"{t.latencies.throughput / 1e6:.1f} MB/s ({t.latencies.throughput_source})",
    ]
    return "\n".join(lines) + "\n"
