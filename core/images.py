"""Container image references: when one is pinned, which registry and repository it names, and
what a registry's manifest says about it (digest, compressed size per platform, nearest tags)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The OCI distribution spec's grammar (distribution-spec, "Pulling manifests": a tag is
# `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`; a digest `<algorithm>:<hex>`, sha256 with 64 hex digits).
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")

# Where a reference without a registry pulls from, and the host that serves Docker Hub's API
# (distribution/reference normalize.go: defaultDomain "docker.io", legacyDefaultDomain
# "index.docker.io", officialRepoPrefix "library/"; the API host is registry-1.docker.io).
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_HOSTS = frozenset({DOCKER_HUB, "index.docker.io", DOCKER_HUB_API})

# A private ECR registry: <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn] (ECR user guide,
# "Private registry concepts"). The AWS Deep Learning Containers live in account 763104351884.
ECR_HOST_RE = re.compile(r"(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")

# Manifest media types (OCI image-spec "Media Types"; Docker's image manifest v2 schema 2).
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})


def image_pinned(image: str) -> bool:
    """A digest (`repo@sha256:...`), or a tag other than `latest` (`repo:12.8`); not `repo`,
    `repo:` or `repo:latest`. The one rule the config reader and the policy pack apply."""
    name, at, digest = image.partition("@")
    if at:
        return bool(DIGEST_RE.fullmatch(digest)) and bool(name)
    last = image.rsplit("/", 1)[-1]
    repository, colon, tag = last.partition(":")
    return bool(repository) and bool(colon) and bool(TAG_RE.fullmatch(tag)) and tag != "latest"


def registry_host(image: str) -> str:
    """The registry an image reference pulls from (`nvidia/cuda:x` is Docker Hub's docker.io):
    the first component is a registry when it has a `.` or a `:`, or is `localhost`."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


@dataclass(frozen=True)
class ImageRef:
    """An image reference taken apart: registry, repository, and a tag and/or a digest."""

    text: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        """What the manifest endpoint is asked for: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def ecr(self) -> tuple[str, str] | None:
        """(account, region) for a private ECR registry, else None."""
        found = ECR_HOST_RE.fullmatch(self.registry)
        return (found.group(1), found.group(2)) if found else None

    def with_tag(self, tag: str) -> str:
        """The same repository at another tag, written as the user wrote the registry."""
        return with_tag(self.text, tag)


def with_tag(image: str, tag: str) -> str:
    """`image`'s repository at `tag` (its own tag or digest dropped), as it was written."""
    name = image.partition("@")[0]
    head, slash, last = name.rpartition("/")
    last = last.partition(":")[0]
    return f"{head}{slash}{last}:{tag}"


def parse_ref(image: str) -> ImageRef:
    """Take a reference apart the way the kubelet's parser does (docker.io for a bare name, with
    `library/` for a one-component one); ValueError naming what is wrong."""
    if not image or image != image.strip():
        raise ValueError(f"{image!r} is not an image reference")
    name, at, digest = image.partition("@")
    if at and not DIGEST_RE.fullmatch(digest):
        raise ValueError(f"{image!r}: {digest!r} is not a sha256 digest")
    registry = registry_host(name)
    path = name[len(registry) + 1 :] if name.startswith(registry + "/") else name
    head, slash, last = path.rpartition("/")
    repository_last, colon, tag = last.partition(":")
    if colon and not TAG_RE.fullmatch(tag):
        raise ValueError(f"{image!r}: {tag!r} is not a valid tag")
    repository = f"{head}{slash}{repository_last}"
    if not repository_last or not re.fullmatch(r"[a-z0-9]+(?:[._/-]+[a-z0-9]+)*", repository):
        raise ValueError(f"{image!r}: {repository!r} is not a repository name (lower case)")
    if registry in DOCKER_HUB_HOSTS and "/" not in repository:
        repository = f"library/{repository}"
    return ImageRef(image, registry, repository, tag if colon else None, digest if at else None)


def is_index(media_type: str | None, manifest: Mapping[str, Any]) -> bool:
    """An image index (a list of per-platform manifests), by its media type or its shape."""
    kind = media_type or manifest.get("mediaType") or ""
    return kind in INDEX_TYPES or ("manifests" in manifest and "layers" not in manifest)


def index_platforms(index: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(os/arch[/variant], digest) of each image in an index. Entries for `unknown/unknown`
    are build attestations (BuildKit's), not images: left out."""
    found = []
    for entry in index.get("manifests") or []:
        platform = entry.get("platform") or {}
        parts = [platform.get("os") or "unknown", platform.get("architecture") or "unknown"]
        if platform.get("variant"):
            parts.append(platform["variant"])
        if parts[:2] == ["unknown", "unknown"] or not entry.get("digest"):
            continue
        found.append(("/".join(parts), str(entry["digest"])))
    return found


def compressed_bytes(manifest: Mapping[str, Any]) -> int:
    """The bytes a node downloads for one platform's image: its layers' sizes as the manifest
    gives them (compressed blobs; OCI image-spec "Image Manifest", `layers[].size`)."""
    return sum(int(layer.get("size") or 0) for layer in manifest.get("layers") or [])


def nearest_tags(tag: str, tags: Iterable[str], n: int = 3) -> list[str]:
    """The tags closest to `tag` in spelling (difflib's ratio), best first; a tag that `tag`
    starts with (a suffix typed too many) counts as close however long the suffix."""
    known = sorted(set(tags))
    close = difflib.get_close_matches(tag, known, n=n, cutoff=0.6)
    prefixes = sorted((t for t in known if tag.startswith(t) and t != tag), key=len, reverse=True)
    ordered: list[str] = []
    for candidate in [*prefixes[:1], *close]:
        if candidate not in ordered:
            ordered.append(candidate)
    return ordered[:n]


def megabytes(size: int | None) -> str:
    """`101.0 MB` (decimal, as registries and `docker` print sizes); `size unknown` for None."""
    return "size unknown" if size is None else f"{size / 1e6:,.1f} MB"


def sizes_text(sizes: Mapping[str, int], order: Sequence[str] = ("linux/amd64",)) -> str:
    """`linux/amd64 101.0 MB, linux/arm64 98.2 MB`: the named platforms first."""
    keys = [k for k in order if k in sizes] + sorted(k for k in sizes if k not in order)
    return ", ".join(f"{k} {megabytes(sizes[k])}" for k in keys)
