"""Finding the workshop VPC and its subnets: one set of rules, answered by Pulumi or by boto3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from components.problems import ConfigError, Problem, set_command

MIN_PRIVATE_AZS = 2  # EKS needs subnets in at least two availability zones


@dataclass(frozen=True)
class VpcFacts:
    id: str
    cidr: str
    name: str


@dataclass(frozen=True)
class SubnetFacts:
    id: str
    name: str
    az: str
    cidr: str


@dataclass(frozen=True)
class NetworkFacts:
    """The VPC and the subnets the stack uses, as plain values known at preview."""

    vpc: VpcFacts
    private: tuple[SubnetFacts, ...]
    public: tuple[SubnetFacts, ...]

    @property
    def private_azs(self) -> tuple[str, ...]:
        return tuple(sorted({s.az for s in self.private}))


class NetworkApi(Protocol):
    """Answers EC2 DescribeVpcs / DescribeSubnets with filters in the EC2 API's form."""

    def find_vpcs(self, filters: list[dict]) -> list[VpcFacts]: ...

    def find_subnets(self, filters: list[dict]) -> list[SubnetFacts]: ...


def vpc_filters(vpc_name: str) -> list[dict]:
    return [{"name": "tag:Name", "values": [vpc_name]}]


def subnet_filters(vpc_id: str, pattern: str) -> list[dict]:
    """Subnets whose Name tag matches `pattern`, inside `vpc_id` only."""
    return [
        {"name": "vpc-id", "values": [vpc_id]},
        {"name": "tag:Name", "values": [pattern]},
    ]


def resolve_network(
    api: NetworkApi,
    *,
    stack: str,
    region: str,
    vpc_name: str,
    private_pattern: str,
    public_pattern: str,
) -> NetworkFacts:
    """Apply the look-up rules; raise one ConfigError naming what was searched and found."""
    vpcs = api.find_vpcs(vpc_filters(vpc_name))
    if len(vpcs) != 1:
        if vpcs:
            found = ", ".join(v.id for v in vpcs)
            why = (
                f"{len(vpcs)} VPCs carry Name={vpc_name!r} in {region} ({found}); exactly one must"
            )
        else:
            others = ", ".join(f"{v.name or '(no Name)'} ({v.id})" for v in api.find_vpcs([]))
            why = f"no VPC carries Name={vpc_name!r} in {region}; found: {others or 'no VPCs'}"
        raise ConfigError(stack, [Problem("vpcName", why, set_command("vpcName", "<Name tag>"))])

    vpc = vpcs[0]
    private = _sorted(api.find_subnets(subnet_filters(vpc.id, private_pattern)))
    public = _sorted(api.find_subnets(subnet_filters(vpc.id, public_pattern)))
    problems = []
    azs = sorted({s.az for s in private})
    if len(azs) < MIN_PRIVATE_AZS:
        where = f"in {', '.join(azs)} only" if azs else "none matched"
        problems.append(
            Problem(
                "privateSubnetPattern",
                f"private subnets matching {private_pattern!r} in {vpc.id} must span at least "
                f"{MIN_PRIVATE_AZS} availability zones (EKS requires it); {where}",
                set_command("privateSubnetPattern", private_pattern),
            )
        )
    overlap = {s.id for s in private} & {s.id for s in public}
    if overlap:
        problems.append(
            Problem(
                "publicSubnetPattern",
                f"subnets {', '.join(sorted(overlap))} match both the private and the public "
                "pattern; the patterns must tell them apart",
                set_command("publicSubnetPattern", public_pattern),
            )
        )
    if problems:
        raise ConfigError(stack, problems)
    return NetworkFacts(vpc=vpc, private=private, public=public)


def _sorted(subnets: list[SubnetFacts]) -> tuple[SubnetFacts, ...]:
    return tuple(sorted(subnets, key=lambda s: (s.az, s.name, s.id)))


def _tag(tags: list[dict] | dict | None, key: str) -> str:
    if isinstance(tags, dict):
        return tags.get(key, "")
    return next((t["Value"] for t in tags or [] if t.get("Key") == key), "")


class Boto3NetworkApi:
    """NetworkApi over a boto3 EC2 client (paginated)."""

    def __init__(self, ec2_client) -> None:
        self._ec2 = ec2_client

    @staticmethod
    def _filters(filters: list[dict]) -> list[dict]:
        return [{"Name": f["name"], "Values": list(f["values"])} for f in filters]

    def find_vpcs(self, filters: list[dict]) -> list[VpcFacts]:
        pages = self._ec2.get_paginator("describe_vpcs").paginate(Filters=self._filters(filters))
        return [
            VpcFacts(v["VpcId"], v.get("CidrBlock", ""), _tag(v.get("Tags"), "Name"))
            for page in pages
            for v in page["Vpcs"]
        ]

    def find_subnets(self, filters: list[dict]) -> list[SubnetFacts]:
        paginator = self._ec2.get_paginator("describe_subnets")
        return [
            SubnetFacts(
                s["SubnetId"],
                _tag(s.get("Tags"), "Name"),
                s["AvailabilityZone"],
                s.get("CidrBlock", ""),
            )
            for page in paginator.paginate(Filters=self._filters(filters))
            for s in page["Subnets"]
        ]


class PulumiNetworkApi:
    """NetworkApi over the AWS provider's functions (plain invokes: values known at preview)."""

    def find_vpcs(self, filters: list[dict]) -> list[VpcFacts]:
        import pulumi_aws as aws

        ids = aws.ec2.get_vpcs(filters=[aws.ec2.GetVpcsFilterArgs(**f) for f in filters]).ids
        result = []
        for vpc_id in sorted(ids or []):
            vpc = aws.ec2.get_vpc(id=vpc_id)
            result.append(VpcFacts(vpc.id, vpc.cidr_block, _tag(vpc.tags, "Name")))
        return result

    def find_subnets(self, filters: list[dict]) -> list[SubnetFacts]:
        import pulumi_aws as aws

        args = [aws.ec2.GetSubnetsFilterArgs(**f) for f in filters]
        result = []
        for subnet_id in sorted(aws.ec2.get_subnets(filters=args).ids or []):
            s = aws.ec2.get_subnet(id=subnet_id)
            result.append(
                SubnetFacts(s.id, _tag(s.tags, "Name"), s.availability_zone, s.cidr_block)
            )
        return result
