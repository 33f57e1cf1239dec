"""Asking a registry whether an image reference exists, without pulling it: its manifest (digest,
compressed size per platform), or the registry's own words for why not.

Two ways in:
- the OCI distribution API, anonymously, as the nodes pull from nvcr.io and Docker Hub
  (OCI distribution-spec v1.1, "Pulling manifests" end-3 `GET /v2/<name>/manifests/<reference>`,
  "Listing Tags" end-8a/end-8b `GET /v2/<name>/tags/list?n=<n>&last=<tag>` with a `Link` header,
  "Error Codes" MANIFEST_UNKNOWN / NAME_UNKNOWN; the token handshake of Docker's "Token
  Authentication Specification", distribution/distribution docs/spec/auth/token.md: a 401 with
  `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, then `GET <realm>?service=&scope=`
  answers `{"token": ...}` or `{"access_token": ...}`);
- ECR with the caller's credentials (ecr:BatchGetImage for the manifest, ecr:ListImages for the
  tags), including the AWS Deep Learning Containers account, whose repositories let any AWS
  account pull. The nodes pull with their own role (AmazonEC2ContainerRegistryPullOnly).
Every request is bounded (`timeout` seconds); nothing here pulls a layer.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core import images as im
from core.aws_errors import body_text, one_line

FOUND, MISSING, UNCHECKED = "found", "missing", "unchecked"
TIMEOUT = 5.0
TAG_PAGES = 5  # at most this many pages of 1000 tags when looking for the nearest
ACCEPT = ", ".join(im.MANIFEST_TYPES)


@dataclass(frozen=True)
class Answer:
    """What a registry said about one reference."""

    reference: str
    status: str  # FOUND, MISSING, UNCHECKED
    registry: str
    digest: str | None = None
    sizes: Mapping[str, int] = field(default_factory=dict)  # os/arch -> compressed bytes
    why: str = ""  # the registry's words, when not FOUND
    nearest: tuple[str, ...] = ()  # nearest tags, when MISSING
    tags_note: str = ""  # why there are no nearest tags
    via: str = ""  # how it was asked

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "status": self.status,
            "registry": self.registry,
            "digest": self.digest,
            "compressedBytes": dict(self.sizes),
            "why": self.why,
            "nearestTags": list(self.nearest),
            "via": self.via,
        }


class _Refused(Exception):
    """The registry answered with an error; `words` is its own text."""

    def __init__(self, status: int | None, words: str, code: str = "") -> None:
        super().__init__(words)
        self.status, self.words, self.code = status, words, code


class OciRegistry:
    """Asks registries through the OCI distribution API, anonymously.

    `endpoints` maps a registry host to the base URL to use instead of `https://<host>` (tests
    point nvcr.io at a stand-in on loopback).
    """

    def __init__(self, endpoints: Mapping[str, str] | None = None, timeout: float = TIMEOUT):
        self.endpoints = dict(endpoints or {})
        self.timeout = timeout
        self._tokens: dict[tuple[str, str, str], str] = {}
        self._by_name: dict[str, str] = {}

    def ask(self, ref: im.ImageRef) -> Answer:
        return self._ask_oci(ref)

    # ------------------------------------------------------------------ OCI distribution API

    def _base(self, registry: str) -> str:
        host = im.DOCKER_HUB_API if registry in im.DOCKER_HUB_HOSTS else registry
        return self.endpoints.get(registry) or f"https://{host}"

    def _ask_oci(self, ref: im.ImageRef) -> Answer:
        base = self._base(ref.registry)
        name = ref.repository
        via = f"{ref.registry}, OCI distribution API (anonymous, as the nodes pull)"
        try:
            media, digest, manifest = self._manifest(base, name, ref.reference)
            sizes: dict[str, int] = {}
            if im.is_index(media, manifest):
                for platform, child in im.index_platforms(manifest):
                    sizes[platform] = im.compressed_bytes(self._manifest(base, name, child)[2])
            else:
                sizes[self._platform(base, name, manifest)] = im.compressed_bytes(manifest)
        except _Refused as err:
            if err.status == 404 or err.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"):
                nearest, note = self._nearest(base, ref)
                why = f"{ref.registry} answered {err.words}"
                return Answer(ref.text, MISSING, ref.registry, None, {}, why, nearest, note, via)
            if err.status in (401, 403):
                why = (
                    f"{ref.registry} refuses an anonymous pull ({err.words}): the nodes have no "
                    "credentials for it (a private or missing repository)"
                )
                return Answer(ref.text, MISSING, ref.registry, why=why, via=via)
            why = f"{ref.registry} answered {err.words}"
            return Answer(ref.text, UNCHECKED, ref.registry, why=why, via=via)
        except _Unreachable as err:
            return Answer(ref.text, UNCHECKED, ref.registry, why=str(err), via=via)
        return Answer(ref.text, FOUND, ref.registry, digest, sizes, via=via)

    def _manifest(self, base: str, name: str, reference: str) -> tuple[str, str, dict]:
        url = f"{base}/v2/{name}/manifests/{urllib.parse.quote(reference, safe=':')}"
        headers, body = self._get(url, name, accept=ACCEPT)
        try:
            manifest = json.loads(body)
        except ValueError:
            raise _Refused(None, f"a manifest that is not JSON: {body_text(body)}") from None
        media = headers.get("Content-Type", "").split(";")[0].strip()
        # The digest is the sha256 of the manifest's bytes (distribution-spec, "Pulling
        # manifests": Docker-Content-Digest, which a client should verify against the body).
        digest = (
            headers.get("Docker-Content-Digest") or f"sha256:{hashlib.sha256(body).hexdigest()}"
        )
        return media, digest, manifest

    def _platform(self, base: str, name: str, manifest: Mapping[str, Any]) -> str:
        """os/arch of a single-platform image, from its config blob (a few KB; distribution-spec
        "Pulling blobs" end-2, OCI image-spec "Image Configuration" `os`, `architecture`)."""
        digest = (manifest.get("config") or {}).get("digest")
        try:
            config = json.loads(self._get(f"{base}/v2/{name}/blobs/{digest}", name)[1])
            return f"{config['os']}/{config['architecture']}"
        except (_Refused, _Unreachable, ValueError, KeyError, TypeError):
            return "single-platform"

    def _nearest(self, base: str, ref: im.ImageRef) -> tuple[tuple[str, ...], str]:
        if ref.tag is None:
            return (), "pinned by digest: no tag to compare"
        tags: list[str] = []
        url: str | None = f"{base}/v2/{ref.repository}/tags/list?n=1000"
        try:
            for _ in range(TAG_PAGES):
                if url is None:
                    break
                headers, body = self._get(url, ref.repository)
                tags += json.loads(body).get("tags") or []
                url = _next_page(base, headers.get("Link", ""))
        except (_Refused, _Unreachable, ValueError) as err:
            words = getattr(err, "words", None) or str(err)
            return (), f"the registry did not list its tags ({words})"
        nearest = tuple(im.nearest_tags(ref.tag, tags))
        return nearest, "" if nearest else f"no tag of {len(tags)} listed is close"

    def _get(self, url: str, name: str, accept: str | None = None) -> tuple[Mapping, bytes]:
        """GET with the anonymous token handshake on a 401; _Refused or _Unreachable."""
        token = self._by_name.get(name)  # the repository's token from an earlier challenge
        for _ in range(2):
            request = urllib.request.Request(url, method="GET")
            if accept:
                request.add_header("Accept", accept)
            if token:
                request.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.headers, response.read()
            except urllib.error.HTTPError as err:
                body = err.read() or b""
                challenge = err.headers.get("WWW-Authenticate", "") if err.headers else ""
                if err.code == 401 and challenge.lower().startswith("bearer"):
                    fresh = self._token(challenge, name)
                    if fresh != token:
                        token = self._by_name[name] = fresh
                        continue
                raise _refused(err.code, err.reason, body) from None
            except (urllib.error.URLError, OSError) as err:
                raise _Unreachable(url, err) from None
        raise _Refused(401, "HTTP 401 even with its own anonymous token")

    def _token(self, challenge: str, name: str) -> str:
        params = parse_challenge(challenge)
        realm = params.get("realm")
        if not realm:
            raise _Refused(401, f"a Bearer challenge without a realm: {challenge}")
        scope = params.get("scope") or f"repository:{name}:pull"
        service = params.get("service", "")
        key = (realm, service, scope)
        if key not in self._tokens:
            query = urllib.parse.urlencode({k: v for k, v in (("service", service),) if v})
            query += ("&" if query else "") + urllib.parse.urlencode({"scope": scope})
            url = f"{realm}{'&' if '?' in realm else '?'}{query}"
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as response:
                    document = json.loads(response.read())
            except urllib.error.HTTPError as err:
                body = err.read() or b""
                raise _refused(err.code, err.reason, body, "its token service") from None
            except (urllib.error.URLError, OSError) as err:
                raise _Unreachable(realm, err) from None
            except ValueError:
                raise _Refused(None, "its token service answered something not JSON") from None
            token = document.get("token") or document.get("access_token")
            if not token:
                raise _Refused(401, "its token service gave no token")
            self._tokens[key] = str(token)
        return self._tokens[key]


class _Unreachable(Exception):
    def __init__(self, url: str, err: BaseException) -> None:
        reason = getattr(err, "reason", err)
        host = urllib.parse.urlsplit(url).netloc or url
        super().__init__(f"{host} unreachable: {one_line(str(reason)) or type(reason).__name__}")


def _refused(status: int, reason: str, body: bytes, who: str = "") -> _Refused:
    """The registry's words: the first of its error document's `errors` (code: message), else
    the status line and the first text of the body."""
    code, words = "", ""
    try:
        errors = json.loads(body).get("errors") or []
        if errors and isinstance(errors[0], Mapping):
            code = str(errors[0].get("code") or "")
            words = ": ".join(p for p in (code, str(errors[0].get("message") or "")) if p)
    except (ValueError, AttributeError):
        pass
    text = words or body_text(body)
    line = f"HTTP {status} {reason or ''}".strip() + (f" ({text})" if text else "")
    return _Refused(status, f"{who}: {line}" if who else line, code)


_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(header: str) -> dict[str, str]:
    """`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="..."`
    as a dict of its parameters (token.md, "How to authenticate")."""
    return dict(_PARAM.findall(header))


def _next_page(base: str, link: str) -> str | None:
    """The `Link: <...>; rel="next"` of a tag listing, made absolute (distribution-spec,
    "Listing Tags": the next page's URL, relative to the registry)."""
    found = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
    if not found:
        return None
    return urllib.parse.urljoin(base + "/", found.group(1))
