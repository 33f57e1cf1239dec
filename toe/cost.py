"""What a workshop costs: per attendee and for the fleet, per hour and for the day
(`python -m toe cost`).

The bill of one attendee stack, item by item:
- the EKS control plane, at the standard or extended-support rate of its Kubernetes version on
  the workshop's date (core/data/eks_versions.yaml, the EKS version calendar and pricing);
- the managed node groups at their desired size, and their gp3 root volumes;
- the Auto Mode system node CoreDNS needs (toe/data/fleet.yaml), with the Auto Mode management fee
  Auto Mode-managed instances pay, and its root volume;
- the GPU node(s) the checks launch, for as long as the timeline model keeps them: launch, image
  pull and run (toe/data/latencies.yaml), then `gpuConsolidateAfter` until Auto Mode removes the
  empty node; once per check run (`--check-runs`, one per `runId`).
Instance and EBS prices come from the AWS Price List API (location from botocore's region names,
e.g. "Asia Pacific (Seoul)") when it can be asked, else from toe/data/prices.yaml, which says how
old it is. Every line names its price's source."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from core import durations
from toe.preflight import CouldNotCheck
from toe.prices import PriceBook

HOURS_DEFAULT = 8.0


class ConfigProblems(CouldNotCheck):
    """Stacks the program's rules refuse, each with every problem and its fix (as `synth` and
    `pulumi up` report them); str() is one line, for callers that print why not priced."""

    def __init__(self, problems: Mapping[str, Sequence[Any]], summary: str = "") -> None:
        self.problems = {stack: tuple(found) for stack, found in problems.items()}
        first = next(iter(self.problems.values()))[0]
        super().__init__(
            summary
            or f"{len(self.problems)} stack(s) have configuration problems; "
            f"{next(iter(self.problems))}: {first.key}: {first.message}"
        )

    def to_json(self) -> dict[str, list[dict[str, str]]]:
        return {
            stack: [{"key": p.key, "message": p.message, "fix": p.fix} for p in found]
            for stack, found in self.problems.items()
        }

    def render(self) -> str:
        """The problems of each stack with their `fix:` lines, as the program prints them."""
        from core.problems import describe

        return "\n".join(
            describe(stack, found, "nothing was priced") for stack, found in self.problems.items()
        )


@dataclass(frozen=True)
class Line:
    item: str
    quantity: str
    usd_per_hour: float | None  # steady items
    usd_once: float | None  # per check run (GPU nodes)
    source: str


@dataclass(frozen=True)
class StackCost:
    stack: str
    lines: tuple[Line, ...]
    check_runs: int

    @property
    def per_hour(self) -> float:
        return sum(line.usd_per_hour or 0 for line in self.lines)

    @property
    def once(self) -> float:
        return sum(line.usd_once or 0 for line in self.lines) * self.check_runs

    def total(self, hours: float) -> float:
        return self.per_hour * hours + self.once

    @property
    def unknown(self) -> list[str]:
        return [line.item for line in self.lines if line.source.startswith("unknown")]


@dataclass(frozen=True)
class CostReport:
    stacks: tuple[StackCost, ...]
    region: str
    hours: float
    on: date
    notes: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    # Whole answers behind the notes' one-line errors (an HTML page): --verbose and --json.
    response_bodies: tuple[str, ...] = ()

    @property
    def per_hour(self) -> float:
        return sum(s.per_hour for s in self.stacks)

    @property
    def total(self) -> float:
        return sum(s.total(self.hours) for s in self.stacks)

    def to_json(self) -> dict:
        return {
            "region": self.region,
            "hours": self.hours,
            "date": self.on.isoformat(),
            "fleet": {
                "stacks": len(self.stacks),
                "usdPerHour": round(self.per_hour, 4),
                "usdTotal": round(self.total, 2),
            },
            "perStack": {
                s.stack: {
                    "usdPerHour": round(s.per_hour, 4),
                    "usdPerCheckRun": round(s.once / max(s.check_runs, 1), 4),
                    "checkRuns": s.check_runs,
                    "usdTotal": round(s.total(self.hours), 2),
                    "lines": [
                        {
                            "item": line.item,
                            "quantity": line.quantity,
                            "usdPerHour": line.usd_per_hour,
                            "usdPerCheckRun": line.usd_once,
                            "source": line.source,
                        }
                        for line in s.lines
                    ],
                    "unknown": s.unknown,
                }
                for s in self.stacks
            },
            "notes": list(self.notes),
            "responseBodies": list(self.response_bodies),
        }


def stack_cost(demand, book: PriceBook, on: date, check_runs: int, facts) -> StackCost:
    """One stack's bill from what it runs (a fleet_preflight.StackDemand)."""
    from toe.offline.timeline import load_latencies

    cfg = demand.config
    lines: list[Line] = []
    plane, support = book.control_plane_hour(cfg.kubernetes_version, on)
    lines.append(
        Line(
            f"EKS control plane ({cfg.kubernetes_version}, {support})",
            "1 cluster",
            plane.usd,
            None,
            plane.source,
        )
    )
    gp3 = book.volume_gb_month("gp3")
    disks = {g.name: g.disk_size for g in cfg.node_groups}
    latencies = load_latencies()
    gpu_seconds = _gpu_node_seconds(cfg, latencies)
    for node in demand.nodes:
        price = book.instance_hour(node.instance_type)
        unit = price.usd if price else None
        source = price.source if price else f"unknown: no price for {node.instance_type}"
        gib = (
            facts.auto_mode_volume_gib
            if node.auto_mode
            else disks.get(node.purpose.removeprefix("node group "), 0)
        )
        volume = gp3.usd * gib / book.hours_per_month if gp3 and gib else 0.0
        fee = book.auto_mode_fee_hour(node.instance_type) if node.auto_mode else None
        transient = node.purpose in gpu_seconds
        hours = gpu_seconds.get(node.purpose, 0) / 3600
        quantity = f"{node.count} x {node.instance_type}" + (
            f", {hours * 60:.0f} min each" if transient else ""
        )

        def amount(per_hour: float | None, count=node.count, hrs=hours, once=transient):
            if per_hour is None:
                return None, None
            return (None, round(per_hour * count * hrs, 6)) if once else (per_hour * count, None)

        lines.append(Line(node.purpose, quantity, *amount(unit), source))
        if fee is not None:
            lines.append(
                Line(f"{node.purpose}: Auto Mode fee", quantity, *amount(fee.usd), fee.source)
            )
        if volume:
            lines.append(
                Line(
                    f"{node.purpose}: {gib} GiB gp3 root volume",
                    quantity,
                    *amount(volume),
                    gp3.source,
                )
            )
    return StackCost(demand.stack, tuple(lines), check_runs)


def _gpu_node_seconds(cfg, latencies) -> dict[str, float]:
    """How long each check's GPU node lives per check run: launch, the longest image pull and run
    of the pods it holds, then the empty node waits `gpuConsolidateAfter` (toe/data/latencies.yaml,
    the same model as `synth --timeline`)."""
    launch = latencies.step("auto_mode_node_launch").seconds
    consolidate = durations.seconds(cfg.gpu_pool.consolidate_after)

    def pod(image: str, check: str) -> float:
        run = latencies.job_runs.get(check) or latencies.job_runs["default"]
        return latencies.image(image).bytes / latencies.throughput + run.seconds

    gpu_pod = pod(cfg.checks.gpu_image, "gpu-check")
    efa_pod = pod(cfg.checks.efa_image, "efa-check")
    seconds = {}
    if cfg.checks.efa_instance_type:
        seconds["GPU check"] = launch + gpu_pod + consolidate
        seconds["EFA check (efaInstanceType)"] = launch + efa_pod + consolidate
    else:  # both checks' pods land on the one GPU node the pool launches
        seconds["GPU check"] = launch + max(gpu_pod, efa_pod) + consolidate
    distributed = cfg.checks.distributed
    if distributed.enabled:
        image = pod(distributed.image, "distributed-check")
        seconds["distributed check"] = launch + image + consolidate
    return seconds


def _no_lookup(instance_type: str) -> None:
    """Instance-type look-ups for a stack without a region: none is made (config.read asks
    nothing without a region)."""
    return None


def run(
    stacks: Sequence[str],
    *,
    hours: float = HOURS_DEFAULT,
    check_runs: int = 1,
    on: date | None = None,
    project_dir: Path | None = None,
    clients=None,
    pricing_client: Any = None,
    offline: bool | None = None,
) -> CostReport:
    """The cost of `stacks`. Without credentials (or with `offline`), EC2's facts come from moto's
    copy of EC2's data in the simulated workshop account and prices from the bundled table."""
    from toe import guidance
    from toe.preflight import Clients
    from toe.preflight import fleet as fp
    from toe.stackfiles import StackFileError, read_stack_config, resolve_dir, stack_config

    project_dir = resolve_dir(project_dir)
    on = on or datetime.now(UTC).date()
    if not stacks:
        raise CouldNotCheck(f"no Pulumi.<stack>.yaml files in {project_dir}")
    missing = [s for s in stacks if not (project_dir / f"Pulumi.{s}.yaml").exists()]
    if missing:
        raise CouldNotCheck(guidance.unknown_stacks(missing, project_dir))
    try:
        regions = [stack_config(s, project_dir).get("aws:region") or "" for s in stacks]
    except StackFileError as err:
        raise CouldNotCheck(str(err)) from None
    region = next((r for r in regions if r), "")
    if not region:
        # No region to ask AWS in: the program's rules say what else is wrong (no look-ups).
        raise ConfigProblems(
            {s: read_stack_config(s, _no_lookup, project_dir).problems for s in stacks}
        )
    notes: list[str] = []
    context: Any = contextlib.nullcontext()
    if clients is None:
        import boto3

        if offline is None:
            offline = boto3.Session(region_name=region).get_credentials() is None
        if offline:
            from toe.offline.account import load_account
            from toe.offline.harness import simulated_aws

            notes.append(
                "offline: no AWS credentials; instance facts from moto's copy of EC2's data "
                "(the simulated workshop account), prices from the bundled table"
            )
            context = simulated_aws(load_account())
    with context:
        if clients is None:
            import boto3

            session = boto3.Session(region_name=region)
            clients = Clients.from_session(session, region)
            if not offline and pricing_client is None:
                # The Price List API answers from us-east-1 (and a few others), for every region.
                from botocore.config import Config

                pricing_client = session.client(
                    "pricing",
                    region_name="us-east-1",
                    config=Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2}),
                )
        facts = fp.FleetFacts.load()
        book = PriceBook(region, pricing_client, on)
        priced = None if pricing_client is not None else set(book.table_instances)
        demands, config_check, problems = fp.stack_demands(
            stacks, region, clients, project_dir, facts, priced
        )
        if config_check.status != "pass":
            summary = "; ".join([config_check.summary, *config_check.evidence[1:]])
            if any(not p.unchecked for found in problems.values() for p in found):
                raise ConfigProblems(problems, summary)
            raise CouldNotCheck(summary)
        costs = tuple(stack_cost(d, book, on, check_runs, facts) for d in demands)
    if book.api_errors:
        notes.append(f"Price List API not used ({'; '.join(book.api_errors)}): bundled table")
    return CostReport(
        costs, region, hours, on, tuple(notes), response_bodies=tuple(book.api_bodies)
    )
