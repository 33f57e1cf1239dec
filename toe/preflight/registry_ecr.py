"""Asking ECR about an image with the caller's credentials: ecr:BatchGetImage returns the
manifest without pulling a layer, ecr:ListImages the repository's tags (ECR API reference)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from core import images as im
from core.aws_errors import aws_error
from toe.preflight.registry import FOUND, MISSING, TAG_PAGES, UNCHECKED, Answer

# BatchGetImage `failures[].failureCode` values meaning "no such image" (ECR API reference,
# ImageFailure: ImageNotFound, ImageTagDoesNotMatchDigest, InvalidImageTag, InvalidImageDigest).
_NOT_FOUND = {
    "ImageNotFound",
    "ImageTagDoesNotMatchDigest",
    "InvalidImageTag",
    "InvalidImageDigest",
}


def ask_ecr(make_client: Callable[[str], Any], ref: im.ImageRef) -> Answer:
    account, region = ref.ecr or ("", "")
    via = f"ECR {account} in {region}, ecr:BatchGetImage with the caller's credentials"

    def answer(status: str, **kwargs) -> Answer:
        return Answer(ref.text, status, ref.registry, via=via, **kwargs)

    try:
        client = make_client(region)
        image_id = {"imageDigest": ref.digest} if ref.digest else {"imageTag": ref.reference}
        found = _get(client, account, ref.repository, image_id)
        if isinstance(found, str):
            nearest, note = _nearest(client, account, ref)
            return answer(MISSING, why=found, nearest=nearest, tags_note=note)
        digest, media, manifest = found
        sizes: dict[str, int] = {}
        if im.is_index(media, manifest):
            for platform, child in im.index_platforms(manifest):
                got = _get(client, account, ref.repository, {"imageDigest": child})
                if not isinstance(got, str):
                    sizes[platform] = im.compressed_bytes(got[2])
        else:
            # A single-platform image: DLC images are linux/amd64 (x86_64 only, their release
            # notes); ECR's manifest does not say which without fetching the config blob.
            sizes["single-platform"] = im.compressed_bytes(manifest)
        return answer(FOUND, digest=digest, sizes=sizes)
    except Exception as err:  # an AWS error, no credentials, unreachable: AWS's words
        code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
        if code == "RepositoryNotFoundException":
            why = f"ECR: {aws_error(err, 'ECR')}"
            return answer(MISSING, why=why, tags_note="the repository does not exist")
        return answer(UNCHECKED, why=f"ECR: {aws_error(err, 'ECR')}")


def _get(client, account: str, repository: str, image_id: dict) -> tuple[str, str, dict] | str:
    """(digest, media type, manifest), or ECR's words for why there is none."""
    response = client.batch_get_image(
        registryId=account,
        repositoryName=repository,
        imageIds=[image_id],
        acceptedMediaTypes=list(im.MANIFEST_TYPES),
    )
    for failure in response.get("failures") or []:
        code, reason = failure.get("failureCode", ""), failure.get("failureReason", "")
        if code in _NOT_FOUND:
            return f"ECR: {code}: {reason}".rstrip(": ")
        raise RuntimeError(f"{code}: {reason}")
    images = response.get("images") or []
    if not images:
        return "ECR: no image and no failure in the answer"
    image = images[0]
    manifest = json.loads(image.get("imageManifest") or "{}")
    media = image.get("imageManifestMediaType") or manifest.get("mediaType") or ""
    return image.get("imageId", {}).get("imageDigest", ""), media, manifest


def _nearest(client, account: str, ref: im.ImageRef) -> tuple[tuple[str, ...], str]:
    if ref.tag is None:
        return (), "pinned by digest: no tag to compare"
    tags: list[str] = []
    kwargs: dict[str, Any] = {
        "registryId": account,
        "repositoryName": ref.repository,
        "filter": {"tagStatus": "TAGGED"},
        "maxResults": 1000,
    }
    try:
        for _ in range(TAG_PAGES):
            page = client.list_images(**kwargs)
            tags += [i["imageTag"] for i in page.get("imageIds") or [] if i.get("imageTag")]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    except Exception as err:
        return (), f"ECR did not list the tags to this caller ({aws_error(err, 'ECR')})"
    nearest = tuple(im.nearest_tags(ref.tag, tags))
    return nearest, "" if nearest else f"no tag of {len(tags)} listed is close"
