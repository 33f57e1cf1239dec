"""Fleet preflight: every attendee stack against one account at once (quotas, subnet
addresses, GPU zones, EKS clusters and IAM roles summed over the fleet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core import account_checks as ac
from core import instance_types as it
from core.config import AwsAccess, aws_access
from core.problems import Problem
from toe.preflight import (
    FAIL,
    PASS,
    UNCHECKED,
    Check,
    Clients,
    CouldNotCheck,
    connect,
)
from toe.preflight.fleet_checks import FleetChecks
from toe.preflight.fleet_model import (  # noqa: F401  (re-exported)
    ADDRESSES_TITLE,
    EKS_CLUSTERS_QUOTA,
    EKS_TITLE,
    FLEET_DATA,
    GPU_ZONES_TITLE,
    QUOTA_CODES,
    QUOTAS_TITLE,
    ROLES_TITLE,
    FleetFacts,
    FleetReport,
    Node,
    StackDemand,
    _some,
)
from toe.preflight.images import TITLE as IMAGES_TITLE


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
    regions, values = {}, {}
    for stack in stacks:
        if not (project_dir / f"Pulumi.{stack}.yaml").exists():
            raise CouldNotCheck(guidance.unknown_stack(stack, project_dir))
        try:
            values[stack] = stack_config(stack, project_dir)
        except StackFileError as err:
            raise CouldNotCheck(str(err)) from None
        regions[stack] = values[stack].get("aws:region")
    if None in regions.values() or len(set(regions.values())) != 1:
        found = ", ".join(f"{s}: {r or 'none'}" for s, r in regions.items())
        raise CouldNotCheck(
            f"a fleet shares one region (the quotas are per region); the stacks say {found}"
        )
    region = next(iter(regions.values()))
    # One account and identity for the fleet (its quotas are shared): the one its stacks use.
    accesses = {stack: aws_access(values[stack], region, stack=stack) for stack in stacks}
    if len(set(accesses.values())) != 1:
        found = ", ".join(f"{s}: {a.profile or 'default'} {_roles(a)}" for s, a in accesses.items())
        raise CouldNotCheck(
            f"a fleet reaches AWS one way; the stacks' profiles and roles differ ({found}): "
            "run preflight per stack"
        )
    clients, identity = connect(region, clients, next(iter(accesses.values())))
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


def _roles(access: AwsAccess) -> str:
    return (
        "as " + ", ".join(r.get("roleArn", "") for r in access.assume_roles)
        if access.assume_roles
        else ""
    )


class _FleetChecker(FleetChecks):
    def __init__(
        self, stacks, region, clients, project_dir, facts: FleetFacts, gpu_types=None
    ) -> None:
        # `gpu_types`: only these may be the checks' nodes (cost without the Price List API
        # prices only what its table has: asking EC2 about the rest would be wasted).
        super().__init__(region, clients, project_dir)
        self.gpu_types = gpu_types
        self.stacks = stacks
        self.facts = facts
        # Every problem of each stack that could not be counted (config, then look-ups).
        self.problems: dict[str, tuple[Problem, ...]] = {}
        self._offerings: dict[tuple[str, ...], Mapping[str, frozenset[str]]] = {}
        self._described: dict[tuple[str, ...], Mapping[str, it.InstanceFacts]] = {}

    def all(self) -> tuple[list[Check], dict[str, dict]]:
        demands, config_check = self.demands()
        checks = [config_check]
        if demands:
            checks.append(self.guard("fleet-quotas", QUOTAS_TITLE, self.quotas, demands))
            checks.append(self.guard("fleet-addresses", ADDRESSES_TITLE, self.addresses, demands))
            checks.append(self.guard("fleet-gpu-zones", GPU_ZONES_TITLE, self.gpu_zones, demands))
            checks.append(self.guard("fleet-images", IMAGES_TITLE, self.images, demands))
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
        from botocore.exceptions import BotoCoreError, ClientError

        from core.problems import ConfigError
        from toe.guidance import aws_error
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
            key = cfg.network
            if key not in networks:
                networks[key] = self.find_network(cfg)
            network, problems = networks[key]
            if network is None:
                self.problems[stack] = tuple(problems)
                first = problems[0]
                (unchecked if first.unchecked else refused).setdefault(
                    f"{first.key}: {first.message}", []
                ).append(stack)
                continue
            try:
                demands.append(self.demand(cfg, network))
            except (BotoCoreError, ClientError) as err:  # AWS refused a look-up: not counted
                unchecked.setdefault(aws_error(err), []).append(stack)
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
