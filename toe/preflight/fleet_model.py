"""What a fleet asks of the account: per-stack demands, the facts and limits they are summed
against, and the fleet's report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core import account_checks as ac
from core import instance_types as it
from core.aws_errors import asking
from toe.preflight import (
    Check,
    Verdicts,
)

FLEET_DATA = Path(__file__).resolve().parents[1] / "data" / "fleet.yaml"


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
            **self.verdicts_json(),
            "perStack": dict(self.per_stack),
        }


QUOTA_CODES = (ac.QUOTA_STANDARD, ac.QUOTA_G_VT, ac.QUOTA_P)


QUOTAS_TITLE = "EC2 on-demand vCPU quotas, fleet at once"


ADDRESSES_TITLE = "Addresses in the private subnets"


GPU_ZONES_TITLE = "GPU types per zone"


EKS_TITLE = "EKS clusters per region"


ROLES_TITLE = "IAM roles per account"


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
