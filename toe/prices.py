"""Prices: the bundled on-demand table (toe/data/prices.yaml), read in one place for sweep, cost
and the rehearsal, and a region's price book (the Price List API first, then the table)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from core.eks_versions import load_eks_table

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


@dataclass(frozen=True)
class Price:
    usd: float
    source: str


class PriceBook:
    """Prices for one region: the Price List API first (when a client is given), then the table."""

    def __init__(self, region: str, pricing_client: Any = None, today: date | None = None) -> None:
        self.region = region
        self.client = pricing_client
        self.today = today or datetime.now(UTC).date()
        table = load_prices(region)
        self.table_instances: Mapping[str, float] = table.instance_hourly
        self.table_volumes: Mapping[str, float] = table.volume_gb_month
        self.hours_per_month = table.hours_per_month
        self.fee_fraction = table.auto_mode_fee_fraction
        recorded = date.fromisoformat(table.recorded)
        self.table_source = (
            f"bundled table {PRICES_PATH.name}, recorded {recorded} "
            f"({(self.today - recorded).days} days old)"
        )
        self.api_errors: list[str] = []  # one line each
        self.api_bodies: list[str] = []  # the whole answers that were not AWS's error document
        self._instances: dict[str, Price | None] = {}

    # ------------------------------------------------------------------ instances, volumes

    def instance_hour(self, instance_type: str) -> Price | None:
        if instance_type not in self._instances:
            found = self._ask(
                "AmazonEC2",
                {
                    "instanceType": instance_type,
                    "operatingSystem": "Linux",
                    "tenancy": "Shared",
                    "preInstalledSw": "NA",
                    "capacitystatus": "Used",
                },
                "Hrs",
            )
            if found is None and instance_type in self.table_instances:
                found = Price(float(self.table_instances[instance_type]), self.table_source)
            self._instances[instance_type] = found
        return self._instances[instance_type]

    @cache  # noqa: B019 - one book per command run
    def volume_gb_month(self, volume_type: str) -> Price | None:
        found = self._ask(
            "AmazonEC2", {"productFamily": "Storage", "volumeApiName": volume_type}, "GB-Mo"
        )
        if found is None and volume_type in self.table_volumes:
            found = Price(float(self.table_volumes[volume_type]), self.table_source)
        return found

    def auto_mode_fee_hour(self, instance_type: str) -> Price | None:
        base = self.instance_hour(instance_type)
        if base is None:
            return None
        return Price(
            round(base.usd * self.fee_fraction, 6),
            f"{self.fee_fraction:.0%} of the on-demand price (estimate, {PRICES_PATH.name}; "
            "EKS pricing page lists the fee per type)",
        )

    def control_plane_hour(self, version: str, on: date) -> tuple[Price, str]:
        from core.eks_versions import TABLE_NAME

        table = load_eks_table()
        dates = table.versions.get(version)
        source = f"{TABLE_NAME} (EKS pricing page and version calendar)"
        if dates is None or dates.phase(on) == "standard":
            return Price(table.standard_price, source), "standard support"
        return Price(
            table.extended_price, source
        ), f"extended support since {dates.end_of_standard}"

    # ------------------------------------------------------------------ Price List API

    @property
    def location(self) -> str | None:
        """The Price List's `location` for the region: botocore's own description of it."""
        import botocore.session

        data = botocore.session.get_session().get_data("endpoints")
        for partition in data["partitions"]:
            described = partition.get("regions", {}).get(self.region)
            if described:
                return described.get("description")
        return None

    def _ask(self, service: str, attributes: Mapping[str, str], unit: str) -> Price | None:
        # After one refusal (no access, no endpoint) the table answers the rest: asking again
        # would only wait out the same error for every item.
        if self.client is None or self.location is None or self.api_errors:
            return None
        filters = [{"Type": "TERM_MATCH", "Field": "location", "Value": self.location}]
        filters += [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in attributes.items()]
        try:
            answer = self.client.get_products(
                ServiceCode=service, Filters=filters, FormatVersion="aws_v1", MaxResults=10
            )
        except Exception as err:  # no credentials, no access: the bundled table answers
            from core.aws_errors import response_body, shorten
            from toe.guidance import aws_error

            text = shorten(aws_error(err, "Price List"), 300)  # one line, even for an HTML page
            if text not in self.api_errors:
                self.api_errors.append(text)
            body = response_body(err)
            if body is not None and body not in self.api_bodies:
                self.api_bodies.append(body)
            return None
        for item in answer.get("PriceList", []):
            product = json.loads(item) if isinstance(item, str) else item
            for term in (product.get("terms", {}).get("OnDemand") or {}).values():
                for dimension in term.get("priceDimensions", {}).values():
                    usd = float(dimension.get("pricePerUnit", {}).get("USD", 0) or 0)
                    if dimension.get("unit") == unit and usd > 0:
                        published = product.get("publicationDate", "")[:10]
                        return Price(
                            usd,
                            f"Price List API ({service}, {self.location}), published {published}",
                        )
        return None
