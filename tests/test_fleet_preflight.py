"""`python -m toe preflight --fleet` for 30 attendee stacks, against a loopback moto server.

moto answers EC2 (real instance-type data and offerings, subnets with their free addresses), STS,
IAM and EKS over HTTP; Service Quotas, which moto does not model for EC2 or EKS, are answered by
botocore's Stubber in the shape of the real API.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from core import account_checks as ac
from core.account_checks import QUOTA_G_VT, QUOTA_P, QUOTA_STANDARD
from tests.conftest import workshop_copy
from tests.fakes.error_page import FIRST_TEXT, PAGE, client_at, error_page_server
from toe import preflight
from toe.cli import main
from toe.offline.account import Account, SubnetSpec, VpcSpec, create_in_moto, load_account
from toe.preflight import fleet as fp

REGION = "ap-northeast-2"
STACKS = 30
ROOMY = {QUOTA_STANDARD: 5000.0, QUOTA_G_VT: 1000.0, QUOTA_P: 1000.0}


@pytest.fixture
def server(monkeypatch):
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's state lives in this process: every test starts from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    yield url
    moto.stop()


def session_at(url: str, account: Account) -> boto3.Session:
    session = boto3.Session(region_name=REGION)
    create_in_moto(account, _Endpoint(session, url))
    return _Endpoint(session, url)


class _Endpoint:
    """A boto3 session whose clients talk to the moto server."""

    def __init__(self, session: boto3.Session, url: str) -> None:
        self._session, self._url = session, url

    def client(self, service: str, **kwargs):
        return self._session.client(service, endpoint_url=self._url, **kwargs)


def clients(session, ec2_quotas=ROOMY, eks_clusters: float | None = 100.0, quota_errors=()):
    """moto's EC2, STS, IAM and EKS; Service Quotas stubbed: the three EC2 codes in the order
    the fleet check reads them, then EKS Clusters."""
    quotas = session.client("service-quotas", region_name=REGION)
    stub = Stubber(quotas)
    for code in fp.QUOTA_CODES:
        params = {"ServiceCode": "ec2", "QuotaCode": code}
        if code in quota_errors:
            stub.add_client_error("get_service_quota", "AccessDeniedException", "not allowed", 400)
        else:
            answer = {"ServiceCode": "ec2", "QuotaCode": code, "Value": ec2_quotas[code]}
            stub.add_response("get_service_quota", {"Quota": answer}, params)
    params = {"ServiceCode": "eks", "QuotaCode": fp.EKS_CLUSTERS_QUOTA}
    if eks_clusters is None:
        stub.add_client_error("get_service_quota", "TooManyRequestsException", "Rate exceeded", 400)
    else:
        answer = {"ServiceCode": "eks", "QuotaCode": fp.EKS_CLUSTERS_QUOTA, "Value": eks_clusters}
        stub.add_response("get_service_quota", {"Quota": answer}, params)
    stub.activate()
    return preflight.Clients(
        ec2=session.client("ec2", region_name=REGION),
        quotas=quotas,
        iam=session.client("iam", region_name=REGION),
        sts=session.client("sts", region_name=REGION),
        eks=session.client("eks", region_name=REGION),
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, list[str]]:
    """The project's files with 30 attendee stacks, made as an instructor would."""
    directory = tmp_path_factory.mktemp("fleet")
    workshop_copy(directory)
    assert main(["attendees", "add", "--count", str(STACKS), "--dir", str(directory)]) == 0
    stacks = [f"attendee{i:02d}" for i in range(1, STACKS + 1)]
    return directory, stacks


def statuses(report) -> dict[str, str]:
    return {c.id: c.status for c in report.checks}


def test_thirty_stacks_fit_a_roomy_account(server, project):
    directory, stacks = project
    session = session_at(server, load_account())
    report = fp.run(stacks, clients=clients(session), project_dir=directory)

    assert statuses(report) == {
        "fleet-config": "pass",
        "fleet-quotas": "pass",
        # 30 x 158 addresses at start fit the two /20s (8182 free); with every ENI of the
        # node-group nodes full (4 x 15 each), 30 x 278 would not.
        "fleet-addresses": "warn",
        "fleet-gpu-zones": "pass",
        "fleet-images": "pass",  # no registry client here: the Docker Hub rule only, said so
        "fleet-eks-clusters": "pass",
        "fleet-iam-roles": "pass",
    }
    assert report.exit_code == 0
    assert "registries not asked" in report.check("fleet-images").summary
    addresses = report.check("fleet-addresses")
    assert addresses.summary == (
        f"{STACKS * 158} addresses at start fit the 8182 free, but the nodes can grow to "
        f"{STACKS * 278} as pods take addresses"
    )
    one = report.per_stack["attendee01"]
    # 2 x c7g.2xlarge + 2 x c6i.2xlarge (8 vCPUs each) and the c6g.large system node (2).
    assert one["vcpus"][QUOTA_STANDARD] == 4 * 8 + 2
    # EC2's data for these types: 4 ENIs x 15 addresses; the CNI holds 2 ENIs at start.
    node_group = next(n for n in one["nodes"] if n["purpose"] == "node group ng-arm")
    assert node_group["addresses"] == 2 * 15
    quotas = {r["code"]: r for r in report.check("fleet-quotas").data["quotas"]}
    assert quotas[QUOTA_STANDARD]["fleetNeeds"] == STACKS * 34
    eks = report.check("fleet-eks-clusters").data
    assert (eks["existing"], eks["new"], eks["quota"]) == (0, STACKS, 100.0)


def test_a_gpu_quota_that_fits_twenty_fails_with_the_missing_amount(server, project):
    directory, stacks = project
    session = session_at(server, load_account())
    first = fp.run(stacks, clients=clients(session), project_dir=directory)
    gpu_vcpus = first.per_stack["attendee01"]["vcpus"][QUOTA_G_VT]
    quota = 20 * gpu_vcpus  # room for twenty attendees' GPU check nodes
    report = fp.run(
        stacks,
        clients=clients(session, {**ROOMY, QUOTA_G_VT: float(quota)}),
        project_dir=directory,
    )

    check = report.check("fleet-quotas")
    assert check.status == "fail" and report.exit_code == 1
    row = next(r for r in check.data["quotas"] if r["code"] == QUOTA_G_VT)
    assert row["attendeesFit"] == 20
    assert f"20 of {STACKS} attendees fit" in row["verdict"]
    assert row["fix"] == (
        "aws service-quotas request-service-quota-increase --service-code ec2 "
        f"--quota-code {QUOTA_G_VT} --desired-value {STACKS * gpu_vcpus} --region {REGION}"
    )
    # Applying the fix: a quota of the desired value passes.
    fixed = fp.run(
        stacks,
        clients=clients(session, {**ROOMY, QUOTA_G_VT: float(STACKS * gpu_vcpus)}),
        project_dir=directory,
    )
    assert fixed.check("fleet-quotas").status == "pass"


def test_running_instances_count_against_the_quota(server, project):
    directory, stacks = project
    session = session_at(server, load_account())
    ec2 = session.client("ec2", region_name=REGION)
    ami = ec2.register_image(Name="any", RootDeviceName="/dev/xvda")["ImageId"]
    ec2.run_instances(ImageId=ami, InstanceType="g5.48xlarge", MinCount=1, MaxCount=1)
    first = fp.run(stacks, clients=clients(session), project_dir=directory)
    gpu_vcpus = first.per_stack["attendee01"]["vcpus"][QUOTA_G_VT]
    report = fp.run(
        stacks,
        clients=clients(session, {**ROOMY, QUOTA_G_VT: float(STACKS * gpu_vcpus)}),
        project_dir=directory,
    )

    row = next(r for r in report.check("fleet-quotas").data["quotas"] if r["code"] == QUOTA_G_VT)
    assert row["running"] == 192  # g5.48xlarge
    assert row["status"] == "fail"
    assert f"--desired-value {192 + STACKS * gpu_vcpus} " in row["fix"]


def small_subnets() -> Account:
    """The workshop account with /24 private subnets (251 free addresses each)."""
    workshop = load_account()
    vpcs = []
    for vpc in workshop.vpcs:
        subnets = tuple(
            SubnetSpec(s.name, s.az, s.cidr.replace(".0/20", ".0/24"))
            if vpc.name == "training-on-eks" and s.name.startswith("TOE-priv")
            else s
            for s in vpc.subnets
        )
        vpcs.append(VpcSpec(vpc.name, vpc.cidr, subnets))
    return Account(workshop.region, tuple(vpcs), "small subnets", quotas=workshop.quotas)


def test_small_subnets_fail_and_say_how_many_attendees_fit(server, project):
    directory, stacks = project
    session = session_at(server, small_subnets())
    report = fp.run(stacks, clients=clients(session), project_dir=directory)

    check = report.check("fleet-addresses")
    assert check.status == "fail" and report.exit_code == 1
    per_stack = check.data["perStack"]["attendee01"]
    # node groups 4 x 30, system node 17, GPU check node 17, control plane 4
    assert per_stack == 4 * 30 + 17 + 17 + 4
    assert check.data["zones"] == {"ap-northeast-2a": 251, "ap-northeast-2c": 251}
    fit = (251 + 251) // per_stack
    assert check.data["attendeesFit"] == fit == 3
    assert f"{fit} of {STACKS} attendees fit" in check.summary


def test_the_eks_cluster_quota_counts_the_clusters_already_there(server, project):
    directory, stacks = project
    session = session_at(server, load_account())
    eks = session.client("eks", region_name=REGION)
    iam = session.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="other", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    ec2 = session.client("ec2", region_name=REGION)
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    for i in range(5):
        eks.create_cluster(
            name=f"other-{i}", roleArn=role, resourcesVpcConfig={"subnetIds": subnets}
        )
    report = fp.run(stacks, clients=clients(session, eks_clusters=30.0), project_dir=directory)

    check = report.check("fleet-eks-clusters")
    assert check.status == "fail"
    assert check.summary == "5 clusters + 30 new > the quota of 30: 25 of 30 new clusters fit"
    assert any("--quota-code L-1194D53C --desired-value 35" in line for line in check.evidence)
    roles = report.check("fleet-iam-roles")
    assert roles.data == {"roles": 1, "quota": 1000, "fleetNeeds": 3 * STACKS}


def test_each_check_says_could_not_check_in_aws_words(server, project):
    directory, stacks = project
    session = session_at(server, load_account())
    report = fp.run(
        stacks,
        clients=clients(session, eks_clusters=None, quota_errors=(QUOTA_G_VT,)),
        project_dir=directory,
    )

    quotas = report.check("fleet-quotas")
    assert quotas.status == "unchecked" and report.exit_code == 2
    row = next(r for r in quotas.data["quotas"] if r["code"] == QUOTA_G_VT)
    assert row["verdict"].startswith("could not check:") and "not allowed" in row["verdict"]
    eks = report.check("fleet-eks-clusters")
    assert eks.status == "unchecked" and "Rate exceeded" in eks.summary


def test_unreachable_ec2_is_could_not_check_not_a_crash(project, monkeypatch):
    directory, stacks = project
    session = boto3.Session(region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")

    dead = Config(connect_timeout=0.2, read_timeout=0.2, retries={"max_attempts": 0})

    def client(service):
        return session.client(
            service, endpoint_url="http://127.0.0.1:9", region_name=REGION, config=dead
        )

    sts = session.client("sts", region_name=REGION)
    stub = Stubber(sts)
    stub.add_response(
        "get_caller_identity",
        {
            "Account": "123456789012",
            "Arn": "arn:aws:iam::123456789012:user/x",
            "UserId": "AIDAEXAMPLE",
        },
    )
    stub.activate()
    broken = preflight.Clients(
        ec2=client("ec2"),
        quotas=client("service-quotas"),
        iam=client("iam"),
        sts=sts,
        eks=client("eks"),
    )
    report = fp.run(stacks[:2], clients=broken, project_dir=directory)

    assert report.exit_code == 2
    config = report.check("fleet-config")
    assert config.status == "unchecked"
    assert "could not be read" in config.summary
    assert report.check("fleet-eks-clusters").summary.startswith("could not check:")


def test_a_stack_the_program_refuses_fails_the_fleet_and_is_named(server, project, tmp_path):
    directory, stacks = project
    broken = tmp_path / "broken"
    shutil.copytree(directory, broken)
    path = broken / "Pulumi.attendee07.yaml"
    path.write_text(path.read_text().replace("c6i.2xlarge", "c6i.2xlage"))
    session = session_at(server, load_account())
    report = fp.run(stacks, clients=clients(session), project_dir=broken)

    check = report.check("fleet-config")
    assert check.status == "fail"
    assert check.summary == "29 of 30 stacks counted: 1 refused by the program's rules"
    assert any(
        line.startswith("refused attendee07: nodeGroups[1].instanceType") for line in check.evidence
    )


def test_a_fleet_across_regions_is_refused(project, tmp_path):
    directory, _ = project
    mixed = tmp_path / "mixed"
    shutil.copytree(directory, mixed)
    path = mixed / "Pulumi.attendee02.yaml"
    path.write_text(path.read_text().replace("ap-northeast-2", "ap-northeast-1"))
    with pytest.raises(preflight.CouldNotCheck, match="a fleet shares one region"):
        fp.run(["attendee01", "attendee02"], project_dir=mixed, clients=object())


def test_a_fleet_whose_stacks_reach_aws_differently_is_refused(project, tmp_path):
    """Its quotas and identity are one account's: a stack with its own profile is not in it."""
    directory, _ = project
    mixed = tmp_path / "profiles"
    shutil.copytree(directory, mixed)
    path = mixed / "Pulumi.attendee02.yaml"
    path.write_text(path.read_text() + "  aws:profile: other-account\n")
    with pytest.raises(preflight.CouldNotCheck, match="attendee02: other-account"):
        fp.run(["attendee01", "attendee02"], project_dir=mixed, clients=object())


def test_cli_fleet_json_and_exit_codes(server, project, monkeypatch, capsys):
    directory, _ = project
    session_at(server, load_account())
    monkeypatch.setenv("AWS_ENDPOINT_URL", server)
    code = main(
        ["preflight", "--fleet", "--dir", str(directory), "--stacks", "attendee01", "--json"]
    )
    document = json.loads(capsys.readouterr().out)
    # moto does not answer Service Quotas for EC2: the quotas cannot be checked (exit 2).
    assert code == 2 and document["status"] == "unchecked"
    assert document["fleet"] == ["attendee01"]
    assert {c["id"] for c in document["checks"]} >= {"fleet-quotas", "fleet-addresses"}

    code = main(["preflight", "--fleet", "--dir", str(directory), "--stacks", "attendee01"])
    out = capsys.readouterr().out
    assert code == 2 and "Fleet preflight: 1 stacks" in out and "COULD NOT CHECK" in out
    assert main(["preflight", "--stacks", "attendee01"]) == 2  # --stacks needs --fleet


def behind_an_error_page(server, project, client: str, service: str) -> fp.FleetReport:
    """The fleet preflight with one client (Clients.`client`, boto3 `service`) at an error page."""
    directory, stacks = project
    session = session_at(server, load_account())
    with error_page_server() as url:
        broken = replace(clients(session), **{client: client_at(url, service, REGION)})
        return fp.run(stacks, clients=broken, project_dir=directory)


def test_quotas_answering_an_html_page_say_the_error_once(server, project):
    report = behind_an_error_page(server, project, "quotas", "service-quotas")
    error = f"could not check: HTTP 500 from Service Quotas GetServiceQuota: {FIRST_TEXT}"
    quotas = report.check("fleet-quotas")
    assert quotas.status == "unchecked" and report.exit_code == 2
    names = ", ".join(ac.QUOTA_NAMES[code] for code in fp.QUOTA_CODES)
    assert quotas.summary == f"{names}: {error}"
    assert not any("<" in line or "HTTP 500" in line for line in quotas.evidence)
    assert quotas.data["responseBodies"] == [PAGE]
    eks = report.check("fleet-eks-clusters")  # its own check: the same line, once
    assert eks.summary == error and eks.data["responseBodies"] == [PAGE]


def test_ec2_answering_an_html_page_is_one_line_for_the_whole_fleet(server, project):
    report = behind_an_error_page(server, project, "ec2", "ec2")
    _, stacks = project
    config = report.check("fleet-config")
    assert config.status == "unchecked"
    assert config.summary == f"0 of {STACKS} stacks counted: {STACKS} could not be read"
    (line,) = config.evidence[1:]
    assert line.startswith("could not check attendee01, attendee02, attendee03 and 27 more: ")
    assert "EC2 DescribeInstanceTypes failed: ResponseParserError" in line
    assert line.endswith(FIRST_TEXT)
    (why,) = config.data["couldNotCheck"]
    assert config.data["couldNotCheck"][why] == stacks


def test_cli_fleet_quotes_an_html_page_once_and_verbose_prints_it(
    server, project, monkeypatch, capsys
):
    directory, _ = project
    session_at(server, load_account())
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _seconds: None)  # its retries
    monkeypatch.setenv("AWS_ENDPOINT_URL", server)
    command = ["preflight", "--fleet", "--dir", str(directory), "--stacks", "attendee01"]
    with error_page_server() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SERVICE_QUOTAS", url)
        assert main(command) == 2
        out = capsys.readouterr().out
        # once for the EC2 quotas, once for the EKS clusters quota: each check says it once
        assert out.count("HTTP 500 from Service") == 2
        assert "[bold]could not[/bold]" in out and "<" not in out
        assert main([*command, "--verbose"]) == 2
        out = capsys.readouterr().out
        assert "<!DOCTYPE html>" in out and "Diagnostic line 19" in out


class _RefusingOfferings:
    """An EC2 client that answers everything but DescribeInstanceTypeOfferings, which it refuses
    as EC2 does a caller without the permission (a client of its own, stubbed, answers that)."""

    def __init__(self, ec2) -> None:
        self._ec2 = ec2
        self._refusing = boto3.client("ec2", region_name=REGION, aws_access_key_id="x",
                                      aws_secret_access_key="x")  # fmt: skip
        stubbed = Stubber(self._refusing)
        for _ in range(100):  # every stack asks again: a refusal is not cached
            stubbed.add_client_error(
                "describe_instance_type_offerings",
                service_error_code="UnauthorizedOperation",
                service_message="You are not authorized to perform this operation.",
                http_status_code=403,
            )
        stubbed.activate()

    def __getattr__(self, name):
        return getattr(self._ec2, name)

    def get_paginator(self, operation: str):
        if operation == "describe_instance_type_offerings":
            return self._refusing.get_paginator(operation)
        return self._ec2.get_paginator(operation)


def test_ec2_refusing_only_the_offerings_is_unchecked_not_a_crash(server, project):
    directory, stacks = project
    session = session_at(server, load_account())
    fleet_clients = clients(session)
    refusing = replace(fleet_clients, ec2=_RefusingOfferings(fleet_clients.ec2))
    report = fp.run(stacks, clients=refusing, project_dir=directory)
    config = report.check("fleet-config")
    assert config.status == "unchecked" and report.exit_code == 2
    why = [line for line in config.evidence if line.startswith("could not check ")]
    assert len(why) == 1, config.evidence  # one line for every stack it stopped
    assert "You are not authorized to perform this operation." in why[0]
