"""Offline synth: the program's plan, Kubernetes manifests and diagram, rendered without AWS.

`synth()` evaluates the program once through `toe.offline.harness.run_program` against a simulated
account, then renders what it registered: `plan.json` (every resource with its inputs, secrets
masked), one YAML file per Kubernetes object under `manifests/`, and `graph.mmd` (Mermaid). Values
the engine only knows after `up` render as `<computed>`; secret values as `[secret]`."""

from __future__ import annotations

import contextlib
import importlib
import json
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toe.offline.harness import ProgramRun, Registration
from toe.offline.plan import (
    GRAPH_FILE,
    MANIFEST_DIR,
    PLAN_FILE,
    VERDICTS_FILE,
    Masker,
    build_manifests,
    build_plan,
    dump_json,
    manifest_text,
)
from toe.offline.plan import SECRET as SECRET
from toe.offline.plan import UNKNOWN_SENTINEL as UNKNOWN_SENTINEL
from toe.offline.plan import load_plan as load_plan
from toe.offline.plan import manifest as manifest
from toe.stackfiles import resolve_dir


class SynthError(Exception):
    """Synth cannot start (e.g. no such stack); the message says what to do."""


@dataclass(frozen=True)
class SynthResult:
    """What one synth produced: the run (unmasked, in memory only) and the files written."""

    run: ProgramRun
    out_dir: Path
    plan: dict[str, Any]
    manifests: dict[str, dict[str, Any]]
    graph: str
    verdicts: list | None  # None: the policy pack is not in this checkout
    verdicts_text: str | None  # the policy pack's own rendering of the verdicts, masked
    files: tuple[Path, ...]

    @property
    def mandatory_violations(self) -> list:
        return [v for v in self.verdicts or () if enforcement(v) == "mandatory"]


def enforcement(verdict: Any) -> str:
    level = getattr(verdict, "enforcement", "")
    return str(getattr(level, "value", level)).lower()


def policy_runner(project_dir: Path | None = None):
    """The offline policy runner (toe.offline.policy_runner), or None where the project has no
    policy pack (`policies/rules.py`)."""
    project_dir = resolve_dir(project_dir)
    if not (project_dir / "policies" / "rules.py").exists():
        return None

    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    return importlib.import_module("toe.offline.policy_runner")


def verdict_record(verdict: Any, masker: Masker) -> dict[str, Any]:
    return masker.clean(
        {
            "policy": getattr(verdict, "policy", ""),
            "enforcement": enforcement(verdict),
            "urn": getattr(verdict, "urn", ""),
            "resourceName": getattr(verdict, "resource_name", ""),
            "message": getattr(verdict, "message", ""),
        }
    )


def _account_label(account: Path | None, project_dir: Path) -> str:
    from toe.offline.account import WORKSHOP_ACCOUNT

    path = Path(account or WORKSHOP_ACCOUNT).resolve()
    try:
        return str(path.relative_to(project_dir.resolve()))
    except ValueError:
        return path.name


def default_out_dir(stack: str) -> Path:
    return Path("build") / "synth" / stack


def synth(
    stack: str = "dev",
    *,
    project_dir: Path | None = None,
    account: Path | None = None,
    out_dir: Path | None = None,
    preview: bool = False,
    config: Mapping[str, Any] | None = None,
    policies: bool = True,
) -> SynthResult:
    """Run the program offline and write plan.json, manifests/ and graph.mmd under `out_dir`.

    Raises `toe.offline.account.AccountError` for an unusable account file and
    `toe.offline.harness.ProgramError` (with the program's own message) when the program fails.
    """
    from toe import guidance
    from toe.offline.account import load_account
    from toe.offline.harness import run_program
    from toe.offline.synth_graph import mermaid

    project_dir = resolve_dir(project_dir)
    if not (project_dir / f"Pulumi.{stack}.yaml").exists():
        raise SynthError(guidance.unknown_stack(stack, project_dir))
    out = Path(out_dir) if out_dir is not None else default_out_dir(stack)
    _ours(out)  # before the program runs: refuse a folder of someone else's files at once
    loaded = load_account(account) if account is not None else None
    run = run_program(
        stack,
        project_dir=project_dir,
        account=loaded,
        config=config,
        preview=preview,
        after=(lambda: _price(stack, project_dir)) if config is None else None,
    )
    masker = Masker.for_run(run)
    plan = build_plan(run, masker, _account_label(account, project_dir))
    manifests = build_manifests(run, masker)
    graph = mermaid(plan)
    runner = policy_runner(project_dir) if policies else None
    verdicts = list(runner.evaluate(run)) if runner is not None else None
    verdicts_text = None
    if verdicts is not None and hasattr(runner, "format_verdicts"):
        verdicts_text = masker.clean(str(runner.format_verdicts(verdicts)))

    written = write(out, plan, manifests, graph, verdicts, masker)
    return SynthResult(
        run=run,
        out_dir=out,
        plan=plan,
        manifests={name: obj for name, (_, obj) in manifests.items()},
        graph=graph,
        verdicts=verdicts,
        verdicts_text=verdicts_text,
        files=tuple(written),
    )


def _price(stack: str, project_dir: Path):
    """The stack's bill in the simulated account, from the bundled prices; why not, as text, when
    it cannot be priced (synth reports the program: the price comes on top)."""
    import boto3

    from toe import cost
    from toe.preflight import Clients, CouldNotCheck

    region = boto3.Session().region_name
    ec2 = boto3.client("ec2", region_name=region)
    clients = Clients(ec2=ec2, quotas=None, iam=None, sts=None, eks=None)
    try:
        return cost.run([stack], project_dir=project_dir, clients=clients)
    except CouldNotCheck as err:
        return f"could not price the stack: {err}"


MARKER_FILE = ".toe-synth.json"  # what synth wrote into a folder, so it may replace it later


def _ours(out: Path) -> None:
    """Refuse an output folder that holds anything an earlier synth did not write."""
    if not out.exists():
        return
    if not out.is_dir():
        raise SynthError(f"--out {out} is a file, not a folder")
    present = sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()
    )
    if not present:
        return
    marker = out / MARKER_FILE
    listed: set[str] = set()
    if marker.is_file():
        try:
            listed = set(json.loads(marker.read_text()).get("files", [])) | {MARKER_FILE}
        except (ValueError, AttributeError):
            listed = set()
    foreign = [name for name in present if name not in listed]
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise SynthError(
            f"--out {out} holds files synth did not write ({shown}); nothing was changed. "
            "Choose a new or empty folder (default: build/synth/<stack>)"
        )


def write(
    out: Path,
    plan: Mapping[str, Any],
    manifests: Mapping[str, tuple[Registration, dict]],
    graph: str,
    verdicts: list | None,
    masker: Masker,
) -> list[Path]:
    """Write the files into a fresh folder, then move it into place: `out` ends up holding exactly
    one synth's output, even when two run at once, and nothing synth did not write is deleted."""
    _ours(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    names = [PLAN_FILE, GRAPH_FILE]
    (staging / PLAN_FILE).write_text(dump_json(plan))
    (staging / GRAPH_FILE).write_text(graph)
    (staging / MANIFEST_DIR).mkdir()
    for filename, (reg, obj) in sorted(manifests.items()):
        (staging / MANIFEST_DIR / filename).write_text(manifest_text(reg, obj))
        names.append(f"{MANIFEST_DIR}/{filename}")
    if verdicts is not None:
        (staging / VERDICTS_FILE).write_text(
            dump_json([verdict_record(v, masker) for v in verdicts])
        )
        names.append(VERDICTS_FILE)
    (staging / MARKER_FILE).write_text(dump_json({"stack": plan["stack"], "files": names}))
    for _attempt in range(10):
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            with contextlib.suppress(FileNotFoundError):  # another synth moved it first
                out.rename(old / out.name)
        try:
            staging.rename(out)
        except OSError:  # another synth put its folder in place meanwhile: move that aside
            continue
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        break
    else:
        shutil.rmtree(staging, ignore_errors=True)
        raise SynthError(f"could not move the output into {out}: other synths keep replacing it")
    return [out / name for name in names]
