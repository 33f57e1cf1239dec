"""Image references taken apart, manifests read, and the recorded catalogue of check images."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from core import image_catalogue as cat
from core import images

DEFAULT_GPU = "nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04"
DLC = (
    "763104351884.dkr.ecr.ap-northeast-2.amazonaws.com/"
    "pytorch-training:2.6.0-gpu-py312-cu126-ubuntu22.04-ec2"
)
HUB_INDEX = "sha256:133c78a0575303be34164d0b90137a042172bdf60696af01a3c424ab402d86e2"
HUB_AMD64 = "sha256:e711c99333fdfe8ae1e677b4972be6c5021f0128a1d31f775c7e58d88921b6a9"


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        (DEFAULT_GPU, "nvcr.io", "nvidia/cuda", "12.8.1-base-ubuntu24.04", None),
        ("nvidia/cuda:12.8", "docker.io", "nvidia/cuda", "12.8", None),
        ("ubuntu:24.04", "docker.io", "library/ubuntu", "24.04", None),
        ("docker.io/nvidia/cuda@" + HUB_INDEX, "docker.io", "nvidia/cuda", None, HUB_INDEX),
        ("localhost:5000/a/b:1@" + HUB_AMD64, "localhost:5000", "a/b", "1", HUB_AMD64),
        (DLC, DLC.split("/")[0], "pytorch-training", DLC.rsplit(":", 1)[1], None),
    ],
)
def test_references_are_taken_apart_as_the_kubelet_does(text, registry, repository, tag, digest):
    ref = images.parse_ref(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ref.reference == (digest or tag)


def test_an_ecr_host_names_its_account_and_region():
    assert images.parse_ref(DLC).ecr == ("763104351884", "ap-northeast-2")
    assert images.parse_ref(DEFAULT_GPU).ecr is None
    assert (
        images.parse_ref(DEFAULT_GPU).with_tag("12.8.0-base") == "nvcr.io/nvidia/cuda:12.8.0-base"
    )


@pytest.mark.parametrize("text", ["", " nvidia/cuda:1", "nvidia/CUDA:1", "a:b@sha256:12", "a:-x"])
def test_bad_references_are_refused_saying_what_is_wrong(text):
    with pytest.raises(ValueError, match="not"):
        images.parse_ref(text)


def test_an_index_lists_its_platforms_without_attestations():
    index = {
        "mediaType": images.OCI_INDEX,
        "manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": "sha256:c", "platform": {"os": "unknown", "architecture": "unknown"}},
        ],
    }
    assert images.is_index(None, index)
    assert images.index_platforms(index) == [
        ("linux/amd64", "sha256:a"),
        ("linux/arm64", "sha256:b"),
    ]
    manifest = {"config": {"size": 7}, "layers": [{"size": 100}, {"size": 23}]}
    assert not images.is_index(images.OCI_MANIFEST, manifest)
    assert images.compressed_bytes(manifest) == 123  # the layers: what a node downloads


def test_nearest_tags_put_the_tag_a_suffix_was_added_to_first():
    tags = ["12.8.1-base-ubuntu24.04", "12.8.1-base-ubuntu22.04", "12.8.0-base-ubuntu24.04", "13.0"]
    nearest = images.nearest_tags("12.8.1-base-ubuntu24.04-no-such-tag", tags)
    assert nearest[0] == "12.8.1-base-ubuntu24.04"
    assert "13.0" not in nearest
    assert images.nearest_tags("zzz", tags) == []


def test_every_default_check_image_is_recorded_with_its_source():
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    defaults = {
        key: schema[key]["default"]
        for key in ("gpuCheckImage", "efaCheckImage", "distributedCheckImage")
    }
    recorded = {key: r for r in cat.load_catalogue().values() for key in r.config_keys}
    assert {key: recorded[key].reference for key in defaults} == defaults
    for record in cat.load_catalogue().values():
        assert record.source
        unsized = [p for p, r in record.platforms.items() if r.compressed_bytes is None]
        undigested = [p for p, r in record.platforms.items() if r.digest is None]
        if record.digest is None or unsized or undigested:
            assert record.unsourced, f"{record.reference}: say what could not be sourced"


def test_the_recorded_figures():
    hub = cat.find("docker.io/nvidia/cuda:12.8.1-base-ubuntu24.04")
    assert hub.digest == HUB_INDEX
    assert hub.platforms["linux/amd64"].digest == HUB_AMD64
    assert hub.compressed_bytes() == 100_999_123
    assert cat.find(DEFAULT_GPU).compressed_bytes() == 100_999_123  # the same layers on nvcr.io
    assert cat.find(DEFAULT_GPU).digest is None  # not published: never made up
    assert cat.find(DLC).compressed_bytes() is None


def test_a_kubelet_pulls_a_recorded_image_by_reference_or_recorded_digest():
    assert cat.pull(DEFAULT_GPU).pulled
    assert cat.pull("docker.io/nvidia/cuda@" + HUB_INDEX).pulled
    assert cat.pull("docker.io/nvidia/cuda:12.8.1-base-ubuntu24.04@" + HUB_AMD64).pulled
    assert cat.pull(DEFAULT_GPU).waiting() is None
    assert not cat.pull("docker.io/nvidia/cuda@sha256:" + "0" * 64).pulled


def test_any_other_image_ends_as_a_real_kubelets_pull_does():
    wrong = DEFAULT_GPU + "-no-such-tag"
    first, later = cat.pull(wrong, 1), cat.pull(wrong, 2)
    error = (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{wrong}": '
        f'failed to resolve reference "{wrong}": {wrong}: not found'
    )
    assert first.waiting() == {"reason": "ErrImagePull", "message": error}
    assert later.waiting() == {
        "reason": "ImagePullBackOff",
        "message": f'Back-off pulling image "{wrong}": ErrImagePull: {error}',
    }
    # containerd names a bare Docker Hub reference by its normalised name.
    assert 'image "docker.io/library/busybox:1"' in cat.pull("busybox:1").message


def test_a_malformed_catalogue_names_the_record(tmp_path: Path):
    bad = tmp_path / "images.yaml"
    bad.write_text(
        "images:\n  - reference: x:1\n    platforms: {linux/amd64: {compressedBytes: 0}}\n"
    )
    bad.write_text(bad.read_text() + "    source: s\n")
    with pytest.raises(cat.CatalogueError, match=r"images\[0\].platforms.linux/amd64"):
        cat.load_catalogue(bad)
