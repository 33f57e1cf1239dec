"""Tests for `toe.sweep` and `python -m toe sweep` against moto, with decoys from other clusters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import Any

import boto3
import jsonschema
import pytest
from moto import mock_aws

from tests.fakes.error_page import PAGE, error_page_server
from toe import prices as price_table
from toe import sweep
from toe.cli import main
from toe.commands import sweep as command
from toe.offline.moto import shared_botocore_models

REGION = "ap-northeast-2"
CLUSTER = "toe-dev"
DECOYS = ("toe-dev2", "toe-dev-old")
# The order the issue asks for: instances, LBs, target groups, ENIs, volumes, groups, tags.
DELETE_OPERATIONS = {
    "TerminateInstances": sweep.INSTANCE,
    "DeleteLoadBalancer": sweep.LOAD_BALANCER,
    "DeleteTargetGroup": sweep.TARGET_GROUP,
    "DeleteNetworkInterface": sweep.NETWORK_INTERFACE,
    "DeleteVolume": sweep.VOLUME,
    "DeleteSecurityGroup": sweep.SECURITY_GROUP,
    "DeleteTags": sweep.SUBNET_TAG,
}


@dataclass
class Account:
    """A moto account with one VPC and what the tests seeded in it, by cluster and kind."""

    session: boto3.Session
    vpc_id: str
    subnet_ids: tuple[str, str]
    ami: str
    seeded: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    untagged: dict[str, str] = field(default_factory=dict)

    @cached_property
    def ec2(self) -> Any:
        return self.session.client("ec2")

    @cached_property
    def elbv2(self) -> Any:
        return self.session.client("elbv2")


def _tag_spec(resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "ResourceType": resource_type,
            "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
        }
    ]


def _run_instance(account: Account, instance_type: str, tags: dict[str, str]) -> str:
    reservation = account.ec2.run_instances(
        ImageId=account.ami,
        MinCount=1,
        MaxCount=1,
        InstanceType=instance_type,
        SubnetId=account.subnet_ids[0],
        TagSpecifications=_tag_spec("instance", tags) if tags else [],
    )
    return reservation["Instances"][0]["InstanceId"]


def seed_cluster(account: Account, cluster: str) -> dict[str, set[str]]:
    """One leftover per tag rule for `cluster`, plus look-alikes that must not match."""
    ec2, elbv2 = account.ec2, account.elbv2
    owned = {f"kubernetes.io/cluster/{cluster}": "owned"}
    ids: dict[str, set[str]] = {kind: set() for kind in sweep.DELETE_ORDER}

    ids[sweep.INSTANCE] |= {
        _run_instance(account, "c7g.2xlarge", {"eks:eks-cluster-name": cluster}),
        _run_instance(account, "c6i.2xlarge", owned),
    }
    gone = _run_instance(account, "c6i.2xlarge", owned)
    ec2.terminate_instances(InstanceIds=[gone])  # terminated: not a leftover

    for tags in ({"cluster.k8s.amazonaws.com/name": cluster}, owned):
        eni = ec2.create_network_interface(
            SubnetId=account.subnet_ids[0],
            TagSpecifications=_tag_spec("network-interface", tags),
        )
        ids[sweep.NETWORK_INTERFACE].add(eni["NetworkInterface"]["NetworkInterfaceId"])
    attached = ec2.create_network_interface(
        SubnetId=account.subnet_ids[0],
        TagSpecifications=_tag_spec("network-interface", owned),
    )["NetworkInterface"]["NetworkInterfaceId"]
    instance = sorted(ids[sweep.INSTANCE])[0]
    ec2.attach_network_interface(NetworkInterfaceId=attached, InstanceId=instance, DeviceIndex=1)

    for kind, tags in (
        ("application", {"elbv2.k8s.aws/cluster": cluster}),
        ("network", owned),
    ):
        lb = elbv2.create_load_balancer(
            Name=f"{cluster}-{kind[:3]}",
            Subnets=list(account.subnet_ids),
            Type=kind,
            Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
        )
        ids[sweep.LOAD_BALANCER].add(lb["LoadBalancers"][0]["LoadBalancerArn"])
    target_group = elbv2.create_target_group(
        Name=f"{cluster}-tg",
        Protocol="HTTP",
        Port=80,
        VpcId=account.vpc_id,
        TargetType="ip",
        Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": cluster}],
    )
    ids[sweep.TARGET_GROUP].add(target_group["TargetGroups"][0]["TargetGroupArn"])

    for tags in ({"KubernetesCluster": cluster}, owned):
        volume = ec2.create_volume(
            AvailabilityZone=f"{REGION}a",
            Size=100,
            VolumeType="gp3",
            TagSpecifications=_tag_spec("volume", tags),
        )
        ids[sweep.VOLUME].add(volume["VolumeId"])

    for name, tags in (
        ("lb", {"elbv2.k8s.aws/cluster": cluster}),
        ("node", owned),
        ("eks", {"aws:eks:cluster-name": cluster}),
    ):
        group = ec2.create_security_group(
            GroupName=f"{cluster}-{name}",
            Description=f"{cluster} {name}",
            VpcId=account.vpc_id,
            TagSpecifications=_tag_spec("security-group", tags),
        )
        ids[sweep.SECURITY_GROUP].add(group["GroupId"])

    ec2.create_tags(
        Resources=list(account.subnet_ids),
        Tags=[{"Key": f"kubernetes.io/cluster/{cluster}", "Value": "shared"}],
    )
    ids[sweep.SUBNET_TAG] |= set(account.subnet_ids)
    account.seeded[cluster] = ids
    return ids


def seed_shared(account: Account, cluster: str) -> dict[str, str]:
    """Resources the workshop shares with the cluster (`kubernetes.io/cluster/<name>=shared`):
    used by the cluster, owned by someone else; one also carries a controller's tag."""
    ec2, elbv2 = account.ec2, account.elbv2
    shared = {f"kubernetes.io/cluster/{cluster}": "shared"}
    both = {**shared, "elbv2.k8s.aws/cluster": cluster}
    return {
        sweep.SECURITY_GROUP: ec2.create_security_group(
            GroupName="workshop-shared",
            Description="shared with the cluster",
            VpcId=account.vpc_id,
            TagSpecifications=_tag_spec("security-group", shared),
        )["GroupId"],
        sweep.NETWORK_INTERFACE: ec2.create_network_interface(
            SubnetId=account.subnet_ids[0],
            TagSpecifications=_tag_spec("network-interface", shared),
        )["NetworkInterface"]["NetworkInterfaceId"],
        sweep.LOAD_BALANCER: elbv2.create_load_balancer(
            Name="workshop-shared",
            Subnets=list(account.subnet_ids),
            Tags=[{"Key": k, "Value": v} for k, v in both.items()],
        )["LoadBalancers"][0]["LoadBalancerArn"],
        sweep.TARGET_GROUP: elbv2.create_target_group(
            Name="workshop-shared",
            Protocol="HTTP",
            Port=80,
            VpcId=account.vpc_id,
            TargetType="ip",
            Tags=[{"Key": k, "Value": v} for k, v in shared.items()],
        )["TargetGroups"][0]["TargetGroupArn"],
    }


def seed_untagged(account: Account) -> dict[str, str]:
    ec2 = account.ec2
    account.untagged = {
        sweep.INSTANCE: _run_instance(account, "c7g.2xlarge", {}),
        sweep.VOLUME: ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"],
        sweep.NETWORK_INTERFACE: ec2.create_network_interface(SubnetId=account.subnet_ids[0])[
            "NetworkInterface"
        ]["NetworkInterfaceId"],
        sweep.SECURITY_GROUP: ec2.create_security_group(
            GroupName="untagged", Description="untagged", VpcId=account.vpc_id
        )["GroupId"],
        sweep.LOAD_BALANCER: account.elbv2.create_load_balancer(
            Name="untagged", Subnets=list(account.subnet_ids)
        )["LoadBalancers"][0]["LoadBalancerArn"],
    }
    return account.untagged


def _ids(leftovers: list[sweep.Leftover]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {kind: set() for kind in sweep.DELETE_ORDER}
    for item in leftovers:
        found[item.kind].add(item.id)
    return found


def _subnet_tag_keys(account: Account) -> set[str]:
    subnets = account.ec2.describe_subnets(SubnetIds=list(account.subnet_ids))["Subnets"]
    return {tag["Key"] for subnet in subnets for tag in subnet.get("Tags", [])}


@pytest.fixture(autouse=True, scope="module")
def shared_botocore_loader() -> Iterator[None]:
    """One botocore data loader for the many sessions these tests create."""
    with shared_botocore_models():
        yield


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    # Skip loading moto's catalogue of public AMIs (a second per account); any AMI id will do.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


def new_account() -> Account:
    """A VPC with two subnets in the current AWS endpoint (in-process moto or a moto server)."""
    session = boto3.Session(region_name=REGION)
    ec2 = session.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = tuple(
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate((f"{REGION}a", f"{REGION}b"))
    )
    return Account(session, vpc_id, subnets, "ami-12345678")  # type: ignore[arg-type]


@pytest.fixture
def account(aws_env: None) -> Iterator[Account]:
    with mock_aws():
        yield new_account()


@pytest.fixture
def seeded(account: Account) -> Account:
    seed_cluster(account, CLUSTER)
    for decoy in DECOYS:
        seed_cluster(account, decoy)
    seed_untagged(account)
    return account


def _record_calls(session: boto3.Session) -> list[str]:
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    session.events.register("before-call", record)
    return calls


def _fail_first(
    session: boto3.Session, operation: str, code: str, times: int, service: str = "ec2"
) -> list[int]:
    """Make the first `times` calls of an operation fail with `code`; returns the call count."""
    count = [0]

    def refuse(**_: Any) -> Any:
        count[0] += 1
        if count[0] > times:
            return None
        error = {"Error": {"Code": code, "Message": "resource sg-x has a dependent object"}}
        return SimpleNamespace(status_code=400), error

    session.events.register(f"before-call.{service}.{operation}", refuse)
    return count


def test_finds_exactly_the_clusters_leftovers_and_never_a_decoy(seeded: Account) -> None:
    found = sweep.find_leftovers(seeded.session, CLUSTER)

    assert _ids(found) == seeded.seeded[CLUSTER]
    assert len(set(found)) == len(found)  # hashable, and each resource once
    everything_else = {
        rid for decoy in DECOYS for ids in seeded.seeded[decoy].values() for rid in ids
    } - set(seeded.subnet_ids)
    assert everything_else.isdisjoint(item.id for item in found)
    assert set(seeded.untagged.values()).isdisjoint(item.id for item in found)
    assert [sweep.DELETE_ORDER.index(item.kind) for item in found] == sorted(
        sweep.DELETE_ORDER.index(item.kind) for item in found
    )
    reasons = {item.reason for item in found}
    assert f"tag eks:eks-cluster-name={CLUSTER}" in reasons
    assert f"tag kubernetes.io/cluster/{CLUSTER}=owned" in reasons
    assert f"tag cluster.k8s.amazonaws.com/name={CLUSTER}" in reasons
    assert f"tag KubernetesCluster={CLUSTER}" in reasons
    subnet_tags = [item for item in found if item.kind == sweep.SUBNET_TAG]
    assert {item.extra["key"] for item in subnet_tags} == {f"kubernetes.io/cluster/{CLUSTER}"}
    # Each decoy sees its own resources only, too.
    for decoy in DECOYS:
        assert _ids(sweep.find_leftovers(seeded.session, decoy)) == seeded.seeded[decoy]


def test_vpc_filter_limits_vpc_bound_kinds(seeded: Account) -> None:
    other_vpc = seeded.ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]

    found = sweep.find_leftovers(seeded.session, CLUSTER, vpc_id=other_vpc)

    assert {item.kind for item in found} == {sweep.VOLUME}  # volumes are not in a VPC
    in_vpc = sweep.find_leftovers(seeded.session, CLUSTER, vpc_id=seeded.vpc_id)
    assert _ids(in_vpc) == seeded.seeded[CLUSTER]


def test_hourly_cost_from_the_price_table(seeded: Account) -> None:
    unknown = _run_instance(seeded, "t3.micro", {"eks:eks-cluster-name": CLUSTER})
    prices = price_table.load_prices(REGION)

    found = {item.id: item for item in sweep.find_leftovers(seeded.session, CLUSTER)}

    by_type = {
        item.extra["type"]: item.hourly_usd for item in found.values() if item.kind == "instance"
    }
    assert by_type == {"c7g.2xlarge": 0.3264, "c6i.2xlarge": 0.384, "t3.micro": None}
    assert found[unknown].hourly_usd is None
    lbs = {
        item.extra["type"]: item.hourly_usd
        for item in found.values()
        if item.kind == "load-balancer"
    }
    assert lbs == {"application": 0.0225, "network": 0.0225}
    volumes = [item.hourly_usd for item in found.values() if item.kind == "volume"]
    assert volumes == [pytest.approx(100 * 0.0912 / 730, abs=1e-6)] * 2
    expected = 0.3264 + 0.384 + 2 * 0.0225 + 2 * 100 * 0.0912 / 730
    assert sweep.total_hourly(found.values()) == pytest.approx(expected, abs=1e-3)
    assert prices.instance("t3.micro") is None
    free = {item.kind for item in found.values() if item.hourly_usd == 0.0}
    assert free == {"network-interface", "target-group", "security-group", "subnet-tag"}


def test_price_table_states_source_and_covers_the_workshop_types() -> None:
    prices = price_table.load_prices(REGION)

    assert prices.source and prices.recorded
    for instance_type in (
        "c7g.2xlarge",
        "c6i.2xlarge",
        "g5.xlarge",
        "g5.48xlarge",
        "g6.xlarge",
        "g6.48xlarge",
        "p4d.24xlarge",
        "p5.48xlarge",
    ):
        assert prices.instance(instance_type) > 0, instance_type
    assert prices.load_balancer("application") and prices.load_balancer("network")
    assert prices.volume("gp3", 730) == prices.volume_gb_month["gp3"]
    elsewhere = price_table.load_prices("eu-west-1")
    assert elsewhere.instance("c7g.2xlarge") is None
    assert elsewhere.volume("gp3", 100) is None


def test_delete_goes_in_order_and_spares_decoys(seeded: Account) -> None:
    leftovers = sweep.find_leftovers(seeded.session, CLUSTER)
    calls = _record_calls(seeded.session)

    report = sweep.delete_leftovers(
        seeded.session, leftovers, retry=sweep.RetryPolicy(sleep=pytest.fail)
    )

    assert report.ok, report.failed
    assert _ids(list(report.deleted)) == seeded.seeded[CLUSTER]
    deletes = [name for name in calls if name in DELETE_OPERATIONS]
    stages = [name for i, name in enumerate(deletes) if i == 0 or deletes[i - 1] != name]
    assert stages == list(DELETE_OPERATIONS)  # each kind once, all of it, in this order
    assert sweep.find_leftovers(seeded.session, CLUSTER) == []
    for decoy in DECOYS:
        assert _ids(sweep.find_leftovers(seeded.session, decoy)) == seeded.seeded[decoy]
    keys = _subnet_tag_keys(seeded)
    assert f"kubernetes.io/cluster/{CLUSTER}" not in keys
    assert {f"kubernetes.io/cluster/{decoy}" for decoy in DECOYS} <= keys
    instances = seeded.ec2.describe_instances(InstanceIds=[seeded.untagged["instance"]])
    assert instances["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"
    assert seeded.ec2.describe_volumes(VolumeIds=[seeded.untagged["volume"]])["Volumes"]


def test_dependency_violation_is_retried_with_backoff(seeded: Account) -> None:
    groups = [
        item
        for item in sweep.find_leftovers(seeded.session, CLUSTER)
        if item.kind == sweep.SECURITY_GROUP
    ][:1]
    count = _fail_first(seeded.session, "DeleteSecurityGroup", "DependencyViolation", times=2)
    sleeps: list[float] = []

    report = sweep.delete_leftovers(
        seeded.session, groups, retry=sweep.RetryPolicy(attempts=4, sleep=sleeps.append)
    )

    assert report.ok and report.deleted == tuple(groups)
    assert count[0] == 3
    assert sleeps == [2.0, 4.0]
    assert groups[0].id not in {item.id for item in sweep.find_leftovers(seeded.session, CLUSTER)}


def test_a_dependency_that_stays_is_reported_not_raised(seeded: Account) -> None:
    leftovers = sweep.find_leftovers(seeded.session, CLUSTER)
    _fail_first(seeded.session, "DeleteSecurityGroup", "DependencyViolation", times=10**6)
    sleeps: list[float] = []

    report = sweep.delete_leftovers(
        seeded.session, leftovers, retry=sweep.RetryPolicy(attempts=3, sleep=sleeps.append)
    )

    assert {failure.leftover.id for failure in report.failed} == seeded.seeded[CLUSTER][
        "security-group"
    ]
    assert all("DependencyViolation" in failure.error for failure in report.failed)
    assert all("after 3 attempts" in failure.error for failure in report.failed)
    assert sleeps == [2.0, 4.0] * len(report.failed)
    remaining = _ids(sweep.find_leftovers(seeded.session, CLUSTER))
    assert remaining[sweep.SECURITY_GROUP] == seeded.seeded[CLUSTER]["security-group"]
    assert remaining[sweep.SUBNET_TAG] == set()  # later stages still ran


def test_rules_between_leftover_groups_are_revoked_before_deleting(seeded: Account) -> None:
    ec2 = seeded.ec2
    mine = sorted(seeded.seeded[CLUSTER][sweep.SECURITY_GROUP])
    decoy = sorted(seeded.seeded["toe-dev2"][sweep.SECURITY_GROUP])[0]

    def allow(group: str, source: str) -> None:
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "UserIdGroupPairs": [{"GroupId": source}],
                }
            ],
        )

    allow(mine[0], mine[1])
    allow(mine[1], mine[0])
    allow(decoy, mine[0])
    groups = [
        item
        for item in sweep.find_leftovers(seeded.session, CLUSTER)
        if item.kind == sweep.SECURITY_GROUP
    ]
    revoked: list[str] = []
    seeded.session.events.register(
        "provide-client-params.ec2.RevokeSecurityGroupIngress",
        lambda params, **_: revoked.append(params["GroupId"]),
    )

    report = sweep.delete_leftovers(seeded.session, groups)

    assert report.ok
    assert sorted(revoked) == mine[:2]
    (kept,) = ec2.describe_security_groups(GroupIds=[decoy])["SecurityGroups"]
    sources = {
        pair["GroupId"] for rule in kept["IpPermissions"] for pair in rule["UserIdGroupPairs"]
    }
    assert sources == {mine[0]}  # another cluster's group is never edited


def test_leftovers_of_another_region_are_not_deleted(seeded: Account) -> None:
    leftovers = sweep.find_leftovers(seeded.session, CLUSTER)
    elsewhere = boto3.Session(region_name="us-east-1")

    report = sweep.delete_leftovers(elsewhere, leftovers[:1])

    assert not report.deleted
    assert report.failed[0].error == f"found in {REGION}, session is in us-east-1"
    assert sweep.find_leftovers(seeded.session, CLUSTER) == leftovers


def test_other_errors_are_not_retried(seeded: Account) -> None:
    volumes = [
        item for item in sweep.find_leftovers(seeded.session, CLUSTER) if item.kind == "volume"
    ]
    count = _fail_first(seeded.session, "DeleteVolume", "UnauthorizedOperation", times=10**6)

    report = sweep.delete_leftovers(
        seeded.session, volumes, retry=sweep.RetryPolicy(sleep=pytest.fail)
    )

    assert count[0] == len(volumes) and not report.deleted
    assert all(
        f.error.startswith("DeleteVolume failed: UnauthorizedOperation") for f in report.failed
    )


def test_retry_policy_backoff_is_capped() -> None:
    policy = sweep.RetryPolicy(base_delay_s=2.0, max_delay_s=30.0)

    assert [policy.delay(attempt) for attempt in range(6)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_pagination_reads_every_page(account: Account) -> None:
    instances = {
        _run_instance(account, "c7g.2xlarge", {"eks:eks-cluster-name": CLUSTER}) for _ in range(12)
    }
    balancers = {
        account.elbv2.create_load_balancer(
            Name=f"{CLUSTER}-{i}",
            Subnets=list(account.subnet_ids),
            Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": CLUSTER}],
        )["LoadBalancers"][0]["LoadBalancerArn"]
        for i in range(22)
    }
    calls = _record_calls(account.session)

    found = _ids(sweep.find_leftovers(account.session, CLUSTER, page_size=5))

    assert found[sweep.INSTANCE] == instances
    assert found[sweep.LOAD_BALANCER] == balancers
    assert calls.count("DescribeInstances") >= 3 + 1  # 12 at 5 a page, then the second rule
    assert calls.count("DescribeLoadBalancers") == 5  # 22 at 5 a page
    assert calls.count("DescribeTags") == 2  # at most 20 ARNs a call


def test_throttling_is_retried_by_botocore(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse

    volume = account.ec2.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=10,
        TagSpecifications=_tag_spec("volume", {"KubernetesCluster": CLUSTER}),
    )["VolumeId"]
    throttled = [0]
    body = (
        b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
        b"<Message>Request limit exceeded.</Message></Error></Errors></Response>"
    )

    def throttle(request: Any, **_: Any) -> Any:
        if throttled[0] >= 2:
            return None
        throttled[0] += 1
        return AWSResponse(request.url, 503, {}, MockRawResponse(body))

    account.session.events.register_first("before-send.ec2.DescribeVolumes", throttle)
    sleeps: list[float] = []
    monkeypatch.setattr("botocore.endpoint.time.sleep", sleeps.append)

    # `standard` mode: the same retry rules as the default `adaptive`, without its client-side
    # rate limiter, which would make this test wait for real seconds after the throttles.
    found = sweep.find_leftovers(
        account.session, CLUSTER, config=sweep.client_config(mode="standard")
    )

    assert [item.id for item in found] == [volume]
    assert throttled[0] == 2 and len(sleeps) >= 2
    config = sweep.client_config()
    assert config.retries == {"max_attempts": 6, "mode": "adaptive"}


def test_cluster_name_must_be_an_eks_name(account: Account) -> None:
    with pytest.raises(ValueError, match="not an EKS cluster name"):
        sweep.find_leftovers(account.session, "toe-*")


def test_unreachable_api_is_a_check_error(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    session = boto3.Session(region_name=REGION)

    with pytest.raises(
        sweep.SweepCheckError, match=r"cannot reach the AWS API: .*Could not connect"
    ):
        sweep.find_leftovers(session, CLUSTER, config=sweep.client_config(max_attempts=1))


# --- the command -------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["sweep", "--cluster", CLUSTER, "--region", REGION, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_dry_run_lists_and_deletes_nothing(
    seeded: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "--json")

    document = json.loads(out)
    jsonschema.validate(document, command.OUTPUT_SCHEMA)
    assert code == document["exit_code"] == 1
    assert document["mode"] == "dry-run" and document["cluster_status"] is None
    assert document["deleted"] == [] and document["failed"] == []
    listed: dict[str, set[str]] = {kind: set() for kind in sweep.DELETE_ORDER}
    for item in document["leftovers"]:
        listed[item["kind"]].add(item["id"])
    assert listed == seeded.seeded[CLUSTER]
    unknown_free = [item["hourly_usd"] for item in document["leftovers"] if item["hourly_usd"]]
    assert document["total_hourly_usd"] == pytest.approx(sum(unknown_free), abs=1e-3)
    assert _ids(sweep.find_leftovers(seeded.session, CLUSTER)) == seeded.seeded[CLUSTER]


def test_table_output_and_exit_codes_through_a_delete(
    seeded: Account, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = _cli(capsys)
    assert code == 1
    assert "Dry run" in out and "est. $" in out
    for instance in seeded.seeded[CLUSTER][sweep.INSTANCE]:
        assert instance in out
    for decoy_instance in seeded.seeded["toe-dev2"][sweep.INSTANCE]:
        assert decoy_instance not in out

    code, out, _ = _cli(capsys, "--delete")
    assert code == 0, out
    assert f"Deleted {sum(map(len, seeded.seeded[CLUSTER].values()))} of" in out

    code, out, _ = _cli(capsys)
    assert code == 0 and "Clean" in out
    assert "account 123456789012" in out  # whose resources: moto's account
    for decoy in DECOYS:
        assert _ids(sweep.find_leftovers(seeded.session, decoy)) == seeded.seeded[decoy]


def test_delete_that_cannot_finish_exits_1_and_says_why(
    seeded: Account, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_first(seeded.session, "DeleteSecurityGroup", "DependencyViolation", times=10**6)
    monkeypatch.setattr(boto3, "Session", lambda **_: seeded.session)
    monkeypatch.setattr("toe.sweep.time.sleep", lambda _: None)

    code, out, _ = _cli(capsys, "--delete", "--json", "--attempts", "2")

    document = json.loads(out)
    jsonschema.validate(document, command.OUTPUT_SCHEMA)
    assert code == document["exit_code"] == 1
    assert {item["id"] for item in document["failed"]} == seeded.seeded[CLUSTER]["security-group"]
    assert all("DependencyViolation" in item["error"] for item in document["failed"])
    deleted = {item["id"] for item in document["deleted"]}
    assert seeded.seeded[CLUSTER][sweep.VOLUME] <= deleted


def test_delete_is_refused_while_the_cluster_exists(
    seeded: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    iam = seeded.session.client("iam")
    role = iam.create_role(RoleName="eks", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    seeded.session.client("eks").create_cluster(
        name=CLUSTER, roleArn=role, resourcesVpcConfig={"subnetIds": list(seeded.subnet_ids)}
    )

    code, out, err = _cli(capsys, "--delete", "--json")

    document = json.loads(out)
    assert code == 1 and document["mode"] == "refused"
    assert document["cluster_status"] == "ACTIVE"
    assert "pulumi destroy" in err
    assert _ids(sweep.find_leftovers(seeded.session, CLUSTER)) == seeded.seeded[CLUSTER]

    code, _, _ = _cli(capsys, "--delete", "--force", "--json")
    assert code == 0
    assert sweep.find_leftovers(seeded.session, CLUSTER) == []


def test_delete_is_refused_when_eks_cannot_be_asked(
    seeded: Account, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_first(seeded.session, "DescribeCluster", "AccessDeniedException", 10**6, "eks")
    monkeypatch.setattr(boto3, "Session", lambda **_: seeded.session)

    code, out, err = _cli(capsys, "--delete", "--json")

    assert code == 1 and json.loads(out)["cluster_status"] == "UNKNOWN"
    assert "could not ask EKS whether cluster toe-dev still exists" in err
    assert _ids(sweep.find_leftovers(seeded.session, CLUSTER)) == seeded.seeded[CLUSTER]


def test_clean_account_exits_0(account: Account, capsys: pytest.CaptureFixture[str]) -> None:
    seed_cluster(account, "toe-dev2")

    code, out, _ = _cli(capsys, "--json")

    assert code == 0 and json.loads(out)["leftovers"] == []


def test_no_credentials_exits_2_with_one_clear_line(
    aws_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)

    code, out, err = _cli(capsys, "--json")

    assert code == 2
    from toe import guidance

    assert err.strip() == (
        f"sweep: could not check cluster {CLUSTER} in {REGION}: {guidance.NO_CREDENTIALS}"
    )
    document = json.loads(out)
    jsonschema.validate(document, command.OUTPUT_SCHEMA)
    assert document["exit_code"] == 2 and "credentials" in document["error"]


def test_bad_cluster_name_exits_2(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", "--cluster", "toe-dev*", "--region", REGION])

    assert code == 2
    assert "not an EKS cluster name" in capsys.readouterr().err


def test_what_the_workshop_shares_with_the_cluster_is_never_touched(
    seeded: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kubernetes.io/cluster/<name>=shared` marks what the cluster uses and someone else owns:
    `sweep --delete` lists and deletes none of it, even beside a controller's tag."""
    shared = seed_shared(seeded, CLUSTER)
    found = {item.id for item in sweep.find_leftovers(seeded.session, CLUSTER)}
    assert not found & set(shared.values())

    assert main(["sweep", "--cluster", CLUSTER, "--region", REGION, "--delete"]) == 0
    capsys.readouterr()
    ec2, elbv2 = seeded.ec2, seeded.elbv2
    assert ec2.describe_security_groups(GroupIds=[shared[sweep.SECURITY_GROUP]])["SecurityGroups"]
    eni = shared[sweep.NETWORK_INTERFACE]
    assert ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"]
    lb = shared[sweep.LOAD_BALANCER]
    assert elbv2.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"]
    tg = shared[sweep.TARGET_GROUP]
    assert elbv2.describe_target_groups(TargetGroupArns=[tg])["TargetGroups"]
    # The shared subnets only lost the cluster's tag.
    assert f"kubernetes.io/cluster/{CLUSTER}" not in _subnet_tag_keys(seeded)


def test_identifiers_stay_whole_at_200_columns_and_names_are_not_markup(
    seeded: Account, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    group = seeded.ec2.create_security_group(
        GroupName="k8s-[/x]-sg",
        Description="a name rich would read as markup",
        VpcId=seeded.vpc_id,
        TagSpecifications=_tag_spec(
            "security-group", {f"kubernetes.io/cluster/{CLUSTER}": "owned"}
        ),
    )["GroupId"]
    code, out, err = _cli(capsys)
    assert code == 1, err
    assert "name=k8s-[/x]-sg" in out
    assert group in out
    arns = seeded.seeded[CLUSTER][sweep.LOAD_BALANCER] | seeded.seeded[CLUSTER][sweep.TARGET_GROUP]
    lines = out.splitlines()
    for arn in arns:
        assert any(arn in line for line in lines), f"{arn} is split over lines"
    assert max(len(line) for line in lines) <= 200


@pytest.mark.parametrize(
    ("page", "status", "why"),
    [
        (PAGE, 500, "ResponseParserError: Unable to parse response ("),  # not XML
        (
            "<!DOCTYPE html><html><head><title>403 Forbidden</title></head>"
            "<body><p>blocked by the proxy</p></body></html>",
            403,
            "HTTP 403 from STS GetCallerIdentity: 403 Forbidden - blocked by the proxy",
        ),
    ],
)
def test_an_html_error_page_is_one_line_and_exit_2(
    aws_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    page: str,
    status: int,
    why: str,
) -> None:
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _seconds: None)  # its retries
    with error_page_server(page, status) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        code, out, err = _cli(capsys, "--json")

    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith(f"sweep: could not check cluster {CLUSTER} in {REGION}: {why}")
    assert "<" not in line
    assert json.loads(out)["error"] == line.split(f"{REGION}: ", 1)[1]


def test_a_stack_is_swept_in_the_account_its_role_reaches(tmp_path, capsys, monkeypatch) -> None:
    """--stack takes the cluster, region, profile and role from the stack file (its outputs are
    gone after destroy): another account's role is swept in that account."""
    import fixes
    from conftest import workshop_copy

    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    role = "arn:aws:iam::210987654321:role/Deployer"
    fixes.set_config(
        workshop_copy(tmp_path) / "Pulumi.dev.yaml", **{"aws:assumeRoles": [{"roleArn": role}]}
    )
    with mock_aws():
        code = main(["sweep", "--stack", "dev", "--dir", str(tmp_path), "--json"])
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, command.OUTPUT_SCHEMA)
    assert code == 0, document
    assert (document["cluster"], document["region"]) == ("toe-dev", "ap-northeast-2")
    assert document["account"] == "210987654321"
    assert document["caller"].endswith(":assumed-role/Deployer/training-on-eks")


def test_a_cluster_needs_its_region_and_a_stack_its_file(tmp_path, capsys) -> None:
    assert main(["sweep", "--cluster", "toe-dev"]) == 2
    assert "--region is required with --cluster" in capsys.readouterr().err
    assert main(["sweep", "--stack", "nosuch", "--dir", str(tmp_path), "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, command.OUTPUT_SCHEMA)
    assert document["error"]
