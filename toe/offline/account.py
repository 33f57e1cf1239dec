"""A simulated AWS account described in YAML, created in moto: VPCs, named subnets, EC2 quotas."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from toe.offline.moto import shared_botocore_models

WORKSHOP_ACCOUNT = Path(__file__).resolve().parents[1] / "accounts" / "workshop.yaml"
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
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)  # besides Name


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


# AWS VPC and subnet sizes: /16 (65,536 addresses) to /28 (16) (Amazon VPC user guide, "VPC
# CIDR blocks" and "Subnet sizing").
VPC_PREFIXES = range(16, 29)


def _zones(region: str) -> frozenset[str]:
    """The zones EC2 has in `region`, from moto's copy of EC2's region data."""
    # moto's EC2 models make three boto3 sessions on import: with one loader, 0.3 s less.
    with shared_botocore_models():
        from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    return frozenset(z.name for z in RegionsAndZonesBackend.zones.get(region, []))


def load_account(path: Path = WORKSHOP_ACCOUNT) -> Account:
    """Read and check an account file; raise AccountError naming the file and the bad entry."""
    from core.config import valid_regions
    from toe.stackfiles import StackFileError, read_yaml_mapping

    path = Path(path)
    if not path.exists():
        raise AccountError(f"{path}: no such account file")
    try:
        raw = read_yaml_mapping(path)
    except StackFileError as err:
        raise AccountError(f"{path.parent}/{err}") from None
    region = raw.get("region")
    if not isinstance(region, str) or not region:
        raise AccountError(f"{path}: region: needs an AWS region such as ap-northeast-2")
    if region not in valid_regions():
        raise AccountError(f"{path}: region: {region!r} is not an AWS region")
    if not isinstance(raw.get("vpcs"), list):
        raise AccountError(f"{path}: vpcs: needs a list of VPCs (name, cidr, subnets)")
    zones = _zones(region)
    vpcs = []
    seen_subnets: list[tuple[str, ipaddress.IPv4Network]] = []
    for i, vpc in enumerate(raw["vpcs"]):
        where = f"{path}: vpcs[{i}]"
        if not isinstance(vpc, dict) or not {"name", "cidr"} <= vpc.keys():
            raise AccountError(f"{where} needs name and cidr")
        net = _network(f"{where}.cidr", vpc["cidr"])
        if net.prefixlen not in VPC_PREFIXES:
            raise AccountError(
                f"{where}.cidr: {vpc['cidr']} is a /{net.prefixlen}; AWS VPCs are /16 to /28"
            )
        subnets_raw = vpc.get("subnets") or []
        if not isinstance(subnets_raw, list):
            raise AccountError(f"{where}.subnets: needs a list of subnets, not {subnets_raw!r}")
        subnets = []
        for j, sub in enumerate(subnets_raw):
            swhere = f"{where}.subnets[{j}]"
            if not isinstance(sub, dict) or not {"name", "az", "cidr"} <= sub.keys():
                raise AccountError(f"{swhere} needs name, az and cidr")
            if str(sub["az"]) not in zones:
                raise AccountError(
                    f"{swhere}.az: {sub['az']!r} is not a zone of {region} "
                    f"({', '.join(sorted(zones)) or 'none known'})"
                )
            cidr = _network(f"{swhere}.cidr", sub["cidr"])
            if not cidr.subnet_of(net):
                raise AccountError(
                    f"{swhere}.cidr: {sub['cidr']} is outside the VPC's {vpc['cidr']}"
                )
            if cidr.prefixlen not in VPC_PREFIXES:
                raise AccountError(f"{swhere}.cidr: {sub['cidr']} is not /16 to /28")
            clash = next((w for w, other in seen_subnets if other.overlaps(cidr)), None)
            if clash is not None and clash.startswith(f"{where}."):
                raise AccountError(f"{swhere}.cidr: {sub['cidr']} overlaps {clash}")
            seen_subnets.append((f"{swhere}.cidr", cidr))
            tags = sub.get("tags") or {}
            if not isinstance(tags, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
            ):
                raise AccountError(f"{swhere}.tags: needs a map of tag key to text value")
            subnets.append(SubnetSpec(str(sub["name"]), str(sub["az"]), str(sub["cidr"]), tags))
        vpcs.append(VpcSpec(str(vpc["name"]), str(vpc["cidr"]), tuple(subnets)))
    return Account(
        region=region,
        vpcs=tuple(vpcs),
        source=str(path),
        cluster=_cluster(f"{path}: cluster", raw.get("cluster"), region),
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
                    {
                        "ResourceType": "subnet",
                        "Tags": [
                            {"Key": "Name", "Value": sub.name},
                            *({"Key": k, "Value": v} for k, v in sub.tags.items()),
                        ],
                    }
                ],
            )
