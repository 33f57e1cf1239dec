"""Benchmark of the rehearsal's tool build (`make e2e-tools`, tests/e2e/tools/build.sh).

Run from the repository root: `python bench/tools_bench.py [--cold] [--only NAME ...]`. It builds
into an empty tools folder and reports each tool's seconds as build.sh recorded them in the
tool's SOURCE file. `--cold` also empties the Go caches (build and modules) and the uv cache for
the run, so every module comes from the proxy and every package is compiled: a fresh machine.
`--only karpenter` builds that tool alone, the others linked from the current tools folder.
Goal on a 2-core machine (the rehearsal's issue): the cold build of all tools within 35 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from rehearsal.tools import Tools  # noqa: E402

GOAL_SECONDS = 35 * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="empty Go and uv caches too")
    parser.add_argument("--only", nargs="+", default=[], help="tools to build (others linked)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    current = Tools.find()
    with tempfile.TemporaryDirectory(prefix="toe-tools-") as tmp:
        root = Path(tmp)
        tools_dir = root / "tools"
        tools_dir.mkdir()
        for name, folder in current.folders.items():
            if args.only and name not in args.only:
                if not (folder / ".complete").exists():
                    sys.exit(f"{name} is not built in {current.root}: build it or leave out --only")
                (tools_dir / folder.name).symlink_to(folder)
        env = {**os.environ, "TOE_TOOLS_DIR": str(tools_dir)}
        if args.cold:
            env.update(
                GOCACHE=str(root / "go-build"),
                GOMODCACHE=str(root / "go-mod"),
                UV_CACHE_DIR=str(root / "uv"),
            )
        started = time.perf_counter()
        done = subprocess.run(
            ["make", "e2e-tools"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        total = round(time.perf_counter() - started, 1)
        if done.returncode != 0:
            sys.exit(f"make e2e-tools failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        figures = {"cold": args.cold, "totalSeconds": total, "tools": {}}
        for name, folder in Tools(tools_dir, current.v).folders.items():
            if folder.is_symlink():
                continue
            source = (folder / "SOURCE").read_text()
            seconds = re.search(r"; ([0-9]+) s$", source.strip())
            figures["tools"][name] = int(seconds.group(1)) if seconds else None
        if args.cold:  # the module cache is read-only: make it removable
            subprocess.run(["chmod", "-R", "u+w", str(root / "go-mod")], check=False)
    figures["goalSeconds"] = GOAL_SECONDS
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
