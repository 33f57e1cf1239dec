"""Container image references: when one is pinned (a tag other than `latest`, or a digest)."""

from __future__ import annotations

import re

# The OCI distribution spec's grammar (distribution-spec, "Pulling manifests": a tag is
# `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`; a digest `<algorithm>:<hex>`, sha256 with 64 hex digits).
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")


def image_pinned(image: str) -> bool:
    """A digest (`repo@sha256:...`), or a tag other than `latest` (`repo:12.8`); not `repo`,
    `repo:` or `repo:latest`. The one rule the config reader and the policy pack apply."""
    name, at, digest = image.partition("@")
    if at:
        return bool(DIGEST_RE.fullmatch(digest)) and bool(name)
    last = image.rsplit("/", 1)[-1]
    repository, colon, tag = last.partition(":")
    return bool(repository) and bool(colon) and bool(TAG_RE.fullmatch(tag)) and tag != "latest"
