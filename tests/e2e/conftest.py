"""The rehearsal tier (`make e2e`): the world, a project copy, and the summary of what passed.

These tests run only when asked (`make e2e` sets TOE_E2E=1): they start real processes and take
minutes. Without the tools (`make e2e-tools`) or `../shared`, they fail with the reason rather
than skip: a rehearsal that did not run must never look like one that passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHARED = ROOT.parent / "shared"
SUMMARY = ROOT / "build" / "e2e" / "summary.json"
sys.path.insert(0, str(HERE))

if not os.environ.get("TOE_E2E"):
    collect_ignore_glob = ["test_*.py"]

from rehearsal.project import environment, make_project  # noqa: E402
from rehearsal.session import Rehearsal, World  # noqa: E402
from rehearsal.tools import Tools  # noqa: E402

_RESULTS: dict[str, dict] = {}
# Figures items measure (how long Karpenter took to remove an empty node, ...), for the summary.
_FIGURES: dict[str, object] = {}


@pytest.fixture
def figures() -> dict[str, object]:
    return _FIGURES


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        item = report.nodeid.rsplit("::", 1)[-1]
        entry = _RESULTS.setdefault(item, {"passed": True, "seconds": 0.0})
        entry["passed"] = entry["passed"] and report.outcome == "passed"
        entry["seconds"] = round(entry["seconds"] + report.duration, 1)


def pytest_sessionfinish(session, exitstatus):
    if not _RESULTS:
        return
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    total = round(sum(r["seconds"] for r in _RESULTS.values()), 1)
    document = {
        "tools": Tools.find().sources(),
        "items": _RESULTS,
        "totalSeconds": total,
        "figures": _FIGURES,
    }
    SUMMARY.write_text(json.dumps(document, indent=2) + "\n")
    width = max(len(name) for name in _RESULTS)
    lines = [f"{'item'.ljust(width)}  result  seconds"]
    lines += [
        f"{name.ljust(width)}  {'passed' if r['passed'] else 'FAILED'}  {r['seconds']:>7.1f}"
        for name, r in _RESULTS.items()
    ]
    total = sum(r["seconds"] for r in _RESULTS.values())
    lines.append(f"{'total'.ljust(width)}          {total:>7.1f}")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", f"rehearsal summary ({SUMMARY.relative_to(ROOT)})")
        for line in lines:
            reporter.write_line(line)


def _required() -> Tools:
    tools = Tools.find()
    missing = tools.missing()
    if missing:
        pytest.fail(
            "the rehearsal's tools are not built: run `make e2e-tools` "
            f"(missing: {', '.join(missing)})",
            pytrace=False,
        )
    if not (SHARED / "fixtures").is_dir():
        pytest.fail(
            f"the rehearsal replays ../shared/fixtures: {SHARED} is not here", pytrace=False
        )
    return tools


@pytest.fixture(scope="session")
def tools() -> Tools:
    """The built tools, for items that need no world."""
    return _required()


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    _required()
    directory = tmp_path_factory.mktemp("world")
    env = {**os.environ, "PYTHONPATH": str(HERE), "PYTHONUNBUFFERED": "1"}
    for key in [k for k in env if k.startswith("AWS_")]:
        env.pop(key)
    log = (directory / "world.log").open("w")
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "rehearsal.world",
            "--dir",
            str(directory),
            "--account",
            str(ROOT / "toe" / "accounts" / "workshop.yaml"),
            "--fixtures",
            str(SHARED / "fixtures"),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
    )
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        pytest.fail(f"the world did not start; see {directory / 'world.log'}", pytrace=False)
    ready = json.loads(line)
    yield World(process, ready["moto"], ready["status"], directory)
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def rehearsal(world, tmp_path_factory) -> Rehearsal:
    tools = _required()
    home = tmp_path_factory.mktemp("home")
    project = make_project(home / "project", tools)
    env = environment(home, tools, world.moto)
    return Rehearsal(project, env, tools, world)
