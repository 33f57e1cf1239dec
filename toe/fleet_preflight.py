"""Fleet preflight: what every attendee stack takes from the shared account at the same time,
against what the account has (`python -m toe preflight --fleet`).

One stack's preflight (`toe.preflight`) answers "can this stack go up"; here the question is "can
all of them go up together": quotas, subnet addresses and EKS limits run out for the fleet. Each
stack is read with the program's own rules (`read_config`); what a stack takes beyond its
configuration (the Auto Mode system node, addresses per node, roles) is in `toe/data/fleet.yaml`
with its source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from core import account_checks as ac
from core import instance_types as it
from core.aws_errors import asking
from core.problems import Problem
from toe.preflight import (
    _RANK,
    FAIL,
    PASS,
    UNCHECKED,
    WARN,
    Check,
    Clients,
    CouldNotCheck,
    Verdicts,
    bodies_data,
    connect,
    guarded,
    quota_lines,
    said_once,
)

FLEET_DATA = Path(__file__).parent / "data" / "fleet.yaml"
# Service Quotas: Amazon EKS "Clusters" per Region (default 100; EKS user guide, service-quotas).
EKS_CLUSTERS_QUOTA = "L-1194D53C"


@dataclass(frozen=True)
class FleetFacts:
    """toe/data/fleet.yaml."""

    system_node_type: str
    system_nodes: int
    managed_node_enis: int
    auto_mode_node_addresses: int
    control_plane_enis: int
    iam_roles_per_stack: int
    auto_mode_volume_gib: int
    sources: Mapping[str, str]

    @classmethod
    def load(cls, path: Path = FLEET_DATA) -> FleetFacts:
        raw = yaml.safe_load(path.read_text())
        return cls(
            system_node_type=raw["systemNode"]["instanceType"],
            system_nodes=int(raw["systemNode"]["count"]),
            managed_node_enis=int(raw["managedNodeEnis"]["value"]),
            auto_mode_node_addresses=int(raw["autoModeNodeAddresses"]["value"]),
            control_plane_enis=int(raw["controlPlaneEnis"]["value"]),
            iam_roles_per_stack=int(raw["iamRolesPerStack"]["value"]),
            auto_mode_volume_gib=int(raw["autoModeNodeVolumeGiB"]["value"]),
            sources={key: f"{v['kind']}: {v['source']}" for key, v in raw.items()},
        )


@dataclass(frozen=True)
class Node:
    """Nodes one stack runs at once, of one type, and why."""

    purpose: str
    instance_type: str
    count: int
    vcpus: int
    quota: str | None
    addresses: int  # per node, as reserved at start
    addresses_max: int  # per node, at most
    auto_mode: bool


@dataclass(frozen=True)
class StackDemand:
    stack: str
    config: Any  # the StackConfig, as the program reads it
    region: str
    cluster_name: str
    nodes: tuple[Node, ...]
    private_subnets: tuple[Any, ...]  # SubnetFacts, with available_ips
    gpu_types: tuple[it.InstanceFacts, ...]  # what the GPU pool can launch, smallest first
    gpu_offered: Mapping[str, frozenset[str]]  # GPU type -> private zones offering it

    def vcpus(self, code: str) -> int:
        return sum(n.count * n.vcpus for n in self.nodes if n.quota == code)

    def addresses(self, control_plane: int) -> int:
        return sum(n.count * n.addresses for n in self.nodes) + control_plane

    def addresses_max(self, control_plane: int) -> int:
        return sum(n.count * n.addresses_max for n in self.nodes) + control_plane


@dataclass(frozen=True)
class FleetReport(Verdicts):
    """Exit codes as single-stack preflight: 0 pass (warnings included), 1 fail, 2 unchecked."""

    stacks: tuple[str, ...]
    region: str
    account: str
    caller: str
    checks: tuple[Check, ...]
    per_stack: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "fleet": list(self.stacks),
            "region": self.region,
            "account": self.account,
            "caller": self.caller,
            "status": self.status,
            "exitCode": self.exit_code,
            "checks": [c.to_json() for c in self.checks],
            "perStack": dict(self.per_stack),
        }


# ---------------------------------------------------------------------------- entry point


def run(
    stacks: Sequence[str],
    *,
    clients: Clients | None = None,
    project_dir: Path | None = None,
    facts: FleetFacts | None = None,
) -> FleetReport:
    """Check the account for every stack at once; raise CouldNotCheck if it cannot be asked."""
    from toe import guidance
    from toe.stackfiles import StackFileError, resolve_dir, stack_config

    project_dir = resolve_dir(project_dir)
    if not stacks:
        raise CouldNotCheck(f"no Pulumi.<stack>.yaml files in {project_dir}")
    regions = {}
    for stack in stacks:
        if not (project_dir / f"Pulumi.{stack}.yaml").exists():
            raise CouldNotCheck(guidance.unknown_stack(stack, project_dir))
        try:
            regions[stack] = stack_config(stack, project_dir).get("aws:region")
        except StackFileError as err:
            raise CouldNotCheck(str(err)) from None
    if None in regions.values() or len(set(regions.values())) != 1:
        found = ", ".join(f"{s}: {r or 'none'}" for s, r in regions.items())
        raise CouldNotCheck(
            f"a fleet shares one region (the quotas are per region); the stacks say {found}"
        )
    region = next(iter(regions.values()))
    clients, identity = connect(region, clients)
    checker = _FleetChecker(list(stacks), region, clients, project_dir, facts or FleetFacts.load())
    checks, per_stack = checker.all()
    return FleetReport(
        stacks=tuple(stacks),
        region=region,
        account=identity.get("Account", ""),
        caller=identity.get("Arn", ""),
        checks=tuple(checks),
        per_stack=per_stack,
    )


class _FleetChecker:
    def __init__(
        self, stacks, region, clients, project_dir, facts: FleetFacts, gpu_types=None
    ) -> None:
        # `gpu_types`: only these may be the checks' nodes (cost without the Price List API
        # prices only what its table has: asking EC2 about the rest would be wasted).
        self.gpu_types = gpu_types
        self.stacks = stacks
        self.region = region
        self.clients = clients
        self.project_dir = project_dir
        self.facts = facts
        self.api = ac.Boto3AccountApi(clients.ec2, clients.quotas)
        # Every problem of each stack that could not be counted (config, then look-ups).
        self.problems: dict[str, tuple[Problem, ...]] = {}
        self.lookup = cache(it.boto3_lookup(clients.ec2))
        self._offerings: dict[tuple[str, ...], Mapping[str, frozenset[str]]] = {}
        self._described: dict[tuple[str, ...], Mapping[str, it.InstanceFacts]] = {}

    guard = staticmethod(guarded)

    def all(self) -> tuple[list[Check], dict[str, dict]]:
        demands, config_check = self.demands()
        checks = [config_check]
        if demands:
            checks.append(self.guard("fleet-quotas", QUOTAS_TITLE, self.quotas, demands))
            checks.append(self.guard("fleet-addresses", ADDRESSES_TITLE, self.addresses, demands))
            checks.append(self.guard("fleet-gpu-zones", GPU_ZONES_TITLE, self.gpu_zones, demands))
        checks.append(self.guard("fleet-eks-clusters", EKS_TITLE, self.eks_clusters, demands))
        checks.append(self.guard("fleet-iam-roles", ROLES_TITLE, self.iam_roles, demands))
        per_stack = {
            d.stack: {
                "cluster": d.cluster_name,
                "nodes": [
                    {
                        "purpose": n.purpose,
                        "instanceType": n.instance_type,
                        "count": n.count,
                        "vcpus": n.vcpus,
                        "quota": n.quota,
                        "addresses": n.addresses,
                    }
                    for n in d.nodes
                ],
                "vcpus": {code: d.vcpus(code) for code in QUOTA_CODES if d.vcpus(code)},
                "addresses": d.addresses(self.facts.control_plane_enis),
            }
            for d in demands
        }
        return checks, per_stack

    # ------------------------------------------------------------------ what each stack takes

    def demands(self) -> tuple[list[StackDemand], Check]:
        from core.network_lookup import Boto3NetworkApi, find_network
        from core.problems import ConfigError
        from toe.stackfiles import StackFileError, read_config

        demands = []
        # why -> the stacks it is about: one error that every stack meets (EC2 answering an
        # error page) is one line, not one per stack
        refused: dict[str, list[str]] = {}
        unchecked: dict[str, list[str]] = {}
        networks: dict[tuple, Any] = {}
        for stack in self.stacks:
            try:
                cfg = read_config(stack, self.lookup, self.project_dir)
            except StackFileError as err:
                refused.setdefault(str(err), []).append(stack)
                continue
            except ConfigError as err:
                self.problems[stack] = err.problems
                first = err.problems[0]
                more = f" (and {len(err.problems) - 1} more)" if len(err.problems) > 1 else ""
                (unchecked if first.unchecked else refused).setdefault(
                    f"{first.key}: {first.message}{more}", []
                ).append(stack)
                continue
            key = (cfg.vpc_name, cfg.private_subnet_pattern, cfg.public_subnet_pattern)
            if key not in networks:
                networks[key] = find_network(
                    Boto3NetworkApi(self.clients.ec2),
                    stack=cfg.stack,
                    region=cfg.region,
                    vpc_name=cfg.vpc_name,
                    private_pattern=cfg.private_subnet_pattern,
                    public_pattern=cfg.public_subnet_pattern,
                )
            network, problems = networks[key]
            if network is None:
                self.problems[stack] = tuple(problems)
                first = problems[0]
                (unchecked if first.unchecked else refused).setdefault(
                    f"{first.key}: {first.message}", []
                ).append(stack)
                continue
            demands.append(self.demand(cfg, network))
        lines = [f"read {len(self.stacks)} stack files in {self.project_dir}"]
        lines += [f"refused {_some(names)}: {why}" for why, names in refused.items()]
        lines += [f"could not check {_some(names)}: {why}" for why, names in unchecked.items()]
        counted = f"{len(demands)} of {len(self.stacks)} stacks counted"
        n_refused = sum(len(names) for names in refused.values())
        n_unchecked = sum(len(names) for names in unchecked.values())
        if refused:
            status, summary = FAIL, f"{counted}: {n_refused} refused by the program's rules"
        elif unchecked:
            status, summary = UNCHECKED, f"{counted}: {n_unchecked} could not be read"
        else:
            status, summary = PASS, f"{counted}, each read with the program's rules"
        data = {"refused": refused, "couldNotCheck": unchecked}  # why -> every stack it is about
        return demands, Check(
            "fleet-config", "Stack configurations", status, summary, tuple(lines), data
        )

    def demand(self, cfg, network) -> StackDemand:
        f = self.facts
        nodes = []
        for group in cfg.node_groups:
            facts = self.lookup(group.instance_type)
            nodes.append(self._node(f"node group {group.name}", facts, group.desired_size, False))
        system = self.lookup(f.system_node_type)
        nodes.append(self._node("Auto Mode system pool (CoreDNS)", system, f.system_nodes, True))
        azs = tuple(sorted({s.az for s in network.private}))
        offered = self.offerings(azs)
        pool = cfg.gpu_pool
        candidates = ac.gpu_candidates(pool, offered)
        if self.gpu_types is not None:
            candidates = [c for c in candidates if c in self.gpu_types]
        described = self.describe(tuple(candidates))
        gpu_types = sorted(
            (x for x in described.values() if it.pool_can_launch(pool, x) and x.has_nvidia_gpu),
            key=lambda x: (x.vcpus, x.instance_type),
        )
        if gpu_types:
            # Auto Mode launches the cheapest type that fits the check's pod: counted as the
            # smallest the pool admits, as the program's own quota pre-check does.
            nodes.append(self._node("GPU check", gpu_types[0], 1, True))
        if cfg.checks.efa_instance_type:
            efa = self.lookup(cfg.checks.efa_instance_type)
            if efa is not None:
                nodes.append(self._node("EFA check (efaInstanceType)", efa, 1, True))
        distributed = cfg.checks.distributed
        if distributed.enabled and gpu_types:
            node_type = (
                self.lookup(distributed.instance_type) if distributed.instance_type else None
            )
            nodes.append(self._node("distributed check", node_type or gpu_types[0], 2, True))
        return StackDemand(
            stack=cfg.stack,
            config=cfg,
            region=cfg.region,
            cluster_name=cfg.cluster_name,
            nodes=tuple(nodes),
            private_subnets=tuple(network.private),
            gpu_types=tuple(gpu_types),
            gpu_offered={
                x.instance_type: offered.get(x.instance_type, frozenset()) for x in gpu_types
            },
        )

    def _node(self, purpose: str, facts, count: int, auto_mode: bool) -> Node:
        f = self.facts
        if auto_mode:
            addresses = addresses_max = f.auto_mode_node_addresses
        else:
            enis = min(f.managed_node_enis, facts.max_enis or f.managed_node_enis)
            addresses = enis * facts.ipv4_per_eni
            addresses_max = (facts.max_enis or enis) * facts.ipv4_per_eni
        return Node(
            purpose=purpose,
            instance_type=facts.instance_type,
            count=count,
            vcpus=facts.vcpus,
            quota=ac.quota_code(facts.instance_type),
            addresses=addresses,
            addresses_max=addresses_max,
            auto_mode=auto_mode,
        )

    def describe(self, names: tuple[str, ...]) -> Mapping[str, it.InstanceFacts]:
        """Facts of the candidates (stacks share pools: asked once per distinct list)."""
        if names not in self._described:
            self._described[names] = self.api.describe(names)
        return self._described[names]

    def offerings(self, azs: tuple[str, ...]) -> Mapping[str, frozenset[str]]:
        if azs not in self._offerings:
            self._offerings[azs] = self.api.offerings(azs)
        return self._offerings[azs]

    # ------------------------------------------------------------------ the checks

    def quotas(self, demands: Sequence[StackDemand]) -> Check:
        used = running_vcpus(self.clients.ec2, self.lookup)
        rows, status = [], PASS
        for code in QUOTA_CODES:
            need = sum(d.vcpus(code) for d in demands)
            value = self.api.quota(code)
            row = {
                "code": code,
                "name": ac.QUOTA_NAMES[code],
                "quota": value,
                "running": used.get(code, 0),
                "fleetNeeds": need,
                "source": self.api.sources.get(code, ""),
            }
            if value is None:
                row["status"] = UNCHECKED
                row["verdict"] = f"could not check: {self.api.errors.get(code, 'unknown error')}"
            else:
                free = value - row["running"]
                fit = fitting([d.vcpus(code) for d in demands], free)
                row["attendeesFit"] = fit
                if need > free:
                    wanted = math.ceil(row["running"] + need)
                    row["status"] = FAIL
                    row["verdict"] = (
                        f"the fleet needs {need} vCPUs at once, {free:g} are free "
                        f"({value:g} quota - {row['running']} running): {fit} of "
                        f"{len(demands)} attendees fit"
                    )
                    row["fix"] = (
                        "aws service-quotas request-service-quota-increase --service-code ec2 "
                        f"--quota-code {code} --desired-value {wanted} --region {self.region}"
                    )
                else:
                    row["status"] = PASS
                    row["verdict"] = (
                        f"{need} vCPUs for the fleet fit the {free:g} free "
                        f"({value:g} quota - {row['running']} running)"
                    )
            status = max(status, row["status"], key=_RANK.__getitem__)
            rows.append(row)
        lines = quota_lines(rows)
        lines.append(
            "counted at once per stack: node groups at desired size, the Auto Mode system node, "
            "the checks' GPU nodes (toe/data/fleet.yaml)"
        )
        failing = [r for r in rows if r["status"] != PASS]
        summary = (
            said_once(failing, lambda r: r["name"])
            if failing
            else "; ".join(f"{r['name']} {r['fleetNeeds']}/{r['quota']:g}" for r in rows)
        )
        data = {"quotas": rows, **bodies_data(*(self.api.bodies.get(c) for c in QUOTA_CODES))}
        return Check("fleet-quotas", QUOTAS_TITLE, status, summary, tuple(lines), data)

    def addresses(self, demands: Sequence[StackDemand]) -> Check:
        control = self.facts.control_plane_enis
        subnets = {s.id: s for d in demands for s in d.private_subnets}
        zones: dict[str, int] = {}
        unknown = []
        for subnet in subnets.values():
            if subnet.available_ips is None:
                unknown.append(subnet.id)
            zones[subnet.az] = zones.get(subnet.az, 0) + (subnet.available_ips or 0)
        if unknown:
            return Check(
                "fleet-addresses",
                ADDRESSES_TITLE,
                UNCHECKED,
                f"could not check: EC2 gave no AvailableIpAddressCount for {', '.join(unknown)}",
            )
        # Managed node groups spread their nodes evenly over the zones; Auto Mode likewise
        # spreads over the NodeClass's subnets. Each zone carries its share of every stack.
        per_stack = [d.addresses(control) for d in demands]
        need = sum(per_stack)
        available = sum(zones.values())
        zone_need = {z: math.ceil(need / len(zones)) for z in zones}
        short = {z: zone_need[z] - free for z, free in zones.items() if zone_need[z] > free}
        per_zone_fit = min(
            (math.floor(free / (max(per_stack) / len(zones))) for free in zones.values()),
            default=0,
        )
        fit = min(fitting(per_stack, available), per_zone_fit, len(demands))
        lines = [
            f"{s.id} {s.name} {s.az} {s.cidr}: {s.available_ips} free"
            for s in sorted(subnets.values(), key=lambda s: (s.az, s.id))
        ]
        lines += [
            f"{d.stack}: {d.addresses(control)} addresses at start "
            f"(at most {d.addresses_max(control)}): "
            + ", ".join(f"{n.count} x {n.instance_type} {n.addresses}" for n in d.nodes)
            + f", control plane {control}"
            for d in demands[:3]
        ]
        if len(demands) > 3:
            lines.append(f"... and {len(demands) - 3} more stacks (--json lists each)")
        lines.append(
            "per node: VPC CNI defaults hold 2 ENIs x IPv4 per ENI on managed nodes; Auto Mode "
            "nodes a /28 prefix + 1 (toe/data/fleet.yaml)"
        )
        data = {
            "zones": zones,
            "fleetNeeds": need,
            "fleetNeedsAtMost": sum(d.addresses_max(control) for d in demands),
            "perStack": dict(zip([d.stack for d in demands], per_stack, strict=True)),
            "attendeesFit": fit,
        }
        if short:
            summary = (
                f"the fleet needs {need} addresses at start, the private subnets have {available} "
                f"free ({', '.join(f'{z}: {zones[z]}' for z in sorted(zones))}): {fit} of "
                f"{len(demands)} attendees fit"
            )
            return Check("fleet-addresses", ADDRESSES_TITLE, FAIL, summary, tuple(lines), data)
        at_most = data["fleetNeedsAtMost"]
        if at_most > available:
            summary = (
                f"{need} addresses at start fit the {available} free, but the nodes can grow to "
                f"{at_most} as pods take addresses"
            )
            return Check("fleet-addresses", ADDRESSES_TITLE, WARN, summary, tuple(lines), data)
        summary = f"{need} addresses at start (at most {at_most}) fit the {available} free"
        return Check("fleet-addresses", ADDRESSES_TITLE, PASS, summary, tuple(lines), data)

    def gpu_zones(self, demands: Sequence[StackDemand]) -> Check:
        zones = sorted({s.az for d in demands for s in d.private_subnets})
        offered: dict[str, set[str]] = {}
        for d in demands:
            for name, where in d.gpu_offered.items():
                offered.setdefault(name, set()).update(where)
        per_zone = {z: sorted(n for n, where in offered.items() if z in where) for z in zones}
        lines = [f"{z}: {', '.join(names) or 'none'}" for z, names in per_zone.items()]
        data = {"zones": per_zone}
        with_gpus = [z for z, names in per_zone.items() if names]
        if not with_gpus:
            summary = "no GPU type the pools admit is offered in the private subnets' zones"
            return Check("fleet-gpu-zones", GPU_ZONES_TITLE, FAIL, summary, tuple(lines), data)
        if len(with_gpus) == 1:
            summary = (
                f"only {with_gpus[0]} offers the pools' GPU types: every attendee's GPU node "
                "lands there, and one zone's shortage stops them all"
            )
            return Check("fleet-gpu-zones", GPU_ZONES_TITLE, WARN, summary, tuple(lines), data)
        summary = f"{len(offered)} GPU types offered across {', '.join(with_gpus)}"
        return Check("fleet-gpu-zones", GPU_ZONES_TITLE, PASS, summary, tuple(lines), data)

    def eks_clusters(self, demands: Sequence[StackDemand]) -> Check:
        existing = set()
        with asking("EKS"):
            for page in self.clients.eks.get_paginator("list_clusters").paginate():
                existing.update(page["clusters"])
        quota, source = ac.service_quota(self.clients.quotas, "eks", EKS_CLUSTERS_QUOTA)
        names = [d.cluster_name for d in demands]
        new = [n for n in names if n not in existing]
        lines = [
            f"{len(existing)} EKS clusters in {self.region} now; {len(new)} of the fleet's "
            f"{len(names)} are new",
            f"Clusters quota ({EKS_CLUSTERS_QUOTA}): {quota:g} (Service Quotas, {source})",
        ]
        data = {"existing": len(existing), "new": len(new), "quota": quota, "source": source}
        if len(existing) + len(new) > quota:
            wanted = len(existing) + len(new)
            summary = (
                f"{len(existing)} clusters + {len(new)} new > the quota of {quota:g}: "
                f"{max(0, int(quota) - len(existing))} of {len(new)} new clusters fit"
            )
            lines.append(
                "fix: aws service-quotas request-service-quota-increase --service-code eks "
                f"--quota-code {EKS_CLUSTERS_QUOTA} --desired-value {wanted} --region {self.region}"
            )
            return Check("fleet-eks-clusters", EKS_TITLE, FAIL, summary, tuple(lines), data)
        summary = f"{len(existing)} clusters + {len(new)} new within the quota of {quota:g}"
        return Check("fleet-eks-clusters", EKS_TITLE, PASS, summary, tuple(lines), data)

    def iam_roles(self, demands: Sequence[StackDemand]) -> Check:
        with asking("IAM"):
            summary_map = self.clients.iam.get_account_summary()["SummaryMap"]
        roles, quota = summary_map.get("Roles"), summary_map.get("RolesQuota")
        if roles is None or quota is None:
            return Check(
                "fleet-iam-roles", ROLES_TITLE, UNCHECKED, "could not check: no Roles/RolesQuota"
            )
        need = self.facts.iam_roles_per_stack * len(demands)
        lines = [
            f"IAM GetAccountSummary: {roles} roles, quota {quota}",
            f"{self.facts.iam_roles_per_stack} roles per stack "
            f"({self.facts.sources['iamRolesPerStack']})",
        ]
        data = {"roles": roles, "quota": quota, "fleetNeeds": need}
        if roles + need > quota:
            fit = max(0, (quota - roles) // self.facts.iam_roles_per_stack)
            summary = f"{roles} roles + {need} for the fleet > the quota of {quota}: {fit} fit"
            return Check("fleet-iam-roles", ROLES_TITLE, FAIL, summary, tuple(lines), data)
        summary = f"{roles} roles + {need} for the fleet within the quota of {quota}"
        return Check("fleet-iam-roles", ROLES_TITLE, PASS, summary, tuple(lines), data)


QUOTA_CODES = (ac.QUOTA_STANDARD, ac.QUOTA_G_VT, ac.QUOTA_P)
QUOTAS_TITLE = "EC2 on-demand vCPU quotas, fleet at once"
ADDRESSES_TITLE = "Addresses in the private subnets"
GPU_ZONES_TITLE = "GPU types per zone"
EKS_TITLE = "EKS clusters per region"
ROLES_TITLE = "IAM roles per account"


def stack_demands(
    stacks: Sequence[str],
    region: str,
    clients: Clients,
    project_dir: Path,
    facts: FleetFacts,
    gpu_types: set[str] | None = None,
) -> tuple[list[StackDemand], Check, dict[str, tuple[Problem, ...]]]:
    """What each stack runs at once, read with the program's rules, the check saying which
    stacks could not be counted, and every problem of those (`toe cost` prices the same
    demands)."""
    checker = _FleetChecker(list(stacks), region, clients, project_dir, facts, gpu_types)
    demands, check = checker.demands()
    return demands, check, checker.problems


def _some(names: Sequence[str]) -> str:
    """`a, b, c`; past four names the first three and how many more (--json has them all)."""
    return (
        ", ".join(names) if len(names) <= 4 else f"{', '.join(names[:3])} and {len(names) - 3} more"
    )


def fitting(needs: Sequence[float], available: float) -> int:
    """How many of the stacks, in order, fit into `available`."""
    total, count = 0.0, 0
    for need in needs:
        if total + need > available:
            break
        total += need
        count += 1
    return count


def running_vcpus(ec2_client, lookup) -> dict[str, int]:
    """vCPUs of the running and pending instances per quota code: they count against quotas."""
    used: dict[str, int] = {}
    pages = ec2_client.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )
    with asking("EC2"):
        pages = list(pages)
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                code = ac.quota_code(instance["InstanceType"])
                cpu = instance.get("CpuOptions") or {}
                vcpus = cpu.get("CoreCount", 0) * cpu.get("ThreadsPerCore", 1)
                if not vcpus:
                    facts = lookup(instance["InstanceType"])
                    vcpus = facts.vcpus if facts else 0
                if code:
                    used[code] = used.get(code, 0) + vcpus
    return used
