"""`python -m toe preflight` against moto's EC2 (real instance data) with stubbed quotas and IAM."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import boto3
import fixes
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from rich.console import Console

from core.account_checks import QUOTA_G_VT, QUOTA_P, QUOTA_STANDARD
from core.eks_versions import load_eks_table
from tests.conftest import workshop_copy
from toe import preflight
from toe.cli import main
from toe.commands.preflight import render
from toe.offline.account import load_account
from toe.offline.harness import simulated_aws

TODAY = date(2026, 11, 28)  # 1.33 is in extended support (since 2026-07-29)
GOOD_QUOTAS = {QUOTA_G_VT: 192.0, QUOTA_P: 192.0, QUOTA_STANDARD: 640.0}
ORDER = (QUOTA_G_VT, QUOTA_P, QUOTA_STANDARD)  # the order the checks read them
RUN = preflight.run  # the real one, whatever a test has put in its place


@pytest.fixture(scope="module")
def account():
    """moto with the workshop account created, and throw-away credentials (checks only read)."""
    with simulated_aws(load_account()):
        yield boto3.Session(region_name="ap-northeast-2")


def clients(session, quotas=GOOD_QUOTAS, decisions=None, simulate_error=None):
    """Real moto EC2/STS clients; Service Quotas and IAM simulation answered by Stubbers."""
    quota_client = session.client("service-quotas")
    iam = session.client("iam")
    quota_stub, iam_stub = Stubber(quota_client), Stubber(iam)
    for code in ORDER:
        params = {"ServiceCode": "ec2", "QuotaCode": code}
        if quotas.get(code) is None:
            quota_stub.add_client_error(
                "get_service_quota", "AccessDeniedException", "not allowed", 400, params
            )
        else:
            answer = {"ServiceCode": "ec2", "QuotaCode": code, "Value": quotas[code]}
            quota_stub.add_response("get_service_quota", {"Quota": answer}, params)
    if simulate_error:
        iam_stub.add_client_error("simulate_principal_policy", simulate_error, "denied", 403)
    else:
        results = [
            {"EvalActionName": a, "EvalDecision": (decisions or {}).get(a, "allowed")}
            for a in preflight.IAM_ACTIONS
        ]
        iam_stub.add_response(
            "simulate_principal_policy",
            {"EvaluationResults": results, "IsTruncated": False},
            {
                "PolicySourceArn": "arn:aws:iam::123456789012:user/moto",
                "ActionNames": list(preflight.IAM_ACTIONS),
            },
        )
    quota_stub.activate()
    iam_stub.activate()
    return preflight.Clients(
        ec2=session.client("ec2"),
        quotas=quota_client,
        iam=iam,
        sts=session.client("sts"),
        eks=session.client("eks"),
    )


def the_command_checks(monkeypatch, make_clients):
    """Make the command's `preflight.run` check with `make_clients()` (fresh Stubbers each run)
    on TODAY; returns the stand-in."""

    def run_here(stack, region=None, project_dir=None):
        return RUN(
            stack, region=region, clients=make_clients(), today=TODAY, project_dir=project_dir
        )

    monkeypatch.setattr(preflight, "run", run_here)
    return run_here


def statuses(report) -> dict[str, str]:
    return {c.id: c.status for c in report.checks}


def test_all_good_passes_with_the_extended_support_warning(account):
    report = preflight.run("dev", clients=clients(account), today=TODAY)

    assert statuses(report) == {
        "network": "pass",
        "node-groups": "pass",
        "gpu-types": "pass",
        "quotas": "pass",
        "images": "pass",
        "eks-version": "warn",
        "iam": "pass",
    }
    assert report.exit_code == 0
    network = report.check("network").data
    assert network["vpc"]["name"] == "training-on-eks"
    assert network["privateAzs"] == ["ap-northeast-2a", "ap-northeast-2c"]
    assert {s["name"] for s in network["private"]} == {"TOE-priv-subnet-a", "TOE-priv-subnet-c"}
    groups = {g["name"]: g for g in report.check("node-groups").data["groups"]}
    assert groups["ng-arm"]["arch"] == "arm64" == groups["ng-arm"]["amiArch"]
    assert groups["ng-x86"]["amiType"] == "AL2023_x86_64_STANDARD"

    rows = {r["instanceType"]: r for r in report.to_json()["gpuTypes"]}
    assert rows["g6.8xlarge"] == {
        "instanceType": "g6.8xlarge",
        "gpuModel": "NVIDIA L4",
        "gpuCount": 1,
        "gpuMemoryGiB": 22.4,
        "vcpus": 32,
        "memoryGiB": 128.0,
        "efa": True,
    }
    assert rows["g5.xlarge"]["efa"] is False
    # Not launchable: arm64 (g5g), over the pool's 4-GPU/96-vCPU limits (p5), GPU-less (g6f),
    # or offered only outside the private zones (p4d: 2b and 2d).
    assert not {"g5g.xlarge", "p5.48xlarge", "g6.48xlarge", "g6f.large", "p4d.24xlarge"} & set(rows)
    assert "g6e.xlarge" in rows  # offered in 2a only: one private zone is enough for the pool

    eks = report.check("eks-version")
    assert "$0.60/h instead of $0.10/h" in eks.summary
    assert eks.data["phase"] == "extended"
    assert eks.data["source"].startswith("core/data/eks_versions.yaml")  # moto lacks the API
    quotas = {r["code"]: r for r in report.check("quotas").data["quotas"]}
    assert "not used" in quotas[QUOTA_P]["verdict"]  # no P type within the pool's limits
    assert "32 for the node groups" in quotas[QUOTA_STANDARD]["verdict"]


# The words `pulumi preview` stops with (tests/test_account_checks.py runs the program).
# No P type fits the pool's default limits (4 GPUs, 96 vCPUs), so only the G quota counts.
ZERO_GPU_QUOTA = (
    "Running On-Demand G and VT instances (L-DB2E81BA) is 0 vCPUs in ap-northeast-2: no GPU "
    "node fits, the smallest GPU type the pool can launch (g4dn.xlarge) needs 4 vCPUs"
)


def test_zero_gpu_quota_fails_with_the_programs_message(account):
    quotas = {**GOOD_QUOTAS, QUOTA_G_VT: 0.0, QUOTA_P: 0.0}
    report = preflight.run("dev", clients=clients(account, quotas), today=TODAY)

    check = report.check("quotas")
    assert check.status == "fail"
    assert report.exit_code == 1
    row = next(r for r in check.data["quotas"] if r["code"] == QUOTA_G_VT)
    assert row["verdict"] == ZERO_GPU_QUOTA
    assert ZERO_GPU_QUOTA in check.summary
    assert (
        "fix: aws service-quotas request-service-quota-increase --region ap-northeast-2 "
        "--service-code ec2 --quota-code L-DB2E81BA --desired-value 96" in check.evidence
    )


def test_small_gpu_quota_warns_below_the_pool_limit(account):
    quotas = {**GOOD_QUOTAS, QUOTA_G_VT: 8.0}
    report = preflight.run("dev", clients=clients(account, quotas), today=TODAY)

    row = next(r for r in report.check("quotas").data["quotas"] if r["code"] == QUOTA_G_VT)
    assert row["status"] == "warn"
    assert "below gpuMaxCpu 96" in row["verdict"]
    assert report.exit_code == 0


def test_unreadable_quota_is_could_not_check_with_aws_words(account):
    quotas = {**GOOD_QUOTAS, QUOTA_P: None}
    report = preflight.run("dev", clients=clients(account, quotas), today=TODAY)

    row = next(r for r in report.check("quotas").data["quotas"] if r["code"] == QUOTA_P)
    assert row["status"] == "unchecked"
    assert row["verdict"].startswith("could not check: AccessDeniedException")
    assert report.exit_code == 2


def test_node_type_missing_in_a_private_zone_fails(account):
    # moto's offerings are AWS's: m7gd is in ap-northeast-2a but not in ap-northeast-2c.
    groups = [{"name": "ng-arm", "instanceType": "m7gd.2xlarge", "minSize": 1, "desiredSize": 1}]
    groups[0]["maxSize"] = 1
    report = preflight.run(
        "dev", clients=clients(account), today=TODAY, overrides={"nodeGroups": groups}
    )

    check = report.check("node-groups")
    assert check.status == "fail"
    assert report.exit_code == 1
    assert check.summary == (
        "nodeGroups[0].instanceType: m7gd.2xlarge (node group ng-arm) is not offered in "
        "ap-northeast-2c, a zone of the private subnets (ap-northeast-2a, ap-northeast-2c) in "
        "ap-northeast-2; offered in ap-northeast-2a"
    )


def test_pool_without_efa_capable_types_warns(account):
    # Karpenter never launches a node larger than the pool's limits: at 16 vCPUs the g6 family
    # offers xlarge to 4xlarge only, none of them EFA-capable (EFA starts at g6.8xlarge).
    overrides = {"gpuInstanceFamilies": ["g6"], "gpuMaxCpu": 16}
    report = preflight.run("dev", clients=clients(account), today=TODAY, overrides=overrides)

    check = report.check("gpu-types")
    assert check.status == "warn"
    assert "no EFA-capable GPU type" in check.summary
    assert check.data["efaCapable"] == []
    assert check.data["launchable"] == ["g6.xlarge", "g6.2xlarge", "g6.4xlarge"]
    assert report.exit_code == 0

    required = preflight.run(
        "dev",
        clients=clients(account),
        today=TODAY,
        overrides={**overrides, "efaRequired": True},
    )
    # Required EFA with no type to launch is a configuration problem, refused before anything.
    assert required.check("config").status == "fail"
    assert "efaInstanceType is empty" in required.check("config").summary


def test_pool_that_can_launch_nothing_fails(account):
    report = preflight.run(
        "dev", clients=clients(account), today=TODAY, overrides={"gpuInstanceFamilies": ["g5g"]}
    )
    check = report.check("gpu-types")
    assert check.status == "fail"
    assert check.summary.startswith("gpuInstanceFamilies: the GPU NodePool (families g5g, amd64")


def test_denied_actions_fail_and_unsimulatable_callers_warn(account):
    denied = {"iam:PassRole": "implicitDeny", "eks:CreateCluster": "explicitDeny"}
    report = preflight.run("dev", clients=clients(account, decisions=denied), today=TODAY)
    iam = report.check("iam")
    assert iam.status == "fail"
    assert iam.summary.endswith("may not eks:CreateCluster, iam:PassRole")

    report = preflight.run(
        "dev", clients=clients(account, simulate_error="AccessDenied"), today=TODAY
    )
    assert report.check("iam").status == "unchecked"
    assert report.check("iam").summary.startswith("could not check: AccessDenied")


def test_missing_vpc_fails_and_skips_the_zone_checks(account):
    report = preflight.run(
        "dev", clients=clients(account), today=TODAY, overrides={"vpcName": "nope"}
    )
    assert statuses(report)["network"] == "fail"
    assert "no VPC carries Name='nope'" in report.check("network").summary
    assert statuses(report)["node-groups"] == "warn"
    gpu_rows = [r for r in report.check("quotas").data["quotas"] if r["code"] != QUOTA_STANDARD]
    assert all("not compared" in r["verdict"] for r in gpu_rows)
    assert report.exit_code == 1


def test_principal_arn_of_callers():
    assert preflight.principal_arn("arn:aws:sts::111122223333:assumed-role/Admin/jane") == (
        "arn:aws:iam::111122223333:role/Admin"
    )
    assert preflight.principal_arn("arn:aws:iam::111122223333:user/ops/jane") == (
        "arn:aws:iam::111122223333:user/ops/jane"
    )
    assert preflight.principal_arn("arn:aws:sts::111122223333:federated-user/bob") is None


def test_eks_support_phases_from_the_table():
    table = load_eks_table()
    assert table.versions["1.33"].end_of_standard == date(2026, 7, 29)
    assert table.versions["1.33"].end_of_extended == date(2027, 7, 29)
    assert preflight.eks_support("1.33", date(2026, 1, 10), table).status == "pass"
    soon = preflight.eks_support("1.33", date(2026, 7, 10), table)
    assert soon.status == "warn" and "19 days" in soon.summary
    extended = preflight.eks_support("1.33", date(2026, 7, 29), table)
    assert extended.status == "warn" and "+$0.50/h (≈ $365" in extended.summary
    gone = preflight.eks_support("1.33", date(2027, 7, 29), table)
    assert gone.status == "fail"
    assert "pulumi config set kubernetesVersion 1.35" in gone.summary
    assert preflight.eks_support("1.99", date(2026, 1, 1), table).status == "warn"


def test_eks_support_prefers_the_api_when_it_answers():
    eks = boto3.client("eks", region_name="ap-northeast-2")
    stub = Stubber(eks)
    stub.add_response(
        "describe_cluster_versions",
        {
            "clusterVersions": [
                {
                    "clusterVersion": "1.33",
                    "endOfStandardSupportDate": datetime(2026, 7, 29, tzinfo=UTC),
                    "endOfExtendedSupportDate": datetime(2027, 7, 29, tzinfo=UTC),
                    "status": "EXTENDED_SUPPORT",
                }
            ]
        },
        {"clusterVersions": ["1.33"]},
    )
    with stub:
        answer, source = preflight._describe_cluster_version(eks, "1.33")
    check = preflight.eks_support("1.33", TODAY, load_eks_table(), answer, source)
    assert check.data["source"] == "EKS DescribeClusterVersions"
    assert check.data["endOfExtendedSupport"] == "2027-07-29"


def test_command_prints_tables_and_json(account, monkeypatch, capsys):
    run_here = the_command_checks(monkeypatch, lambda: clients(account))
    assert main(["preflight", "--stack", "dev", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "warn" and doc["exitCode"] == 0
    assert [c["id"] for c in doc["checks"]] == [
        "network",
        "node-groups",
        "gpu-types",
        "quotas",
        "images",
        "eks-version",
        "iam",
    ]

    console = Console(record=True, width=160)
    render(run_here("dev"), console)
    text = console.export_text()
    assert "GPU types the NodePool can launch" in text
    assert "│ g6.8xlarge " in text
    assert "preflight: PASS with 1 warning (EKS version support)" in text

    zero = {**GOOD_QUOTAS, QUOTA_G_VT: 0.0}
    the_command_checks(monkeypatch, lambda: clients(account, zero))
    assert main(["preflight"]) == 1
    assert "preflight: FAIL (EC2 on-demand vCPU quotas)" in capsys.readouterr().out


def test_no_credentials_exits_2(monkeypatch, tmp_path, capsys):
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    assert main(["preflight", "--stack", "dev"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("preflight: COULD NOT CHECK stack dev: no AWS credentials found")

    assert main(["preflight", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["status"] == "could-not-check"


def test_preflight_asks_aws_as_the_stack_does(tmp_path):
    """The stack's role (aws:assumeRoles) is the identity `pulumi up` runs as: its account's
    quotas and permissions are the ones that count."""
    role = "arn:aws:iam::210987654321:role/Deployer"
    fixes.set_config(
        workshop_copy(tmp_path) / "Pulumi.dev.yaml", **{"aws:assumeRoles": [{"roleArn": role}]}
    )
    from core.config import aws_access
    from toe.stackfiles import stack_config

    access = aws_access(stack_config("dev", tmp_path), "ap-northeast-2", stack="dev")
    assert access.assume_roles == ({"roleArn": role},)
    with mock_aws():
        _clients, identity = preflight.connect("ap-northeast-2", access=access)
    assert identity["Arn"] == "arn:aws:sts::210987654321:assumed-role/Deployer/training-on-eks"


def test_rejected_credentials_cannot_check():
    with mock_aws():
        sts = boto3.client("sts", region_name="ap-northeast-2")
        stub = Stubber(sts)
        stub.add_client_error("get_caller_identity", "InvalidClientTokenId", "bad token", 403)
        stub.activate()
        fake = preflight.Clients(ec2=None, quotas=None, iam=None, sts=sts)
        with pytest.raises(preflight.CouldNotCheck, match="InvalidClientTokenId"):
            preflight.run("dev", clients=fake, today=TODAY)


@pytest.mark.parametrize(
    ("image", "status"),
    [
        ("nvidia/cuda:12.8.1-base-ubuntu24.04", "warn"),
        ("docker.io/nvidia/cuda:12.8.1-base-ubuntu24.04", "warn"),
        ("nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04", "pass"),
        ("localhost:5000/cuda:12.8.1", "pass"),
    ],
)
def test_preflight_warns_when_a_check_image_comes_from_docker_hub(account, image, status):
    report = preflight.run(
        "dev", clients=clients(account), today=TODAY, overrides={"gpuCheckImage": image}
    )
    check = report.check("images")
    assert check.status == status
    if status == "warn":
        assert "10 anonymous pulls an hour per IPv4 address" in check.summary


def test_the_distributed_checks_nodes_count_against_the_gpu_quota(account, tmp_path):
    fixes.set_config(workshop_copy(tmp_path) / "Pulumi.dev.yaml", distributedCheck=True)
    # 8 vCPUs: room for the GPU check's 4-vCPU node, not for two more.
    tight = {**GOOD_QUOTAS, QUOTA_G_VT: 8.0}
    report = preflight.run(
        "dev", clients=clients(account, tight), today=TODAY, project_dir=tmp_path
    )
    row = next(r for r in report.check("quotas").data["quotas"] if r["code"] == QUOTA_G_VT)
    assert row["status"] == "warn"
    assert "for the GPU check's node and the distributed check's two" in row["verdict"]
    roomy = preflight.run("dev", clients=clients(account), today=TODAY, project_dir=tmp_path)
    row = next(r for r in roomy.check("quotas").data["quotas"] if r["code"] == QUOTA_G_VT)
    assert row["status"] == "pass"
