"""Readout of the validation Jobs through a fake CoreV1Api holding real kubernetes model objects.

The termination messages come from running the real check scripts on the real fixtures
(see test_checks.py), so the chain script -> pod -> readout -> summary is exercised end to end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_path
from kubernetes.client.exceptions import ApiException
from test_checks import EFA_FROM_SHM, _fake_fi_info, _fake_nvidia_smi, _run

from components import readout
from core import image_catalogue
from core.results import ERROR, FAILED, PASSED, PENDING, UNAVAILABLE
from toe.offline.simulated_cluster import (
    FINISHED,
    NS,
    SCHEDULED,
    STARTED,
    T0,
    FakeCoreV1,
    event,
    node,
    pod,
    terminated,
)


@pytest.fixture(scope="module")
def messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, int]]:
    """Termination messages and exit codes written by the real scripts on the real fixtures."""
    out: dict[str, tuple[str, int]] = {}

    def make(key: str, script: str, env: dict[str, str], setup: Any) -> None:
        tmp = tmp_path_factory.mktemp(key)
        setup(tmp)
        run = _run(script, tmp, env)
        out[key] = (run.message, run.returncode)

    h200 = shared_path("fixtures", "nvidia-smi", "h200")
    make(
        "gpu",
        "gpu-check.sh",
        {},
        lambda t: _fake_nvidia_smi(t, h200 / "nvidia-smi.txt", h200 / "query-nounits.csv"),
    )
    requested = {"EFA_REQUESTED": "true"}
    # EFA present: the shm fixture rewritten the way the fixtures README says an EFA host prints.
    make("efa", "efa-check.sh", requested, lambda t: _fake_fi_info(t, "shm", EFA_FROM_SHM))
    make("efa-61", "efa-check.sh", requested, lambda t: _fake_fi_info(t, "no-efa"))
    make("efa-127", "efa-check.sh", requested, lambda t: None)
    make("efa-not-requested", "efa-check.sh", {}, lambda t: _fake_fi_info(t, "no-efa"))
    return out


def test_success(messages: dict[str, tuple[str, int]]) -> None:
    api = FakeCoreV1(
        pods=[
            pod(
                "gpu-check-1",
                "gpu-check-1-abc",
                node_name="i-0gpu",
                state=terminated(*messages["gpu"]),
            ),
            pod(
                "efa-check-1",
                "efa-check-1-def",
                node_name="i-0gpu",
                state=terminated(*messages["efa"]),
            ),
        ],
        nodes=[node("i-0gpu", "p5en.48xlarge")],
    )
    validation = readout.read_validation(api, NS, "gpu-check-1", "efa-check-1", True)
    assert json.loads(json.dumps(validation)) == validation  # JSON-serialisable as is
    assert validation["gpu"] == {
        "node": {"healthy": None, "conditions": [], "gpuLabels": {}},  # a node without status
        "status": PASSED,
        "reason": "1 GPU(s) visible",
        "gpus": [{"name": "NVIDIA H200", "driverVersion": "580.159.04", "memoryMiB": 143771}],
        "cudaVersion": "13.0",
        "toolExitCode": 0,
        "jobName": "gpu-check-1",
        "podName": "gpu-check-1-abc",
        "instanceType": "p5en.48xlarge",
        "zone": "ap-northeast-2a",
        "capacityType": "on-demand",
        "arch": "amd64",
        "nodeName": "i-0gpu",
        "exitCode": 0,
        "scheduledAt": SCHEDULED,
        "startedAt": STARTED,
        "finishedAt": FINISHED,
        "durationSeconds": 3.0,
    }
    efa = validation["efa"]
    assert (efa["status"], efa["requested"], efa["instanceType"]) == (PASSED, True, "p5en.48xlarge")
    assert (
        efa["providers"]
        == [{"provider": "efa", "fabric": "efa", "domain": "rdmap0s29-rdm", "type": "FI_EP_RDM"}]
        * 2
    )
    assert readout.summary_lines(validation) == [
        "gpu: passed — NVIDIA H200 on p5en.48xlarge (ap-northeast-2a), driver 580.159.04, "
        "CUDA 13.0, 143771 MiB",
        "efa: passed — 2 efa endpoints on p5en.48xlarge (ap-northeast-2a): "
        "rdmap0s29-rdm (FI_EP_RDM)",
    ]
    assert ("list_namespaced_pod", NS, "batch.kubernetes.io/job-name=gpu-check-1") in api.calls


def test_summary_line_for_the_workshop_a10g() -> None:
    gpu = {
        "status": PASSED,
        "gpus": [{"name": "NVIDIA A10G", "driverVersion": "570.195.03", "memoryMiB": 23028}],
        "cudaVersion": "12.8",
        "instanceType": "g5.xlarge",
        "zone": "ap-northeast-2a",
    }
    assert readout.summary_lines({"gpu": gpu}) == [
        "gpu: passed — NVIDIA A10G on g5.xlarge (ap-northeast-2a), driver 570.195.03, CUDA 12.8, "
        "23028 MiB"
    ]
    four = {**gpu, "gpus": gpu["gpus"] * 4, "instanceType": "g5.12xlarge"}
    assert readout.summary_lines({"gpu": four})[0].startswith(
        "gpu: passed — 4x NVIDIA A10G on g5.12xlarge (ap-northeast-2a)"
    )
    assert readout.summary_lines({"gpu": four})[0].endswith("23028 MiB each")


def test_newest_pod_of_the_job_wins(messages: dict[str, tuple[str, int]]) -> None:
    old = pod("gpu-check-1", "old", node_name="n", state=terminated("garbage", 1), created=T0)
    new = pod(
        "gpu-check-1",
        "new",
        node_name="n",
        state=terminated(*messages["gpu"]),
        created="2026-11-28T17:50:00Z",
    )
    result = readout.read_gpu(
        FakeCoreV1(pods=[new, old], nodes=[node("n", "g5.xlarge")]), NS, "gpu-check-1"
    )
    assert (result["status"], result["podName"]) == (PASSED, "new")


def test_pod_never_scheduled_quotes_the_failed_scheduling_event() -> None:
    unschedulable = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/2 nodes are available",
            "lastTransitionTime": SCHEDULED,
        }
    ]
    text = (
        "0/2 nodes are available: 2 node(s) had untolerated taint {CriticalAddonsOnly: }. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
    api = FakeCoreV1(
        pods=[pod("gpu-check-1", "gpu-check-1-abc", phase="Pending", conditions=unschedulable)],
        events=[
            event(
                "gpu-check-1-abc",
                "FailedScheduling",
                "0/1 nodes are available",
                "2026-11-28T17:45:03Z",
            ),
            event("gpu-check-1-abc", "FailedScheduling", text, "2026-11-28T17:49:00Z"),
            event("other-pod", "FailedScheduling", "not this one", "2026-11-28T17:50:00Z"),
        ],
    )
    result = readout.read_gpu(api, NS, "gpu-check-1")
    assert result["status"] == PENDING
    assert result["reason"] == f'not scheduled (FailedScheduling: "{text}")'
    assert (result["nodeName"], result["scheduledAt"], result["exitCode"]) == (None, None, None)
    assert readout.summary_lines({"gpu": result}) == [f"gpu: pending — {result['reason']}"]


def test_karpenters_reason_wins_over_the_schedulers() -> None:
    """Karpenter says why no node will come; the scheduler's newer event only says none fits."""
    karpenter = (
        'Failed to schedule pod, incompatible with nodepool "gpu-pool", daemonset overhead={}, '
        "all available instance types exceed limits for nodepool"
    )
    api = FakeCoreV1(
        pods=[pod("j", "j-1", phase="Pending")],
        events=[
            event("j-1", "FailedScheduling", karpenter, "2026-11-28T17:45:03Z", "karpenter"),
            event("j-1", "FailedScheduling", "0/0 nodes are available", "2026-11-28T17:49:00Z"),
        ],
    )
    result = readout.read_gpu(api, NS, "j")
    assert result["status"] == PENDING
    assert result["reason"] == f'not scheduled (FailedScheduling (karpenter): "{karpenter}")'


def test_pod_never_scheduled_without_events_uses_the_condition() -> None:
    unschedulable = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "no nodes",
        }
    ]
    api = FakeCoreV1(pods=[pod("j", "j-1", phase="Pending", conditions=unschedulable)])
    assert readout.read_gpu(api, NS, "j")["reason"] == 'not scheduled (Unschedulable: "no nodes")'


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff"])
def test_image_pull_failure(reason: str) -> None:
    message = 'Back-off pulling image "nvidia/cuda:99.9-base-ubuntu24.04"'
    waiting = {"waiting": {"reason": reason, "message": message}}
    api = FakeCoreV1(
        pods=[pod("j", "j-1", node_name="n", phase="Pending", state=waiting)],
        nodes=[node("n", "g5.xlarge")],
    )
    result = readout.read_gpu(api, NS, "j")
    assert result["status"] == ERROR
    assert result["reason"] == f"image pull failed ({reason}: {message})"
    assert (result["instanceType"], result["scheduledAt"]) == ("g5.xlarge", SCHEDULED)


WRONG_TAG = "nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04-no-such-tag"


@pytest.mark.parametrize("attempt", [1, 2])
def test_an_image_its_registry_lacks_fails_with_the_kubelets_words(attempt: int) -> None:
    # The waiting state a kubelet writes for a missing tag (first the pull, then the back-off).
    waiting = image_catalogue.pull(WRONG_TAG, attempt).waiting()
    assert waiting["reason"] == ("ErrImagePull" if attempt == 1 else "ImagePullBackOff")
    api = FakeCoreV1(
        pods=[
            pod(
                "j",
                "j-1",
                node_name="n",
                phase="Pending",
                state={"waiting": waiting},
                image=WRONG_TAG,
            )
        ],
        nodes=[node("n", "g5.xlarge")],
    )
    result = readout.read_gpu(api, NS, "j")
    assert result["status"] == FAILED
    assert result["reason"].startswith(f"image not found ({waiting['reason']}: ")
    assert waiting["message"] in result["reason"]  # the kubelet's own words, whole
    assert f"gpuCheckImage {WRONG_TAG} does not exist in its registry" in result["reason"]
    (line,) = readout.summary_lines({"gpu": result})
    assert line.startswith(f"gpu: failed — {result['reason']} on g5.xlarge")


@pytest.mark.parametrize(
    ("reason", "message", "status"),
    [
        ("InvalidImageName", 'Failed to apply default image tag "x::y": invalid', FAILED),
        (
            "RegistryUnavailable",
            "image pull failed for x because the registry is unavailable",
            ERROR,
        ),
        (
            "ImagePullBackOff",
            'Back-off pulling image "x": ErrImagePull: 429 Too Many Requests',
            ERROR,
        ),
    ],
)
def test_image_pull_reasons_that_are_not_a_missing_tag(reason, message, status) -> None:
    waiting = {"waiting": {"reason": reason, "message": message}}
    api = FakeCoreV1(pods=[pod("e", "e-1", node_name="n", phase="Pending", state=waiting)])
    result = readout.read_efa(api, NS, "e", requested=False)
    assert result["status"] == status
    assert f"{reason}: {message}" in result["reason"]
    if status == FAILED:
        assert "efaCheckImage nvidia/cuda" in result["reason"]


def test_container_creating_is_pending() -> None:
    waiting = {"waiting": {"reason": "ContainerCreating"}}
    api = FakeCoreV1(pods=[pod("j", "j-1", node_name="n", phase="Pending", state=waiting)])
    result = readout.read_gpu(api, NS, "j")
    assert (result["status"], result["reason"]) == (
        PENDING,
        "container waiting (ContainerCreating)",
    )
    assert result["instanceType"] is None  # node not readable: facts stay empty, no crash


def test_running_is_pending() -> None:
    running = {"running": {"startedAt": STARTED}}
    api = FakeCoreV1(pods=[pod("j", "j-1", node_name="n", phase="Running", state=running)])
    result = readout.read_gpu(api, NS, "j")
    assert (result["status"], result["startedAt"], result["finishedAt"]) == (PENDING, STARTED, None)


def test_check_failed_with_its_own_message(tmp_path: Path) -> None:
    run = _run("gpu-check.sh", tmp_path)  # no nvidia-smi on PATH: the script reports it
    state = terminated(run.message, run.returncode)
    api = FakeCoreV1(pods=[pod("j", "j-1", node_name="n", state=state)])
    result = readout.read_gpu(api, NS, "j")
    assert (result["status"], result["exitCode"], result["toolExitCode"]) == (FAILED, 0, 127)
    assert result["reason"].startswith("nvidia-smi not found")


def test_check_failed_without_a_message() -> None:
    api = FakeCoreV1(
        pods=[pod("j", "j-1", node_name="n", phase="Failed", state=terminated("", 137))]
    )
    result = readout.read_gpu(api, NS, "j")
    assert (result["status"], result["exitCode"]) == (FAILED, 137)
    assert result["reason"] == "check container exited 137 with an empty termination message"


def test_passed_message_with_nonzero_exit_is_failed(messages: dict[str, tuple[str, int]]) -> None:
    api = FakeCoreV1(pods=[pod("j", "j-1", node_name="n", state=terminated(messages["gpu"][0], 2))])
    result = readout.read_gpu(api, NS, "j")
    assert (result["status"], result["gpus"][0]["name"]) == (FAILED, "NVIDIA H200")


def test_success_exit_with_garbage_message_is_unparseable() -> None:
    api = FakeCoreV1(pods=[pod("j", "j-1", node_name="n", state=terminated("hello\n", 0))])
    result = readout.read_gpu(api, NS, "j")
    assert result["status"] == "unparseable"
    assert "not a toe-check/1 message" in result["reason"]


def test_pod_failed_before_the_container_ran() -> None:
    body = pod("j", "j-1", node_name="n", phase="Failed")
    body.status.reason, body.status.message = (
        "DeadlineExceeded",
        "Job was active longer than allowed",
    )
    result = readout.read_gpu(FakeCoreV1(pods=[body]), NS, "j")
    assert result["status"] == FAILED
    assert result["reason"] == "pod failed (DeadlineExceeded: Job was active longer than allowed)"


def test_efa_unavailable_exit_61(messages: dict[str, tuple[str, int]]) -> None:
    message, code = messages["efa-61"]
    assert code == 0  # the script reports; fi_info's own status is in the message
    api = FakeCoreV1(
        pods=[pod("e", "e-1", node_name="n", state=terminated(message, code))],
        nodes=[node("n", "g5.xlarge")],
    )
    efa = readout.read_efa(api, NS, "e", requested=True)
    assert (efa["status"], efa["exitCode"], efa["toolExitCode"]) == (UNAVAILABLE, 0, 61)
    assert readout.summary_lines({"efa": efa}) == [
        "efa: unavailable — no EFA device on g5.xlarge (fi_info exit 61): not an EFA-capable "
        "instance type, or the pod did not request vpc.amazonaws.com/efa"
    ]


def test_efa_libfabric_missing_exit_127(messages: dict[str, tuple[str, int]]) -> None:
    message, code = messages["efa-127"]
    api = FakeCoreV1(pods=[pod("e", "e-1", node_name="n", state=terminated(message, code))])
    efa = readout.read_efa(api, NS, "e", requested=True)
    assert (efa["status"], efa["exitCode"], efa["toolExitCode"]) == (UNAVAILABLE, 0, 127)
    assert efa["reason"] == "libfabric is missing (fi_info not found, exit 127)"


def test_efa_not_requested_with_a_job(messages: dict[str, tuple[str, int]]) -> None:
    message, code = messages["efa-not-requested"]
    assert code == 0
    api = FakeCoreV1(
        pods=[pod("e", "e-1", node_name="n", state=terminated(message, code))],
        nodes=[node("n", "g5.xlarge")],
    )
    efa = readout.read_efa(api, NS, "e", requested=False)
    assert (efa["status"], efa["requested"]) == (UNAVAILABLE, False)
    assert efa["reason"].startswith("not requested; no EFA device on g5.xlarge (fi_info exit 61)")
    assert "set training-on-eks:efaInstanceType" in efa["reason"]


def test_efa_not_requested_without_a_job() -> None:
    api = FakeCoreV1()
    efa = readout.read_efa(api, NS, None, requested=False)
    assert (efa["status"], efa["requested"], efa["providers"]) == (UNAVAILABLE, False, [])
    assert readout.summary_lines({"efa": efa})[0].startswith(
        "efa: unavailable — not requested (set training-on-eks:efaInstanceType"
    )
    assert api.calls == []


def test_job_has_no_pods() -> None:
    result = readout.read_gpu(FakeCoreV1(), NS, "gpu-check-1")
    assert result["status"] == ERROR
    assert result["reason"].startswith("job toe-validation/gpu-check-1 has no pods")


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (ApiException(status=401, reason="Unauthorized"), "HTTP 401 Unauthorized"),
        (ConnectionRefusedError(111, "Connection refused"), "ConnectionRefusedError: [Errno 111]"),
    ],
)
def test_api_unreachable_is_an_error_not_a_crash(exc: Exception, reason: str) -> None:
    validation = readout.read_validation(FakeCoreV1(fail=exc), NS, "g", "e", True)
    for check in ("gpu", "efa"):
        assert validation[check]["status"] == ERROR
        assert validation[check]["reason"].startswith(f"Kubernetes API unreachable: {reason}")
    assert json.dumps(validation)
