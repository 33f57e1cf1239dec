"""ReadoutProvider (a Pulumi dynamic provider) and ValidationReadout: CRUD, pickling, processes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import dill
import pulumi
import pulumi.dynamic
import pytest
from conftest import ROOT, shared_path
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime._serialization import _deserialize
from test_checks import EFA_FROM_SHM, _fake_fi_info, _fake_nvidia_smi, _run

from components import readout
from core.config import AwsAccess
from core.results import ERROR, PASSED, UNAVAILABLE
from toe.offline.simulated_cluster import NS, FakeCoreV1, node, pod, terminated

DEPLOYER = "arn:aws:iam::123456789012:role/Deployer"
TRAINER = "arn:aws:iam::210987654321:role/Trainer"
PROPS: dict[str, Any] = {
    "clusterName": "toe-dev",
    "region": "ap-northeast-2",
    "endpoint": "https://ABC.gr7.ap-northeast-2.eks.amazonaws.com",
    "certificateAuthority": base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode(),
    "namespace": NS,
    "gpuJobName": "gpu-check-1",
    "efaJobName": "efa-check-1",
    "efaRequested": True,
    "efaRequired": False,
    "runId": "1",
}


@pytest.fixture(scope="module")
def messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    """Messages from the real scripts: H200 GPU, EFA (derived from the shm fixture), no EFA."""
    h200 = shared_path("fixtures", "nvidia-smi", "h200")
    out: dict[str, list[Any]] = {}
    env = {"EFA_REQUESTED": "true"}
    for key, script, setup in [
        (
            "gpu",
            "gpu-check.sh",
            lambda t: _fake_nvidia_smi(t, h200 / "nvidia-smi.txt", h200 / "query-nounits.csv"),
        ),
        ("efa", "efa-check.sh", lambda t: _fake_fi_info(t, "shm", EFA_FROM_SHM)),
        ("efa-61", "efa-check.sh", lambda t: _fake_fi_info(t, "no-efa")),
    ]:
        tmp = tmp_path_factory.mktemp(key)
        setup(tmp)
        run = _run(script, tmp, env)
        out[key] = [run.message, run.returncode]
    return out


def fake_api(gpu: list[Any], efa: list[Any]) -> FakeCoreV1:
    return FakeCoreV1(
        pods=[
            pod("gpu-check-1", "gpu-check-1-a", node_name="i-1", state=terminated(*gpu)),
            pod("efa-check-1", "efa-check-1-b", node_name="i-1", state=terminated(*efa)),
        ],
        nodes=[node("i-1", "g5.8xlarge")],
    )


class Recorder:
    """API factory that hands out one fake and records the props it was called with."""

    def __init__(self, api: Any) -> None:
        self.api, self.calls = api, []

    def __call__(self, props: Any) -> Any:
        self.calls.append(dict(props))
        return self.api


def test_check_is_pure_and_names_bad_inputs() -> None:
    recorder = Recorder(None)
    provider = readout.ReadoutProvider(recorder)
    assert provider.check({}, dict(PROPS)).failures == []
    bad = {**PROPS, "endpoint": "", "efaRequired": 3}
    del bad["gpuJobName"]
    failures = {(f.property, f.reason) for f in provider.check({}, bad).failures}
    assert failures == {
        ("endpoint", "endpoint must be a non-empty string"),
        ("gpuJobName", "gpuJobName is required"),
        ("efaRequired", "efaRequired must be a boolean"),
    }
    unknown = {k: rpc.UNKNOWN for k in PROPS}  # preview: values not known yet
    assert provider.check({}, unknown).failures == []
    assert recorder.calls == []


def test_diff_replaces_on_any_input_change_and_nothing_else() -> None:
    provider = readout.ReadoutProvider()
    olds = {**PROPS, "validation": {"gpu": {}}, "validationSummary": "x", "__provider": "p"}
    same = provider.diff("id", olds, {**PROPS, "__provider": "p"})
    assert (same.changes, same.replaces) == (False, [])
    rerun = provider.diff("id", olds, {**PROPS, "runId": "2"})
    assert (rerun.changes, rerun.replaces, rerun.delete_before_replace) == (True, ["runId"], False)
    both = provider.diff("id", olds, {**PROPS, "endpoint": "https://new", "efaRequired": True})
    assert both.replaces == ["endpoint", "efaRequired"]


@pytest.mark.parametrize(
    ("old_state", "roles", "replaces"),
    [
        ({"assumeRoleArn": "", "assumeRoleSessionName": "", "assumeRoleExternalId": ""}, [], []),
        (
            {"assumeRoleArn": DEPLOYER, "assumeRoleSessionName": "toe", "assumeRoleExternalId": ""},
            [{"roleArn": DEPLOYER, "sessionName": "toe"}],
            [],
        ),
        # A role added to the chain is another identity: the readout reads again as it.
        (
            {"assumeRoleArn": DEPLOYER},
            [{"roleArn": DEPLOYER}, {"roleArn": TRAINER}],
            ["assumeRoles"],
        ),
    ],
)
def test_state_from_before_role_chaining_is_read_as_the_list(old_state, roles, replaces) -> None:
    """Upgrading this program replaces no readout whose role did not change."""
    olds = {**PROPS, "awsProfile": "", **old_state}
    news = {**PROPS, "awsProfile": "", "assumeRoles": roles}
    assert readout.ReadoutProvider().diff("id", olds, news).replaces == replaces


def test_create_reads_both_jobs(messages: dict[str, list[Any]]) -> None:
    recorder = Recorder(fake_api(messages["gpu"], messages["efa"]))
    result = readout.ReadoutProvider(recorder).create(dict(PROPS))
    assert result.id == "toe-validation/gpu-check-1/1"
    assert recorder.calls == [PROPS]
    validation = result.outs["validation"]
    assert (validation["gpu"]["status"], validation["efa"]["status"]) == (PASSED, PASSED)
    assert result.outs["validationSummary"] == "\n".join(readout.summary_lines(validation))
    assert result.outs["validationSummary"].splitlines()[0].startswith("gpu: passed — NVIDIA H200")
    assert {k: result.outs[k] for k in PROPS} == PROPS  # inputs kept for the next diff
    assert json.dumps(result.outs)


def test_update_rereads_and_delete_does_nothing(messages: dict[str, list[Any]]) -> None:
    recorder = Recorder(fake_api(messages["gpu"], messages["efa-61"]))
    provider = readout.ReadoutProvider(recorder)
    outs = provider.update("id", dict(PROPS), {**PROPS, "runId": "2"}).outs
    assert (outs["runId"], outs["validation"]["efa"]["status"]) == ("2", UNAVAILABLE)
    assert provider.delete("id", outs) is None
    assert len(recorder.calls) == 1


def test_efa_required_but_unavailable_fails_the_update(messages: dict[str, list[Any]]) -> None:
    provider = readout.ReadoutProvider(Recorder(fake_api(messages["gpu"], messages["efa-61"])))
    with pytest.raises(
        readout.ReadoutError, match=r"EFA is required .* unavailable: no EFA device"
    ):
        provider.create({**PROPS, "efaRequired": True})


def test_efa_required_and_present_passes(messages: dict[str, list[Any]]) -> None:
    provider = readout.ReadoutProvider(Recorder(fake_api(messages["gpu"], messages["efa"])))
    outs = provider.create({**PROPS, "efaRequired": True}).outs
    assert outs["validation"]["efa"]["status"] == PASSED


def test_gpu_failure_fails_the_update_with_the_reason(messages: dict[str, list[Any]]) -> None:
    """The scripts exit 0 once they reported; a GPU check that did not pass fails `up` here."""
    provider = readout.ReadoutProvider(Recorder(fake_api(["", 1], messages["efa"])))
    with pytest.raises(readout.ReadoutError) as err:
        provider.create(dict(PROPS))
    first, *summary = str(err.value).splitlines()
    assert first.startswith("the GPU check is failed: ")
    assert summary[0].startswith("gpu: failed — ")


def test_efa_not_requested_without_a_job(messages: dict[str, list[Any]]) -> None:
    provider = readout.ReadoutProvider(Recorder(fake_api(messages["gpu"], messages["efa"])))
    outs = provider.create({**PROPS, "efaJobName": "", "efaRequested": False}).outs
    assert outs["validationSummary"].splitlines()[1].startswith("efa: unavailable — not requested")


def test_api_factory_failure_becomes_error_results() -> None:
    def broken(_props: Any) -> Any:
        raise RuntimeError("Unable to locate credentials")

    with pytest.raises(readout.ReadoutError) as err:
        readout.ReadoutProvider(broken).create(dict(PROPS))
    reason = "could not build a Kubernetes client: RuntimeError: Unable to locate credentials"
    assert str(err.value).splitlines()[0] == f"the GPU check is {ERROR}: {reason}"


def test_module_hook_is_used_when_no_factory_is_given(
    monkeypatch: pytest.MonkeyPatch, messages: dict[str, list[Any]]
) -> None:
    recorder = Recorder(fake_api(messages["gpu"], messages["efa"]))
    monkeypatch.setattr(readout, "API_FACTORY", recorder)
    readout.ReadoutProvider().create(dict(PROPS))
    assert len(recorder.calls) == 1


def test_serialized_provider_round_trips_in_process() -> None:
    provider = readout.ReadoutProvider()
    text = serialize_provider(provider)
    assert text == serialize_provider(readout.ReadoutProvider())  # deterministic: no spurious diffs
    # pulumi 3.272 pickles the class by reference (pulumi/pulumi#7453): the provider process must
    # be able to import components.readout, which it can from the program directory.
    assert b"components.readout" in base64.b64decode(text)
    loaded = _deserialize(lambda: dill.loads(base64.b64decode(text)))
    assert type(loaded) is readout.ReadoutProvider
    assert loaded.diff("id", PROPS, {**PROPS, "runId": "9"}).replaces == ["runId"]


FRESH_PROVIDER = textwrap.dedent(
    """
    import json, os, sys
    # Run with `-c` from the program directory: sys.path[0] is the working directory, as for
    # the `python -m pulumi.dynamic` the engine starts there. The tests folder is only for the fake.
    sys.path.append(os.path.join(os.getcwd(), "tests"))
    import runpy

    # Install the fake API through the module hook, as a test provider process would.
    import components.readout as readout
    from toe.offline.simulated_cluster import FakeCoreV1, node, pod, terminated

    gpu, efa = json.loads(os.environ["MESSAGES"])
    readout.API_FACTORY = lambda props: FakeCoreV1(
        pods=[
            pod("gpu-check-1", "gpu-check-1-a", node_name="i-1", state=terminated(*gpu)),
            pod("efa-check-1", "efa-check-1-b", node_name="i-1", state=terminated(*efa)),
        ],
        nodes=[node("i-1", "g5.8xlarge")],
    )
    sys.argv = ["pulumi-dynamic-provider"]
    runpy.run_module("pulumi.dynamic", run_name="__main__")  # the real provider gRPC server
    """
)


READOUT_URN = "urn:pulumi:dev::training-on-eks::pulumi-python:dynamic:Resource::readout"


@contextlib.contextmanager
def _dynamic_host(argv: list[str], env: dict[str, str]):
    """A dynamic provider host started in the program directory, as the engine starts it
    (pulumi-resource-pulumi-python); yields a ResourceProvider stub on the port it prints."""
    import grpc
    from pulumi.runtime.proto import provider_pb2_grpc

    proc = subprocess.Popen(
        [sys.executable, *argv],
        cwd=ROOT,  # the engine starts dynamic providers in the program directory
        env={**os.environ, "PULUMI_PROJECT": "training-on-eks", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(proc.stdout.readline().strip() or "0")
        assert port, proc.stderr.read()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _wire(props: dict[str, Any]):
    """The readout's inputs as the engine sends them: serialized, with the pickled provider."""
    props = {**props, "__provider": serialize_provider(readout.ReadoutProvider())}
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def test_pickled_provider_runs_create_in_a_fresh_provider_process(
    tmp_path: Path, messages: dict[str, list[Any]]
) -> None:
    """Start `pulumi.dynamic`'s own gRPC server in a new interpreter and send it a Create."""
    from pulumi.runtime.proto import provider_pb2

    env = {"MESSAGES": json.dumps([messages["gpu"], messages["efa"]])}
    with _dynamic_host(["-c", FRESH_PROVIDER], env) as stub:
        request = provider_pb2.CreateRequest(urn=READOUT_URN, properties=_wire(PROPS))
        response = stub.Create(request, timeout=30)
    outs = rpc.deserialize_properties(response.properties)
    assert response.id == "toe-validation/gpu-check-1/1"
    assert outs["validation"]["gpu"]["status"] == PASSED
    assert outs["validation"]["efa"]["instanceType"] == "g5.8xlarge"
    assert outs["validationSummary"].splitlines() == [
        "gpu: passed — NVIDIA H200 on g5.8xlarge (ap-northeast-2a), driver 580.159.04, "
        "CUDA 13.0, 143771 MiB",
        "efa: passed — 2 efa endpoints on g5.8xlarge (ap-northeast-2a): rdmap0s29-rdm (FI_EP_RDM)",
    ]


def _check_in_the_real_dynamic_host(news: dict[str, Any], unknown: set[str]) -> list[Any]:
    """Start `python -u -m pulumi.dynamic` as the engine does (pulumi-resource-pulumi-python, in
    the program directory) and send it a Check whose `unknown` inputs carry the wire sentinel
    the engine sends during a preview. Returns the failures (property, reason)."""
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import provider_pb2

    struct = _wire(news)
    for key in unknown:
        struct[key] = rpc.UNKNOWN  # what the engine puts on the wire for an unknown value
    with _dynamic_host(["-u", "-m", "pulumi.dynamic"], {}) as stub:
        request = provider_pb2.CheckRequest(urn=READOUT_URN, olds=struct_pb2.Struct(), news=struct)
        response = stub.Check(request, timeout=30)
    return sorted((f.property, f.reason) for f in response.failures)


def test_preview_check_in_the_real_dynamic_host_accepts_unknown_inputs() -> None:
    """A fresh stack's preview: the cluster and the Jobs do not exist yet, so the engine sends
    endpoint, certificateAuthority and the Job names as unknowns (the first `pulumi up` bug)."""
    unknown = {"endpoint", "certificateAuthority", "gpuJobName", "efaJobName"}
    assert _check_in_the_real_dynamic_host(dict(PROPS), unknown) == []


def test_known_bad_inputs_still_fail_in_the_real_dynamic_host() -> None:
    bad = {**PROPS, "clusterName": "", "efaRequired": 3}
    failures = _check_in_the_real_dynamic_host(bad, {"endpoint", "gpuJobName"})
    assert failures == [
        ("clusterName", "clusterName must be a non-empty string"),
        ("efaRequired", "efaRequired must be a boolean"),
    ]


def test_check_and_diff_take_the_unknowns_the_dynamic_host_hands_over() -> None:
    """The objects themselves: `rpc.deserialize_properties(..., keep_unknowns=True)`, as
    pulumi/dynamic/__main__.py's Check and Diff call it."""
    from google.protobuf import struct_pb2

    struct = struct_pb2.Struct()
    struct.update({**PROPS, "endpoint": rpc.UNKNOWN, "gpuJobName": rpc.UNKNOWN})
    news = rpc.deserialize_properties(struct, True)
    assert readout.is_unknown(news["endpoint"]) and not isinstance(news["endpoint"], str)
    provider = readout.ReadoutProvider()
    assert provider.check({}, news).failures == []
    diff = provider.diff("id", dict(PROPS), news)
    assert (diff.changes, diff.replaces) == (True, ["endpoint", "gpuJobName"])


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.registered.append(args)
        outs = {
            **args.inputs,
            "validation": {"gpu": {"status": "passed"}},
            "validationSummary": "gpu: passed — mocked",
        }
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


def test_validation_readout_resource_under_mocks(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_run(_props: Any) -> Any:
        raise AssertionError("the readout must not reach the cluster while the program runs")

    monkeypatch.setattr(readout, "API_FACTORY", must_not_run)
    pulumi.runtime.settings.ROOT.set(None)
    mocks = _Mocks()
    pulumi.runtime.set_mocks(mocks, project="training-on-eks", stack="dev", preview=True)

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        res = readout.ValidationReadout(
            "validation",
            readout.ValidationReadoutArgs(
                cluster_name="toe-dev",
                access=AwsAccess("ap-northeast-2", profile="workshop"),
                endpoint=PROPS["endpoint"],
                certificate_authority=PROPS["certificateAuthority"],
                namespace=NS,
                gpu_job_name="gpu-check-1",
                efa_job_name="efa-check-1",
                efa_requested=True,
                run_id="7",
            ),
        )

        def check(values: list[Any]) -> None:
            summary, validation = values
            assert summary == "gpu: passed — mocked"
            assert validation == {"gpu": {"status": "passed"}}

        return pulumi.Output.all(res.validation_summary, res.validation).apply(check)

    program()
    (args,) = mocks.registered
    assert args.typ == "pulumi-python:dynamic/training-on-eks:ValidationReadout"
    assert {k: args.inputs[k] for k in PROPS} == {**PROPS, "runId": "7"}
    assert "__provider" in args.inputs
    # Every input the resource sends is one the provider's diff compares, and the other way round.
    sent = set(args.inputs) - {"__provider", "validation", "validationSummary"}
    assert sent == set(readout.INPUT_KEYS)
