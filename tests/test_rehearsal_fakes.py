"""The rehearsal's stand-ins, tested themselves: EKS authentication, moto's EKS additions, the
instance-type catalogue Karpenter is offered, the judge of Karpenter's choices, and the kubelet
stand-in's replayed tools. None of them needs the built tools."""

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

from rehearsal import auth, aws, fakes, judge, karpenter, kubelet

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


# ---------------------------------------------------------------------------- Karpenter


@pytest.fixture(scope="module")
def offered():
    """What Karpenter is offered in two of the workshop's zones, from moto's EC2 data."""
    from moto import mock_aws

    with mock_aws():
        types = karpenter.types_from_ec2(boto3.client("ec2", region_name=REGION))
    return karpenter.catalogue(
        types, {"ap-northeast-2a", "ap-northeast-2c"}, karpenter.prices(REGION)
    )


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
                            "key": "karpenter.sh/capacity-type",
                            "operator": "In",
                            "values": ["on-demand"],
                        },
                    ],
                }
            },
            "limits": {"nvidia.com/gpu": "4", "cpu": "96", "memory": "768Gi"},
        },
    }
    body["spec"].update(spec)
    return body


def _type(offered: dict, name: str) -> dict:
    return next(t for t in offered["types"] if t["name"] == name)


def test_the_catalogue_offers_priced_types_with_auto_modes_labels_and_devices(offered) -> None:
    names = {t["name"] for t in offered["types"]}
    assert {"g4dn.xlarge", "p5en.48xlarge", "c6i.2xlarge"} <= names
    # Unpriced types are not offered, as the AWS provider leaves them unavailable.
    assert "g6e.xlarge" not in names
    h200 = _type(offered, "p5en.48xlarge")
    assert h200["labels"]["eks.amazonaws.com/instance-gpu-name"] == "h200"
    assert h200["labels"]["eks.amazonaws.com/instance-family"] == "p5en"
    assert h200["capacity"]["nvidia.com/gpu"] == "8"
    assert h200["capacity"]["vpc.amazonaws.com/efa"] == "16"
    # EC2 offers p5en in ap-northeast-2a only (moto's copy of the offerings).
    assert [o["zone"] for o in h200["offerings"]] == ["ap-northeast-2a"]
    assert h200["offerings"][0]["price"] == 63.30  # rehearsal/prices.yaml's stand-in
    cpu_only = _type(offered, "c6i.2xlarge")
    assert cpu_only["labels"]["eks.amazonaws.com/instance-gpu-name"] is None
    assert "nvidia.com/gpu" not in cpu_only["capacity"]
    # kube-reserved: 6% + 1% + 0.5% + 0.5% + 4 x 0.25% of a core, 11 x pods + 255 MiB.
    pods = int(cpu_only["capacity"]["pods"])
    assert cpu_only["overhead"]["kubeReserved"] == {
        "cpu": "90m",
        "memory": f"{11 * pods + 255}Mi",
        "ephemeral-storage": "1Gi",
    }


def test_the_judge_accepts_the_cheapest_admitted_type_and_names_a_cheaper_one(offered) -> None:
    pool, gpu = _pool(), {"nvidia.com/gpu": 1.0, "cpu": 0.25}
    assert judge.cheapest(pool, offered, gpu)[0]["name"] == "g4dn.xlarge"
    assert judge.choice_problems(pool, offered, gpu, "g4dn.xlarge") == []
    assert judge.choice_problems(pool, offered, gpu, "g5.xlarge") == [
        "g5.xlarge costs 1.207/h; g4dn.xlarge fits at 0.647/h"
    ]
    # Requirements and limits: no c type in a g/p pool, no 8-GPU node under a 4-GPU limit.
    assert judge.admitted(pool, _type(offered, "c6i.2xlarge")) == [
        "eks.amazonaws.com/instance-category In ['g', 'p']"
    ]
    assert judge.admitted(pool, _type(offered, "p5en.48xlarge")) == [
        "limit nvidia.com/gpu=4 < 8",
        "limit cpu=96 < 192",
        "limit memory=768Gi < 1939865Mi",  # 2,097,152 MiB less the VM's 7.5%
    ]
    assert judge.choice_problems(pool, offered, gpu, "g6e.xlarge") == [
        "g6e.xlarge was never offered"
    ]


def test_the_judge_measures_how_long_each_node_stood_empty() -> None:
    history = [
        {"t": 10.0, "event": "node-launched", "node": "i-1", "pool": "gpu-pool",
         "instanceType": "g4dn.xlarge"},
        {"t": 12.0, "event": "pod-started", "node": "i-1"},
        {"t": 20.0, "event": "pod-exited", "node": "i-1", "exitCode": 0},
        {"t": 61.5, "event": "node-gone", "node": "i-1", "pool": "gpu-pool"},
        {"t": 30.0, "event": "node-launched", "node": "i-2", "pool": "system",
         "instanceType": "c6i.2xlarge"},
        {"t": 40.0, "event": "node-gone", "node": "i-2", "pool": "system"},
    ]  # fmt: skip
    assert judge.empty_intervals(history, "gpu-pool") == [
        {"node": "i-1", "instanceType": "g4dn.xlarge", "emptyForSeconds": 41.5, "goneAt": 61.5}
    ]
    assert judge.gone_at(history, "gpu-pool") == {"i-1": 61.5}


def test_quantities_read_as_kubernetes_writes_them() -> None:
    assert kubelet.quantity("256Mi") == 256 * 2**20 and kubelet.quantity("250m") == 0.25
    pod = {
        "spec": {
            "containers": [
                {"resources": {"requests": {"cpu": "250m"}, "limits": {"nvidia.com/gpu": "1"}}}
            ]
        }
    }
    assert kubelet.pod_requests(pod) == {"cpu": 0.25, "nvidia.com/gpu": 1.0}


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
        kubelet.Kubelet._mapped("/checks/gpu-check.sh", mounts) == f"{tmp_path}/checks/gpu-check.sh"
    )
    assert kubelet.Kubelet._mapped("sh", mounts) == "sh"
    assert kubelet.Kubelet._mapped("/checksum", mounts) == "/checksum"
