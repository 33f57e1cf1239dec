"""Offline synth of the dev stack: plan, manifests, diagram, secrets, preview and errors."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import kubernetes_validate
import pytest
import yaml
from conftest import ROOT, shared_path

from toe import cli
from toe.offline import synth, timeline
from toe.offline.harness import UNKNOWN, Registration

KUBERNETES_VERSION = "1.33"  # the workshop cluster's version (Pulumi.dev.yaml)


# One full program run and one preview run for the whole module (each takes ~1-2 s).
@pytest.fixture(scope="module")
def result(tmp_path_factory) -> synth.SynthResult:
    return synth.synth("dev", out_dir=tmp_path_factory.mktemp("synth") / "dev")


@pytest.fixture(scope="module")
def preview(tmp_path_factory) -> synth.SynthResult:
    return synth.synth("dev", out_dir=tmp_path_factory.mktemp("preview"), preview=True)


def _manifest_files(result: synth.SynthResult) -> list[Path]:
    return sorted((result.out_dir / synth.MANIFEST_DIR).glob("*.yaml"))


def _written_text(result: synth.SynthResult) -> dict[Path, str]:
    return {p: p.read_text() for p in result.out_dir.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------- plan


def test_plan_lists_every_registration_with_its_graph(result):
    plan = synth.load_plan(result.out_dir / synth.PLAN_FILE)
    assert [r["urn"] for r in plan["resources"]] == sorted(r.urn for r in result.run.resources)
    by_name = {r["name"]: r for r in plan["resources"]}
    job = by_name["validation-gpu-check"]
    assert job["type"] == "kubernetes:batch/v1:Job"
    assert job["parent"] == by_name["validation"]["urn"]
    assert job["provider"] == by_name["cluster-k8s"]["urn"]
    assert set(job["dependencies"]) == {
        by_name["gpu-nodepool"]["urn"],
        by_name["validation-scripts"]["urn"],
    }
    assert job["outputs"]["metadata"]["name"].startswith("validation-gpu-check-")
    node_group = by_name["nodes-ng-arm"]
    assert by_name["cluster-eks"]["urn"] in node_group["dependencies"]
    assert node_group["inputs"]["scalingConfig"] == {"desiredSize": 2, "maxSize": 2, "minSize": 2}
    assert plan["outputs"]["clusterName"] == "toe-dev"
    assert plan["secretOutputs"] == ["kubeconfig"]


def test_plan_round_trips_and_is_written_canonically(result):
    path = result.out_dir / synth.PLAN_FILE
    loaded = synth.load_plan(path)
    assert loaded == result.plan
    assert synth.load_plan(result.out_dir) == loaded
    assert synth.dump_json(loaded) == path.read_text()


def test_plan_does_not_depend_on_registration_order(result):
    """The engine registers on a thread pool: lists arrive in any order."""
    shuffled = []
    rng = random.Random(7)
    for reg in result.run.resources:
        deps = list(reg.dependencies)
        rng.shuffle(deps)
        shuffled.append(dataclasses.replace(reg, dependencies=deps))
    rng.shuffle(shuffled)
    run = dataclasses.replace(result.run, resources=shuffled)
    again = synth.build_plan(run, synth.Masker.for_run(run), result.plan["account"])
    assert synth.dump_json(again) == synth.dump_json(result.plan)


# ---------------------------------------------------------------------------- manifests


def test_one_manifest_per_kubernetes_object_named_kind_and_name(result):
    kube = [r for r in result.run.resources if r.type.startswith("kubernetes:")]
    files = _manifest_files(result)
    assert len(files) == len(kube) == 5
    jobs = {"gpu-check": result.plan["outputs"]["validation"]["gpu"]["jobName"]}
    for path in files:
        obj = yaml.safe_load(path.read_text())
        assert list(obj)[:3] == ["apiVersion", "kind", "metadata"]
        assert path.name == f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
    names = {p.name for p in files}
    assert f"job-{jobs['gpu-check']}.yaml" in names
    assert "nodepool-gpu-pool.yaml" in names
    job = yaml.safe_load(
        (result.out_dir / "manifests" / f"job-{jobs['gpu-check']}.yaml").read_text()
    )
    assert job["metadata"]["namespace"] == "toe-validation"
    assert job["spec"]["backoffLimit"] == 1  # an int again, not the engine's 1.0


@pytest.mark.parametrize("kind", ["Namespace", "ConfigMap", "Job"])
def test_core_manifests_validate_against_kubernetes_schemas_strictly(result, kind):
    objs = [yaml.safe_load(p.read_text()) for p in _manifest_files(result)]
    matching = [o for o in objs if o["kind"] == kind]
    assert matching
    for obj in matching:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_strict_validation_would_catch_a_stray_field(result):
    path = next(p for p in _manifest_files(result) if p.name.startswith("job-"))
    obj = yaml.safe_load(path.read_text())
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def _nodepool_schema() -> dict:
    crd = yaml.safe_load(shared_path("schemas", "karpenter.sh_nodepools.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return version["schema"]["openAPIV3Schema"]


def test_nodepool_validates_against_the_karpenter_crd(result):
    schema = _nodepool_schema()
    obj = yaml.safe_load((result.out_dir / "manifests" / "nodepool-gpu-pool.yaml").read_text())
    assert (obj["apiVersion"], obj["kind"]) == ("karpenter.sh/v1", "NodePool")
    jsonschema.validate(obj, schema)
    broken = json.loads(json.dumps(obj))
    broken["spec"]["disruption"]["consolidationPolicy"] = "Sometimes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_manifest_renders_unknown_values_as_computed():
    job = Registration(
        urn="urn:pulumi:dev::p::kubernetes:batch/v1:Job::check",
        type="kubernetes:batch/v1:Job",
        name="check",
        custom=True,
        parent="",
        provider="",
        dependencies=[],
        property_dependencies={},
        inputs={
            "metadata": {"namespace": "toe-validation"},
            "spec": {"template": {"spec": {"volumes": [{"configMap": {"name": UNKNOWN}}]}}},
        },
    )
    obj = synth.manifest(job, synth.Masker())
    assert (obj["apiVersion"], obj["kind"]) == ("batch/v1", "Job")
    assert obj["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == "<computed>"
    assert obj["metadata"]["name"] == "<computed>"
    text = synth.manifest_text(job, obj)
    assert "<computed>" in text and "object at 0x" not in text


# ---------------------------------------------------------------------------- secrets


def _secret_texts(result: synth.SynthResult) -> list[str]:
    eks = next(r for r in result.run.resources if r.type == "eks:index:Cluster")
    kubeconfig_json = eks.outputs["kubeconfigJson"]
    ca = json.loads(kubeconfig_json)["clusters"][0]["cluster"]["certificate-authority-data"]
    return [kubeconfig_json, result.run.outputs["kubeconfig"], ca]


def test_no_written_file_holds_a_secret(result):
    secrets = _secret_texts(result)
    token_like = re.compile(r"k8s-aws-v1\.|certificate-authority-data|client-key-data|LS0tLS1")
    texts = _written_text(result)
    assert len(texts) >= 7
    for path, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{path} holds a secret"
        assert not token_like.search(text), f"{path} holds something token-like"
    provider = next(r for r in result.plan["resources"] if r["name"] == "cluster-k8s")
    assert provider["inputs"]["kubeconfig"] == synth.SECRET
    assert result.plan["outputs"]["kubeconfig"] == synth.SECRET


def test_masker_hides_secrets_and_their_copies():
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
    kubeconfig = json.dumps({"clusters": [{"cluster": {"certificate-authority-data": "Q" * 40}}]})
    run = SimpleNamespace(
        resources=[
            SimpleNamespace(inputs={"kubeconfig": {**secret, "value": kubeconfig}}, outputs={})
        ],
        outputs={},
        secret_outputs=set(),
        config={},
    )
    masker = synth.Masker.for_run(run)
    assert masker.clean({"k": {**secret, "value": "x"}}) == {"k": "[secret]"}
    assert masker.clean({"note": f"derived: {kubeconfig}"}) == {"note": "[secret]"}
    assert masker.clean(["ca " + "Q" * 40]) == ["[secret]"]
    assert masker.clean({"endpoint": "https://example.eks.amazonaws.com"}) == {
        "endpoint": "https://example.eks.amazonaws.com"
    }
    assert masker.clean({"n": 2.0, "f": 0.5, "b": True, "u": UNKNOWN}) == {
        "n": 2,
        "f": 0.5,
        "b": True,
        "u": "<computed>",
    }


# ---------------------------------------------------------------------------- preview


def test_preview_renders_computed_never_python_reprs(preview):
    plan = preview.plan
    assert plan["preview"] is True
    assert plan["outputs"]["clusterEndpoint"] == "<computed>"
    attachment = next(r for r in plan["resources"] if r["name"].startswith("nodes-role-Amazon"))
    assert attachment["inputs"]["role"] == "<computed>"
    for path, text in _written_text(preview).items():
        assert "object at 0x" not in text and "Unknown" not in text, path
        assert synth.UNKNOWN_SENTINEL not in text, path


def test_summary_prints_computed_and_masks_secrets(preview, monkeypatch, capsys):
    monkeypatch.setattr(synth, "synth", lambda *a, **k: preview)
    assert cli.main(["synth", "--preview"]) == 0
    out = capsys.readouterr().out
    assert "<computed>" in out and "[secret]" in out
    assert "gpu-nodepool" in out and "validation-gpu-check" in out


# ---------------------------------------------------------------------------- graph


def test_graph_has_a_subgraph_per_component_and_the_dependency_edges(result):
    text = (result.out_dir / synth.GRAPH_FILE).read_text()
    assert text == result.graph
    assert text.startswith("flowchart")
    components = [r for r in result.run.resources if r.type.startswith("training-on-eks:")]
    assert text.count("subgraph ") == len(components) == 5
    assert text.count("\n  end") + text.count("\n    end") >= 5
    ids = dict(re.findall(r"(r\d+)[\[(]+\"([^<\"]+)<br/>", text))
    by_name = {name: node for node, name in ids.items()}
    assert f"{by_name['gpu-nodepool']} --> {by_name['validation-gpu-check']}" in text
    assert f"{by_name['cluster-eks']} --> {by_name['nodes-ng-arm']}" in text
    assert f"{by_name['cluster-k8s']} -.->|provider| {by_name['gpu-nodepool']}" in text


# ---------------------------------------------------------------------------- timeline


def test_timeline_gpu_check_does_not_wait_for_node_groups(result):
    model = timeline.build(result.plan)
    gpu = model.named("validation-gpu-check")
    before = {model.steps[u].name for u in model.ancestors(gpu.urn)}
    assert {"cluster-eks", "cluster-k8s", "gpu-nodepool"} <= before
    assert not before & {"nodes-ng-arm", "nodes-ng-x86"}
    assert gpu.start < model.named("nodes-ng-arm").finish
    text = timeline.render(model)
    line = next(x for x in text.splitlines() if x.strip().startswith("validation-gpu-check starts"))
    assert "nodes-ng-arm" in line and "nodes-ng-x86" in line
    assert model.critical_path[0] == model.named("cluster-eks").urn


# ---------------------------------------------------------------------------- command


def test_command_reports_a_bad_account_file_without_traceback(tmp_path, capsys):
    bad = tmp_path / "account.yaml"
    bad.write_text("region: ap-northeast-2\nvpcs: nope\n")
    assert cli.main(["synth", "--account", str(bad), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "vpcs" in err and "Traceback" not in err


def test_command_reports_a_missing_vpc_with_the_programs_message(tmp_path, capsys):
    account = tmp_path / "account.yaml"
    account.write_text(
        "region: ap-northeast-2\nvpcs:\n  - name: data-platform\n    cidr: 10.1.0.0/16\n"
        "    subnets:\n"
        "      - {name: TOE-priv-subnet-a, az: ap-northeast-2a, cidr: 10.1.16.0/20}\n"
    )
    assert cli.main(["synth", "--account", str(account), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "vpcName" in err and "training-on-eks" in err and "pulumi config set" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o" / synth.PLAN_FILE).exists()


def test_command_names_an_unknown_stack(tmp_path, capsys):
    assert cli.main(["synth", "--stack", "nope", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Pulumi.nope.yaml" in err and "dev" in err


def test_a_project_folder_without_the_program_is_named_as_such(tmp_path, capsys):
    """`--dir` at a folder with only the settings: say so, not FileNotFoundError."""
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    assert cli.main(["synth", "--dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "has no __main__.py" in err and "FileNotFoundError" not in err


def test_verdicts_of_the_policy_pack_are_written_and_printed(result, monkeypatch, capsys):
    if synth.policy_runner() is None:
        pytest.skip("policies/rules.py is not in this checkout")
    assert result.verdicts is not None and result.mandatory_violations == []
    records = json.loads((result.out_dir / synth.VERDICTS_FILE).read_text())
    assert [r["policy"] for r in records] == [v.policy for v in result.verdicts]
    assert {r["enforcement"] for r in records} <= {"mandatory", "advisory"}
    monkeypatch.setattr(synth, "synth", lambda *a, **k: result)
    assert cli.main(["synth"]) == 0
    assert result.verdicts_text in capsys.readouterr().out


def test_a_mandatory_violation_from_the_pack_fails_the_command(tmp_path, monkeypatch, capsys):
    if synth.policy_runner() is None:
        pytest.skip("policies/rules.py is not in this checkout")
    # Idle GPU nodes must go within 30 minutes (gpu-nodepool-guardrails, mandatory).
    failing = synth.synth("dev", out_dir=tmp_path, config={"gpuConsolidateAfter": "2h"})
    assert [v.policy for v in failing.mandatory_violations] == ["gpu-nodepool-guardrails"]
    monkeypatch.setattr(synth, "synth", lambda *a, **k: failing)
    assert cli.main(["synth"]) == 2
    captured = capsys.readouterr()
    assert "gpu-nodepool-guardrails" in captured.out
    assert "1 mandatory policy violation" in captured.err


def test_command_exits_non_zero_on_a_mandatory_violation(result, monkeypatch, capsys):
    verdicts = [
        SimpleNamespace(
            policy="no-public-endpoint",
            enforcement="mandatory",
            urn="urn:x",
            resource_name="cluster-eks",
            message="endpoint is public",
        ),
        SimpleNamespace(
            policy="eks-version",
            enforcement="advisory",
            urn="urn:y",
            resource_name="cluster-eks",
            message="1.33 is in extended support",
        ),
    ]
    failing = dataclasses.replace(result, verdicts=verdicts, verdicts_text=None)
    monkeypatch.setattr(synth, "synth", lambda *a, **k: failing)
    assert cli.main(["synth"]) == 2
    captured = capsys.readouterr()
    assert "no-public-endpoint" in captured.out and "eks-version" in captured.out
    assert "mandatory" in captured.err
    advisory_only = dataclasses.replace(failing, verdicts=verdicts[1:])
    monkeypatch.setattr(synth, "synth", lambda *a, **k: advisory_only)
    assert cli.main(["synth"]) == 0


def test_command_prints_the_timeline(result, monkeypatch, capsys):
    monkeypatch.setattr(synth, "synth", lambda *a, **k: result)
    assert cli.main(["synth", "--timeline"]) == 0
    out = capsys.readouterr().out
    assert "Critical path:" in out and "validation-gpu-check starts at" in out


# ---------------------------------------------------------------------------- checkov


def _checkov() -> str:
    """checkov from `make scan`'s own environment (.venv-scan), this venv, or PATH."""
    root = Path(__file__).resolve().parents[1]
    candidates = (
        root / ".venv-scan" / "bin" / "checkov",
        Path(sys.executable).with_name("checkov"),
    )
    found = next((str(c) for c in candidates if c.exists()), None) or shutil.which("checkov")
    if not found:
        pytest.skip(
            "checkov is not installed: `make scan` installs it in .venv-scan (it pins an older "
            "boto3 than pyproject.toml allows)"
        )
    return found


def test_checkov_finds_no_failed_checks_in_the_manifests(result):
    checkov = _checkov()
    done = subprocess.run(
        [
            checkov,
            "-d",
            str(result.out_dir / synth.MANIFEST_DIR),
            "--config-file",
            str(ROOT / ".checkov.yaml"),
            "--framework",
            "kubernetes",
            "--quiet",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [c["check_id"] for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [], done.stdout[-2000:]
    assert done.returncode == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "region: ap-northeast-2\nvpcs:\n  - {name: v, cidr: 10.0.0.0/16, subnets: 5}\n",
            "vpcs[0].subnets: is a whole number, needs a list",
        ),
        (
            "region: ap-northeast-2\nvpcs:\n  - name: v\n    cidr: 10.0.0.0/16\n    subnets:\n"
            "      - {name: a, az: ap-northeast-2a, cidr: 10.0.0.0/24}\n"
            "      - {name: b, az: ap-northeast-2c, cidr: 10.0.0.128/25}\n",
            "vpcs[0].subnets[1].cidr: 10.0.0.128/25 overlaps",
        ),
        (
            "region: ap-northeast-2\nvpcs:\n  - {name: v, cidr: 10.0.0.0/8}\n",
            "vpcs[0].cidr: 10.0.0.0/8 is a /8; AWS VPC and subnet blocks are /16 to /28",
        ),
        (
            "region: ap-northeast-2\nvpcs:\n  - name: v\n    cidr: 10.0.0.0/16\n    subnets:\n"
            "      - {name: a, az: ap-northeast-2z, cidr: 10.0.0.0/24}\n",
            "vpcs[0].subnets[0].az: 'ap-northeast-2z' is not a zone of ap-northeast-2",
        ),
        ("region: moon-1\nvpcs: []\n", "region: 'moon-1' is not an AWS region"),
        (b"region: ap-northeast-2\nvpcs: []\n# \xff\xfe\n", "not UTF-8 text"),
        (None, "is a directory"),
        ("region: [\n", "account.yaml:2:1:"),
    ],
)
def test_a_bad_account_file_is_one_clear_error_naming_file_and_field(
    tmp_path, capsys, text, expected
):
    path = tmp_path / "account.yaml"
    if text is None:
        path.mkdir()
    elif isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    code = cli.main(["synth", "--account", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert expected in err, err
    assert "account.yaml" in err
    assert "Traceback" not in err


def test_synth_refuses_a_folder_of_files_it_did_not_write(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "manifests").mkdir(parents=True)
    mine = out / "manifests" / "notes.yaml"
    mine.write_text("an instructor's own file\n")
    assert cli.main(["synth", "--out", str(out)]) == 1
    assert "holds files synth did not write (manifests/notes.yaml)" in capsys.readouterr().err
    assert mine.read_text() == "an instructor's own file\n"


def test_a_second_synth_replaces_its_own_output_whole(tmp_path):
    out = tmp_path / "out"
    first = synth.synth("dev", out_dir=out, policies=False)
    stale = out / synth.MANIFEST_DIR / "configmap-old.yaml"
    marker = json.loads((out / synth.MARKER_FILE).read_text())
    stale.write_text("from an older synth\n")
    marker["files"].append(f"{synth.MANIFEST_DIR}/configmap-old.yaml")
    (out / synth.MARKER_FILE).write_text(json.dumps(marker))
    second = synth.synth("dev", out_dir=out, policies=False)
    assert not stale.exists()
    assert sorted(p.name for p in (out / synth.MANIFEST_DIR).iterdir()) == sorted(
        p.name for p in second.files if p.parent.name == synth.MANIFEST_DIR
    )
    assert first.plan["stack"] == second.plan["stack"] == "dev"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no debris


def test_two_synths_writing_one_folder_never_mix(tmp_path, result):
    """Each write builds a whole folder and moves it into place: the folder holds one of them."""
    import threading

    from toe.offline.synth import Masker, write

    out = tmp_path / "out"
    masker = Masker.for_run(result.run)
    manifests = synth.build_manifests(result.run, masker)
    plans = []
    for stack in ("alpha", "beta"):
        plan = dict(result.plan, stack=stack)
        only = {f"{stack}-{name}": value for name, value in manifests.items()}
        plans.append((plan, only))
    barrier = threading.Barrier(len(plans) * 3)

    def go(plan, only):
        barrier.wait()
        write(out, plan, only, result.graph, None, masker)

    threads = [threading.Thread(target=go, args=p) for p in plans * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stack = json.loads((out / synth.PLAN_FILE).read_text())["stack"]
    names = {p.name for p in (out / synth.MANIFEST_DIR).iterdir()}
    assert names and all(name.startswith(f"{stack}-") for name in names)


def test_an_account_of_another_region_is_refused_and_the_fix_leaves_the_stack_alone(
    tmp_path, capsys
):
    """The program would look for the VPC in the stack's region and find none: synth says why,
    and its fix rehearses in the file's region once, without changing the stack file."""
    from toe.offline.account import WORKSHOP_ACCOUNT

    account = tmp_path / "account.yaml"
    account.write_text(WORKSHOP_ACCOUNT.read_text().replace("ap-northeast-2", "us-east-1"))
    argv = ["synth", "--account", str(account), "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert f"{account}: describes us-east-1, but stack dev deploys to ap-northeast-2" in err
    fix = re.search(r"`(--set \S+)`", err).group(1)
    stack_file = (ROOT / "Pulumi.dev.yaml").read_bytes()
    assert cli.main([*argv, *fix.split()]) == 0, capsys.readouterr().err
    assert (ROOT / "Pulumi.dev.yaml").read_bytes() == stack_file
