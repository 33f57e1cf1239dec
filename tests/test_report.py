"""`python -m toe report`: Job discovery, report, exit status and connection paths, all offline."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from conftest import shared_path
from kubernetes.client import V1Job, V1JobList
from kubernetes.client.exceptions import ApiException
from moto import mock_aws
from test_checks import EFA_FROM_SHM, _fake_fi_info, _fake_nvidia_smi, _run

from toe import cli, report
from toe.offline.simulated_cluster import NS, FakeCoreV1, node, pod, terminated


class FakeBatchV1:
    """`list_namespaced_job` over in-memory Jobs, honouring an equality label selector."""

    def __init__(self, jobs: list[V1Job] = (), fail: Exception | None = None) -> None:  # type: ignore[assignment]
        self.jobs, self.fail = list(jobs), fail

    def list_namespaced_job(
        self, namespace: str, label_selector: str | None = None, _request_timeout=None
    ) -> V1JobList:
        if self.fail:
            raise self.fail
        items = [j for j in self.jobs if j.metadata.namespace == namespace]
        if label_selector:
            key, _, value = label_selector.partition("=")
            items = [j for j in items if (j.metadata.labels or {}).get(key) == value]
        return V1JobList(items=items)


def job(name: str, app: str | None, created: str) -> V1Job:
    labels = {"app.kubernetes.io/part-of": "training-on-eks"}
    if app:
        labels["app.kubernetes.io/name"] = app
    return V1Job.from_dict(
        {
            "metadata": {
                "name": name,
                "namespace": NS,
                "labels": labels,
                "creationTimestamp": created,
            }
        }
    )


@pytest.fixture(scope="module")
def messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, int]]:
    h200 = shared_path("fixtures", "nvidia-smi", "h200")
    out = {}
    for key, script, env, setup in [
        (
            "gpu",
            "gpu-check.sh",
            {},
            lambda t: _fake_nvidia_smi(t, h200 / "nvidia-smi.txt", h200 / "query-nounits.csv"),
        ),
        (
            "efa",
            "efa-check.sh",
            {"EFA_REQUESTED": "true"},
            lambda t: _fake_fi_info(t, "shm", EFA_FROM_SHM),
        ),
        ("efa-not-requested", "efa-check.sh", {}, lambda t: _fake_fi_info(t, "no-efa")),
    ]:
        tmp = tmp_path_factory.mktemp(key)
        setup(tmp)
        run = _run(script, tmp, env)
        out[key] = (run.message, run.returncode)
    return out


def cluster(messages: dict[str, tuple[str, int]], efa_key: str | None = "efa") -> report.Clients:
    """Two runs of the stack: the newer Jobs (suffix -b) must be the ones read."""
    jobs = [
        job("gpu-check-a", "gpu-check", "2026-11-28T10:00:00Z"),
        job("gpu-check-b", "gpu-check", "2026-11-28T17:45:00Z"),
    ]
    pods = [
        pod("gpu-check-a", "gpu-check-a-1", node_name="i-1", state=terminated("", 1)),
        pod("gpu-check-b", "gpu-check-b-1", node_name="i-1", state=terminated(*messages["gpu"])),
    ]
    if efa_key:
        jobs.append(job("efa-check-b", "efa-check", "2026-11-28T17:45:00Z"))
        pods.append(
            pod(
                "efa-check-b",
                "efa-check-b-1",
                node_name="i-1",
                state=terminated(*messages[efa_key]),
            )
        )
    core = FakeCoreV1(pods=pods, nodes=[node("i-1", "g5.8xlarge")])
    return report.Clients(core=core, batch=FakeBatchV1(jobs))


def test_find_job_newest_by_label_then_by_name_prefix() -> None:
    batch = FakeBatchV1(
        [
            job("gpu-check-old", "gpu-check", "2026-11-28T10:00:00Z"),
            job("gpu-check-new", "gpu-check", "2026-11-28T11:00:00Z"),
            job("efa-check-x1", None, "2026-11-28T12:00:00Z"),  # unlabelled: found by name
            job("other", "other", "2026-11-28T13:00:00Z"),
        ]
    )
    assert report.find_job(batch, NS, "gpu-check") == "gpu-check-new"
    assert report.find_job(batch, NS, "efa-check") == "efa-check-x1"
    assert report.find_job(batch, NS, "nccl-check") is None
    assert report.find_job(batch, "default", "gpu-check") is None


def test_report_of_a_healthy_cluster(messages: dict[str, tuple[str, int]]) -> None:
    validation = report.build_report(cluster(messages), NS)
    assert validation["gpu"]["jobName"] == "gpu-check-b"
    assert (validation["gpu"]["status"], validation["efa"]["status"]) == ("passed", "passed")
    assert report.render(validation).splitlines() == [
        "gpu: passed — NVIDIA H200 on g5.8xlarge (ap-northeast-2a), driver 580.159.04, "
        "CUDA 13.0, 143771 MiB",
        "efa: passed — 2 efa endpoints on g5.8xlarge (ap-northeast-2a): rdmap0s29-rdm (FI_EP_RDM)",
    ]
    assert json.loads(report.render(validation, as_json=True)) == validation
    assert report.exit_status(validation) == report.EXIT_OK


def test_report_without_an_efa_job_says_not_requested(messages: dict[str, tuple[str, int]]) -> None:
    validation = report.build_report(cluster(messages, efa_key=None), NS)
    assert validation["efa"]["status"] == "unavailable"
    assert report.render(validation).splitlines()[1].startswith("efa: unavailable — not requested")
    assert report.exit_status(validation) == report.EXIT_OK


def test_report_efa_job_not_requested(messages: dict[str, tuple[str, int]]) -> None:
    validation = report.build_report(cluster(messages, efa_key="efa-not-requested"), NS)
    assert (validation["efa"]["status"], validation["efa"]["requested"]) == ("unavailable", False)


def test_report_without_jobs_is_an_error() -> None:
    clients = report.Clients(core=FakeCoreV1(), batch=FakeBatchV1())
    validation = report.build_report(clients, NS)
    assert validation["gpu"]["status"] == "error"
    assert validation["gpu"]["reason"].startswith(
        "no Job labelled app.kubernetes.io/name=gpu-check in namespace toe-validation"
    )
    assert report.exit_status(validation) == report.EXIT_CHECKS_NOT_PASSED


def test_report_when_the_api_is_unreachable() -> None:
    fail = ApiException(status=403, reason="Forbidden")
    validation = report.build_report(report.Clients(FakeCoreV1(), FakeBatchV1(fail=fail)), NS)
    assert {c["status"] for c in validation.values()} == {"error"}
    assert validation["gpu"]["reason"] == "Kubernetes API unreachable: HTTP 403 Forbidden"


def _fake_pulumi(tmp_path: Path, script: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text("#!/bin/sh\n" + script)
    (bin_dir / "pulumi").chmod(0o755)
    return bin_dir


def test_stack_outputs_from_the_pulumi_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = {"clusterName": "toe-dev", "region": "ap-northeast-2", "kubeconfig": "[secret]"}
    bin_dir = _fake_pulumi(
        tmp_path,
        '[ "$*" = "stack output --json --stack dev" ] || exit 3\n'
        f"printf '%s\\n' '{json.dumps(outputs)}'\n",  # builtins only: PATH has just this
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    assert report.stack_outputs("dev") == outputs


def test_stack_outputs_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi here
    with pytest.raises(report.ReportError, match="the pulumi CLI is not on PATH"):
        report.stack_outputs("dev")
    bin_dir = _fake_pulumi(
        tmp_path,
        'case "$*" in *--stack\\ gone*) echo "error: no stack named \'gone\' found" >&2; exit 255;;'
        '\n*) echo \'{"vpcId": "vpc-1"}\';; esac\n',
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    expected = r"no stack 'gone': there is no Pulumi\.gone\.yaml"
    with pytest.raises(report.ReportError, match=expected):
        report.stack_outputs("gone")
    with pytest.raises(report.ReportError, match="has no clusterName or region output"):
        report.stack_outputs("dev")


def test_command_without_pulumi_cli_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["report", "--stack", "dev"]) == 2
    assert "report: the pulumi CLI is not on PATH" in capsys.readouterr().err


def test_command_prints_summary_and_json(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    messages: dict[str, tuple[str, int]],
) -> None:
    seen: list[dict[str, Any]] = []

    def connect(**kwargs: Any) -> report.Clients:
        seen.append(kwargs)
        return cluster(messages)

    monkeypatch.setattr(report, "connect", connect)
    assert cli.main(["report", "--cluster", "toe-dev", "--region", "ap-northeast-2"]) == 0
    assert capsys.readouterr().out.startswith("gpu: passed — NVIDIA H200 on g5.8xlarge")
    assert seen[0]["cluster"] == "toe-dev" and seen[0]["region"] == "ap-northeast-2"
    assert cli.main(["report", "--kubeconfig", "kc.yaml", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["efa"]["status"] == "passed"
    assert seen[1]["kubeconfig"] == "kc.yaml"


def test_a_stack_is_reported_as_the_identity_that_made_its_cluster(tmp_path: Path) -> None:
    """--stack reaches EKS as the stack's aws provider does (its role is the cluster's admin)."""
    import fixes
    from conftest import workshop_copy

    role = "arn:aws:iam::123456789012:role/Deployer"
    stack_file = workshop_copy(tmp_path) / "Pulumi.dev.yaml"
    fixes.set_config(stack_file, **{"aws:assumeRoles": [{"roleArn": role}]})
    with mock_aws():
        session = report.stack_session("dev", "ap-northeast-2", tmp_path)
        arn = session.client("sts").get_caller_identity()["Arn"]
        ambient = report.stack_session("nosuch", "ap-northeast-2", tmp_path)
        plain = ambient.client("sts").get_caller_identity()["Arn"]
    assert arn == "arn:aws:sts::123456789012:assumed-role/Deployer/training-on-eks"
    assert "assumed-role" not in plain


def test_clients_for_cluster_under_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        eks = boto3.client("eks", region_name="ap-northeast-2")
        role = "arn:aws:iam::123456789012:role/toe"
        eks.create_cluster(name="toe-dev", roleArn=role, resourcesVpcConfig={"subnetIds": []})
        endpoint = eks.describe_cluster(name="toe-dev")["cluster"]["endpoint"]
        clients = report.connect(cluster="toe-dev")  # region defaults to the workshop's
        with pytest.raises(report.ReportError, match="cannot reach EKS cluster toe-gone"):
            report.clients_for_cluster("toe-gone", "ap-northeast-2")
    configuration = clients.core.api_client.configuration
    assert configuration.host == endpoint
    assert configuration.auth_settings()["BearerToken"]["value"].startswith("Bearer k8s-aws-v1.")
    assert clients.batch.api_client is clients.core.api_client


def test_clients_for_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1"}}],
                "users": [{"name": "u", "user": {"token": "abc"}}],
                "contexts": [{"name": "toe", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "toe",
            }
        )
    )
    clients = report.clients_for_kubeconfig(str(kubeconfig))
    assert clients.core.api_client.configuration.host == "https://10.0.0.1"
    with pytest.raises(report.ReportError, match=r"kubeconfig .*missing does not exist"):
        report.clients_for_kubeconfig(os.fspath(tmp_path / "missing"))


@pytest.fixture
def silent_api_server():
    """A TCP server on loopback that accepts connections and never answers (not even TLS)."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def _kubeconfig(tmp_path, port: int):
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": f"https://127.0.0.1:{port}",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def test_an_api_server_that_never_answers_ends_in_bounded_time_with_exit_2(
    tmp_path, silent_api_server, capsys
):
    import time

    from components import readout
    from toe.cli import main

    started = time.monotonic()
    try:
        code = main(
            [
                "report",
                "--kubeconfig",
                str(_kubeconfig(tmp_path, silent_api_server)),
                "--timeout",
                "1",
            ]
        )
    finally:
        readout.set_request_timeout(readout.REQUEST_TIMEOUT[1])
    elapsed = time.monotonic() - started
    assert code == 2
    assert elapsed < 20, elapsed
    assert "Kubernetes API unreachable" in capsys.readouterr().out


def test_missing_kubeconfig_and_unknown_stack_get_the_shared_guidance(tmp_path, capsys):
    from toe.cli import main

    assert main(["report", "--kubeconfig", str(tmp_path / "nope")]) == 2
    assert "kubeconfig " in capsys.readouterr().err

    def pulumi(command, **_kw):
        return subprocess.CompletedProcess(
            command, 255, "", "error: no stack named 'nosuch' found\n"
        )

    with pytest.raises(report.ReportError) as err:
        report.stack_outputs("nosuch", runner=pulumi)
    assert "no stack 'nosuch'" in str(err.value)
    assert "python -m toe attendees add nosuch" in str(err.value)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("[secret]\n", "holds only [secret], the masked value `pulumi stack output kubeconfig` "),
        ('"[secret]"\n', "without --show-secrets: write it with `pulumi stack output kubeconfig "),
        ("# t\n\nA: b: c\n", "is not YAML (line 3, column 5): mapping values are not allowed"),
        ("- a\n", "is not a kubeconfig (a YAML list, not a mapping with clusters"),
        ("config: {}\n", "is not a kubeconfig (a YAML mapping without clusters, contexts"),
        ("clusters: x\n", "is not a kubeconfig (a YAML mapping without clusters, contexts"),
        ("", "is not a kubeconfig (the file is empty)"),
        (b"\xff\xfe", "is not text (not UTF-8)"),
    ],
)
def test_a_file_that_is_no_kubeconfig_says_what_it_is_in_one_line(tmp_path, capsys, content, said):
    from toe.cli import main

    path = tmp_path / "kc.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert main(["report", "--kubeconfig", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("report: kubeconfig "), err
    assert said in err
    if isinstance(content, str) and "[secret]" in content:
        assert f"--show-secrets > {path}`" in err  # the masked file is the one to rewrite
    else:  # never over the file given: it may be something else (a README)
        assert f"--show-secrets > {tmp_path / 'kubeconfig.yaml'}` and pass --kubeconfig" in err


def test_a_folder_as_kubeconfig_is_called_a_folder(tmp_path, capsys):
    from toe.cli import main

    assert main(["report", "--kubeconfig", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"kubeconfig {tmp_path} is a folder, not a file" in err and "does not exist" not in err
    assert f"> {tmp_path / 'kubeconfig.yaml'}` and pass --kubeconfig" in err
    (tmp_path / "config").write_text("")
    assert main(["report", "--kubeconfig", str(tmp_path)]) == 2
    assert f"did you mean --kubeconfig {tmp_path / 'config'}?" in capsys.readouterr().err


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "soon"])
def test_timeout_must_be_a_positive_number_of_seconds(tmp_path, capsys, timeout):
    from toe.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["report", "--kubeconfig", str(tmp_path / "kc"), "--timeout", timeout])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --timeout:" in err and "seconds" in err and "ValidationError" not in err


def test_a_check_whose_pod_is_gone_takes_what_pulumi_up_recorded_for_that_job():
    """The GPU node went and PodGC deleted its pods: the stack's output has the result."""
    gone = {
        "status": "error",
        "reason": "job toe-validation/validation-gpu-check-1 has no pods (not created yet, or "
        "deleted after it finished)",
        "jobName": "validation-gpu-check-1",
    }
    recorded = {"status": "passed", "reason": "1 GPU", "jobName": "validation-gpu-check-1"}
    efa = {"status": "unavailable", "reason": "not requested", "jobName": "validation-efa-check-1"}
    merged, notes = report.with_recorded({"gpu": gone, "efa": efa}, {"gpu": recorded, "efa": {}})
    assert merged == {"gpu": recorded, "efa": efa}
    assert notes == [
        "gpu: read from the stack's validation output, recorded by pulumi up: the pod of job "
        "validation-gpu-check-1 is gone (its node was consolidated)"
    ]
    # Another run's record (an older Job) is never taken for this one.
    older = {**recorded, "jobName": "validation-gpu-check-0"}
    assert report.with_recorded({"gpu": gone}, {"gpu": older}) == ({"gpu": gone}, [])
    assert report.with_recorded({"gpu": gone}, None) == ({"gpu": gone}, [])
