"""A registry stand-in on loopback that answers as the OCI distribution API does, for preflight.

No well-kept registry server ships on PyPI, so this small one answers from the spec: OCI
distribution-spec v1.1 "Pulling manifests" (end-3, with Docker-Content-Digest and the manifest's
media type as Content-Type), "Listing Tags" (end-8a/end-8b: `n`, `last`, a `Link: <...>;
rel="next"` header), "Error Codes" (a JSON `errors` list: MANIFEST_UNKNOWN, NAME_UNKNOWN,
UNAUTHORIZED), and Docker's token handshake (distribution docs/spec/auth/token.md: a 401 with
`WWW-Authenticate: Bearer realm,service,scope`, a token service answering `token` and
`access_token`). Where it may differ from nvcr.io or Docker Hub: one token for every scope, no
expiry, no rate limit, and only the endpoints preflight uses.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from core import images as im

SERVICE = "stand-in.registry"


def digest_of(body: bytes) -> str:
    return f"sha256:{hashlib.sha256(body).hexdigest()}"


def image(layers: list[int], arch: str) -> tuple[str, bytes]:
    """A platform manifest with layers of these sizes (sizes only: no blob is served)."""
    config = json.dumps({"os": "linux", "architecture": arch}).encode()
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": im.OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest_of(f"{arch}{i}".encode()),
                    "size": size,
                }
                for i, size in enumerate(layers)
            ],
        }
    ).encode()
    return im.OCI_MANIFEST, body


class StandInRegistry:
    """Repositories of tags; each tag an index of per-platform images (or one image)."""

    def __init__(self) -> None:
        self.manifests: dict[str, dict[str, tuple[str, bytes]]] = {}
        self.tags: dict[str, list[str]] = {}
        self.private: set[str] = set()  # repositories anonymous tokens may not pull
        self.down = False  # answer every request with an HTML 503 page
        self.log: list[tuple[str, str]] = []  # (path, Authorization header)
        self.error_message = "manifest unknown"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, repository: str, tag: str, platforms: dict[str, list[int]]) -> str:
        """Publish `repository:tag` as an index of `arch -> layer sizes` (plus a BuildKit
        attestation entry); the index digest."""
        store = self.manifests.setdefault(repository, {})
        entries = []
        for arch, layers in platforms.items():
            media, body = image(layers, arch)
            store[digest_of(body)] = (media, body)
            entries.append(
                {
                    "mediaType": media,
                    "digest": digest_of(body),
                    "size": len(body),
                    "platform": {"os": "linux", "architecture": arch},
                }
            )
        entries.append(
            {
                "mediaType": im.OCI_MANIFEST,
                "digest": digest_of(b"attestation"),
                "size": 11,
                "platform": {"os": "unknown", "architecture": "unknown"},
            }
        )
        index = json.dumps({"schemaVersion": 2, "mediaType": im.OCI_INDEX, "manifests": entries})
        store[tag] = (im.OCI_INDEX, index.encode())
        self.tags.setdefault(repository, []).append(tag)
        return digest_of(index.encode())

    def __enter__(self) -> StandInRegistry:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                registry.log.append((self.path, self.headers.get("Authorization", "")))
                if registry.down:
                    page = b"<html><title>503 Service Unavailable</title><h1>down [/x]</h1></html>"
                    return self._send(503, page, "text/html")
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/token":
                    query = urllib.parse.parse_qs(url.query)
                    if query.get("service") != [SERVICE]:
                        return self._error(401, "UNAUTHORIZED", "unknown service")
                    token = f"anonymous {query['scope'][0]}"
                    return self._send(200, json.dumps({"token": token, "access_token": token}))
                parts = url.path.split("/")
                if parts[:2] != ["", "v2"] or len(parts) < 5:
                    return self._error(404, "UNSUPPORTED", "not an endpoint of the stand-in")
                kind = parts[-2] if parts[-2] in ("manifests", "blobs") else "/".join(parts[-2:])
                name = "/".join(parts[2:-2])
                scope = f"repository:{name}:pull"
                if self.headers.get("Authorization") != f"Bearer anonymous {scope}":
                    return self._challenge(scope)
                if name in registry.private:
                    return self._error(401, "UNAUTHORIZED", "insufficient_scope: [/x] denied")
                if name not in registry.manifests:
                    return self._error(404, "NAME_UNKNOWN", "repository name not known to registry")
                if kind == "tags/list":
                    return self._tags(name, urllib.parse.parse_qs(url.query))
                if kind == "blobs":
                    return self._error(404, "BLOB_UNKNOWN", "blob unknown to registry")
                found = registry.manifests[name].get(urllib.parse.unquote(parts[-1]))
                if found is None:
                    return self._error(404, "MANIFEST_UNKNOWN", registry.error_message)
                media, body = found
                return self._send(200, body, media, {"Docker-Content-Digest": digest_of(body)})

            def _tags(self, name: str, query: dict) -> None:
                tags = sorted(registry.tags[name])
                n = int(query.get("n", ["100"])[0])
                last = query.get("last", [""])[0]
                page = [t for t in tags if t > last][:n]
                headers = {}
                if page and page[-1] != tags[-1]:
                    headers["Link"] = f'</v2/{name}/tags/list?n={n}&last={page[-1]}>; rel="next"'
                self._send(200, json.dumps({"name": name, "tags": page}), headers=headers)

            def _challenge(self, scope: str) -> None:
                realm = f'Bearer realm="{registry.url}/token",service="{SERVICE}",scope="{scope}"'
                self._error(401, "UNAUTHORIZED", "authentication required", realm)

            def _error(self, status: int, code: str, message: str, challenge: str = "") -> None:
                body = json.dumps({"errors": [{"code": code, "message": message}]})
                extra = {"WWW-Authenticate": challenge} if challenge else {}
                self._send(status, body, headers=extra)

            def _send(self, status, body, media="application/json", headers=None) -> None:
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler
