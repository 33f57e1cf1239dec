"""Benchmark of the README's set-up: `make test` and then `make synth` in a fresh clone.

Run from the repository root: `python bench/setup_bench.py [--cold]`. It clones the committed
HEAD into a temporary folder (with `../shared` beside it when this checkout has one, as in CI) and
times each step of the first `make test` (uv, the environment, ruff, pytest), then `make synth`.
`--cold` also starts from empty uv and tool caches, so uv and every package come from PyPI.
Goals on a 2-core machine: the first `make test` within 60 s, `make synth` within 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"make test": 60.0, "make synth": 3.0}


def _run(name: str, cmd: list[str], cwd: Path, env: dict[str, str], timings: dict) -> None:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    timings[name] = round(time.perf_counter() - start, 2)
    if done.returncode != 0:
        sys.exit(f"{name} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="empty uv and tool caches too")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="toe-setup-") as tmp:
        base = Path(tmp)
        clone = base / "main"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        if (ROOT.parent / "shared").is_dir():
            (base / "shared").symlink_to(ROOT.parent / "shared")
        env = dict(os.environ)
        if args.cold:
            env["UV_CACHE_DIR"] = str(base / "uv-cache")
            env["TOE_CACHE"] = str(base / "toe-cache")
        timings: dict[str, float] = {}
        start = time.perf_counter()
        # The steps of `make test`, one at a time (their sum is the first `make test`).
        _run("uv (make's pinned copy)", ["make", "-s", "uv-bin"], clone, env, timings)
        _run("environment (uv sync)", ["make", ".venv/.installed"], clone, env, timings)
        _run("make test", ["make", "test"], clone, env, timings)
        timings["first make test, in all"] = round(time.perf_counter() - start, 2)
        _run("make synth", ["make", "synth"], clone, env, timings)

    width = max(map(len, timings))
    print(f"Fresh clone of {ROOT.name} ({'cold caches' if args.cold else 'warm uv cache'}):")
    for name, seconds in timings.items():
        print(f"  {name:<{width}}  {seconds:6.2f} s")
    verdicts = {
        "first make test": (timings["first make test, in all"], GOALS["make test"]),
        "make synth": (timings["make synth"], GOALS["make synth"]),
    }
    for name, (seconds, goal) in verdicts.items():
        print(f"  goal {name} <= {goal:.0f} s: {'met' if seconds <= goal else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"cold": args.cold, "seconds": timings}, indent=2) + "\n")


if __name__ == "__main__":
    shutil.which("make") or sys.exit("make is not on PATH")
    main()
