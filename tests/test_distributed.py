"""The distributed check: its result format (from real runs of the script), its Kubernetes
objects (validated against 1.33), the readout's waiting and verdicts, and the program with it on."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from components import readout
from core import k8s_objects, results
from core import wellknown as wk
from core.config import AwsAccess, DistributedSpec
from toe.offline import simulated_cluster as sim
from toe.offline.harness import run_program

CAPTURES = Path(__file__).parent / "data" / "distributed"
PASSED_MESSAGE = (CAPTURES / "gloo-cpu" / "termination-log.txt").read_text()
NO_TORCHRUN_MESSAGE = (CAPTURES / "no-torchrun" / "termination-log.txt").read_text()
JOB = "validation-distributed-check-1a2b3c4d"


# ---------------------------------------------------------------------------- the result


def test_the_real_passed_run_parses():
    result = results.parse_distributed_result(PASSED_MESSAGE)
    assert (result.status, result.backend, result.transport, result.world) == (
        "passed",
        "gloo",
        "gloo/TCP",
        2,
    )
    assert result.nodes == ("node-0", "node-1")
    assert [s.bytes for s in result.sizes] == [2**20 * m for m in (1, 4, 16, 64, 256)]
    # busbw = algbw * 2(n-1)/n, which is algbw itself for two ranks (nccl-tests definition).
    assert all(s.busbw_gbps == s.algbw_gbps for s in result.sizes)
    assert result.largest.busbw_gbps == 0.839 and result.peak_busbw_gbps == 0.953
    # On CPU the script stops at 256 MiB; no NCCL, so no evidence but the pod's own.
    assert result.skipped_mib == (1024, 4096)
    assert (result.evidence.fi_provider, result.evidence.efa_devices) == ("", 0)
    assert result.evidence.via == ()
    assert len(PASSED_MESSAGE.encode()) <= results.MAX_MESSAGE_BYTES


def test_the_launchers_own_failure_report_parses():
    result = results.parse_distributed_result(NO_TORCHRUN_MESSAGE)
    assert result.status == "failed" and result.exit_code == 127
    assert result.reason == "torchrun exited 127 before rank 0 reported (see the pod log)"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (PASSED_MESSAGE.replace("end\n", ""), "no 'end' line"),
        (PASSED_MESSAGE.replace("268435456 0.839 0.839", "268435456 fast"), "size line"),
        (PASSED_MESSAGE.replace("efaDevices=0", "efaDevices=none"), "efaDevices='none'"),
        (PASSED_MESSAGE.replace("skippedMiB=1024 4096", "skippedMiB=4G"), "skippedMiB='4G'"),
        (PASSED_MESSAGE.replace("world=2", "world=two"), "world='two'"),
        (PASSED_MESSAGE.replace("check=distributed", "check=gpu"), "is for check 'gpu'"),
        ("", "empty termination message"),
    ],
)
def test_a_broken_message_is_unparseable_with_the_reason(text, why):
    result = results.parse_distributed_result(text)
    assert result.status == "unparseable" and why in result.reason


# ---------------------------------------------------------------------------- the objects


def objects(spec: DistributedSpec) -> tuple[dict, dict]:
    job = k8s_objects.distributed_job(
        spec,
        namespace=wk.VALIDATION_NAMESPACE,
        configmap="check-scripts",
        run_id="1",
        nodepool="gpu-pool",
        timeout_seconds=1500,
    )
    job["metadata"]["name"] = JOB  # Pulumi names it; the API server needs a name
    return job, k8s_objects.distributed_service(wk.VALIDATION_NAMESPACE, "1")


def test_service_and_indexed_job_validate_against_kubernetes_1_33():
    job, service = objects(DistributedSpec(enabled=True, image="repo/torch:2.6"))
    for body in (job, service):
        kubernetes_validate.validate(body, "1.33", strict=True)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 2, 2)
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] == 1500
    assert spec["ttlSecondsAfterFinished"] > 0
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"]
    assert pod["restartPolicy"] == "Never"
    selector = service["spec"]["selector"]
    assert selector.items() <= spec["template"]["metadata"]["labels"].items()
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    same = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert [t["topologyKey"] for t in anti] == ["kubernetes.io/hostname"]
    assert [t["topologyKey"] for t in same] == ["topology.kubernetes.io/zone"]
    container = pod["containers"][0]
    assert container["resources"]["limits"][wk.RESOURCE_GPU] == "1"
    assert wk.RESOURCE_EFA not in container["resources"]["limits"]
    shm = next(v for v in pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["medium"] == "Memory"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MASTER_ADDR"] == f"$(JOB_NAME)-0.{wk.DISTRIBUTED_SERVICE}"
    # Without families the pods may only land on the g category: never a p instance.
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": wk.LABEL_INSTANCE_CATEGORY, "operator": "In", "values": ["g"]}
    ]
    assert job["metadata"]["annotations"][wk.ANNOTATION_SKIP_AWAIT] == "true"
    # Up to 4 GiB: where the floors apply (the script skips what its GPU cannot hold).
    assert env["TOE_SIZES_MIB"] == "1 4 16 64 256 1024 4096"
    assert "TOE_MIN_BUSBW_GBPS" not in env  # the readout judges the floor, not the pod


def test_efa_only_on_the_efa_type():
    job, _ = objects(
        DistributedSpec(enabled=True, image="repo/torch:2.6", instance_type="g6.8xlarge")
    )
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"][wk.RESOURCE_EFA] == "1"
    assert pod["nodeSelector"][wk.LABEL_INSTANCE_TYPE] == "g6.8xlarge"
    assert {"name": "FI_PROVIDER", "value": "efa"} in container["env"]
    kubernetes_validate.validate(job, "1.33", strict=True)


def test_families_replace_the_category_bound():
    job, _ = objects(DistributedSpec(enabled=True, image="repo/torch:2.6", families=("g5", "g6")))
    affinity = job["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [
        {
            "matchExpressions": [
                {"key": wk.LABEL_INSTANCE_FAMILY, "operator": "In", "values": ["g5", "g6"]}
            ]
        }
    ]


def test_the_scripts_configmap_carries_the_launcher_and_the_script():
    scripts = k8s_objects.check_scripts()
    assert {"distributed.sh", "distributed.py", "gpu-check.sh", "efa-check.sh"} <= set(scripts)


# ---------------------------------------------------------------------------- the readout


def ranked(rank: int, *, node: str | None, state: dict | None, created: str = sim.T0):
    pod = sim.pod(JOB, f"{JOB}-{rank}-abcde", node_name=node, state=state, created=created)
    pod.metadata.labels[wk.LABEL_COMPLETION_INDEX] = str(rank)
    return pod


def two_nodes():
    return [
        sim.node("i-0aaa", "g5.xlarge", "ap-northeast-2a"),
        sim.node("i-0bbb", "g5.xlarge", "ap-northeast-2a"),
    ]


def test_a_finished_rank_zero_is_read_with_its_nodes():
    api = sim.FakeCoreV1(
        pods=[
            ranked(0, node="i-0aaa", state=sim.terminated(PASSED_MESSAGE)),
            ranked(1, node="i-0bbb", state=sim.terminated("")),
        ],
        nodes=two_nodes(),
    )
    found = readout.read_distributed(api, sim.NS, JOB, timeout_seconds=0)
    assert found["status"] == "passed"
    assert found["instanceTypes"] == ["g5.xlarge", "g5.xlarge"]
    assert found["zone"] == "ap-northeast-2a"
    assert found["busbwGBps"] == {"peak": 0.953, "at256MiB": 0.839}
    # No EFA asked for: judged against g5.xlarge's TCP floor, at the largest size measured.
    assert found["floor"] == {
        "busbwGBps": 0.078,
        "bytes": 4 << 30,
        "appliesTo": "g5.xlarge over TCP",
        "source": found["floor"]["source"],
        "judgedAtBytes": 256 << 20,
        "judgedBusbwGBps": 0.839,
    }
    assert found["floor"]["source"].startswith("core/data/fabric.yaml formula: half (EFA)")
    assert "(the largest measured; the floor applies at 4 GiB)" in found["reason"]
    assert readout.summary_lines({"distributed": found}) == [
        "distributed: passed — busbw 0.84 GB/s at 256 MiB (peak 0.95) over gloo/TCP, "
        "2 x g5.xlarge (ap-northeast-2a); floor 0.078 GB/s (g5.xlarge over TCP)"
    ]


def test_it_waits_for_rank_zero_and_gives_up_at_the_deadline():
    running = {"running": {"startedAt": sim.STARTED}}
    api = sim.FakeCoreV1(
        pods=[ranked(0, node="i-0aaa", state=running), ranked(1, node="i-0bbb", state=running)],
        nodes=two_nodes(),
    )
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    found = readout.read_distributed(
        api, sim.NS, JOB, timeout_seconds=25, sleep=sleep, clock=lambda: now[0]
    )
    assert found["status"] == "pending"
    assert "rank 0 has not finished" in found["reason"]
    assert slept == [10.0, 10.0, 5.0]


def test_a_pod_without_a_node_quotes_the_scheduler():
    event = sim.event(
        f"{JOB}-1-abcde",
        "FailedScheduling",
        "0/3 nodes are available: 1 node(s) didn't match pod anti-affinity rules.",
        "2026-11-28T17:50:00Z",
    )
    api = sim.FakeCoreV1(
        pods=[
            ranked(0, node="i-0aaa", state={"running": {"startedAt": sim.STARTED}}),
            ranked(1, node=None, state=None),
        ],
        nodes=two_nodes(),
        events=[event],
    )
    found = readout.read_distributed(api, sim.NS, JOB, timeout_seconds=0)
    assert found["status"] == "pending"
    assert "1 of 2 pods never got a node" in found["reason"]
    assert "didn't match pod anti-affinity rules" in found["reason"]


def test_no_capacity_is_unavailable_and_says_which_limit():
    event = sim.event(
        f"{JOB}-1-abcde",
        "FailedScheduling",
        "Failed to schedule pod, all available instance types exceed limits for nodepool: "
        '"gpu-pool"',
        "2026-11-28T17:50:00Z",
    )
    api = sim.FakeCoreV1(
        pods=[ranked(0, node="i-0aaa", state=None), ranked(1, node=None, state=None)],
        nodes=two_nodes(),
        events=[event],
    )
    found = readout.read_distributed(api, sim.NS, JOB, timeout_seconds=0)
    assert found["status"] == "unavailable"
    assert 'exceed limits for nodepool: "gpu-pool"' in found["reason"]


def test_an_image_pull_failure_is_an_error_at_once():
    waiting = {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}
    api = sim.FakeCoreV1(
        pods=[ranked(0, node="i-0aaa", state=waiting), ranked(1, node="i-0bbb", state=waiting)],
        nodes=two_nodes(),
    )
    found = readout.read_distributed(api, sim.NS, JOB, timeout_seconds=3600, sleep=None)
    assert found["status"] == "error" and "ImagePullBackOff" in found["reason"]


def _provider_props(required: bool) -> dict:
    """The readout's inputs as ValidationReadout sends them, with a distributed Job."""
    args = readout.ValidationReadoutArgs(
        cluster_name="toe-dev",
        access=AwsAccess("ap-northeast-2"),
        endpoint="https://example",
        certificate_authority="Q0E=",
        namespace=sim.NS,
        gpu_job_name="gpu",
        efa_job_name="efa",
        distributed_job_name=JOB,
        distributed_required=required,
        run_id="1",
    )
    return readout.inputs(args)


def _cluster_with(distributed_message: str):
    from toe.offline.account import load_account

    cluster = load_account().cluster
    api = sim.from_account(cluster, {wk.GPU_CHECK: "gpu", wk.EFA_CHECK: "efa"})
    api.pods += [
        ranked(0, node="i-0aaa", state=sim.terminated(distributed_message)),
        ranked(1, node="i-0bbb", state=sim.terminated("")),
    ]
    api.nodes += two_nodes()
    return api


def test_distributed_required_decides_whether_a_failure_fails_up():
    api = _cluster_with(NO_TORCHRUN_MESSAGE)
    lenient = readout.ReadoutProvider(api_factory=lambda _props: api)
    created = lenient.create(_provider_props(required=False))
    assert created.outs["validation"]["distributed"]["status"] == "failed"
    assert "distributed: failed — torchrun exited 127" in created.outs["validationSummary"]

    strict = readout.ReadoutProvider(api_factory=lambda _props: api)
    with pytest.raises(readout.ReadoutError, match="distributedRequired"):
        strict.create(_provider_props(required=True))


# ---------------------------------------------------------------------------- the program


def test_the_program_with_the_check_on_runs_it_beside_the_others():
    run = run_program("dev", config={"distributedCheck": "true"})
    service = run.named("validation-distributed-svc")
    assert service.type == "kubernetes:core/v1:Service"
    job = run.named("validation-distributed-check")
    assert job.inputs["spec"]["completionMode"] == "Indexed"
    # It waits for the NodePool and the scripts, never for the node groups.
    depends = {run.by_urn()[u].name for u in job.dependencies}
    assert {"gpu-nodepool", "validation-scripts", "validation-distributed-svc"} <= depends
    assert not any(name.startswith("nodes-") for name in depends)
    distributed = run.outputs["validation"]["distributed"]
    assert distributed["status"] == "passed" and distributed["transport"] == "gloo/TCP"
    assert run.outputs["validationSummary"].splitlines()[-1].startswith("distributed: passed")


def test_the_program_without_it_reports_no_distributed_result():
    run = run_program("dev")
    assert "distributed" not in run.outputs["validation"]
    assert not run.of_type("kubernetes:core/v1:Service")
