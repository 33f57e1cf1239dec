"""The latency table the modelled timeline uses (`toe/data/latencies.yaml`): each step's duration
with its range and basis (measured, docs, estimate), and the check images' sizes, the registry's
own figure where the catalogue of recorded images has one."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LATENCIES = Path(__file__).resolve().parents[1] / "data" / "latencies.yaml"
BASES = ("measured", "docs", "estimate")
# An image size from the catalogue of recorded images: the registry's own figure, not an estimate.
RECORDED = "registry"


@dataclass(frozen=True)
class Estimate:
    """A duration with its range and where it comes from."""

    seconds: float
    low: float
    high: float
    basis: str
    source: str


@dataclass(frozen=True)
class ImageSize:
    pattern: str
    bytes: float
    low: float
    high: float
    basis: str
    source: str


@dataclass(frozen=True)
class Latencies:
    """The latency table: steps, which steps a resource type takes, image sizes, Job run times."""

    throughput: float  # bytes per second a node pulls
    throughput_source: str
    steps: Mapping[str, Estimate]
    resources: tuple[tuple[str, tuple[str, ...]], ...]
    images: tuple[ImageSize, ...]
    job_runs: Mapping[str, Estimate]
    source: str

    def step(self, name: str) -> Estimate:
        return self.steps.get(name) or self.steps["default"]

    def phases_of(self, type_token: str) -> tuple[str, ...]:
        for pattern, phases in self.resources:
            if fnmatch.fnmatchcase(type_token, pattern):
                return phases
        return ("default",)

    def image(self, reference: str) -> ImageSize:
        """The compressed size a node pulls: the recorded one (core/data/check_images.yaml,
        linux/amd64: the GPU nodes are x86_64) where a record has it, else the table's."""
        from core import image_catalogue

        record = image_catalogue.find(reference)
        size = record.compressed_bytes() if record else None
        if record is not None and size is not None:
            source = f"{Path(image_catalogue.CATALOGUE).name}: {record.source}"
            return ImageSize(reference, size, size, size, RECORDED, source)
        for size in self.images:
            if fnmatch.fnmatchcase(reference, size.pattern):
                return size
        return ImageSize("*", 1e9, 1e8, 5e9, "estimate", "no entry in the latency table")


class LatencyTableError(ValueError):
    """The latency table is malformed; the message names the entry."""


def _estimate(where: str, raw: Any) -> Estimate:
    if not isinstance(raw, Mapping) or not {"seconds", "basis", "source"} <= raw.keys():
        raise LatencyTableError(f"{where}: needs seconds, basis and source")
    if raw["basis"] not in BASES:
        raise LatencyTableError(f"{where}: basis {raw['basis']!r} is not one of {BASES}")
    seconds = float(raw["seconds"])
    low, high = float(raw.get("low", seconds)), float(raw.get("high", seconds))
    if not low <= seconds <= high:
        raise LatencyTableError(f"{where}: needs low <= seconds <= high")
    return Estimate(seconds, low, high, str(raw["basis"]), " ".join(str(raw["source"]).split()))


def load_latencies(path: Path = LATENCIES) -> Latencies:
    """Read and check the latency table."""
    raw = yaml.safe_load(Path(path).read_text())
    pull = raw["pull_throughput"]
    steps = {name: _estimate(f"steps.{name}", v) for name, v in raw["steps"].items()}
    if "default" not in steps:
        raise LatencyTableError("steps: needs a `default` entry")
    resources = []
    for pattern, phases in raw["resources"].items():
        unknown = [p for p in phases if p not in steps]
        if unknown:
            raise LatencyTableError(f"resources.{pattern}: no step named {unknown}")
        resources.append((str(pattern), tuple(phases)))
    images = []
    for i, item in enumerate(raw["images"]):
        est = _estimate(f"images[{i}]", {**item, "seconds": item["bytes"]})
        images.append(
            ImageSize(item["pattern"], est.seconds, est.low, est.high, est.basis, est.source)
        )
    job_runs = {name: _estimate(f"job_runs.{name}", v) for name, v in raw["job_runs"].items()}
    return Latencies(
        throughput=float(pull["bytes"]) / float(pull["seconds"]),
        throughput_source=" ".join(str(pull["source"]).split()),
        steps=steps,
        resources=tuple(resources),
        images=tuple(images),
        job_runs=job_runs,
        source=str(path),
    )


# ---------------------------------------------------------------------------- model
