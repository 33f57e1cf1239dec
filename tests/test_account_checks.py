"""The account rules shared by the program and preflight: pure, over boto3, and inside `preview`."""

from __future__ import annotations

import dataclasses

import boto3
import pytest
from botocore.stub import Stubber
from conftest import workshop_pool

from core import account_apis
from core import account_checks as ac
from core import instance_types as it
from core.config import NodeGroupSpec
from toe.offline.account import DEFAULT_QUOTAS, AccountError, load_account
from toe.offline.harness import AwsAnswers, InvokeError, simulated_aws

POOL = workshop_pool()
AZS = ("ap-northeast-2a", "ap-northeast-2c")


def group(name: str, instance_type: str) -> NodeGroupSpec:
    return NodeGroupSpec(name, instance_type, 1, 1, 1, "AL2023_x86_64_STANDARD", "amd64")


@pytest.fixture(scope="module")
def ec2_api():
    """Boto3AccountApi over moto's EC2 (AWS's own offerings and instance data)."""
    with simulated_aws(load_account()):
        session = boto3.Session(region_name="ap-northeast-2")
        yield account_apis.Boto3AccountApi(session.client("ec2"), session.client("service-quotas"))


class CountingApi:
    """An AccountApi over moto that counts the types described one by one (as invokes would)."""

    def __init__(
        self, inner: account_apis.Boto3AccountApi, quotas: dict[str, float | None]
    ) -> None:
        self.inner = inner
        self.quotas = quotas
        self.described: list[str] = []

    def offerings(self, azs):
        return self.inner.offerings(azs)

    def describe(self, instance_types):
        self.described += list(instance_types)
        return self.inner.describe(instance_types)

    def quota(self, code):
        return self.quotas.get(code)


def test_instance_names_read_like_karpenter():
    assert [it.category(t) for t in ("g4dn.xlarge", "gr6.4xlarge", "p6-b300.48xlarge")] == [
        "g",
        "gr",
        "p",
    ]
    assert it.family("p6-b300.48xlarge") == "p6-b300"
    assert ac.quota_code("c7g.2xlarge") == ac.QUOTA_STANDARD
    assert ac.quota_code("vt1.3xlarge") == ac.QUOTA_G_VT
    assert ac.quota_code("p5.48xlarge") == ac.QUOTA_P
    assert ac.quota_code("inf2.xlarge") is None
    names = ["g5.48xlarge", "g5.metal", "g5.2xlarge", "g6f.large", "g5.xlarge"]
    smallest_first = ["g6f.large", "g5.xlarge", "g5.2xlarge", "g5.48xlarge", "g5.metal"]
    assert sorted(names, key=it.size_rank) == smallest_first


def test_offerings_are_per_zone(ec2_api):
    offered = ec2_api.offerings(AZS)
    assert offered["c7g.2xlarge"] == frozenset(AZS)
    assert offered["g6e.xlarge"] == frozenset({"ap-northeast-2a"})
    assert "p4d.24xlarge" not in offered  # 2b and 2d only


def test_node_group_type_must_be_in_every_private_zone(ec2_api):
    offered = ec2_api.offerings(AZS)
    groups = [group("ng-x86", "c6i.2xlarge"), group("ng-gpu", "g6e.xlarge")]
    problems = ac.node_group_offering_problems(groups, offered, AZS, "ap-northeast-2")
    assert [p.key for p in problems] == ["nodeGroups[1].instanceType"]
    assert "g6e.xlarge (node group ng-gpu) is not offered in ap-northeast-2c" in problems[0].message
    assert problems[0].fix.startswith("pulumi config set --path 'nodeGroups[1].instanceType'")


def test_healthy_account_needs_few_lookups(ec2_api):
    api = CountingApi(ec2_api, dict.fromkeys(ac.GPU_QUOTAS, 64.0))
    candidates = ac.gpu_candidates(POOL, api.offerings(AZS))
    describe = ac._one_by_one(api)
    assert ac.gpu_capacity_problems(POOL, "ap-northeast-2", candidates, describe, api.quotas) == []
    # g6f.large (a GPU partition: zero whole GPUs) is skipped, g4dn.xlarge fits.
    assert api.described == ["g6f.large", "g4dn.xlarge"]


def test_quota_below_the_smallest_type_blocks(ec2_api):
    api = CountingApi(ec2_api, {ac.QUOTA_G_VT: 2.0, ac.QUOTA_P: 0.0})
    candidates = ac.gpu_candidates(POOL, api.offerings(AZS))
    problems = ac.gpu_capacity_problems(
        POOL, "ap-northeast-2", candidates, ac._one_by_one(api), api.quotas
    )
    assert [p.key for p in problems] == ["quota L-DB2E81BA"]
    assert "is 2 vCPUs in ap-northeast-2: no GPU node fits" in problems[0].message
    assert "--quota-code L-DB2E81BA --desired-value 96" in problems[0].fix


def test_unreadable_quota_or_spot_pool_never_blocks(ec2_api):
    candidates = ac.gpu_candidates(POOL, ec2_api.offerings(AZS))
    unknown = {ac.QUOTA_G_VT: None, ac.QUOTA_P: 0.0}
    describe = ac._one_by_one(ec2_api)
    assert ac.gpu_capacity_problems(POOL, "r", candidates, describe, unknown) == []
    spot = dataclasses.replace(POOL, capacity_types=("spot",))
    zero = dict.fromkeys(ac.GPU_QUOTAS, 0.0)
    assert ac.gpu_capacity_problems(spot, "r", candidates, describe, zero) == []


def test_pool_limits_bound_what_can_launch(ec2_api):
    facts = ec2_api.describe(["p5.48xlarge", "g6.12xlarge", "g5g.xlarge"])
    assert not it.pool_can_launch(POOL, facts["p5.48xlarge"])  # 8 GPUs > gpuMaxGpus 4
    assert it.pool_can_launch(POOL, facts["g6.12xlarge"])  # 4 GPUs, 48 vCPUs
    assert not it.pool_can_launch(POOL, facts["g5g.xlarge"])  # arm64
    wide = dataclasses.replace(POOL, max_gpus=8, max_cpu=192, max_memory_gi=2048)
    assert it.pool_can_launch(wide, facts["p5.48xlarge"])


def test_a_family_no_private_zone_offers_gets_the_one_it_is_a_slip_for(ec2_api):
    """EC2's own offerings (moto's copy) judge the names: g5x is a typo of g5 (its category and
    generation), p4d is offered in ap-northeast-2 but not in the private subnets' zones, and the
    list stays a restriction."""
    offered = ec2_api.offerings(AZS)
    assert ac.gpu_family_problems(POOL, offered, "ap-northeast-2") == []  # no families named
    named = dataclasses.replace(POOL, instance_families=("g6", "g5x"))
    (problem,) = ac.gpu_family_problems(named, offered, "ap-northeast-2", "dev")
    assert problem.key == "gpuInstanceFamilies"
    assert problem.message.startswith("g5x: EC2 offers no type of this family")
    assert problem.message.endswith("did you mean g5?")
    assert problem.fix.endswith(
        "'gpuInstanceFamilies[0]' g6 && pulumi config set --stack dev "
        "--path 'gpuInstanceFamilies[1]' g5"
    )
    elsewhere = dataclasses.replace(POOL, instance_families=("p4d",))
    (problem,) = ac.gpu_family_problems(elsewhere, offered, "ap-northeast-2")
    # p4d's A100s are not g4dn's T4s, however near the names: the fix swaps no GPU for another.
    assert problem.message == (
        "p4d: EC2 offers no type of this family in the private subnets' zones in ap-northeast-2"
    )
    assert problem.fix.startswith("set gpuInstanceFamilies to families offered here (g4dn, ")
    unreadable = dataclasses.replace(POOL, instance_families=("zz9",))
    (problem,) = ac.gpu_family_problems(unreadable, offered, "ap-northeast-2")
    assert problem.fix.startswith("set gpuInstanceFamilies to families offered here (g4dn, ")


def test_a_category_no_private_zone_offers_is_judged_before_the_families(ec2_api):
    offered = ec2_api.offerings(AZS)
    pool = dataclasses.replace(POOL, instance_categories=("g", "q"), instance_families=("g5x",))
    (problem,) = ac.gpu_family_problems(pool, offered, "ap-northeast-2")
    assert problem.key == "gpuInstanceCategories"
    assert problem.message.endswith("(the fix drops q)")
    assert (
        problem.fix == "pulumi config rm gpuInstanceCategories && pulumi config set --path "
        "'gpuInstanceCategories[0]' g"
    )


def test_boto3_quota_falls_back_to_the_aws_default():
    client = boto3.client("service-quotas", region_name="ap-northeast-2")
    stub = Stubber(client)
    params = {"ServiceCode": "ec2", "QuotaCode": ac.QUOTA_P}
    stub.add_client_error("get_service_quota", "NoSuchResourceException", "none", 400, params)
    stub.add_response(
        "get_aws_default_service_quota",
        {"Quota": {"QuotaCode": ac.QUOTA_P, "Value": 0.0}},
        params,
    )
    stub.add_client_error("get_service_quota", "AccessDeniedException", "no", 403)
    api = account_apis.Boto3AccountApi(None, client)
    with stub:
        assert api.quota(ac.QUOTA_P) == 0.0
        assert api.sources[ac.QUOTA_P] == "AWS default"
        assert api.quota(ac.QUOTA_G_VT) is None
    assert api.errors[ac.QUOTA_G_VT].startswith("AccessDeniedException")


def test_account_file_quotas(tmp_path):
    assert load_account().quotas[ac.QUOTA_G_VT] == 192.0
    path = tmp_path / "a.yaml"
    path.write_text("region: ap-northeast-2\nvpcs: []\nquotas: {L-DB2E81BA: 0}\n")
    quotas = load_account(path).quotas
    assert quotas[ac.QUOTA_G_VT] == 0.0
    assert quotas[ac.QUOTA_STANDARD] == DEFAULT_QUOTAS[ac.QUOTA_STANDARD]
    path.write_text("region: ap-northeast-2\nvpcs: []\nquotas: {G: 1}\n")
    with pytest.raises(AccountError, match=r"quotas\.G: is not one of L-1216C47A"):
        load_account(path)
    path.write_text("region: ap-northeast-2\nvpcs: []\nquotas: {L-DB2E81BA: -1}\n")
    with pytest.raises(AccountError, match=r"quotas\.L-DB2E81BA: -1 is not a number at least 0"):
        load_account(path)


def test_harness_answers_quotas_from_the_account():
    answers = AwsAnswers("ap-northeast-2", {ac.QUOTA_P: 8.0})
    found = answers.get_service_quota({"serviceCode": "ec2", "quotaCode": ac.QUOTA_P})
    assert found["value"] == 8.0
    with pytest.raises(InvokeError, match="NoSuchResourceException"):
        answers.get_service_quota({"serviceCode": "ec2", "quotaCode": ac.QUOTA_G_VT})
