"""Shared pytest fixtures: the repository root, the workshop's project files and the optional
`../shared` reference data."""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# moto loads thousands of public AMIs into every EC2 backend it creates; no test looks one up.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from toe.cli import tune_gc  # noqa: E402  (ROOT is on sys.path now)

tune_gc()  # the suite builds the same large, long-lived heap as a `toe` command

# The workshop's stack file as the project ships it. The checkout's own Pulumi.<stack>.yaml files
# belong to the instructor (`pulumi stack init` adds an encryption salt, `pulumi config set` and
# `toe attendees add` change and add files), so no test reads them: every command a test runs
# without naming a folder reads WORKSHOP, a folder made per test process with this stack file
# beside links to the program, its Pulumi.yaml and its policies.
WORKSHOP_STACK = ROOT / "tests" / "data" / "workshop" / "Pulumi.dev.yaml"


def link_program(directory: Path) -> Path:
    """`directory` as a project folder: links to the program, Pulumi.yaml and the policies."""
    for name in ("Pulumi.yaml", "__main__.py", "components", "policies", "checks"):
        (directory / name).symlink_to(ROOT / name)
    return directory


def _workshop_dir() -> Path:
    from toe import stackfiles

    if stackfiles.PROJECT_DIR != stackfiles.ROOT:  # conftest imported again as tests.conftest
        return stackfiles.PROJECT_DIR
    folder = link_program(Path(tempfile.mkdtemp(prefix="toe-workshop-")))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shutil.copy(WORKSHOP_STACK, folder / "Pulumi.dev.yaml")
    stackfiles.PROJECT_DIR = folder
    return folder


WORKSHOP = _workshop_dir()


def workshop_copy(directory: Path) -> Path:
    """The project's Pulumi.yaml and the workshop's Pulumi.dev.yaml, copied into `directory`."""
    shutil.copy(ROOT / "Pulumi.yaml", directory / "Pulumi.yaml")
    shutil.copy(WORKSHOP_STACK, directory / "Pulumi.dev.yaml")
    return directory


def shared_path(*parts: str) -> Path:
    """Path under `../shared`, skipping the calling test when that reference data is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"reference data {path} is not here: `../shared` ships with the project's CI, "
            "not with a clone of the repository"
        )
    return path


def workshop_pool():
    """The GPU pool of Pulumi.yaml's defaults, as components.config reads it."""
    from core.config import GpuPoolSpec

    return GpuPoolSpec(
        name="gpu-pool",
        instance_categories=("g", "p"),
        instance_families=(),
        capacity_types=("on-demand",),
        max_gpus=4,
        max_cpu=96,
        max_memory_gi=768,
        consolidate_after="5m",
        expire_after="24h",
    )


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@pytest.fixture(autouse=True)
def _no_registry_on_the_internet(monkeypatch):
    """`make test` never asks a real registry: preflight built from the ambient session gets no
    registry client (its images check says "not asked"), and a registry request to anything but
    loopback (the stand-in, tests/fakes/registry.py) fails the test."""
    import urllib.parse

    from toe.preflight import images, registry

    monkeypatch.setattr(images.Registries, "from_session", classmethod(lambda *_: None))
    real = registry.urllib.request.urlopen

    def loopback_only(request, *args, **kwargs):
        url = getattr(request, "full_url", request)
        if urllib.parse.urlsplit(str(url)).hostname not in LOOPBACK:
            raise AssertionError(f"a test asked a registry outside loopback: {url}")
        return real(request, *args, **kwargs)

    monkeypatch.setattr(registry.urllib.request, "urlopen", loopback_only)


def pytest_unconfigure(config):
    # The process ends next: its last collection need not trace the whole heap once more.
    gc.freeze()


# Folders a test run may write in the checkout: caches of Python, pytest and ruff, the environment,
# and build/ (the rehearsal's summary and synth's output are written there on purpose).
_RUN_CACHES = {
    ".venv",
    ".venv-scan",
    ".git",
    ".pytest_cache",
    ".ruff_cache",
    "__pycache__",
    "build",
}


def checkout_files(root: Path = ROOT) -> dict[str, tuple[int, int]]:
    """Every file of the checkout but caches, with its modification time and size."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _RUN_CACHES]
        for name in files:
            path = Path(folder) / name
            try:
                stat = path.lstat()
            except OSError:
                continue
            found[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size)
    return found


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the controller, once per run
        session.config._checkout_before = checkout_files()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_checkout_before", None)
    if before is None:
        return
    after = checkout_files()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        # A test wrote into the checkout (a stack file, build/): it must use a temporary copy.
        session.config.get_terminal_writer().line(
            "the test run changed files of the checkout: " + ", ".join(changed[:20]), red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
