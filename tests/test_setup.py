"""The set-up is reproducible: one lock file, used by `make` and by `pulumi up` alike."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib

import pytest
import yaml
from conftest import ROOT


def test_pulumi_runs_the_program_with_uv_from_the_lock():
    runtime = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["runtime"]
    # Pulumi's uv toolchain runs `uv sync` in the project before the program (sdk/python/toolchain).
    assert runtime == {"name": "python", "options": {"toolchain": "uv", "virtualenv": ".venv"}}
    assert not (ROOT / "requirements.txt").exists(), "one list of dependencies: pyproject.toml"


def test_make_installs_exactly_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\$\(VENV\)/\.installed: pyproject\.toml uv\.lock", makefile, re.M)
    assert "sync --locked" in makefile
    assert re.search(r"uv==\$\(UV_VERSION\)", makefile)


def test_the_lock_matches_pyproject():
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        pytest.skip("uv is not here: `make test` installs its pinned copy and exports UV")
    done = subprocess.run(
        [uv, "lock", "--check", "--offline"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, f"uv.lock is stale, run `make lock`: {done.stderr}"


def test_every_locked_direct_dependency_is_pinned_to_one_version():
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = {
        re.split(r"[\[<>=!~ ]", d, maxsplit=1)[0].lower()
        for d in project["project"]["dependencies"]
    }
    locked = {p["name"].lower(): p["version"] for p in lock["package"] if "version" in p}
    assert {n.replace("_", "-") for n in names} <= locked.keys()
