"""The VPC and subnet look-up rules, answered by moto (real EC2 filter semantics)."""

from __future__ import annotations

import dataclasses

import boto3
import pytest
from moto import mock_aws

from core.config import NetworkInputs
from core.network_lookup import Boto3NetworkApi, find_network
from core.problems import ConfigError
from tests.fakes.error_page import PAGE, error_page_server
from toe.offline.account import Account, SubnetSpec, VpcSpec, create_in_moto, load_account

REGION = "ap-northeast-2"


# What the dev stack looks up.
DEV_LOOKUP = NetworkInputs(REGION, "training-on-eks", "TOE-priv-subnet-*", "TOE-pub-subnet-*")


def resolve(account: Account, **kw):
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        create_in_moto(account, session)
        api = Boto3NetworkApi(session.client("ec2"))
        facts, problems = find_network(api, dataclasses.replace(DEV_LOOKUP, **kw), stack="dev")
        if facts is None:
            raise ConfigError("dev", problems)
        return facts


def account(*vpcs: VpcSpec) -> Account:
    return Account(region=REGION, vpcs=vpcs, source="test")


def vpc(name: str, cidr: str, *subnets: tuple[str, str, str]) -> VpcSpec:
    return VpcSpec(name, cidr, tuple(SubnetSpec(n, f"{REGION}{az}", c) for n, az, c in subnets))


def workshop_vpc(*subnets: tuple[str, str, str]) -> Account:
    """An account whose one VPC is the workshop's (10.0.0.0/16), holding `subnets`."""
    return account(vpc("training-on-eks", "10.0.0.0/16", *subnets))


def test_workshop_account_resolves_inside_the_workshop_vpc_only():
    facts = resolve(load_account())
    assert facts.vpc.name == "training-on-eks"
    assert [s.name for s in facts.private] == ["TOE-priv-subnet-a", "TOE-priv-subnet-c"]
    assert [s.name for s in facts.public] == ["TOE-pub-subnet-a", "TOE-pub-subnet-c"]
    assert facts.private_azs == ("ap-northeast-2a", "ap-northeast-2c")
    # The decoy VPC reuses the names; none of its subnets (10.1.x) may be picked.
    assert all(s.cidr.startswith("10.0.") for s in facts.private + facts.public)


def test_missing_vpc_names_the_tag_and_what_was_found():
    with pytest.raises(ConfigError) as err:
        resolve(load_account(), vpc_name="training-on-eks-2")
    (p,) = err.value.problems
    assert p.key == "vpcName"
    assert "no VPC carries Name='training-on-eks-2'" in p.message
    assert "training-on-eks (vpc-" in p.message and "data-platform" in p.message
    assert p.fix.startswith("pulumi config set --stack dev vpcName")


@pytest.mark.parametrize(
    ("written", "fix"),
    [
        (" training-on-eks ", "vpcName training-on-eks"),  # spaces around it
        ("Training-On-EKS", "vpcName training-on-eks"),  # another case
        ("zzz", "vpcName '<Name tag>'"),  # nothing near: no guess at another team's VPC
    ],
)
def test_a_vpc_name_written_nearly_right_gets_the_name_that_exists(written, fix):
    with pytest.raises(ConfigError) as err:
        resolve(load_account(), vpc_name=written)
    (p,) = err.value.problems
    assert p.fix == f"pulumi config set --stack dev {fix}"


def test_several_vpcs_with_the_name_are_refused():
    twins = account(vpc("training-on-eks", "10.0.0.0/16"), vpc("training-on-eks", "10.2.0.0/16"))
    with pytest.raises(ConfigError) as err:
        resolve(twins)
    assert "2 VPCs carry Name='training-on-eks'" in err.value.problems[0].message


def test_private_subnets_in_one_zone_name_the_zone():
    one_az = workshop_vpc(
        ("TOE-priv-subnet-a", "a", "10.0.1.0/24"), ("TOE-priv-subnet-a2", "a", "10.0.2.0/24")
    )
    with pytest.raises(ConfigError) as err:
        resolve(one_az)
    (p,) = err.value.problems
    assert p.key == "privateSubnetPattern"
    assert "at least 2 availability zones" in p.message
    assert "in ap-northeast-2a only" in p.message


def test_no_public_subnets_is_allowed():
    internal = workshop_vpc(
        ("TOE-priv-subnet-a", "a", "10.0.1.0/24"), ("TOE-priv-subnet-b", "b", "10.0.2.0/24")
    )
    facts = resolve(internal)
    assert facts.public == ()
    assert len(facts.private) == 2


def test_overlapping_patterns_are_refused():
    with pytest.raises(ConfigError) as err:
        resolve(load_account(), public_pattern="TOE-*")
    assert err.value.problems[0].key == "publicSubnetPattern"


def test_a_private_pattern_that_matches_nothing_lists_the_names_and_offers_one_that_does():
    with pytest.raises(ConfigError) as err:
        resolve(load_account(), private_pattern="TOE-private-subnet-*")
    (p,) = err.value.problems
    assert p.key == "privateSubnetPattern" and "none matched" in p.message
    # The workshop VPC's names only: the decoy VPC reuses them, but is not where the stack looks.
    assert p.message.endswith(
        "; subnets in the VPC: TOE-priv-subnet-a, TOE-priv-subnet-c, TOE-pub-subnet-a, "
        "TOE-pub-subnet-c"
    )
    assert p.fix == "pulumi config set --stack dev privateSubnetPattern 'TOE-priv-subnet-*'"
    assert resolve(load_account(), private_pattern="TOE-priv-subnet-*").private_azs == (
        "ap-northeast-2a",
        "ap-northeast-2c",
    )


def test_the_offered_private_pattern_spans_two_zones_and_leaves_the_public_subnets_out():
    named = workshop_vpc(
        ("app-private-a", "a", "10.0.1.0/24"),
        ("app-private-a-spare", "a", "10.0.2.0/24"),
        ("app-private-b", "b", "10.0.3.0/24"),
        ("app-public-a", "a", "10.0.4.0/24"),
        ("app-public-b", "b", "10.0.5.0/24"),
    )
    with pytest.raises(ConfigError) as err:
        resolve(named, private_pattern="app-private-a*", public_pattern="app-public-*")
    (p,) = err.value.problems
    assert "in ap-northeast-2a only" in p.message
    # Not `app-private-a*` (one zone) nor `app-p*` (the public subnets too).
    assert p.fix.endswith("privateSubnetPattern 'app-private-*'")


def test_overlapping_patterns_get_a_public_pattern_that_leaves_the_private_subnets_out():
    with pytest.raises(ConfigError) as err:
        resolve(load_account(), public_pattern="TOE-*")
    (p,) = err.value.problems
    assert "subnets in the VPC: TOE-priv-subnet-a" in p.message
    assert p.fix == "pulumi config set --stack dev publicSubnetPattern 'TOE-pub-subnet-*'"


def test_many_subnet_names_are_shortened_and_unnamed_ones_counted():
    from core import network_lookup as nl

    subnets = tuple(
        nl.SubnetFacts(f"subnet-{i}", f"net-{i:02d}" if i < 20 else "", "ap-northeast-2a", "")
        for i in range(22)
    )
    text = nl._names_in(subnets)
    assert text.startswith("; subnets in the VPC: net-00, net-01,")
    assert text.endswith("net-11 and 8 more, 2 without a Name tag")
    assert nl._names_in(()) == "; the VPC has no subnets"


def test_a_vpc_with_subnets_in_one_zone_gets_a_fix_that_is_no_pattern():
    one_zone = workshop_vpc(("only-a", "a", "10.0.1.0/24"))
    with pytest.raises(ConfigError) as err:
        resolve(one_zone, private_pattern="nothing-*")
    (p,) = err.value.problems
    assert "subnets in the VPC: only-a" in p.message
    assert p.fix.startswith("create private subnets in 2 availability zones of vpc-")


@pytest.mark.parametrize(
    ("page", "status", "line"),
    [
        (
            # well-formed: botocore's query parser reads the page into the response
            "<!DOCTYPE html><html><head><title>403 Forbidden</title></head>"
            "<body><p>blocked by the proxy</p></body></html>",
            403,
            "EC2 could not be asked in ap-northeast-2: HTTP 403 from EC2 DescribeVpcs: "
            "403 Forbidden - blocked by the proxy",
        ),
        (
            PAGE,  # not XML: ResponseParserError, which is neither ClientError nor BotoCoreError
            500,
            "EC2 could not be asked in ap-northeast-2: EC2 DescribeVpcs failed: "
            "ResponseParserError: Unable to parse response",
        ),
    ],
)
def test_an_html_error_page_is_one_unchecked_problem(page, status, line):
    from botocore.config import Config

    from core.network_lookup import find_network

    with error_page_server(page, status) as url:
        ec2 = boto3.client(
            "ec2",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}),
        )
        facts, problems = find_network(Boto3NetworkApi(ec2), DEV_LOOKUP, stack="dev")
    assert facts is None and len(problems) == 1 and problems[0].unchecked
    assert problems[0].message.startswith(line)
    assert "\n" not in problems[0].message and "<" not in problems[0].message
