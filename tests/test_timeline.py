"""The modelled `pulumi up` timeline: latency table, scheduling rules, critical path, text."""

from __future__ import annotations

import pytest
import yaml

from toe.offline import timeline

STACK = "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev"


def _resource(name, type_, *, custom=True, parent=STACK, deps=(), provider="", inputs=None):
    return {
        "urn": f"urn:pulumi:dev::p::{type_}::{name}",
        "name": name,
        "type": type_,
        "custom": custom,
        "parent": parent,
        "dependencies": list(deps),
        "provider": provider,
        "inputs": inputs or {},
    }


def _job(check, image, *, deps, provider):
    """The Job of a check: named and labelled as the check, running `image`."""
    inputs = {
        "metadata": {"labels": {"app.kubernetes.io/name": check}},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}},
    }
    return _resource(check, "kubernetes:batch/v1:Job", deps=deps, provider=provider, inputs=inputs)


@pytest.fixture(scope="module")
def table() -> timeline.Latencies:
    return timeline.load_latencies()


@pytest.fixture(scope="module")
def plan() -> dict:
    """The stack's shape: cluster, provider, node groups (in a component), NodePool, two Jobs."""
    cluster = _resource("cluster-eks", "eks:index:Cluster", custom=False)
    k8s = _resource("cluster-k8s", "pulumi:providers:kubernetes", deps=[cluster["urn"]])
    nodes = _resource("nodes", "p:nodes:NodeGroups", custom=False)
    role = _resource("nodes-role", "aws:iam/role:Role", parent=nodes["urn"])
    groups = [
        _resource(
            f"nodes-{g}",
            "eks:index:ManagedNodeGroup",
            custom=False,
            parent=nodes["urn"],
            deps=[cluster["urn"], role["urn"]],
        )
        for g in ("ng-arm", "ng-x86")
    ]
    pool = _resource("gpu-nodepool", "kubernetes:karpenter.sh/v1:NodePool", provider=k8s["urn"])
    images = {
        "gpu-check": "nvidia/cuda:12.8.1-base-ubuntu24.04",
        "efa-check": "763104351884.dkr.ecr.ap-northeast-2.amazonaws.com/pytorch-training:2.6.0-gpu",
    }
    gpu, efa = (
        _job(check, image, deps=[pool["urn"]], provider=k8s["urn"])
        for check, image in images.items()
    )
    # Something that waits for the whole node-groups component.
    after = _resource("after-nodes", "kubernetes:core/v1:ConfigMap", deps=[nodes["urn"]])
    return {"resources": [cluster, k8s, nodes, role, *groups, pool, gpu, efa, after]}


def test_latency_table_cites_a_basis_and_source_for_every_entry(table):
    entries = [*table.steps.values(), *table.job_runs.values(), *table.images]
    assert entries
    for entry in entries:
        assert entry.basis in timeline.BASES
        assert len(entry.source) > 20
    assert table.throughput == pytest.approx(1_766_399_024 / 59)
    assert "measured" in table.throughput_source or "1,766,399,024" in table.throughput_source
    control_plane = table.steps["eks_control_plane"]
    assert control_plane.low <= 600 <= control_plane.high and control_plane.basis == "docs"
    assert table.image("nvidia/cuda:12.8.1-base-ubuntu24.04").bytes <= 200e6
    assert table.image("x.dkr.ecr.ap-northeast-2.amazonaws.com/pytorch-training:2.6").bytes >= 10e9
    assert table.image("nvidia/cuda:12.4.1-runtime-ubuntu22.04").basis == "measured"


def test_a_bad_latency_table_is_refused_with_the_entry_named(tmp_path):
    raw = yaml.safe_load(timeline.LATENCIES.read_text())
    raw["steps"]["iam_role"]["basis"] = "hunch"
    path = tmp_path / "latencies.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(timeline.LatencyTableError, match=r"steps\.iam_role"):
        timeline.load_latencies(path)


def test_resources_start_when_dependencies_and_provider_are_done(plan, table):
    model = timeline.build(plan, table)
    cluster = model.named("cluster-eks")
    provider = model.named("cluster-k8s")
    pool = model.named("gpu-nodepool")
    assert cluster.start == 0
    assert cluster.seconds == pytest.approx(
        sum(table.steps[s].seconds for s in ("iam_role", "eks_control_plane", "eks_addons"))
    )
    assert provider.start == cluster.finish
    assert pool.start == provider.finish  # only the provider links the NodePool to the cluster
    gpu = model.named("gpu-check")
    assert gpu.start == pool.finish
    for group in ("nodes-ng-arm", "nodes-ng-x86"):
        assert model.named(group).start == cluster.finish
        assert model.named(group).urn not in model.ancestors(gpu.urn)


def test_a_dependency_on_a_component_waits_for_all_its_resources(plan, table):
    model = timeline.build(plan, table)
    after = model.named("after-nodes")
    assert after.start == max(model.named(g).finish for g in ("nodes-ng-arm", "nodes-ng-x86"))
    assert "nodes" not in {s.name for s in model.steps.values()}  # components take no time


def test_job_time_is_node_launch_plus_pull_of_its_image_plus_run(plan, table):
    model = timeline.build(plan, table)
    gpu, efa = model.named("gpu-check"), model.named("efa-check")
    names = [p.name.split()[0] for p in gpu.phases]
    assert names == ["k8s_object", "auto_mode_node_launch", "image_pull", "job_run"]
    pull = next(p for p in efa.phases if p.name.startswith("image_pull"))
    assert pull.seconds == pytest.approx(10.5e9 / table.throughput)
    assert efa.seconds > gpu.seconds


def test_a_recorded_image_size_replaces_the_estimate(table):
    gpu = table.image("nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04")
    assert (gpu.bytes, gpu.low, gpu.high, gpu.basis) == (100_999_123,) * 3 + ("registry",)
    assert gpu.source.startswith("check_images.yaml: ")
    # Recorded without a size (no published figure): the table's estimate stays.
    dlc = (
        "763104351884.dkr.ecr.ap-northeast-2.amazonaws.com/"
        "pytorch-training:2.6.0-gpu-py312-cu126-ubuntu22.04-ec2"
    )
    assert table.image(dlc).basis == "estimate"
    job = _job("gpu-check", gpu.pattern, deps=[], provider="urn:k8s")
    pull = next(p for p in timeline._phases(job, table) if p.name.startswith("image_pull"))
    assert (pull.seconds, pull.basis) == (pytest.approx(100_999_123 / table.throughput), "registry")


def test_critical_path_total_and_range(plan, table):
    model = timeline.build(plan, table)
    names = [model.steps[u].name for u in model.critical_path]
    assert names == ["cluster-eks", "cluster-k8s", "gpu-nodepool", "efa-check"]
    assert model.total == model.named("efa-check").finish
    assert model.total_low < model.total < model.total_high
    text = timeline.render(model)
    assert f"Total: {timeline.clock(model.total)}" in text
    assert "gpu-check starts at" in text and "does not wait for: " in text
    line = next(x for x in text.splitlines() if "gpu-check starts at" in x)
    assert "nodes-ng-arm" in line and "efa-check" in line


def test_a_cycle_is_reported(table):
    a = _resource("a", "aws:ec2/tag:Tag")
    b = _resource("b", "aws:ec2/tag:Tag", deps=[a["urn"]])
    a["dependencies"] = [b["urn"]]
    with pytest.raises(ValueError, match="cycle"):
        timeline.build({"resources": [a, b]}, table)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.6, "1m00s"), (695, "11m35s"), (3723, "1h02m03s")]
)
def test_clock(seconds, text):
    assert timeline.clock(seconds) == text
