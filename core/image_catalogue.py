"""The recorded check images (core/data/check_images.yaml): digest, compressed size per platform
and source of each, and what a kubelet does with a reference the catalogue does not hold.

Facts only: the rehearsal's kubelet stand-in reads this module (tests/test_layout.py allows it), so
it parses no reference with the program's rules (core.images) and matches references as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

CATALOGUE = Path(__file__).resolve().parent / "data" / "check_images.yaml"
AMD64 = "linux/amd64"

# The kubelet's waiting reasons for a pull that failed and for the back-off after it
# (kubernetes pkg/kubelet/images/types.go: ErrImagePull = errors.New("ErrImagePull"),
# ErrImagePullBackOff = errors.New("ImagePullBackOff")).
ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACK_OFF = "ImagePullBackOff"


@dataclass(frozen=True)
class PlatformRecord:
    digest: str | None
    compressed_bytes: int | None


@dataclass(frozen=True)
class ImageRecord:
    """One recorded image: what its registry published, and where each figure comes from."""

    reference: str
    config_keys: tuple[str, ...]
    digest: str | None
    platforms: Mapping[str, PlatformRecord]
    source: str
    unsourced: str = ""

    def compressed_bytes(self, platform: str = AMD64) -> int | None:
        found = self.platforms.get(platform)
        return found.compressed_bytes if found else None

    def digests(self) -> frozenset[str]:
        """Every digest a pod may pin this image by (the index's, each platform's)."""
        found = {self.digest, *(p.digest for p in self.platforms.values())}
        return frozenset(d for d in found if d)


class CatalogueError(ValueError):
    """The catalogue file is malformed; the message names the record."""


@cache
def load_catalogue(path: Path = CATALOGUE) -> Mapping[str, ImageRecord]:
    """reference -> record, read and checked once."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    records: dict[str, ImageRecord] = {}
    for index, item in enumerate(raw.get("images") or []):
        where = f"{Path(path).name}: images[{index}]"
        if not isinstance(item, Mapping) or not {"reference", "platforms", "source"} <= set(item):
            raise CatalogueError(f"{where}: needs reference, platforms and source")
        platforms = {}
        for name, entry in (item["platforms"] or {}).items():
            size = (entry or {}).get("compressedBytes")
            if size is not None and (not isinstance(size, int) or size <= 0):
                raise CatalogueError(f"{where}.platforms.{name}: compressedBytes must be > 0")
            platforms[str(name)] = PlatformRecord((entry or {}).get("digest"), size)
        if item["reference"] in records:
            raise CatalogueError(f"{where}: {item['reference']} is recorded twice")
        records[item["reference"]] = ImageRecord(
            reference=str(item["reference"]),
            config_keys=tuple(item.get("configKeys") or ()),
            digest=item.get("digest"),
            platforms=platforms,
            source=" ".join(str(item["source"]).split()),
            unsourced=" ".join(str(item.get("unsourced") or "").split()),
        )
    return records


def find(reference: str, path: Path = CATALOGUE) -> ImageRecord | None:
    """The record a pod's image names: the reference as recorded, or its name pinned by one of
    the recorded digests (`repo@sha256:...`, `repo:tag@sha256:...`); None for anything else."""
    records = load_catalogue(path)
    if reference in records:
        return records[reference]
    name, at, digest = reference.partition("@")
    if not at:
        return None
    for record in records.values():
        repository = record.reference.rsplit(":", 1)[0]
        if name in (record.reference, repository) and digest in record.digests():
            return record
    return None


@dataclass(frozen=True)
class Pull:
    """What a kubelet makes of pulling one image: pulled (with its record), or the waiting
    state it writes into the container's status."""

    reference: str
    record: ImageRecord | None
    reason: str | None = None  # state.waiting.reason when not pulled
    message: str | None = None  # state.waiting.message when not pulled

    @property
    def pulled(self) -> bool:
        return self.record is not None

    def waiting(self) -> dict[str, str] | None:
        """`{"reason": ..., "message": ...}` for `status.containerStatuses[].state.waiting`."""
        if self.pulled:
            return None
        return {"reason": str(self.reason), "message": str(self.message)}


def not_found_error(reference: str) -> str:
    """The error containerd's CRI returns for a tag its registry does not have, which the
    kubelet writes as the waiting message of ErrImagePull. containerd wraps a resolver
    miss (remotes/docker/resolver.go `fmt.Errorf("%s: %w", ref, errdefs.ErrNotFound)`) in
    "failed to resolve reference %q: %w" (client pull.go) and "failed to pull and unpack image
    %q: %w" (CRI image_pull.go), sent as gRPC NotFound. The reference is containerd's normalised
    one: a bare Docker Hub name gains docker.io/ (and library/)."""
    ref = _normalised(reference)
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
        f'failed to resolve reference "{ref}": {ref}: not found'
    )


def pull(reference: str, attempt: int = 1, path: Path = CATALOGUE) -> Pull:
    """A kubelet's pull of `reference` for its `attempt`-th time (1 = the first try): a recorded
    image pulls; any other ends as a real kubelet's does, ErrImagePull with the runtime's error on
    a try, then ImagePullBackOff while it backs off, the message quoting the last error
    (kubernetes pkg/kubelet/images/image_manager.go pullImage: `Back-off pulling image %q`, and
    since 1.32 `": " + <reason>: <message>` of the previous pull, prevPullErrMsg)."""
    record = find(reference, path)
    if record is not None:
        return Pull(reference, record)
    error = not_found_error(reference)
    if attempt <= 1:
        return Pull(reference, None, ERR_IMAGE_PULL, error)
    message = f'Back-off pulling image "{reference}": {ERR_IMAGE_PULL}: {error}'
    return Pull(reference, None, IMAGE_PULL_BACK_OFF, message)


def _normalised(reference: str) -> str:
    first, slash, _ = reference.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return reference
    return f"docker.io/{reference}" if slash else f"docker.io/library/{reference}"
