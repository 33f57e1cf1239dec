"""A simulated AWS account described in YAML, created in moto: VPCs, named subnets, EC2 quotas."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import toe.offline.account_file as account_file
from core.account_checks import QUOTA_G_VT, QUOTA_P, QUOTA_STANDARD
from core.instance_types import facts_from_describe
from toe.offline.account_file import AccountError
from toe.offline.moto import shared_botocore_models

WORKSHOP_ACCOUNT = Path(__file__).resolve().parents[1] / "accounts" / "workshop.yaml"
# moto draws resource ids from one random source: seeding it makes ids repeat run after run.
ID_SEED = 20251126
# EC2 running on-demand vCPU quotas (Service Quotas codes; moto does not simulate the service).
# An account file without `quotas:` gets these generous values.
DEFAULT_QUOTAS = {QUOTA_STANDARD: 640.0, QUOTA_G_VT: 192.0, QUOTA_P: 192.0}


@dataclass(frozen=True)
class SubnetSpec:
    """A subnet as the account file names it: its Name tag, zone and block."""

    name: str
    az: str
    cidr: str
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)  # besides Name


@dataclass(frozen=True)
class VpcSpec:
    """A VPC as the account file names it, with its subnets."""

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
    """The simulated account: its region, VPCs, quotas and, optionally, the cluster's results."""

    region: str
    vpcs: tuple[VpcSpec, ...]
    source: str
    cluster: SimulatedCluster | None = None
    quotas: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))


class _MotoEc2:
    """EC2's data as moto copies it: the zones of each region, the instance types each zone
    offers and their GPUs (DescribeInstanceTypes' shape)."""

    def __init__(self) -> None:
        # moto's EC2 models make three boto3 sessions on import: with one loader, 0.3 s less.
        with shared_botocore_models():
            from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
            from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS, INSTANCE_TYPES

        self._zones = RegionsAndZonesBackend.zones
        self._offers = INSTANCE_TYPE_OFFERINGS["availability-zone"]
        self._types = INSTANCE_TYPES

    def zones(self, region: str) -> frozenset[str]:
        return frozenset(z.name for z in self._zones.get(region, []))

    def offered(self, region: str, zone: str) -> frozenset[str]:
        return frozenset(
            o["InstanceType"] for o in self._offers.get(region, ()) if o["Location"] == zone
        )

    def gpu_node(self, instance_type: str) -> bool:
        item = self._types.get(instance_type)
        facts = facts_from_describe(item) if item is not None else None
        return facts is not None and facts.has_nvidia_gpu and facts.kubernetes_arch == "amd64"


def load_account(path: Path = WORKSHOP_ACCOUNT) -> Account:
    """Read and check an account file; AccountError lists every problem in it, each with a fix."""
    from toe.stackfiles import StackFileError, read_yaml_mapping

    path = Path(path)
    if not path.exists():
        raise AccountError(path, reason=f"{path}: no such account file")
    try:
        raw = read_yaml_mapping(path)
    except StackFileError as err:
        raise AccountError(path, reason=f"{path.parent}/{err}") from None
    found = account_file.problems(raw, _MotoEc2())
    if found:
        raise AccountError(path, found)
    vpcs = tuple(
        VpcSpec(
            vpc["name"],
            vpc["cidr"],
            tuple(
                SubnetSpec(sub["name"], sub["az"], sub["cidr"], sub.get("tags") or {})
                for sub in vpc.get("subnets") or ()
            ),
        )
        for vpc in raw["vpcs"]
    )
    quotas = dict(DEFAULT_QUOTAS) | {k: float(v) for k, v in (raw.get("quotas") or {}).items()}
    return Account(raw["region"], vpcs, str(path), _cluster(raw.get("cluster")), quotas)


def _cluster(raw: Mapping | None) -> SimulatedCluster | None:
    if raw is None:
        return None
    node = raw["gpuNode"]
    checks = {
        name: CheckOutcome(check.get("exitCode", 0), check["message"])
        for name, check in (raw.get("checks") or {}).items()
    }
    capacity = node.get("capacityType", "on-demand")
    return SimulatedCluster(node["instanceType"], node["zone"], capacity, checks)


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
