"""core/data/fabric.yaml against EC2's data (moto's copy) and its own stated formula: every GPU
type the pool can launch has a floor with a source, and the message sizes reach it."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import moto
import pytest

from core import fabric, k8s_objects
from core.config import DistributedSpec

EC2 = Path(moto.__file__).parent / "ec2" / "resources" / "instance_types.json.gz"
GIB = 1 << 30


@pytest.fixture(scope="module")
def ec2() -> dict:
    return json.loads(gzip.decompress(EC2.read_bytes()))


def gpu_types(ec2: dict) -> set[str]:
    """What the GPU pool can launch: amd64, NVIDIA, at least one GPU (core.instance_types)."""
    found = set()
    for name, item in ec2.items():
        gpus = (item.get("GpuInfo") or {}).get("Gpus") or []
        if (
            gpus
            and gpus[0].get("Manufacturer") == "NVIDIA"
            and "x86_64" in item["ProcessorInfo"]["SupportedArchitectures"]
            and sum(g["Count"] for g in gpus) > 0
        ):
            found.add(name)
    return found


def test_every_gpu_type_ec2_lists_has_a_row_and_no_row_is_invented(ec2):
    assert set(fabric.table().types) == gpu_types(ec2)
    assert len(fabric.table().types) >= 50


def test_every_row_has_its_network_from_ec2_and_a_floor_with_a_source(ec2):
    data = fabric.table()
    wrong = []
    for name, row in data.types.items():
        item = ec2[name]
        network = item["NetworkInfo"]
        gpus = item["GpuInfo"]["Gpus"]
        efa = (network.get("EfaInfo") or {}).get("MaximumEfaInterfaces", 0)
        facts = (
            row.gpus == sum(g["Count"] for g in gpus),
            row.gpu_memory_mib == gpus[0]["MemoryInfo"]["SizeInMiB"],
            row.network_performance == network["NetworkPerformance"],
            row.card_gbps == network["NetworkCards"][0]["BaselineBandwidthInGbps"],
            row.efa_interfaces == (efa if network.get("EfaSupported") else 0),
        )
        if not all(facts):
            wrong.append(f"{name}: {facts}")
        if row.floor_source not in data.sources or not data.sources[row.floor_source]:
            wrong.append(f"{name}: floor source {row.floor_source!r} is not in sources")
        for extra in (row.published, row.recipe):
            if extra is not None and extra.source not in data.sources:
                wrong.append(f"{name}: source {extra.source!r} is not in sources")
    assert wrong == []


def test_every_floor_is_the_stated_formula(ec2):
    data = fabric.table()
    for name, row in data.types.items():
        assert row.tcp_floor_gbps == round(data.tcp_share * row.card_gbps / 8, 3), name
        if row.efa_interfaces:
            assert row.efa_floor_gbps == round(data.efa_share * row.card_gbps / 8, 3), name
        else:
            assert row.efa_floor_gbps is None, name  # no EFA, no EFA floor
        # At least 4 GiB; the published size where it is larger and a third of the GPU holds it.
        published = row.published.bytes if row.published else 0
        fits = published <= row.gpu_memory_mib * (1 << 20) // 3
        assert row.floor_bytes == max(data.default_bytes, published if fits else 0), name
        assert data.default_bytes == 4 * GIB


def test_the_published_figures_are_the_cited_ones():
    types = fabric.table().types
    p4de, p5 = types["p4de.24xlarge"].published, types["p5.48xlarge"].published
    assert (p4de.busbw_gbps, p4de.bytes, p4de.gpus_per_node) == (78.33, 2 * GIB, 8)
    assert (p5.busbw_gbps, p5.bytes, p5.gpus_per_node) == (487.09, 16 * GIB, 8)
    assert types["p5.48xlarge"].recipe.busbw_gbps == 300
    # The check's own shape (one GPU, one EFA device per node) has a floor far below them.
    assert types["p5.48xlarge"].efa_floor_gbps == 6.25
    assert types["p5.48xlarge"].floor_bytes == 16 * GIB


def test_the_job_runs_the_sizes_its_floor_is_judged_at():
    def sizes(instance_type: str) -> str:
        job = k8s_objects.distributed_job(
            DistributedSpec(enabled=True, image="repo/torch:2.6", instance_type=instance_type),
            namespace="ns",
            configmap="cm",
            run_id="1",
            nodepool="gpu-pool",
            timeout_seconds=1500,
        )
        env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        return next(e["value"] for e in env if e["name"] == "TOE_SIZES_MIB")

    assert sizes("") == "1 4 16 64 256 1024 4096"
    assert sizes("g6.8xlarge") == "1 4 16 64 256 1024 4096"
    assert sizes("p5.48xlarge") == "1 4 16 64 256 1024 4096 16384"  # where p5 was measured


def test_the_lowest_floor_of_mixed_nodes_applies():
    floor = fabric.floor_for(["g6.xlarge", "g6.4xlarge"], False, None)
    assert (floor.gbps, floor.applies_to) == (0.078, "g6.xlarge over TCP")
