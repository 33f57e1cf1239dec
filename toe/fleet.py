"""Drive many attendee stacks through `pulumi preview|up|destroy` with the Automation API."""

from __future__ import annotations

import importlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from core.config import AwsAccess
from toe import attendees

if TYPE_CHECKING:
    from pulumi import automation as auto
from toe.fleet_progress import FleetProgress, StackResult, format_changes, format_validation
from toe.fleet_progress import summary_table as summary_table

OPERATIONS = ("preview", "up", "destroy")


VALIDATION_OUTPUT = "validationSummary"


# (region, cluster name, VPC id) -> the resources a destroyed stack left behind.
Sweep = Callable[[AwsAccess, str, str | None], list[Any]]


def select_stacks(work_dir: Path, requested: Sequence[str] | None, operation: str) -> list[str]:
    """The stacks to drive: those named (in order, once each), else every `Pulumi.*.yaml`.

    Raises `ValueError` listing every name Pulumi would refuse, and for preview/up every name
    without a stack file (destroy may target a stack whose file is already gone).
    """
    if not requested:
        return attendees.stack_names(work_dir)
    names = list(dict.fromkeys(requested))
    errors = [f"{name!r} is not a Pulumi stack name" for name in names if not _valid(name)]
    if operation != "destroy":
        errors += [
            f"{attendees.stack_file_path(work_dir, name)} is missing; create it with "
            "`python -m toe attendees add`"
            for name in names
            if _valid(name) and not attendees.stack_file_path(work_dir, name).is_file()
        ]
    if errors:
        raise ValueError("\n".join(errors))
    return names


def _valid(name: str) -> bool:
    return attendees.is_pulumi_stack_name(name)


def load_sweep() -> tuple[Sweep | None, str | None]:
    """The teardown sweep from `toe.sweep` when that module is present, else a note why not."""
    try:
        module = importlib.import_module("toe.sweep")
    except ImportError:
        return None, "teardown sweep skipped: toe.sweep is not installed"

    def sweep(access: AwsAccess, cluster: str, vpc_id: str | None) -> list[Any]:
        from core import eks_token

        # As the stack reached AWS: with another account's role, the ambient identity would
        # look in the wrong account and find nothing left.
        session = eks_token.session_for_access(access)
        return list(module.find_leftovers(session, cluster, vpc_id=vpc_id))

    return sweep, None


@dataclass(frozen=True)
class FleetOptions:
    """How to reach Pulumi and where to write per-stack logs."""

    work_dir: Path
    log_dir: Path
    parallel: int = 4
    pulumi_root: Path | None = None
    secrets_provider: str | None = None
    sweep: bool = True


def pulumi_command(root: Path | None) -> auto.PulumiCommand:
    """The CLI the Automation API runs: `<root>/bin/pulumi`, else `pulumi` on PATH."""
    from pulumi import automation as auto

    return auto.PulumiCommand(root=str(root) if root else None)


def pulumi_root_problem(root: Path | None) -> str | None:
    """What is wrong with `--pulumi-root` (a folder holding bin/pulumi), before it is run."""
    if root is None:
        return None
    use = (
        "give the folder that holds bin/pulumi (the installer's is ~/.pulumi), or leave "
        "--pulumi-root out to run pulumi from PATH"
    )
    if (root / "pulumi").is_file() and root.name == "bin":
        return f"--pulumi-root {root} holds pulumi itself: give the folder above it, {root.parent}"
    if root.is_file() and root.parent.name == "bin":
        return f"--pulumi-root {root} is the CLI itself: give --pulumi-root {root.parent.parent}"
    if not root.exists():
        return f"--pulumi-root {root}: the folder does not exist; {use}"
    if not root.is_dir():
        return f"--pulumi-root {root} is a file, not a folder; {use}"
    if not (root / "bin" / "pulumi").is_file():
        return f"--pulumi-root {root} has no bin/pulumi; {use}"
    if not os.access(root / "bin" / "pulumi", os.X_OK):
        return f"{root / 'bin' / 'pulumi'} is not executable: chmod +x {root / 'bin' / 'pulumi'}"
    return None


def toolchain_problem(work_dir: Path) -> str | None:
    """Why the program cannot start here, before every stack fails on it: Pulumi.yaml's uv
    toolchain runs `uv sync` before each program run, so `uv` must be on PATH."""
    import yaml

    runtime = yaml.safe_load((work_dir / "Pulumi.yaml").read_text()).get("runtime") or {}
    options = runtime.get("options") or {} if isinstance(runtime, dict) else {}
    if options.get("toolchain") == "uv" and shutil.which("uv") is None:
        return (
            "uv is not on PATH, and Pulumi.yaml runs the program with uv; put the project's "
            'pinned copy first: export PATH="$(make -s uv-bin):$PATH"'
        )
    return None


def run_fleet(
    operation: str,
    stacks: Sequence[str],
    options: FleetOptions,
    progress: FleetProgress | None = None,
    command: auto.PulumiCommand | None = None,
) -> list[StackResult]:
    """Run `operation` on every stack, at most `options.parallel` at a time.

    One stack failing does not stop the others; results come back in the order of `stacks`.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; choose one of {OPERATIONS}")
    if options.parallel < 1:
        raise ValueError("--parallel must be at least 1")
    progress = progress or FleetProgress(stacks)
    command = command or pulumi_command(options.pulumi_root)
    sweep, sweep_note = (None, None)
    if operation == "destroy" and options.sweep:
        sweep, sweep_note = load_sweep()
    options.log_dir.mkdir(parents=True, exist_ok=True)
    runner = _StackRunner(operation, options, progress, command, sweep, sweep_note)
    with ThreadPoolExecutor(max_workers=options.parallel, thread_name_prefix="fleet") as pool:
        return list(pool.map(runner.run, stacks))


@dataclass
class _StackRunner:
    """Runs one operation on one stack, logging its output and reporting progress."""

    operation: str
    options: FleetOptions
    progress: FleetProgress
    command: auto.PulumiCommand
    sweep: Sweep | None
    sweep_note: str | None
    # `pulumi stack select` and `stack init` record the selected stack in the workspace's
    # settings under ~/.pulumi/workspaces, shared by every stack of the project: run them one
    # at a time (inferred from the CLI's behaviour, not observed failing). The operations
    # themselves pass `--stack` and run in parallel.
    select_lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, stack: str) -> StackResult:
        log_path = self.options.log_dir / f"{stack}.{self.operation}.log"
        started = time.monotonic()
        self.progress.started(stack)
        stderr: list[str] = []
        with log_path.open("w", encoding="utf-8") as log:

            def on_output(line: str) -> None:
                log.write(line + "\n")
                log.flush()
                self.progress.line(stack, line)

            def on_error(line: str) -> None:
                log.write(f"[stderr] {line}\n")
                log.flush()
                stderr.append(line)

            def on_event(event: Any) -> None:
                if event.res_outputs_event is not None or event.res_op_failed_event is not None:
                    self.progress.resource_done(stack)

            try:
                fields = self._operate(stack, on_output, on_error, on_event, log)
            except Exception as error:  # one stack's failure must not stop the fleet
                log.write(f"[fleet] {self.operation} failed: {error}\n")
                fields = {"result": "failed", "error": _error_line(stderr, error)}
        result = StackResult(
            stack=stack,
            operation=self.operation,
            duration_s=time.monotonic() - started,
            log_path=log_path,
            **fields,
        )
        self.progress.finished(result)
        return result

    def _open(self, stack: str) -> auto.Stack:
        from pulumi import automation as auto

        opts = auto.LocalWorkspaceOptions(
            pulumi_command=self.command, secrets_provider=self.options.secrets_provider
        )
        open_stack = (
            auto.select_stack if self.operation == "destroy" else auto.create_or_select_stack
        )
        with self.select_lock:
            return open_stack(stack, work_dir=str(self.options.work_dir), opts=opts)

    def _operate(
        self,
        stack: str,
        on_output: Callable[[str], None],
        on_error: Callable[[str], None],
        on_event: Callable[[Any], None],
        log: TextIO,
    ) -> dict[str, Any]:
        from pulumi import automation as auto

        try:
            handle = self._open(stack)
        except auto.StackNotFoundError:
            log.write("[fleet] no such stack in the backend: nothing to destroy\n")
            return {"result": "absent", "note": "no such stack in the backend"}
        streams = {
            "on_output": on_output,
            "on_error": on_error,
            "on_event": on_event,
            "color": "never",
            "suppress_progress": True,
        }
        if self.operation == "preview":
            preview = handle.preview(**streams)
            return {"result": "succeeded", "changes": format_changes(preview.change_summary)}
        if self.operation == "up":
            up = handle.up(**streams)
            validation = up.outputs.get(VALIDATION_OUTPUT)
            return {
                "result": _result(up.summary.result),
                "changes": format_changes(up.summary.resource_changes),
                "validation_summary": (
                    format_validation(validation.value) if validation is not None else None
                ),
            }
        target = self._sweep_target(stack, handle)
        # Delete hooks run only when the engine runs the program during destroy (Pulumi docs,
        # "Resource hooks"), hence run_program=True.
        destroyed = handle.destroy(run_program=True, **streams)
        fields: dict[str, Any] = {
            "result": _result(destroyed.summary.result),
            "changes": format_changes(destroyed.summary.resource_changes),
        }
        if fields["result"] == "succeeded":
            fields.update(self._run_sweep(target, log))
        return fields

    def _sweep_target(self, stack: str, handle: auto.Stack) -> tuple[AwsAccess, str, str | None]:
        """How to reach AWS (the stack's region, profile and role), the cluster name and the VPC
        id to sweep, from the outputs or else the stack file."""
        from toe.stackfiles import stack_access

        try:
            outputs = {key: out.value for key, out in handle.outputs().items()}
        except Exception:  # a stack that never deployed has no outputs to read
            outputs = {}
        path = attendees.stack_file_path(self.options.work_dir, stack)
        config = (attendees.load_stack_document(path).get("config") or {}) if path.is_file() else {}
        region = outputs.get("region") or config.get(attendees.REGION_KEY)
        cluster = outputs.get("clusterName") or attendees.cluster_name_for(stack, config)
        access = stack_access(stack, region, self.options.work_dir)
        return access, cluster, outputs.get("vpcId")

    def _run_sweep(self, target: tuple[AwsAccess, str, str | None], log: TextIO) -> dict[str, Any]:
        if self.sweep is None:
            if self.sweep_note:
                log.write(f"[fleet] {self.sweep_note}\n")
            return {"note": self.sweep_note} if self.sweep_note else {}
        access, cluster, vpc_id = target
        try:
            leftovers = self.sweep(access, cluster, vpc_id)
        except Exception as error:  # the destroy itself succeeded; report the sweep's problem
            log.write(f"[fleet] sweep of {cluster} failed: {error}\n")
            return {"note": f"sweep failed: {error}"}
        for item in leftovers:
            log.write(f"[sweep] leftover: {item}\n")
        if not leftovers:
            return {"note": f"sweep: nothing left of {cluster}"}
        return {
            "result": "leftovers",
            "note": f"sweep: {len(leftovers)} left of {cluster} (see the log)",
        }


def _result(engine_result: str) -> str:
    return "succeeded" if engine_result == "succeeded" else "failed"


def _error_line(stderr: Sequence[str], error: BaseException) -> str:
    """The most telling line of a failure: the CLI's last `error:` line, else the exception."""
    for line in reversed(stderr):
        if line.strip().startswith("error:"):
            return line.strip()
    text = str(error).strip()
    for line in text.splitlines():
        if line.strip().startswith("error:"):
            return line.strip()
    return text.splitlines()[0] if text else type(error).__name__
