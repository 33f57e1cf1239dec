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


def test_uv_installs_the_toe_command_from_the_checkout():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"toe": "toe.cli:run"}
    assert project["build-system"]["build-backend"] == "uv_build"
    assert project["tool"]["uv"]["package"] is True
    backend = project["tool"]["uv"]["build-backend"]
    assert backend["module-root"] == ""
    for module in backend["module-name"]:
        assert (ROOT / module / "__init__.py").is_file(), module
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (ours,) = [p for p in lock["package"] if p["name"] == project["project"]["name"]]
    # Editable: the program and the CLI read Pulumi.yaml and checks/ next to their modules.
    assert ours["source"] == {"editable": "."}


def _toe(*args: str, cwd) -> subprocess.CompletedProcess:
    command = ROOT / ".venv" / "bin" / "toe"
    if not (ROOT / ".venv").is_dir():
        pytest.skip("no .venv here: `make test` creates it, with the toe command")
    assert command.is_file(), "`uv sync` installs .venv/bin/toe: run `make test` again"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(command), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_toe_command_runs_from_any_folder_with_dir(tmp_path):
    import json

    helped = _toe("--help", cwd=tmp_path)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: toe "), helped.stderr
    listed = _toe("attendees", "list", "--json", "--dir", str(ROOT), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "dev" in [row["name"] for row in json.loads(listed.stdout)]
    # Its own data (the bundled prices, the EKS calendar) comes from the package, not the cwd.
    priced = _toe("cost", "--offline", "--json", "--dir", str(ROOT), cwd=tmp_path)
    assert priced.returncode == 0, priced.stderr
    assert json.loads(priced.stdout)["perStack"]["dev"]["usdPerHour"] > 0
    assert not any(tmp_path.iterdir())


def test_dir_must_be_the_project_folder(tmp_path, capsys):
    from toe.cli import main

    for argv in (["cost", "--dir"], ["attendees", "list", "--dir"], ["fleet", "preview", "--dir"]):
        with pytest.raises(SystemExit) as exited:
            main([*argv, str(tmp_path / "nope")])
        assert exited.value.code == 2
        assert f"{tmp_path / 'nope'}: no such folder; give the project folder" in (
            capsys.readouterr().err
        )
    assert main(["cost", "--offline", "--dir", str(tmp_path)]) == 2
    assert (
        f"{tmp_path} is not the project folder (it has no Pulumi.yaml)" in capsys.readouterr().out
    )
