"""Shared pytest fixtures: the repository root and the optional `../shared` reference data."""

from __future__ import annotations

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


def shared_path(*parts: str) -> Path:
    """Path under `../shared`, skipping the calling test when that reference data is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"reference data {path} is not here: `../shared` ships with the project's CI, "
            "not with a clone of the repository"
        )
    return path
