"""Teardown order, proven from the registered dependency graph, and the NodePool drain wait."""

from __future__ import annotations

import pytest

from components.teardown import DrainTarget, NodesRemainError, wait_for_nodes_gone
from core.config import AwsAccess
from toe.offline.harness import ProgramRun, run_program
from toe.offline.simulated_cluster import FakeCoreV1, node

TARGET = DrainTarget("toe-dev", "gpu-pool", AwsAccess("ap-northeast-2"))


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    return run_program("dev")


def edges(run: ProgramRun) -> dict[str, set[str]]:
    """Resource -> what it needs to exist first (dependencies, property deps, its provider)."""
    known = {r.urn for r in run.resources}
    graph = {}
    for r in run.resources:
        deps = set(r.dependencies) | {u for us in r.property_dependencies.values() for u in us}
        if r.provider:
            deps.add(r.provider.rsplit("::", 1)[0])
        graph[r.urn] = {d for d in deps if d in known}
    return graph


def destroy_order(run: ProgramRun) -> list[str]:
    """The engine deletes a resource only after everything that depends on it."""
    graph = edges(run)
    dependents = {u: {v for v, deps in graph.items() if u in deps} for u in graph}
    order, done = [], set()
    while len(done) < len(graph):
        ready = sorted(u for u in graph if u not in done and dependents[u] <= done)
        assert ready, "dependency cycle"
        order.extend(ready)
        done.update(ready)
    return order


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        u = todo.pop()
        if u == goal:
            return True
        if u not in seen:
            seen.add(u)
            todo.extend(graph.get(u, ()))
    return False


def test_destroy_runs_checks_then_nodepool_and_node_groups_then_cluster(dev):
    """Readout -> Jobs -> NodePool (its hook waits for the GPU nodes) -> cluster; node groups ->
    cluster. The NodePool and the node groups are independent: ordering one after the other on
    destroy would order them on create too, and the GPU check would wait for the node groups."""
    order = destroy_order(dev)
    position = {urn: i for i, urn in enumerate(order)}

    def at(type_: str) -> list[int]:
        return [position[r.urn] for r in dev.of_type(type_)]

    readout = at("pulumi-python:dynamic/training-on-eks:ValidationReadout")
    jobs = at("kubernetes:batch/v1:Job")
    nodepool = at("kubernetes:karpenter.sh/v1:NodePool")
    node_groups = at("eks:index:ManagedNodeGroup")
    cluster = at("eks:index:Cluster")
    assert max(readout) < min(jobs)
    assert max(jobs) < min(nodepool)
    assert max(nodepool + node_groups) < min(cluster)
    graph = edges(dev)
    for pool in dev.of_type("kubernetes:karpenter.sh/v1:NodePool"):
        for group in dev.of_type("eks:index:ManagedNodeGroup"):
            assert not reaches(graph, pool.urn, group.urn)
            assert not reaches(graph, group.urn, pool.urn)


def test_subnet_tags_are_independent_of_the_cluster(dev):
    graph = edges(dev)
    cluster = dev.of_type("eks:index:Cluster")[0].urn
    for tag in dev.of_type("aws:ec2/tag:Tag"):
        assert not reaches(graph, tag.urn, cluster)
        assert not reaches(graph, cluster, tag.urn)


def test_nodepool_waits_for_its_nodes_after_delete(dev):
    (nodepool,) = dev.of_type("kubernetes:karpenter.sh/v1:NodePool")
    assert nodepool.hooks == {"after_delete": ["wait-for-gpu-pool-nodes"]}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def gpu_node(name: str, pool: str = "gpu-pool"):
    n = node(name, "g5.xlarge")
    n.metadata.labels["karpenter.sh/nodepool"] = pool
    return n


def test_wait_returns_once_the_pool_has_no_nodes():
    api = FakeCoreV1(nodes=[gpu_node("i-1"), gpu_node("i-other", pool="general-purpose")])
    clock, logs = Clock(), []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        api.nodes = [n for n in api.nodes if n.metadata.name != "i-1"]  # Auto Mode removed it

    wait_for_nodes_gone(
        TARGET, api_factory=lambda _t: api, clock=clock, sleep=sleep, log=logs.append
    )
    assert clock.now == 15
    assert logs == ["gpu-pool: waiting for 1 node(s) to go: i-1", "gpu-pool: all nodes removed"]
    assert ("list_node", "karpenter.sh/nodepool=gpu-pool") in api.calls


def test_wait_is_bounded_and_says_what_to_do():
    api = FakeCoreV1(nodes=[gpu_node("i-1"), gpu_node("i-2")])
    clock = Clock()
    with pytest.raises(NodesRemainError) as err:
        wait_for_nodes_gone(
            TARGET,
            api_factory=lambda _t: api,
            clock=clock,
            sleep=clock.sleep,
            log=lambda _m: None,
            timeout_seconds=60,
        )
    assert clock.now == 60
    text = str(err.value)
    assert "2 node(s) of NodePool gpu-pool still exist after 60 s: i-1, i-2" in text
    assert "pulumi destroy --run-program" in text
    assert "python -m toe sweep --cluster toe-dev --region ap-northeast-2" in text
