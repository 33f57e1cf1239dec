"""Preflight asks each check image's registry whether the reference exists: a registry stand-in
on loopback (tests/fakes/registry.py, the OCI distribution API and the token handshake) for
nvcr.io, botocore's Stubber for ECR."""

from __future__ import annotations

import io
import socket

import boto3
import pytest
from botocore.stub import Stubber
from rich.console import Console

from tests.fakes.registry import StandInRegistry
from toe.commands.preflight import render_checks
from toe.preflight.images import Registries, images_check
from toe.preflight.registry import FOUND, MISSING, UNCHECKED

GPU = "nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04"
WRONG = GPU + "-no-such-tag"
DLC_HOST = "763104351884.dkr.ecr.ap-northeast-2.amazonaws.com"
DLC = f"{DLC_HOST}/pytorch-training:2.6.0-gpu-py312-cu126-ubuntu22.04-ec2"
AMD64 = [29_000_000, 71_999_123]  # layer sizes of the stand-in's amd64 image


@pytest.fixture(scope="module")
def registry():
    with StandInRegistry() as stand_in:
        stand_in.add("nvidia/cuda", "12.8.1-base-ubuntu24.04", {"amd64": AMD64, "arm64": [9, 1]})
        for tag in (
            "12.8.1-base-ubuntu22.04",
            "12.8.0-base-ubuntu24.04",
            "13.0.0-runtime-ubuntu24.04",
        ):
            stand_in.add("nvidia/cuda", tag, {"amd64": [1]})
        for i in range(2500):  # more than two pages of 1000 tags
            stand_in.add("nvidia/cuda", f"0.{i}-old", {"amd64": [1]})
        stand_in.add("nvidia/private", "1", {"amd64": [1]})
        stand_in.private.add("nvidia/private")
        yield stand_in


def registries(stand_in, ecr=None) -> Registries:
    return Registries(endpoints={"nvcr.io": stand_in.url}, ecr=ecr, timeout=2)


def test_an_existing_tag_answers_its_digest_and_size_per_platform_after_the_token_handshake(
    registry,
):
    registry.log.clear()
    answer = registries(registry).ask(GPU)
    assert answer.status == FOUND
    index_digest = registry.add("nvidia/cuda", "again", {"amd64": AMD64, "arm64": [9, 1]})
    assert answer.digest == index_digest  # the index's digest, as the registry names it
    assert answer.sizes == {"linux/amd64": 100_999_123, "linux/arm64": 10}  # no attestation
    (first, _), (token, _), (retried, bearer) = registry.log[:3]
    assert first == retried == "/v2/nvidia/cuda/manifests/12.8.1-base-ubuntu24.04"
    assert token.startswith("/token?service=stand-in.registry&scope=repository")
    assert bearer == "Bearer anonymous repository:nvidia/cuda:pull"
    assert len(registry.log) == 5  # the index, then one manifest per platform: no layer


def test_a_missing_tag_fails_naming_the_key_the_registry_and_the_nearest_tags(registry):
    check = images_check([("gpuCheckImage", WRONG, ())], registries(registry), stack="dev")
    assert check.status == "fail"
    assert check.summary == (
        f"gpuCheckImage: {WRONG} does not exist or the nodes cannot pull it: nvcr.io answered "
        "HTTP 404 Not Found (MANIFEST_UNKNOWN: manifest unknown); nearest tags: "
        "12.8.1-base-ubuntu24.04, 12.8.1-base-ubuntu22.04, 12.8.0-base-ubuntu24.04"
    )
    (problem,) = check.data["problems"]
    assert problem["fix"] == f"pulumi config set --stack dev gpuCheckImage {GPU}"
    assert f"fix: {problem['fix']}" in check.evidence


def test_a_missing_repository_and_a_private_one_fail(registry):
    ask = registries(registry).ask
    missing = ask("nvcr.io/nvidia/no-such-repo:1")
    assert missing.status == MISSING and "NAME_UNKNOWN" in missing.why
    private = ask("nvcr.io/nvidia/private:1")
    assert private.status == MISSING
    assert "refuses an anonymous pull" in private.why and "insufficient_scope" in private.why


def test_an_unreachable_or_failing_registry_could_not_be_checked_in_its_words(registry):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    gone = Registries(endpoints={"nvcr.io": closed}, timeout=2).ask(GPU)
    assert gone.status == UNCHECKED and gone.why.startswith(f"{closed[7:]} unreachable: ")
    registry.down = True
    try:
        check = images_check([("gpuCheckImage", GPU, ())], registries(registry))
    finally:
        registry.down = False
    assert check.status == "unchecked"
    assert check.summary == (
        "could not check: gpuCheckImage: nvcr.io answered HTTP 503 Service Unavailable "
        "(503 Service Unavailable - down [/x])"
    )


def test_registry_words_print_as_text_never_markup(registry):
    registry.down = True
    try:
        check = images_check([("gpuCheckImage", GPU, ())], registries(registry))
    finally:
        registry.down = False
    out = io.StringIO()

    class Report:
        checks, caller = (check,), "arn:aws:iam::123456789012:user/x"

    render_checks(Report, "t", console=Console(file=out, width=300, markup=False))
    assert "down [/x]" in out.getvalue()


def _ecr_client():
    return boto3.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="ap-northeast-2"
    ).client("ecr")


DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def _manifest(sizes):
    import json

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_V2,
            "config": {"digest": "sha256:" + "c" * 64, "size": 10},
            "layers": [{"digest": "sha256:" + "d" * 64, "size": s} for s in sizes],
        }
    )


def test_ecr_answers_with_batch_get_image_and_lists_tags_for_a_miss():
    client = _ecr_client()
    stub = Stubber(client)
    base = {"registryId": "763104351884", "repositoryName": "pytorch-training"}
    digest = "sha256:" + "a" * 64
    stub.add_response(
        "batch_get_image",
        {
            "images": [
                {
                    **base,
                    "imageId": {"imageDigest": digest, "imageTag": DLC.rsplit(":", 1)[1]},
                    "imageManifest": _manifest([6_000_000_000, 4_000_000_000]),
                    "imageManifestMediaType": DOCKER_V2,
                }
            ],
            "failures": [],
        },
    )
    wrong_tag = "2.6.0-gpu-py312-cu126-ubuntu22.04-ec2-typo"
    stub.add_response(
        "batch_get_image",
        {
            "images": [],
            "failures": [
                {
                    "imageId": {"imageTag": wrong_tag},
                    "failureCode": "ImageNotFound",
                    "failureReason": "Requested image not found",
                }
            ],
        },
    )
    tags = ["2.6.0-gpu-py312-cu126-ubuntu22.04-ec2", "2.6.0-gpu-py312-cu126-ubuntu22.04-ec2-v1.47"]
    stub.add_response(
        "list_images", {"imageIds": [{"imageDigest": digest, "imageTag": t} for t in tags]}
    )
    stub.add_client_error("batch_get_image", "AccessDeniedException", "not authorized", 400)
    stub.activate()
    ask = Registries(ecr=lambda region: client).ask
    found = ask(DLC)
    assert (found.status, found.digest) == (FOUND, digest)
    assert found.sizes == {"single-platform": 10_000_000_000}
    assert "ecr:BatchGetImage with the caller's credentials" in found.via
    check = images_check(
        [("efaCheckImage", f"{DLC_HOST}/pytorch-training:{wrong_tag}", ())],
        Registries(ecr=lambda region: client),
    )
    assert check.status == "fail"
    assert "ECR: ImageNotFound: Requested image not found; nearest tags: " in check.summary
    assert check.data["problems"][0]["fix"] == f"pulumi config set efaCheckImage {DLC}"
    denied = ask(f"{DLC_HOST}/pytorch-training:other")
    assert denied.status == UNCHECKED and "AccessDeniedException" in denied.why
    stub.assert_no_pending_responses()


def test_the_fleet_asks_each_image_once_and_names_its_stacks(registry):
    registry.log.clear()
    entries = [
        ("gpuCheckImage", GPU, ("attendee01", "attendee02")),
        ("gpuCheckImage", WRONG, ("attendee03",)),
    ]
    check = images_check(entries, registries(registry), check_id="fleet-images")
    assert check.status == "fail"
    assert check.data["problems"][0]["fix"].endswith(f"gpuCheckImage {GPU} (in attendee03)")
    assert any(
        line.startswith("gpuCheckImage (attendee01, attendee02): ") for line in check.evidence
    )
    asked = [path for path, _ in registry.log if "/manifests/" in path]
    assert asked.count("/v2/nvidia/cuda/manifests/12.8.1-base-ubuntu24.04") == 2  # 401, then 200


def test_without_a_registry_client_nothing_is_asked_and_the_check_says_so():
    check = images_check([("gpuCheckImage", GPU, ())], None)
    assert check.status == "pass"
    assert check.summary.endswith(
        "registries not asked (no registry client: offline or simulated account)"
    )
    assert check.data["registry"] == "not asked"


def _dlc_found_stub():
    client = _ecr_client()
    stub = Stubber(client)
    stub.add_response(
        "batch_get_image",
        {
            "images": [
                {
                    "registryId": "763104351884",
                    "repositoryName": "pytorch-training",
                    "imageId": {"imageDigest": "sha256:" + "a" * 64},
                    "imageManifest": _manifest([10_000_000_000]),
                    "imageManifestMediaType": DOCKER_V2,
                }
            ],
            "failures": [],
        },
    )
    stub.activate()
    return client


@pytest.fixture(scope="module")
def account():
    """moto with the workshop account created (as tests/test_preflight.py)."""
    from toe.offline.account import load_account
    from toe.offline.harness import simulated_aws

    with simulated_aws(load_account()):
        yield boto3.Session(region_name="ap-northeast-2")


def test_preflight_of_a_stack_with_a_wrong_gpu_tag_fails_on_the_images_check(account, registry):
    from test_preflight import TODAY, clients

    from toe import preflight

    given = clients(account)
    ecr = _dlc_found_stub()
    asking = Registries(endpoints={"nvcr.io": registry.url}, ecr=lambda region: ecr, timeout=2)
    report = preflight.run(
        "dev",
        clients=preflight.Clients(**{**given.__dict__, "registries": asking}),
        today=TODAY,
        overrides={"gpuCheckImage": WRONG},
    )
    check = report.check("images")
    assert (check.status, report.exit_code) == ("fail", 1)
    assert check.summary.startswith(f"gpuCheckImage: {WRONG} does not exist")
    assert f"efaCheckImage: {DLC} exists: sha256:{'a' * 64}" in "\n".join(check.evidence)
    assert {c.id: c.status for c in report.checks}["network"] == "pass"  # the rest still ran
