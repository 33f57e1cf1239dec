"""The EKS version calendar (components/data/eks_versions.yaml): support dates and prices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
EKS_VERSIONS = HERE / "data" / "eks_versions.yaml"
# How messages name the table: its path in the repository.
TABLE_NAME = EKS_VERSIONS.relative_to(HERE.parent).as_posix()


@dataclass(frozen=True)
class VersionDates:
    version: str
    end_of_standard: date
    end_of_extended: date
    released: date | None = None


@dataclass(frozen=True)
class EksTable:
    versions: Mapping[str, VersionDates]
    standard_price: float
    extended_price: float
    source: str


@cache
def load_eks_table(path: Path = EKS_VERSIONS) -> EksTable:
    raw = yaml.safe_load(path.read_text())
    versions = {
        str(v): VersionDates(str(v), d["end_of_standard"], d["end_of_extended"], d.get("released"))
        for v, d in raw["versions"].items()
    }
    return EksTable(
        versions=versions,
        standard_price=float(raw["price_per_hour"]["standard"]),
        extended_price=float(raw["price_per_hour"]["extended"]),
        source=str(raw["source"]),
    )
