"""A simulated AWS account described in YAML, created in moto: VPCs, named subnets, EC2 quotas."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

WORKSHOP_ACCOUNT = Path(__file__).resolve().parent / "accounts" / "workshop.yaml"
# moto draws resource ids from one random source: seeding it makes ids repeat run after run.
ID_SEED = 20251126
# EC2 running on-demand vCPU quotas (Service Quotas codes; moto does not simulate the service).
# An account file without `quotas:` gets these generous values.
DEFAULT_QUOTAS = {
    "L-1216C47A": 640.0,  # Standard (A, C, D, H, I, M, R, T, Z) instances
    "L-DB2E81BA": 192.0,  # G and VT instances
    "L-417A185B": 192.0,  # P instances
}
QUOTA_CODE_PREFIX = "L-"


class AccountError(ValueError):
    """The account file is not usable; the message says where and why."""


@dataclass(frozen=True)
class SubnetSpec:
    name: str
    az: str
    cidr: str


@dataclass(frozen=True)
class VpcSpec:
    name: str
    cidr: str
    subnets: tuple[SubnetSpec, ...]


@dataclass(frozen=True)
class CheckOutcome:
    """What one validation Job's container left: its exit code and termination message."""

    exit_code: int
    message: str


@dataclass(frozen=True)
class SimulatedCluster:
    """The GPU node Auto Mode launches for the checks, and what the checks find there."""

    instance_type: str
    zone: str
    capacity_type: str
    checks: Mapping[str, CheckOutcome]


@dataclass(frozen=True)
class Account:
    region: str
    vpcs: tuple[VpcSpec, ...]
    source: str
    cluster: SimulatedCluster | None = None
    quotas: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))


def load_account(path: Path = WORKSHOP_ACCOUNT) -> Account:
    """Read and check an account file; raise AccountError naming the file and the bad entry."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as err:
        raise AccountError(f"{path}: no such account file") from err
    except yaml.YAMLError as err:
        raise AccountError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(raw, dict) or not raw.get("region") or not isinstance(raw.get("vpcs"), list):
        raise AccountError(f"{path}: needs `region:` and a list `vpcs:`")
    vpcs = []
    for i, vpc in enumerate(raw["vpcs"]):
        where = f"{path}: vpcs[{i}]"
        if not isinstance(vpc, dict) or not {"name", "cidr"} <= vpc.keys():
            raise AccountError(f"{where} needs name and cidr")
        net = _network(where, vpc["cidr"])
        subnets = []
        for j, sub in enumerate(vpc.get("subnets") or []):
            swhere = f"{where}.subnets[{j}]"
            if not isinstance(sub, dict) or not {"name", "az", "cidr"} <= sub.keys():
                raise AccountError(f"{swhere} needs name, az and cidr")
            if not str(sub["az"]).startswith(str(raw["region"])):
                raise AccountError(f"{swhere}: zone {sub['az']} is not in {raw['region']}")
            if not _network(swhere, sub["cidr"]).subnet_of(net):
                raise AccountError(f"{swhere}: {sub['cidr']} is outside the VPC's {vpc['cidr']}")
            subnets.append(SubnetSpec(str(sub["name"]), str(sub["az"]), str(sub["cidr"])))
        vpcs.append(VpcSpec(str(vpc["name"]), str(vpc["cidr"]), tuple(subnets)))
    return Account(
        region=str(raw["region"]),
        vpcs=tuple(vpcs),
        source=str(path),
        cluster=_cluster(f"{path}: cluster", raw.get("cluster"), str(raw["region"])),
        quotas=_quotas(path, raw.get("quotas")),
    )


def _cluster(where: str, raw: object, region: str) -> SimulatedCluster | None:
    if raw is None:
        return None
    node = raw.get("gpuNode") if isinstance(raw, dict) else None
    if not isinstance(node, dict) or not {"instanceType", "zone"} <= node.keys():
        raise AccountError(f"{where}.gpuNode needs instanceType and zone")
    if not str(node["zone"]).startswith(region):
        raise AccountError(f"{where}.gpuNode: zone {node['zone']} is not in {region}")
    checks = {}
    for name, check in (raw.get("checks") or {}).items():
        if not isinstance(check, dict) or "message" not in check:
            raise AccountError(f"{where}.checks.{name} needs message (and exitCode)")
        checks[str(name)] = CheckOutcome(int(check.get("exitCode", 0)), str(check["message"]))
    return SimulatedCluster(
        instance_type=str(node["instanceType"]),
        zone=str(node["zone"]),
        capacity_type=str(node.get("capacityType", "on-demand")),
        checks=checks,
    )


def _quotas(path: Path, raw: object) -> dict[str, float]:
    """`quotas:` maps a quota code to its value; codes not listed keep their default."""
    quotas = dict(DEFAULT_QUOTAS)
    if raw is None:
        return quotas
    if not isinstance(raw, dict):
        raise AccountError(f"{path}: quotas must map a quota code (L-...) to a number")
    for code, value in raw.items():
        if not str(code).startswith(QUOTA_CODE_PREFIX):
            raise AccountError(f"{path}: quotas: {code!r} is not a quota code (L-...)")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise AccountError(f"{path}: quotas.{code}: {value!r} is not a non-negative number")
        quotas[str(code)] = float(value)
    return quotas


def _network(where: str, cidr: object) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(str(cidr))
    except ValueError as err:
        raise AccountError(f"{where}: {cidr!r} is not an IPv4 CIDR block") from err


def create_in_moto(account: Account, session) -> None:
    """Create the account's VPCs and subnets in the active moto mock, with repeatable ids."""
    from moto.moto_api._internal import mock_random

    mock_random.seed(ID_SEED)
    ec2 = session.client("ec2", region_name=account.region)
    for vpc in account.vpcs:
        vpc_id = ec2.create_vpc(CidrBlock=vpc.cidr)["Vpc"]["VpcId"]
        ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "Name", "Value": vpc.name}])
        for sub in vpc.subnets:
            ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=sub.cidr,
                AvailabilityZone=sub.az,
                TagSpecifications=[
                    {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": sub.name}]}
                ],
            )
