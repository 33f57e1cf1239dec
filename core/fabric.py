"""The distributed check's fabric and bandwidth rules: the floor per instance type
(core/data/fabric.yaml), the message sizes it runs, and the verdict on what rank 0 reported."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from core.nccl_transport import efa_verdict
from core.results import FAILED, PASSED, DistributedResult, SizeResult

FABRIC_DATA = Path(__file__).resolve().parent / "data" / "fabric.yaml"
MIB = 1 << 20
# The sizes every run tries (MiB); checks/distributed.py skips those its device cannot hold.
SIZES_MIB = (1, 4, 16, 64, 256, 1024, 4096)
OVERRIDE_KEY = "distributedMinBusbwGBps"


@dataclass(frozen=True)
class Published:
    """A published two-node all-reduce figure, or a peer's bound, and the shape it applies to."""

    busbw_gbps: float
    bytes: int | None
    gpus_per_node: int
    source: str


@dataclass(frozen=True)
class TypeFabric:
    """One row of core/data/fabric.yaml."""

    instance_type: str
    gpus: int
    gpu_memory_mib: int
    network_performance: str
    card_gbps: float
    efa_interfaces: int
    efa_floor_gbps: float | None
    tcp_floor_gbps: float
    floor_bytes: int
    floor_source: str
    published: Published | None = None
    recipe: Published | None = None


@dataclass(frozen=True)
class Floor:
    """The bus bandwidth a run must reach, at which size, and where that number comes from."""

    gbps: float
    bytes: int
    applies_to: str  # "g6.8xlarge over EFA", or the override key
    source: str


@dataclass(frozen=True)
class Table:
    types: dict[str, TypeFabric]
    sources: dict[str, str]
    efa_share: float
    tcp_share: float
    default_bytes: int


def _published(raw: dict | None) -> Published | None:
    if not raw:
        return None
    return Published(
        float(raw["busbwGBps"]), raw.get("bytes"), int(raw["gpusPerNode"]), str(raw["source"])
    )


@cache
def table(path: Path = FABRIC_DATA) -> Table:
    raw = yaml.safe_load(path.read_text())
    types = {}
    for name, row in raw["types"].items():
        network, floor = row["network"], row["floor"]
        efa = floor.get("efaGBps")
        types[name] = TypeFabric(
            instance_type=name,
            gpus=int(row["gpus"]),
            gpu_memory_mib=int(row["gpuMemoryMiB"]),
            network_performance=str(network["performance"]),
            card_gbps=float(network["cardGbps"]),
            efa_interfaces=int(network["efaInterfaces"]),
            efa_floor_gbps=None if efa is None else float(efa),
            tcp_floor_gbps=float(floor["tcpGBps"]),
            floor_bytes=int(floor["bytes"]),
            floor_source=str(floor["source"]),
            published=_published(row.get("published")),
            recipe=_published(row.get("recipe")),
        )
    formula = raw["formula"]
    return Table(
        types,
        {k: " ".join(str(v).split()) for k, v in raw["sources"].items()},
        float(formula["efaShare"]),
        float(formula["tcpShare"]),
        int(formula["bytes"]),
    )


def sizes_mib(instance_type: str = "") -> tuple[int, ...]:
    """The sizes the Job runs: SIZES_MIB, and the size a published figure was measured at when
    the type is known and that size is larger (p5.48xlarge: 16 GiB)."""
    row = table().types.get(instance_type)
    extra = row.floor_bytes // MIB if row else 0
    return tuple(sorted({*SIZES_MIB, extra} - {0}))


def floor_for(instance_types: Sequence[str], over_efa: bool, override: float | None) -> Floor:
    """The floor that applies: the override when set, else the lowest of the nodes' types."""
    data = table()
    if override is not None:
        return Floor(override, 0, OVERRIDE_KEY, f"config {OVERRIDE_KEY} (explicit override)")
    kind = "EFA" if over_efa else "TCP"
    floors = []
    for name in dict.fromkeys(instance_types):
        row = data.types.get(name)
        value = None if row is None else (row.efa_floor_gbps if over_efa else row.tcp_floor_gbps)
        if value is not None:
            floors.append((value, row))
    if not floors:
        named = ", ".join(dict.fromkeys(instance_types)) or "the nodes' type (unknown)"
        return Floor(
            0.0,
            data.default_bytes,
            f"{named} over {kind}",
            f"none: {named} has no {kind} floor in core/data/fabric.yaml; set {OVERRIDE_KEY} "
            "to judge its bandwidth",
        )
    value, row = min(floors, key=lambda f: f[0])
    source = f"core/data/fabric.yaml {row.floor_source}: {data.sources[row.floor_source]}"
    return Floor(value, row.floor_bytes, f"{row.instance_type} over {kind}", source)


def _judged_size(result: DistributedResult, floor: Floor) -> SizeResult | None:
    """The size the floor is judged at: its own when measured, else the largest below it."""
    if not result.sizes:
        return None
    if floor.bytes == 0:
        return result.largest
    below = [s for s in result.sizes if s.bytes <= floor.bytes]
    return max(below, key=lambda s: s.bytes) if below else result.largest


@dataclass(frozen=True)
class Verdict:
    """What the readout makes of rank 0's report: status, reason, the floor and where judged."""

    status: str
    reason: str
    floor: Floor | None = None
    judged: SizeResult | None = None
    over_efa: bool | None = None  # None: not judged (EFA not asked for, or the run failed)
    efa_expected: bool = False


def _size(n: int) -> str:
    return f"{n // (1 << 30)} GiB" if n >= 1 << 30 else f"{n // MIB} MiB"


def judge(
    result: DistributedResult,
    instance_types: Sequence[str],
    *,
    efa_expected: bool,
    override: float | None,
) -> Verdict:
    """Failed unless EFA carried the traffic (when asked for) and busbw reached the floor."""
    if result.status != PASSED:
        return Verdict(result.status, result.reason, efa_expected=efa_expected)
    over_efa: bool | None = None
    if efa_expected:
        fabric = efa_verdict(result.backend, result.evidence)
        if not fabric.over_efa:
            return Verdict(FAILED, fabric.reason, over_efa=False, efa_expected=True)
        over_efa = True
    floor = floor_for(instance_types, bool(over_efa), override)
    judged = _judged_size(result, floor)
    if judged is None:
        return Verdict(FAILED, "no size was measured", floor, None, over_efa, efa_expected)
    where = f"at {_size(judged.bytes)}"
    if floor.bytes and judged.bytes < floor.bytes:
        where += f" (the largest measured; the floor applies at {_size(floor.bytes)})"
    if judged.busbw_gbps < floor.gbps:
        return Verdict(
            FAILED,
            f"busbw {judged.busbw_gbps:.3f} GB/s {where} is below the floor "
            f"{floor.gbps:g} GB/s for {floor.applies_to} ({floor.source})",
            floor,
            judged,
            over_efa,
            efa_expected,
        )
    reason = result.reason
    if over_efa:
        reason += f"; EFA carried it (aws-ofi-nccl provider {result.evidence.ofi_provider})"
    reason += f"; busbw {judged.busbw_gbps:.3f} GB/s {where} >= floor {floor.gbps:g} GB/s"
    return Verdict(PASSED, reason, floor, judged, over_efa, efa_expected)
