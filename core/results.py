"""Parsers for the validation checks' termination messages and tool output into typed results.

The checks (`checks/gpu-check.sh`, `checks/efa-check.sh`, `checks/distributed.py`) write a
line-oriented message, format `toe-check/1`, to the container's termination message file (at
most 4096 bytes, kept by the kubelet on the Pod object):

    format=toe-check/1      first line
    check=gpu|efa|distributed
    key=value ...           header: status, exit, reason, count, truncated;
                            gpu adds cuda, efa adds requested, distributed adds backend,
                            transport, world, nodes, skippedMiB and NCCL's evidence
                            (checks/distributed.py)
    --                      end of the header
    data lines              gpu: `name, driver_version, memory.total MiB[, count]` per GPU
                            efa: `provider: x` / `fabric: x` / `domain: x` / `type: x`
                            distributed: `<bytes> <algbw GB/s> <busbw GB/s>` per size
    end                     last line; a message without it was cut short

The public parse functions never raise: anything they cannot read becomes an "unparseable"
result whose reason says why.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

PASSED = "passed"
FAILED = "failed"
UNAVAILABLE = "unavailable"
UNPARSEABLE = "unparseable"
PENDING = "pending"
ERROR = "error"

FORMAT = "toe-check/1"
# The kubelet keeps at most 4096 bytes of a container's termination message (Kubernetes docs,
# "Customizing the termination message").
MAX_MESSAGE_BYTES = 4096
# Statuses a check script may write itself; the others come from the readout.
_SCRIPT_STATUSES = {
    "gpu": (PASSED, FAILED),
    "efa": (PASSED, FAILED, UNAVAILABLE),
    "distributed": (PASSED, FAILED),
}

_MEMORY_RE = re.compile(r"^(\d+)(?:\s*MiB)?$")


class ResultParseError(ValueError):
    """Tool output or a termination message that does not have the expected shape."""


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as nvidia-smi lists it."""

    name: str
    driver_version: str
    memory_mib: int


@dataclass(frozen=True)
class GpuResult:
    """Outcome of the GPU check."""

    status: str
    reason: str
    gpus: tuple[GpuInfo, ...] = ()
    cuda_version: str | None = None
    exit_code: int | None = None
    truncated: int = 0


@dataclass(frozen=True)
class EfaProvider:
    """One entry of a `fi_info` listing."""

    provider: str
    fabric: str
    domain: str
    type: str


@dataclass(frozen=True)
class EfaResult:
    """Outcome of the EFA check."""

    status: str
    reason: str
    providers: tuple[EfaProvider, ...] = ()
    requested: bool | None = None
    exit_code: int | None = None
    truncated: int = 0


def efa_only(providers: tuple[EfaProvider, ...]) -> tuple[EfaProvider, ...]:
    """The entries whose provider is `efa` (shm, tcp, ... are not EFA)."""
    return tuple(p for p in providers if p.provider == "efa")


def _memory_mib(field: str) -> int:
    match = _MEMORY_RE.match(field.strip())
    if not match:
        raise ResultParseError(f"memory.total {field.strip()!r} is not a MiB amount")
    return int(match.group(1))


def parse_gpu_csv(text: str) -> tuple[GpuInfo, ...]:
    """GPUs from `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]` output.

    With a header line the columns are found by name (`name`, `driver_version`,
    `memory.total [MiB]`); without one they are `name, driver_version, memory.total[, count]`.
    Raises ResultParseError on anything else (e.g. `Field "x" is not a valid field to query.`).
    """
    rows = [
        [cell.strip() for cell in row]
        for row in csv.reader(text.splitlines(), skipinitialspace=True)
        if row and any(cell.strip() for cell in row)
    ]
    if not rows:
        raise ResultParseError("no GPU lines")
    columns = {"name": 0, "driver_version": 1, "memory.total": 2}
    header = [cell.split(" [")[0] for cell in rows[0]]
    if "name" in header:
        missing = [c for c in columns if c not in header]
        if missing:
            raise ResultParseError(f"CSV header lacks {', '.join(missing)}: {rows[0]}")
        columns = {c: header.index(c) for c in columns}
        rows = rows[1:]
    width = max(columns.values()) + 1
    gpus = []
    for row in rows:
        if len(row) < width or (len(row) > width + 1 and "name" not in header):
            raise ResultParseError(f"not a GPU line: {', '.join(row)!r}")
        name, driver = row[columns["name"]], row[columns["driver_version"]]
        if not name or not driver:
            raise ResultParseError(f"GPU line without name or driver: {', '.join(row)!r}")
        gpus.append(GpuInfo(name, driver, _memory_mib(row[columns["memory.total"]])))
    if not gpus:
        raise ResultParseError("no GPU lines")
    return tuple(gpus)


def parse_fi_info(text: str) -> tuple[EfaProvider, ...]:
    """Entries of a `fi_info` listing (indented or not); each `provider:` line starts one."""
    entries: list[dict[str, str]] = []
    for raw in text.splitlines():
        key, sep, value = raw.strip().partition(":")
        if not sep or key not in ("provider", "fabric", "domain", "type"):
            continue
        if key == "provider":
            entries.append({})
        elif not entries:
            raise ResultParseError(f"{key!r} line before any provider line")
        entries[-1][key] = value.strip()
    for entry in entries:
        missing = [k for k in ("fabric", "domain", "type") if k not in entry]
        if missing:
            raise ResultParseError(f"entry {entry} lacks {', '.join(missing)}")
    return tuple(EfaProvider(e["provider"], e["fabric"], e["domain"], e["type"]) for e in entries)


@dataclass(frozen=True)
class _Message:
    header: dict[str, str]
    data: tuple[str, ...]


def _split_message(text: str | bytes | None, check: str) -> _Message:
    if text is None or text == "" or text == b"":
        raise ResultParseError("empty termination message")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ResultParseError(f"termination message is not UTF-8: {exc}") from None
    size = len(text.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise ResultParseError(f"termination message is {size} bytes, over {MAX_MESSAGE_BYTES}")
    lines = text.splitlines()
    if not lines or lines[0].strip() != f"format={FORMAT}":
        first = lines[0][:60] if lines else ""
        raise ResultParseError(f"not a {FORMAT} message (first line {first!r})")
    if "--" not in lines:
        raise ResultParseError("no end of header ('--'): message cut short")
    if lines[-1].strip() != "end":
        raise ResultParseError("no 'end' line: message cut short")
    cut = lines.index("--")
    header: dict[str, str] = {}
    for line in lines[:cut]:
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise ResultParseError(f"header line is not key=value: {line[:60]!r}")
        header[key.strip()] = value.strip()
    if header.get("check") != check:
        raise ResultParseError(f"message is for check {header.get('check')!r}, not {check!r}")
    status = header.get("status")
    if status not in _SCRIPT_STATUSES[check]:
        raise ResultParseError(f"unknown status {status!r}")
    for key in ("exit", "count", "truncated"):
        if not re.fullmatch(r"\d+", header.get(key, "")):
            raise ResultParseError(f"{key}={header.get(key)!r} is not a number")
    data = tuple(line for line in lines[cut + 1 : -1] if line.strip())
    if len(data) + int(header["truncated"]) != int(header["count"]):
        raise ResultParseError(
            f"count={header['count']} but {len(data)} data lines and "
            f"truncated={header['truncated']}"
        )
    return _Message(header, data)


def parse_gpu_result(text: str | bytes | None) -> GpuResult:
    """GpuResult from the GPU check's termination message; "unparseable" when it cannot be read."""
    try:
        message = _split_message(text, "gpu")
        header = message.header
        gpus = parse_gpu_csv("\n".join(message.data)) if message.data else ()
        if header["status"] == PASSED and not gpus:
            raise ResultParseError("status=passed without any GPU line")
        return GpuResult(
            status=header["status"],
            reason=header.get("reason", ""),
            gpus=gpus,
            cuda_version=header.get("cuda") or None,
            exit_code=int(header["exit"]),
            truncated=int(header["truncated"]),
        )
    except ResultParseError as exc:
        return GpuResult(UNPARSEABLE, f"GPU check result unreadable: {exc}")


def parse_efa_result(text: str | bytes | None) -> EfaResult:
    """EfaResult from the EFA check's termination message; "unparseable" when it cannot be read."""
    try:
        message = _split_message(text, "efa")
        header = message.header
        if header.get("requested") not in ("true", "false"):
            raise ResultParseError(f"requested={header.get('requested')!r} is not true/false")
        providers = parse_fi_info("\n".join(message.data))
        if header["status"] == PASSED and not efa_only(providers):
            raise ResultParseError("status=passed without any 'provider: efa' entry")
        return EfaResult(
            status=header["status"],
            reason=header.get("reason", ""),
            providers=providers,
            requested=header["requested"] == "true",
            exit_code=int(header["exit"]),
            truncated=int(header["truncated"]),
        )
    except ResultParseError as exc:
        return EfaResult(UNPARSEABLE, f"EFA check result unreadable: {exc}")


@dataclass(frozen=True)
class SizeResult:
    bytes: int
    algbw_gbps: float  # GB/s, 10^9 bytes
    busbw_gbps: float


@dataclass(frozen=True)
class NcclEvidence:
    """What rank 0's NCCL log said about the network (checks/nccl_log.py), and the pod's view."""

    net_plugin: str = ""  # the external net plugin NCCL loaded ("Libfabric": aws-ofi-nccl)
    net_plugin_error: str = ""  # why it loaded none
    network: str = ""  # "Using network <name>"
    ofi: str = ""  # aws-ofi-nccl's version line
    ofi_provider: str = ""  # the libfabric provider aws-ofi-nccl selected (efa, tcp, ...)
    ofi_nics: int | None = None
    ofi_error: str = ""  # aws-ofi-nccl's first warning
    via: tuple[tuple[str, int], ...] = ()  # channel transport (NET/Libfabric/GDRDMA, ...) x count
    socket_ifs: str = ""  # interfaces NCCL's own TCP transport found
    fi_provider: str | None = None  # FI_PROVIDER in the pod ("": unset; None: not reported)
    efa_devices: int | None = None  # /dev/infiniband/uverbs* in the pod

    @property
    def net_channels(self) -> tuple[str, ...]:
        """The nets the NET channels ran over (`Libfabric`, `Socket`), in log order."""
        names = [v.split("/")[1] for v, _ in self.via if v.startswith("NET/")]
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class DistributedResult:
    status: str
    reason: str
    backend: str = ""
    transport: str = ""
    world: int = 0
    nodes: tuple[str, ...] = ()
    sizes: tuple[SizeResult, ...] = ()
    exit_code: int | None = None
    skipped_mib: tuple[int, ...] = ()
    evidence: NcclEvidence = NcclEvidence()

    @property
    def peak_busbw_gbps(self) -> float | None:
        return max((s.busbw_gbps for s in self.sizes), default=None)

    @property
    def largest(self) -> SizeResult | None:
        return max(self.sizes, key=lambda s: s.bytes, default=None)


_SIZE_RE = re.compile(r"(\d+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)")
_VIA_RE = re.compile(r"([A-Z0-9]+/[^*,]+)\*(\d+)")


def _optional_int(header: dict[str, str], key: str) -> int | None:
    value = header.get(key)
    if value is None or value == "":
        return None
    if not re.fullmatch(r"\d+", value):
        raise ResultParseError(f"{key}={value!r} is not a number")
    return int(value)


def _evidence(header: dict[str, str]) -> NcclEvidence:
    via = []
    for item in filter(None, header.get("via", "").split(",")):
        match = _VIA_RE.fullmatch(item.strip())
        if not match:
            raise ResultParseError(f"via item {item[:60]!r} is not '<transport>*<count>'")
        via.append((match[1], int(match[2])))
    return NcclEvidence(
        net_plugin=header.get("netPlugin", ""),
        net_plugin_error=header.get("netPluginError", ""),
        network=header.get("network", ""),
        ofi=header.get("ofi", ""),
        ofi_provider=header.get("ofiProvider", ""),
        ofi_nics=_optional_int(header, "ofiNics"),
        ofi_error=header.get("ofiError", ""),
        via=tuple(via),
        socket_ifs=header.get("socketIfs", ""),
        fi_provider=header.get("fiProvider"),
        efa_devices=_optional_int(header, "efaDevices"),
    )


def parse_distributed_result(text: str | bytes | None) -> DistributedResult:
    """DistributedResult from rank 0's termination message; "unparseable" when unreadable.

    Messages written before the script reported its evidence (no fiProvider, via, ... keys;
    a minBusbwGBps key) still parse: the evidence is then empty.
    """
    try:
        message = _split_message(text, "distributed")
        header = message.header
        sizes = []
        for line in message.data:
            match = _SIZE_RE.fullmatch(line.strip())
            if not match:
                raise ResultParseError(f"size line is not '<bytes> <algbw> <busbw>': {line[:60]!r}")
            sizes.append(SizeResult(int(match[1]), float(match[2]), float(match[3])))
        if header["status"] == PASSED and not sizes:
            raise ResultParseError("status=passed without any size line")
        world = header.get("world", "")
        if not re.fullmatch(r"\d+", world):
            raise ResultParseError(f"world={world!r} is not a number")
        skipped = header.get("skippedMiB", "").split()
        if not all(re.fullmatch(r"\d+", s) for s in skipped):
            raise ResultParseError(f"skippedMiB={header['skippedMiB']!r} is not MiB numbers")
        return DistributedResult(
            status=header["status"],
            reason=header.get("reason", ""),
            backend=header.get("backend", ""),
            transport=header.get("transport", ""),
            world=int(world),
            nodes=tuple(n for n in header.get("nodes", "").split(",") if n),
            sizes=tuple(sizes),
            exit_code=int(header["exit"]),
            skipped_mib=tuple(int(s) for s in skipped),
            evidence=_evidence(header),
        )
    except ResultParseError as exc:
        return DistributedResult(UNPARSEABLE, f"distributed check result unreadable: {exc}")
