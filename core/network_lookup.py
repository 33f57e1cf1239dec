"""Finding the workshop VPC and its subnets: one set of rules, answered by Pulumi or by boto3."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import core.config.intent as intent
from core.aws_errors import aws_error, call_failed, unparsable
from core.config.model import NetworkInputs
from core.problems import Problem, set_command

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
    # The subnet's tags when it was looked up (before this stack tags it).
    tags: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    # Free addresses when it was looked up (EC2 AvailableIpAddressCount); None when not asked.
    available_ips: int | None = field(default=None, compare=False, hash=False)


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


def find_network(
    api: NetworkApi, inputs: NetworkInputs, *, stack: str
) -> tuple[NetworkFacts | None, list[Problem]]:
    """Apply the look-up rules: the facts, or the problems naming what was searched and found.

    A look-up that fails (access denied, throttling, no network) is a problem that quotes AWS,
    not a claim that the VPC is missing.
    """
    region, vpc_name = inputs.region, inputs.vpc_name
    private_pattern, public_pattern = inputs.private_pattern, inputs.public_pattern
    try:
        vpcs = api.find_vpcs(vpc_filters(vpc_name))
        if len(vpcs) != 1:
            return None, [_vpc_problem(api, stack, region, vpc_name, vpcs)]
        vpc = vpcs[0]
        private = _sorted(api.find_subnets(subnet_filters(vpc.id, private_pattern)))
        public = _sorted(api.find_subnets(subnet_filters(vpc.id, public_pattern)))
    except NetworkLookupFailed as err:
        return None, [
            Problem(
                "vpcName",
                f"EC2 could not be asked in {region}: {err}",
                "check that the credentials reach EC2 in this region and may call "
                "ec2:DescribeVpcs and ec2:DescribeSubnets (aws sts get-caller-identity)",
                unchecked=True,
            )
        ]
    problems = []
    azs = sorted({s.az for s in private})
    overlap = {s.id for s in private} & {s.id for s in public}
    everything = None
    if len(azs) < MIN_PRIVATE_AZS or overlap:
        everything = _subnets_in(api, vpc.id)
    if len(azs) < MIN_PRIVATE_AZS:
        where = f"in {', '.join(azs)} only" if azs else "none matched"
        pattern = _pattern_from(everything, private_pattern, MIN_PRIVATE_AZS, public)
        if pattern is not None:
            fix = set_command("privateSubnetPattern", pattern, stack=stack)
        elif everything is not None and len({s.az for s in everything}) < MIN_PRIVATE_AZS:
            fix = (
                f"create private subnets in {MIN_PRIVATE_AZS} availability zones of {vpc.id} "
                f"with Name tags matching {private_pattern!r}"
            )
        else:
            fix = (
                f"tag the private subnets of {vpc.id} (2+ zones) with Name tags matching "
                f"{private_pattern!r}: aws ec2 create-tags --resources SUBNET_ID "
                "--tags Key=Name,Value=NAME"
            )
        problems.append(
            Problem(
                "privateSubnetPattern",
                f"private subnets matching {private_pattern!r} in {vpc.id} must span at least "
                f"{MIN_PRIVATE_AZS} availability zones (EKS requires it); {where}"
                f"{_names_in(everything)}",
                fix,
            )
        )
    if overlap:
        pattern = _pattern_from(everything, public_pattern, 1, private)
        problems.append(
            Problem(
                "publicSubnetPattern",
                f"subnets {', '.join(sorted(overlap))} match both the private and the public "
                f"pattern; the patterns must tell them apart{_names_in(everything)}",
                set_command(
                    "publicSubnetPattern",
                    pattern or "<a Name pattern of the public subnets>",
                    stack=stack,
                ),
            )
        )
    if problems:
        return None, problems
    return NetworkFacts(vpc=vpc, private=private, public=public), []


# Subnet names a problem lists before it says how many more there are.
MAX_LISTED_NAMES = 12


def _subnets_in(api: NetworkApi, vpc_id: str) -> tuple[SubnetFacts, ...] | None:
    """Every subnet of the VPC, for a pattern that matched too little (None: EC2 said no)."""
    try:
        return _sorted(api.find_subnets([{"name": "vpc-id", "values": [vpc_id]}]))
    except NetworkLookupFailed:
        return None


def _names_in(subnets: tuple[SubnetFacts, ...] | None) -> str:
    """`; subnets in the VPC: a, b, ... and 3 more` (the Name tags), or nothing if not known."""
    if subnets is None:
        return ""
    if not subnets:
        return "; the VPC has no subnets"
    names = sorted({s.name for s in subnets if s.name})
    unnamed = sum(1 for s in subnets if not s.name)
    shown = ", ".join(names[:MAX_LISTED_NAMES])
    if len(names) > MAX_LISTED_NAMES:
        shown += f" and {len(names) - MAX_LISTED_NAMES} more"
    if unnamed:
        shown += f"{', ' if names else ''}{unnamed} without a Name tag"
    return f"; subnets in the VPC: {shown}"


def _common_prefix(a: str, b: str) -> str:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return a[:length]


def _pattern_from(
    subnets: tuple[SubnetFacts, ...] | None,
    typed: str,
    min_azs: int,
    avoid: tuple[SubnetFacts, ...],
) -> str | None:
    """A Name pattern built from the subnets there are: the longest prefix the name nearest to
    `typed` shares with other names, else that name itself, matching subnets in `min_azs` zones
    and none of `avoid` (the other pattern's subnets); then the next nearest name. None when no
    such pattern exists."""
    if not subnets:
        return None
    avoided = {s.id for s in avoid}
    names = sorted({s.name for s in subnets if s.name and not any(c in s.name for c in "*?\\")})
    literal = typed.replace("*", "").replace("?", "")

    def closeness(name: str) -> float:
        return difflib.SequenceMatcher(None, literal, name).ratio()

    for name in sorted(names, key=lambda n: (-closeness(n), n)):
        shared = {_common_prefix(name, other) for other in names if other != name}
        # The groups the name shares a prefix with, the closest group first; the name alone last.
        candidates = [(p, False) for p in sorted((p for p in shared if p), key=len, reverse=True)]
        for prefix, exact in [*candidates, (name, True)]:
            matched = [
                s for s in subnets if (s.name == name if exact else s.name.startswith(prefix))
            ]
            if any(s.id in avoided for s in matched) or len({s.az for s in matched}) < min_azs:
                continue
            return name if exact else f"{prefix}*"
    return None


def _vpc_problem(
    api: NetworkApi, stack: str, region: str, vpc_name: str, vpcs: list[VpcFacts]
) -> Problem:
    if vpcs:
        found = ", ".join(v.id for v in vpcs)
        why = f"{len(vpcs)} VPCs carry Name={vpc_name!r} in {region} ({found}); exactly one must"
    else:
        others = ", ".join(f"{v.name or '(no Name)'} ({v.id})" for v in api.find_vpcs([]))
        why = f"no VPC carries Name={vpc_name!r} in {region}; found: {others or 'no VPCs'}"
    named = sorted({v.name for v in api.find_vpcs([]) if v.name and v.name != vpc_name})
    # The one VPC there is, or the name written with spaces, another case or a typo.
    meant = named[0] if len(named) == 1 else intent.closest(vpc_name.strip(), named, cutoff=0.8)
    example = meant if meant and not vpcs else "<Name tag>"
    return Problem("vpcName", why, set_command("vpcName", example, stack=stack))


class NetworkLookupFailed(Exception):
    """EC2 could not be asked (the message quotes AWS's error)."""


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
        with _aws_errors("DescribeVpcs"):
            pages = self._ec2.get_paginator("describe_vpcs").paginate(
                Filters=self._filters(filters)
            )
            return [
                VpcFacts(v["VpcId"], v.get("CidrBlock", ""), _tag(v.get("Tags"), "Name"))
                for page in pages
                for v in page["Vpcs"]
            ]

    def find_subnets(self, filters: list[dict]) -> list[SubnetFacts]:
        with _aws_errors("DescribeSubnets"):
            paginator = self._ec2.get_paginator("describe_subnets")
            return [
                SubnetFacts(
                    s["SubnetId"],
                    _tag(s.get("Tags"), "Name"),
                    s["AvailabilityZone"],
                    s.get("CidrBlock", ""),
                    {t["Key"]: t.get("Value", "") for t in s.get("Tags") or []},
                    s.get("AvailableIpAddressCount"),
                )
                for page in paginator.paginate(Filters=self._filters(filters))
                for s in page["Subnets"]
            ]


class PulumiNetworkApi:
    """NetworkApi over the AWS provider's functions (plain invokes: values known at preview)."""

    def find_vpcs(self, filters: list[dict]) -> list[VpcFacts]:
        import pulumi_aws as aws

        with _invoke_errors("getVpcs"):
            ids = aws.ec2.get_vpcs(filters=[aws.ec2.GetVpcsFilterArgs(**f) for f in filters]).ids
            result = []
            for vpc_id in sorted(ids or []):
                vpc = aws.ec2.get_vpc(id=vpc_id)
                result.append(VpcFacts(vpc.id, vpc.cidr_block, _tag(vpc.tags, "Name")))
            return result

    def find_subnets(self, filters: list[dict]) -> list[SubnetFacts]:
        import pulumi_aws as aws

        with _invoke_errors("getSubnets"):
            args = [aws.ec2.GetSubnetsFilterArgs(**f) for f in filters]
            result = []
            for subnet_id in sorted(aws.ec2.get_subnets(filters=args).ids or []):
                s = aws.ec2.get_subnet(id=subnet_id)
                result.append(
                    SubnetFacts(
                        s.id,
                        _tag(s.tags, "Name"),
                        s.availability_zone,
                        s.cidr_block,
                        dict(s.tags or {}),
                    )
                )
            return result


@contextlib.contextmanager
def _aws_errors(operation: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as err:
        raise NetworkLookupFailed(call_failed(err, "EC2")) from None
    except BotoCoreError as err:
        raise NetworkLookupFailed(f"EC2 {operation} failed: {err}") from None
    except unparsable() as err:
        raise NetworkLookupFailed(f"EC2 {operation} failed: {aws_error(err)}") from None


@contextlib.contextmanager
def _invoke_errors(function: str) -> Iterator[None]:
    try:
        yield
    except Exception as err:  # the engine reports a failed invoke as an exception
        details = getattr(err, "details", None)
        text = details() if callable(details) else str(err)
        raise NetworkLookupFailed(
            f"the aws provider's {function} failed: {' '.join(text.split())}"
        ) from None
