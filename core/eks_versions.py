"""The EKS version calendar (core/data/eks_versions.yaml): support dates and prices."""

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


# A month of control-plane hours, as AWS prices monthly figures (365 x 24 / 12).
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class VersionDates:
    version: str
    end_of_standard: date  # the first day of extended support ("left standard support on")
    end_of_extended: date  # the first day EKS no longer runs it
    released: date | None = None

    def phase(self, on: date) -> str:
        """`standard`, `extended` or `ended` on a day: the end dates belong to the next phase
        (FACTS.md: "1.33 left standard support on 2026-07-29"; 1.34 "leaves standard support on
        2026-12-02"), so that day is already billed at the extended rate."""
        if on >= self.end_of_extended:
            return "ended"
        return "extended" if on >= self.end_of_standard else "standard"


@dataclass(frozen=True)
class EksTable:
    versions: Mapping[str, VersionDates]
    standard_price: float
    extended_price: float
    source: str

    def phase(self, version: str, on: date) -> str | None:
        """The version's support phase on a day; None for a version the calendar lacks."""
        dates = self.versions.get(version)
        return dates.phase(on) if dates is not None else None

    def newest(self, on: date) -> str:
        """The version every fix suggests: the newest in standard support on a day (the newest
        listed when none is)."""
        current = [v for v, d in self.versions.items() if d.phase(on) == "standard"]
        return max(current or self.versions, key=version_key)

    @property
    def extended_extra_per_hour(self) -> float:
        return self.extended_price - self.standard_price

    @property
    def extended_extra_per_month(self) -> float:
        return self.extended_extra_per_hour * HOURS_PER_MONTH


def version_key(version: str) -> tuple[int, ...]:
    """`1.9` < `1.33`: versions compared by their numbers."""
    return tuple(int(p) for p in version.split("."))


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
