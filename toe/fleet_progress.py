"""What a fleet run shows while it runs and when it ends: each stack's phase and result, and
the summary table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class StackResult:
    """How one stack's operation ended."""

    stack: str
    operation: str
    result: str  # succeeded | failed | absent | leftovers
    duration_s: float
    log_path: Path
    changes: str = ""
    validation_summary: str | None = None
    error: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.result in ("succeeded", "absent")


@dataclass(frozen=True)
class StackProgress:
    """What the live view shows for one stack."""

    stack: str
    phase: str = "queued"  # queued | running | succeeded | failed | absent | leftovers
    started: float | None = None
    finished: float | None = None
    resources_done: int = 0
    last_line: str = ""


class FleetProgress:
    """Thread-safe progress of every stack in a run, for a live table or plain log lines."""

    def __init__(
        self,
        stacks: Iterable[str],
        on_finish: Callable[[StackResult], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._states = {stack: StackProgress(stack) for stack in stacks}
        self._on_finish = on_finish
        self._clock = clock

    def _update(self, stack: str, **changes: Any) -> None:
        with self._lock:
            self._states[stack] = replace(self._states[stack], **changes)

    def started(self, stack: str) -> None:
        self._update(stack, phase="running", started=self._clock())

    def line(self, stack: str, text: str) -> None:
        if text.strip():
            self._update(stack, last_line=text.strip())

    def resource_done(self, stack: str) -> None:
        with self._lock:
            state = self._states[stack]
            self._states[stack] = replace(state, resources_done=state.resources_done + 1)

    def finished(self, result: StackResult) -> None:
        self._update(result.stack, phase=result.result, finished=self._clock())
        if self._on_finish:
            self._on_finish(result)

    def snapshot(self) -> list[StackProgress]:
        with self._lock:
            return list(self._states.values())

    def table(self) -> Table:
        """The live view: one row per stack with its phase, elapsed time and latest output."""
        now = self._clock()
        table = Table(expand=True)
        table.add_column("stack", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("elapsed", justify="right", no_wrap=True)
        table.add_column("resources", justify="right", no_wrap=True)
        table.add_column("last output", overflow="ellipsis", no_wrap=True, ratio=1)
        for state in self.snapshot():
            elapsed = ""
            if state.started is not None:
                elapsed = _duration((state.finished or now) - state.started)
            table.add_row(
                state.stack,
                Text(state.phase, style=_PHASE_STYLE.get(state.phase, "")),
                elapsed,
                str(state.resources_done) if state.started is not None else "",
                state.last_line,
            )
        return table


_PHASE_STYLE = {
    "running": "cyan",
    "succeeded": "green",
    "absent": "green",
    "failed": "bold red",
    "leftovers": "yellow",
}


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def format_changes(changes: Mapping[str, int] | None) -> str:
    """`{"create": 3, "same": 1}` as `create 3, same 1`."""
    return ", ".join(f"{op} {count}" for op, count in (changes or {}).items() if count)


def format_validation(value: Any) -> str:
    """The `validationSummary` output in one line, whatever its shape."""
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {format_validation(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return "; ".join(format_validation(item) for item in value)
    return str(value)


def summary_table(results: Sequence[StackResult], operation: str) -> Table:
    """The closing table: stack, result, duration, changes and validation summary or notes."""
    failed = sum(not r.ok for r in results)
    table = Table(title=f"fleet {operation}: {len(results) - failed} ok, {failed} failed")
    table.add_column("stack", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("changes")
    table.add_column("validation summary" if operation == "up" else "notes")
    for r in results:
        detail = " ".join(
            part for part in (r.error, r.validation_summary, r.note) if part is not None
        )
        table.add_row(
            r.stack,
            Text(r.result, style=_PHASE_STYLE.get(r.result, "")),
            _duration(r.duration_s),
            r.changes,
            detail,
        )
    return table
