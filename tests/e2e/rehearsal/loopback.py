"""A small JSON-over-HTTP server on a free loopback port, served from a daemon thread: the
authenticator's TokenReview webhook and the world's status page."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def json_server(method: str, answer: Callable[[str, Any], Any]) -> ThreadingHTTPServer:
    """Answer each `method` request (GET or POST) with `answer(path, body)` as JSON; `body` is
    the request's JSON, or None when it has none. Stop it with `.shutdown()`."""

    class Handler(BaseHTTPRequestHandler):
        def respond(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length)) if length else None
            data = json.dumps(answer(self.path, body), default=str).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args):
            pass

    setattr(Handler, f"do_{method}", Handler.respond)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
