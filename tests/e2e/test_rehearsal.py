"""The whole workshop under the real engine: the pulumi CLI, the pulumi-kubernetes provider and a
real kube-apiserver, with AWS in moto and Auto Mode simulated (see rehearsal/).

One world and one project copy serve the module; the tests run in order, as an instructor would:
preview, up, look, up again, policies, destroy, then the fleet.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rehearsal import fakes
from rehearsal.session import ROOT, Rehearsal

REGION = "ap-northeast-2"
# The GPU captures in ../shared/fixtures are an H200's: the rehearsal's pool launches p5en, the
# H200 type EC2 offers in ap-northeast-2a (moto's copy of EC2's data), with room for two nodes.
H200_POOL = (
    ("--path", "gpuInstanceFamilies[0]", "p5en"),
    ("gpuMaxGpus", "16"),
    ("gpuMaxCpu", "384"),
    ("gpuMaxMemoryGi", "4096"),
    ("checkTimeoutSeconds", "300"),
)
JOBS = ("validation-gpu-check", "validation-efa-check")
READOUT = "validation-readout"


def configure(r: Rehearsal, stack: str, settings=H200_POOL) -> None:
    for setting in settings:
        r.pulumi("config", "set", "--stack", stack, *setting)


def outputs(r: Rehearsal, stack: str) -> dict:
    return json.loads(
        r.pulumi("stack", "output", "--json", "--show-secrets", "--stack", stack).stdout
    )


def kubernetes(r: Rehearsal, cluster: str):
    """Admin clients for a cluster's API server (the world's client certificate)."""
    from kubernetes import client

    endpoint = r.world.status()["clusters"][cluster]["endpoint"]
    pki = r.world.directory / "clusters" / cluster / "pki"
    configuration = client.Configuration(host=endpoint)
    configuration.ssl_ca_cert = str(pki / "ca.crt")
    configuration.cert_file = str(pki / "admin.crt")
    configuration.key_file = str(pki / "admin.key")
    api = client.ApiClient(configuration)
    return client.CoreV1Api(api), client.BatchV1Api(api), client.CustomObjectsApi(api)


def _bugged_project(r: Rehearsal, directory: Path) -> Path:
    """A copy of the project whose readout `check` refuses Unknown() values, as before the fix."""
    shutil.copytree(r.project, directory, symlinks=True)
    (directory / "components").unlink()
    shutil.copytree(ROOT / "components", directory / "components")
    readout = directory / "components" / "readout.py"
    text = readout.read_text().replace("elif not is_unknown(news[key]) and (", "elif (")
    readout.write_text(text)
    shutil.copy(directory / "Pulumi.dev.yaml", directory / "Pulumi.bugged.yaml")
    return directory


def test_1_preview_of_a_fresh_dev_stack_succeeds(rehearsal: Rehearsal, tmp_path) -> None:
    r = rehearsal
    r.pulumi("stack", "init", "dev")
    done = r.pulumi("preview", "--stack", "dev", "--json")
    steps = json.loads(done.stdout)["steps"]
    types = {step["urn"].rsplit("::", 2)[-2].rsplit("$", 1)[-1] for step in steps}
    assert {"eks:index:Cluster", "aws:eks/cluster:Cluster", "kubernetes:batch/v1:Job"} <= types
    assert "pulumi-python:dynamic/training-on-eks:ValidationReadout" in types
    assert all(step["op"] == "create" for step in steps)

    # The same preview with the readout's `check` as it was before the fix fails: the engine
    # hands the dynamic provider Unknown() for the cluster's endpoint and the Jobs' names.
    bugged = _bugged_project(r, tmp_path / "bugged")
    r.run(str(r.tools.pulumi), "stack", "init", "bugged", cwd=bugged)
    failed = r.run(
        str(r.tools.pulumi),
        "preview",
        "--stack",
        "bugged",
        "--non-interactive",
        cwd=bugged,
        check=False,
    )
    assert failed.returncode != 0
    assert "endpoint must be a non-empty string" in failed.stdout
    assert "gpuJobName must be a non-empty string" in failed.stdout


def test_5_the_policy_pack_passes_a_fresh_stacks_preview(rehearsal: Rehearsal) -> None:
    """Before anything exists the Kubernetes objects' outputs are unknown to the engine."""
    r = rehearsal
    shutil.copy(r.project / "Pulumi.dev.yaml", r.project / "Pulumi.fresh.yaml")
    r.pulumi("stack", "init", "fresh")
    done = r.pulumi("preview", "--stack", "fresh", "--policy-pack", "policies", check=False)
    r.pulumi("stack", "rm", "--yes", "--force", "--stack", "fresh")
    assert done.returncode == 0, done.stdout
    assert "mandatory" not in done.stdout


def test_8_a_broken_config_reaches_the_user_through_the_cli(rehearsal: Rehearsal) -> None:
    r = rehearsal
    shutil.copy(r.project / "Pulumi.dev.yaml", r.project / "Pulumi.broken.yaml")
    r.pulumi("stack", "init", "broken")
    configure(r, "broken", (("gpuMaxGpus", "0"), ("training-on-eks:gpuMaxGPUs", "8")))
    done = r.pulumi("preview", "--stack", "broken", check=False)
    assert done.returncode == 1, done.stdout  # the program's RunError: the CLI exits 1
    text = done.stdout + done.stderr
    assert "Stack 'broken' has 2 configuration problems; nothing was created:" in text
    assert "gpuMaxGpus: must be between 1 and 2147483647, got 0" in text
    assert "fix: pulumi config rm --stack broken gpuMaxGpus" in text
    assert (
        "training-on-eks:gpuMaxGPUs: is not a setting of this project; did you mean gpuMaxGpus?"
        in text
    )
    assert "Traceback" not in text
    r.pulumi("stack", "rm", "--yes", "--force", "--stack", "broken")


def test_2_up_runs_the_checks_on_a_simulated_gpu_node(rehearsal: Rehearsal) -> None:
    r = rehearsal
    configure(r, "dev")
    r.pulumi("up", "--stack", "dev", "--yes", "--skip-preview")
    out = outputs(r, "dev")
    gpu, efa = out["validation"]["gpu"], out["validation"]["efa"]
    assert gpu["status"] == "passed", gpu
    assert [g["name"] for g in gpu["gpus"]] == ["NVIDIA H200"]  # the H200 capture, replayed
    assert gpu["instanceType"] == "p5en.48xlarge"
    assert (efa["status"], efa["requested"], efa["toolExitCode"]) == ("unavailable", False, 61)
    assert out["validationSummary"].startswith("gpu: passed — NVIDIA H200 on p5en.48xlarge")

    # Every object was admitted by the API server (the NodePool against the real CRD's rules).
    _core, batch, custom = kubernetes(r, "toe-dev")
    pools = {
        p["metadata"]["name"]
        for p in custom.list_cluster_custom_object("karpenter.sh", "v1", "nodepools")["items"]
    }
    assert {"gpu-pool", "general-purpose", "system"} <= pools
    jobs = batch.list_namespaced_job("toe-validation").items
    assert sorted(j.metadata.labels["app.kubernetes.io/name"] for j in jobs) == [
        "efa-check",
        "gpu-check",
    ]
    assert all(j.status.succeeded == 1 for j in jobs)

    # EFA passes once the check asks for an EFA type (Auto Mode attaches EFA for such pods).
    r.pulumi("config", "set", "--stack", "dev", "efaInstanceType", "p5en.48xlarge")
    r.pulumi("up", "--stack", "dev", "--yes", "--skip-preview")
    efa = outputs(r, "dev")["validation"]["efa"]
    assert (efa["status"], efa["requested"]) == ("passed", True), efa
    assert {p["provider"] for p in efa["providers"]} == {"efa"}
    assert efa["instanceType"] == "p5en.48xlarge"


def test_3_the_kubeconfig_is_ciphertext_in_state(rehearsal: Rehearsal) -> None:
    r = rehearsal
    state = json.loads(r.pulumi("stack", "export", "--stack", "dev").stdout)
    stack = next(
        res for res in state["deployment"]["resources"] if res["type"] == "pulumi:pulumi:Stack"
    )
    stored = stack["outputs"]["kubeconfig"]
    assert stored["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"
    assert set(stored) == {"4dabf18193072939515e22adb298388d", "ciphertext"}
    kubeconfig = json.loads(outputs(r, "dev")["kubeconfig"])
    assert kubeconfig["users"][0]["user"]["exec"]["command"] == "aws"
    # Nowhere else in the stack's outputs: the exec plugin's arguments appear in no plaintext.
    assert "get-token" not in json.dumps(stack["outputs"])


def test_4_a_second_up_changes_nothing_and_run_id_replaces_only_the_checks(
    rehearsal: Rehearsal,
) -> None:
    r = rehearsal
    r.pulumi("up", "--stack", "dev", "--yes", "--skip-preview", "--expect-no-changes")
    r.pulumi("config", "set", "--stack", "dev", "runId", "2")
    steps = json.loads(r.pulumi("preview", "--stack", "dev", "--json").stdout)["steps"]
    changed = {step["urn"].rsplit("::", 1)[-1] for step in steps if step["op"] != "same"}
    assert changed == {*JOBS, READOUT}, changed
    r.pulumi("up", "--stack", "dev", "--yes", "--skip-preview")
    assert outputs(r, "dev")["validation"]["gpu"]["status"] == "passed"


def test_9_the_distributed_check_runs_on_two_simulated_gpu_nodes(rehearsal: Rehearsal) -> None:
    """Both pods of the Indexed Job get their own node in one zone, with EFA; rank 0 replays an
    NCCL run over EFA (gloo on this CPU cannot stand in for a fabric: rehearsal/fakes.py), and
    the readout judges what carried the traffic and the busbw against p5en's floor. Then the same
    run with an image whose NCCL has no aws-ofi-nccl: the fall-back to TCP fails the check."""
    r = rehearsal
    # The stack has efaInstanceType p5en.48xlarge (item 2): both pods run on that type with EFA.
    # The program refuses a pool too small for them, through the real CLI ...
    configure(r, "dev", (("distributedCheck", "true"), ("runId", "3")))
    refused = r.pulumi("up", "--stack", "dev", "--yes", "--skip-preview", check=False)
    assert refused.returncode != 0
    assert "gpuMaxGpus: 16 cannot hold the distributed check's two GPU nodes" in refused.stdout
    # ... and the fix it prints is not enough alone here: this pool's nodes have 8 GPUs each, so
    # the GPU check's node, the EFA check's and two more need up to 32.
    configure(r, "dev", (("gpuMaxGpus", "32"), ("gpuMaxCpu", "800"), ("gpuMaxMemoryGi", "8192")))
    r.pulumi("up", "--stack", "dev", "--yes", "--skip-preview")
    distributed = outputs(r, "dev")["validation"]["distributed"]
    assert distributed["status"] == "passed", distributed
    pods = distributed["pods"]
    assert len({p["nodeName"] for p in pods}) == 2  # anti-affinity: two nodes
    assert len({p["zone"] for p in pods}) == 1  # zone affinity: one zone
    assert distributed["instanceTypes"] == ["p5en.48xlarge", "p5en.48xlarge"]
    assert distributed["nodes"] == [p["nodeName"] for p in pods]
    assert [s["bytes"] for s in distributed["sizes"]] == [
        m << 20 for m in (1, 4, 16, 64, 256, 1024, 4096)
    ]
    fabric = distributed["fabric"]
    assert (fabric["efaRequested"], fabric["overEfa"], fabric["provider"]) == (True, True, "efa")
    assert fabric["channels"] == {"NET/Libfabric/GDRDMA": 4}
    floor = distributed["floor"]
    assert (floor["appliesTo"], floor["busbwGBps"], floor["judgedAtBytes"]) == (
        "p5en.48xlarge over EFA",
        12.5,
        4 << 30,
    )
    assert floor["source"].startswith("core/data/fabric.yaml formula")
    summary = outputs(r, "dev")["validationSummary"].splitlines()
    assert summary[-1].startswith("distributed: passed — busbw 21.40 GB/s at 4 GiB")
    assert summary[-1].endswith("; floor 12.5 GB/s (p5en.48xlarge over EFA)")

    fault = fakes.FAULTS / fakes.FAULT_NO_PLUGIN
    fault.parent.mkdir(parents=True, exist_ok=True)
    fault.touch()
    try:
        configure(r, "dev", (("runId", "4"),))
        # distributedRequired is false: the failed check is reported, the update succeeds.
        r.pulumi("up", "--stack", "dev", "--yes", "--skip-preview")
    finally:
        fault.unlink()
    distributed = outputs(r, "dev")["validation"]["distributed"]
    assert distributed["status"] == "failed", distributed
    assert distributed["reason"].startswith(
        "EFA was requested but NCCL fell back to TCP over ENA (channels via NET/Socket on eth0); "
        "likely causes: the aws-ofi-nccl plugin is missing from the image"
    )
    assert distributed["fabric"]["overEfa"] is False
    summary = outputs(r, "dev")["validationSummary"].splitlines()
    assert summary[-1].startswith("distributed: failed — EFA was requested but NCCL fell back")


def test_5_the_policy_pack_runs_in_the_real_analyzer(rehearsal: Rehearsal) -> None:
    r = rehearsal
    done = r.pulumi("preview", "--stack", "dev", "--policy-pack", "policies")
    assert "mandatory" not in done.stdout.lower().split("policies:", 1)[-1].split("resources:")[
        0
    ] or ("0 mandatory" in done.stdout)
    r.pulumi("config", "set", "--stack", "dev", "gpuConsolidateAfter", "2h")
    blocked = r.pulumi("preview", "--stack", "dev", "--policy-pack", "policies", check=False)
    r.pulumi("config", "rm", "--stack", "dev", "gpuConsolidateAfter")
    assert blocked.returncode != 0
    assert (
        "gpu-nodepool-consolidates-quickly" in blocked.stdout
        or "consolidateAfter" in blocked.stdout
    )
    assert "mandatory" in blocked.stdout


def _delete_order(events: list[dict]) -> list[str]:
    done = []
    for event in events:
        outputs_event = event.get("resOutputsEvent")
        if outputs_event and outputs_event["metadata"]["op"] == "delete":
            done.append(outputs_event["metadata"]["urn"])
    return done


def test_6_destroy_runs_the_program_in_the_promised_order_and_leaves_nothing(
    rehearsal: Rehearsal, tmp_path
) -> None:
    r = rehearsal
    log = tmp_path / "events.json"
    # `--event-log` is one of the CLI's debug flags (PULUMI_DEBUG_COMMANDS), as the Automation API
    # uses it.
    done = r.pulumi(
        "destroy",
        "--stack",
        "dev",
        "--yes",
        "--skip-preview",
        "--run-program",
        "--event-log",
        str(log),
        env={"PULUMI_DEBUG_COMMANDS": "true"},
    )
    events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    order = [urn.rsplit("::", 1)[-1] for urn in _delete_order(events)]
    position = {name: order.index(name) for name in order}
    for before, after in (
        (READOUT, "validation-gpu-check"),
        (READOUT, "validation-efa-check"),
        (READOUT, "validation-distributed-check"),
        ("validation-distributed-check", "gpu-nodepool"),
        ("validation-gpu-check", "gpu-nodepool"),
        ("validation-efa-check", "gpu-nodepool"),
        ("gpu-nodepool", "cluster-eks-eksCluster"),
        ("nodes-ng-arm", "cluster-eks-eksCluster"),
        ("nodes-ng-x86", "cluster-eks-eksCluster"),
    ):
        assert position[before] < position[after], (before, after, order)
    assert "gpu-pool: all nodes removed" in done.stdout  # the NodePool's after-delete hook
    status = r.world.status()
    assert "toe-dev" not in status["clusters"]
    # Nothing is left in moto: no cluster, instance, role or launch template, no tag on the
    # workshop's subnets.
    assert r.moto("eks").list_clusters()["clusters"] == []
    reservations = r.moto("ec2").describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )["Reservations"]
    assert reservations == []
    assert r.moto("iam").list_roles()["Roles"] == []
    assert r.moto("ec2").describe_launch_templates()["LaunchTemplates"] == []
    for subnet in r.moto("ec2").describe_subnets()["Subnets"]:
        keys = {t["Key"] for t in subnet.get("Tags", [])}
        assert keys <= {"Name"}, (subnet["SubnetId"], keys)
    sweep = r.toe("sweep", "--cluster", "toe-dev", "--region", REGION, check=False)
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr


def test_7_the_fleet_goes_up_and_down_through_the_automation_api(
    rehearsal: Rehearsal, tmp_path
) -> None:
    r = rehearsal
    stacks = ["attendee01", "attendee02", "attendee03"]
    r.toe("attendees", "add", *stacks, "--dir", str(r.project), "--role-tags-owner", "attendee01")
    common = (
        "--stacks",
        *stacks,
        "--parallel",
        "2",
        "--work-dir",
        str(r.project),
        "--pulumi-root",
        str(r.tools.pulumi_bin.parent),
        "--log-dir",
        str(tmp_path / "logs"),
    )
    up = r.toe("fleet", "up", *common, check=False, timeout=900)
    assert up.returncode == 0, (
        up.stdout
        + up.stderr
        + "".join(p.read_text()[-3000:] for p in (tmp_path / "logs").glob("*"))
    )
    assert "fleet up: 3 ok, 0 failed" in up.stdout, up.stdout
    for stack in stacks:
        assert "gpu: passed — NVIDIA H200" in outputs(r, stack)["validationSummary"]
    report = r.run(
        str(ROOT / ".venv" / "bin" / "python"),
        "-m",
        "toe",
        "report",
        "--stack",
        "attendee01",
        check=False,
    )
    assert report.returncode == 0, report.stdout + report.stderr
    # Read after the fact: the GPU node may be consolidated already, so its type can be gone.
    assert report.stdout.startswith("gpu: passed — NVIDIA H200")
    assert "efa: passed — 2 efa endpoints" in report.stdout
    down = r.toe("fleet", "destroy", *common, "--yes", check=False, timeout=900)
    assert down.returncode == 0, down.stdout + down.stderr
    assert down.stdout.count("sweep: nothing left of toe-attendee0") == 3
    assert r.moto("eks").list_clusters()["clusters"] == []
