"""The bundled on-demand price table (toe/data/prices.yaml), read in one place for sweep, cost and
the rehearsal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

PRICES_PATH = Path(__file__).resolve().parent / "data" / "prices.yaml"


@dataclass(frozen=True)
class PriceTable:
    """On-demand prices for one region, read from `toe/data/prices.yaml`."""

    instance_hourly: Mapping[str, float]
    load_balancer_hourly: Mapping[str, float]
    volume_gb_month: Mapping[str, float]
    hours_per_month: float
    source: str
    recorded: str
    auto_mode_fee_fraction: float = 0.0

    def instance(self, instance_type: str) -> float | None:
        return self.instance_hourly.get(instance_type)

    def load_balancer(self, lb_type: str) -> float | None:
        return self.load_balancer_hourly.get(lb_type)

    def volume(self, volume_type: str, size_gb: int) -> float | None:
        per_gb = self.volume_gb_month.get(volume_type)
        return None if per_gb is None else round(per_gb * size_gb / self.hours_per_month, 6)


@lru_cache(maxsize=8)
def load_prices(region: str, path: Path = PRICES_PATH) -> PriceTable:
    """The price table for `region`; empty (every price unknown) for a region not in the file."""
    data = yaml.safe_load(path.read_text())
    regional = data.get("regions", {}).get(region, {})
    return PriceTable(
        instance_hourly=dict(regional.get("instance_hourly", {})),
        load_balancer_hourly=dict(regional.get("load_balancer_hourly", {})),
        volume_gb_month=dict(regional.get("volume_gb_month", {})),
        hours_per_month=float(data["hours_per_month"]),
        source=str(data["source"]),
        recorded=str(data["recorded"]),
        auto_mode_fee_fraction=float(data.get("auto_mode_fee_fraction", 0.0)),
    )
