"""The rehearsal's stand-ins, tested themselves: EKS authentication, moto's EKS additions, the Auto
Mode simulator's choices and the kubelet's replayed tools. None of them needs the built tools."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import boto3
import pytest
from conftest import ROOT, shared_path

sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from rehearsal import auth, automode, aws, fakes

from core import eks_token

REGION = "ap-northeast-2"


@pytest.fixture(scope="module")
def moto_server():
    """The world's moto: a real HTTP server on loopback with the EKS additions installed."""
    # moto's classes are patched for this module only: the rest of the suite sees moto as it is.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        server = aws.Moto({"L-DB2E81BA": 64.0}, patch=patch)
        yield server
        server.stop()


@pytest.fixture
def session(moto_server, monkeypatch):
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    return boto3.session.Session(region_name=REGION)


def _cluster(session, name: str) -> None:
    iam = session.client("iam")
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    session.client("eks").create_cluster(
        name=name,
        roleArn=role,
        resourcesVpcConfig={"subnetIds": []},
        accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True},
    )


def test_eks_access_entries_and_add_ons_answer_boto3_as_botocore_models_them(session) -> None:
    _cluster(session, "toe-a")
    eks = session.client("eks")
    # The creator gets an admin entry (CreateCluster accessConfig.bootstrapClusterCreator...).
    creator = "arn:aws:iam::123456789012:user/moto"
    assert eks.list_access_entries(clusterName="toe-a")["accessEntries"] == [creator]
    entry = eks.create_access_entry(
        clusterName="toe-a", principalArn="arn:aws:iam::123456789012:role/Instructor"
    )["accessEntry"]
    assert (entry["type"], entry["kubernetesGroups"]) == ("STANDARD", [])
    with pytest.raises(eks.exceptions.ResourceInUseException):
        eks.create_access_entry(clusterName="toe-a", principalArn=entry["principalArn"])
    eks.associate_access_policy(
        clusterName="toe-a",
        principalArn=entry["principalArn"],
        policyArn=aws.CLUSTER_ADMIN_POLICY,
        accessScope={"type": "cluster"},
    )
    listed = eks.list_associated_access_policies(
        clusterName="toe-a", principalArn=entry["principalArn"]
    )["associatedAccessPolicies"]
    assert [p["policyArn"] for p in listed] == [aws.CLUSTER_ADMIN_POLICY]
    version = eks.describe_addon_versions(addonName="coredns", kubernetesVersion="1.33")
    assert version["addons"][0]["addonVersions"][0]["addonVersion"] == aws.ADDON_VERSIONS["coredns"]
    eks.create_addon(clusterName="toe-a", addonName="coredns")
    assert eks.list_addons(clusterName="toe-a")["addons"] == ["coredns"]
    eks.delete_access_entry(clusterName="toe-a", principalArn=entry["principalArn"])
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.describe_access_entry(clusterName="toe-a", principalArn=entry["principalArn"])
    cluster = eks.describe_cluster(name="toe-a")["cluster"]
    assert cluster["accessConfig"]["authenticationMode"] == "API"
    assert cluster["status"] == "CREATING"  # ACTIVE once the world's API server answers


def test_service_quotas_come_from_the_account_file(session) -> None:
    quotas = session.client("service-quotas")
    assert (
        quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-DB2E81BA")["Quota"]["Value"] == 64
    )
    with pytest.raises(quotas.exceptions.NoSuchResourceException):
        quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-417A185B")


def _review(moto_server, cluster: str, token: str, entries) -> dict:
    authenticator = auth.Authenticator(f"127.0.0.1:{moto_server.port}", lambda _c: entries)
    try:
        return authenticator.review(cluster, token)
    finally:
        authenticator.stop()


ADMIN = {
    "arn:aws:iam::123456789012:user/moto": {
        "kubernetesGroups": [],
        "policies": {
            aws.CLUSTER_ADMIN_POLICY: {
                "policyArn": aws.CLUSTER_ADMIN_POLICY,
                "accessScope": {"type": "cluster"},
            }
        },
    }
}


def test_the_projects_boto3_token_authenticates_as_cluster_admin(moto_server, session) -> None:
    token = eks_token.get_token("toe-dev", REGION, session)
    status = _review(moto_server, "toe-dev", token, ADMIN)
    assert status == {
        "authenticated": True,
        "user": {
            "username": "arn:aws:iam::123456789012:user/moto",
            "uid": "arn:aws:iam::123456789012:user/moto",
            "groups": ["system:masters"],
        },
    }


def test_tokens_are_refused_as_the_eks_authenticator_refuses_them(moto_server, session) -> None:
    token = eks_token.get_token("toe-dev", REGION, session)
    url = urllib.parse.urlsplit(base64.urlsafe_b64decode(token[11:] + "==").decode())
    query = dict(urllib.parse.parse_qsl(url.query))

    def token_for(**changes) -> str:
        parts = {**query, **changes}
        rebuilt = url._replace(query=urllib.parse.urlencode(parts)).geturl()
        return "k8s-aws-v1." + base64.urlsafe_b64encode(rebuilt.encode()).decode().rstrip("=")

    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    cases = {
        "not-a-token": "Bearer nope",
        "unsigned-cluster-header": token_for(**{"X-Amz-SignedHeaders": "host"}),
        "other-action": token_for(Action="GetSessionToken"),
        "expired": token_for(**{"X-Amz-Date": old}),
    }
    for why, bad in cases.items():
        assert _review(moto_server, "toe-dev", bad, ADMIN)["authenticated"] is False, why
    # A principal without an access entry is not anyone on the cluster.
    assert _review(moto_server, "toe-dev", token, {})["authenticated"] is False


def test_the_aws_cli_token_authenticates_too(moto_server, session, tmp_path) -> None:
    from rehearsal.tools import Tools

    aws_cli = Tools.find().aws_bin / "aws"
    if not aws_cli.exists():
        pytest.skip("the AWS CLI is one of the rehearsal's tools: `make e2e-tools` installs it")
    done = subprocess.run(
        [
            str(aws_cli),
            "--region",
            REGION,
            "eks",
            "get-token",
            "--cluster-name",
            "toe-dev",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_CONFIG_FILE": str(tmp_path / "none")},
        check=True,
    )
    token = json.loads(done.stdout)["status"]["token"]
    assert _review(moto_server, "toe-dev", token, ADMIN)["authenticated"] is True


def test_principals_map_as_eks_keys_access_entries() -> None:
    assert aws.iam_principal("arn:aws:sts::123456789012:assumed-role/Deployer/ci") == (
        "arn:aws:iam::123456789012:role/Deployer"
    )
    assert aws.iam_principal("arn:aws:iam::123456789012:role/x/Instructor") == (
        "arn:aws:iam::123456789012:role/x/Instructor"
    )


# ---------------------------------------------------------------------------- Auto Mode


@pytest.fixture(scope="module")
def types():
    from moto import mock_aws

    with mock_aws():
        yield automode.catalogue(boto3.client("ec2", region_name=REGION))


def _pool(**spec) -> dict:
    body = {
        "metadata": {"name": "gpu-pool"},
        "spec": {
            "template": {
                "spec": {
                    "requirements": [
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                        {
                            "key": "eks.amazonaws.com/instance-category",
                            "operator": "In",
                            "values": ["g", "p"],
                        },
                        {
                            "key": "eks.amazonaws.com/instance-gpu-count",
                            "operator": "Gt",
                            "values": ["0"],
                        },
                    ],
                    "taints": [{"key": "gpu-workload", "effect": "NoSchedule"}],
                }
            },
            "limits": {"nvidia.com/gpu": "4", "cpu": "96", "memory": "768Gi"},
        },
    }
    body["spec"].update(spec)
    return body


def _pod(requests: dict, selector: dict | None = None, tolerate: bool = True) -> dict:
    return {
        "metadata": {"name": "p", "namespace": "n", "uid": "u"},
        "spec": {
            "nodeSelector": {"karpenter.sh/nodepool": "gpu-pool", **(selector or {})},
            "tolerations": [{"key": "gpu-workload", "operator": "Exists", "effect": "NoSchedule"}]
            if tolerate
            else [],
            "containers": [{"name": "c", "resources": {"requests": requests}}],
        },
    }


def _sim(types) -> automode.AutoMode:
    zones = {"ap-northeast-2a": "subnet-a", "ap-northeast-2c": "subnet-c"}
    return automode.AutoMode("toe-dev", REGION, None, None, zones, types, Path("."))


def test_auto_mode_launches_the_smallest_type_the_pool_admits(types) -> None:
    pool, instance, zone, efa = _sim(types).choose(
        _pod({"nvidia.com/gpu": "1"}), {"gpu-pool": _pool()}
    )
    assert (pool, instance.name, efa) == ("gpu-pool", "g4dn.xlarge", 0)
    assert zone in ("ap-northeast-2a", "ap-northeast-2c")
    labels = instance.labels()
    assert labels["eks.amazonaws.com/instance-gpu-name"] == "t4"
    assert labels["eks.amazonaws.com/instance-category"] == "g"


def test_auto_mode_respects_taints_limits_families_and_efa(types) -> None:
    sim = _sim(types)
    pools = {"gpu-pool": _pool()}
    assert sim.choose(_pod({"nvidia.com/gpu": "1"}, tolerate=False), pools) is None
    assert sim.choose(_pod({"nvidia.com/gpu": "8"}), pools) is None  # beyond 4 GPUs
    h200 = _pool(limits={"nvidia.com/gpu": "8", "cpu": "192", "memory": "2048Gi"})
    h200["spec"]["template"]["spec"]["requirements"].append(
        {"key": "eks.amazonaws.com/instance-family", "operator": "In", "values": ["p5en"]}
    )
    _, instance, zone, efa = sim.choose(_pod({"nvidia.com/gpu": "1"}), {"gpu-pool": h200})
    assert (instance.name, instance.gpu_name, zone, efa) == (
        "p5en.48xlarge",
        "H200",
        "ap-northeast-2a",
        0,
    )
    _, instance, _, efa = sim.choose(
        _pod({"vpc.amazonaws.com/efa": "1"}, {"node.kubernetes.io/instance-type": "g6.8xlarge"}),
        pools,
    )
    assert instance.name == "g6.8xlarge" and efa >= 1  # EFA only for a pod that asks for it
    assert (
        sim.choose(
            _pod({"vpc.amazonaws.com/efa": "1"}, {"node.kubernetes.io/instance-type": "g5.xlarge"}),
            pools,
        )
        is None
    )


def test_durations_and_quantities_read_as_kubernetes_writes_them() -> None:
    assert automode.seconds("1h30m") == 5400 and automode.seconds("Never") is None
    assert automode.quantity("256Mi") == 256 * 2**20 and automode.quantity("250m") == 0.25


def test_node_tools_replay_the_h200_capture_and_both_fi_info_captures(tmp_path) -> None:
    fixtures = shared_path("fixtures")
    fakes.node_tools(tmp_path / "gpu", fixtures, "H200", gpus=1, efa=0)
    table = subprocess.run([str(tmp_path / "gpu" / "nvidia-smi")], capture_output=True, text=True)
    assert table.stdout == (fixtures / "nvidia-smi" / "h200" / "nvidia-smi.txt").read_text()
    no_efa = subprocess.run(
        [str(tmp_path / "gpu" / "fi_info"), "-p", "efa"], capture_output=True, text=True
    )
    assert no_efa.returncode == 61
    fakes.node_tools(tmp_path / "efa", fixtures, None, gpus=0, efa=1)
    assert not (tmp_path / "efa" / "nvidia-smi").exists()  # no GPU given: no nvidia-smi
    efa = subprocess.run(
        [str(tmp_path / "efa" / "fi_info"), "-p", "efa"], capture_output=True, text=True
    )
    assert efa.returncode == 0 and "provider: efa" in efa.stdout
    fakes.node_tools(tmp_path / "l4", fixtures, "L4", gpus=1, efa=0)
    assert not (tmp_path / "l4" / "nvidia-smi").exists()  # no capture of an L4: none invented


def _rank0(bin_dir: Path, tmp_path: Path) -> str:
    log = tmp_path / "termination-log"
    env = {"PATH": "/usr/bin:/bin", "JOB_COMPLETION_INDEX": "0", "TERMINATION_LOG": str(log)}
    subprocess.run([str(bin_dir / "torchrun")], env=env, check=True)
    return log.read_text()


def test_an_efa_pod_replays_the_efa_run_and_the_fault_replays_the_fall_back(
    tmp_path, monkeypatch
) -> None:
    fixtures = shared_path("fixtures")
    monkeypatch.setenv("TOE_TORCH_BIN", str(tmp_path / "no-torch"))
    monkeypatch.setattr(fakes, "FAULTS", tmp_path / "faults")
    fakes.node_tools(tmp_path / "efa", fixtures, "H200", gpus=1, efa=1)
    assert _rank0(tmp_path / "efa", tmp_path) == fakes.REPLAY_EFA.read_text()
    (tmp_path / "faults").mkdir()
    (tmp_path / "faults" / fakes.FAULT_NO_PLUGIN).touch()
    fakes.node_tools(tmp_path / "fault", fixtures, "H200", gpus=1, efa=1)
    assert _rank0(tmp_path / "fault", tmp_path) == fakes.REPLAY_NO_PLUGIN.read_text()
    # Without EFA (and without torch) rank 0 replays the real gloo capture; the fault is EFA's.
    fakes.node_tools(tmp_path / "tcp", fixtures, "H200", gpus=1, efa=0)
    assert _rank0(tmp_path / "tcp", tmp_path) == fakes.DISTRIBUTED_CAPTURE.read_text()


def test_the_kubelet_maps_mount_paths_onto_its_volume_folders(tmp_path) -> None:
    mounts = {"/checks": tmp_path / "checks", "/tmp": tmp_path / "tmp"}
    assert (
        automode.AutoMode._mapped("/checks/gpu-check.sh", mounts)
        == f"{tmp_path}/checks/gpu-check.sh"
    )
    assert automode.AutoMode._mapped("sh", mounts) == "sh"
    assert automode.AutoMode._mapped("/checksum", mounts) == "/checksum"
