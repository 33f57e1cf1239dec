"""Shared pytest fixtures: the repository root and the optional `../shared` reference data."""

from __future__ import annotations

import gc
import os
import sys
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
    from components.config import GpuPoolSpec

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


def pytest_unconfigure(config):
    # The process ends next: its last collection need not trace the whole heap once more.
    gc.freeze()
