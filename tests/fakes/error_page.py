"""A loopback endpoint that answers every request with an HTML error page, as a proxy or a load
balancer in front of an AWS endpoint does; boto3 clients reach it through `endpoint_url`."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator

TITLE = "500 Internal Server Error"
# What the one-line error quotes of PAGE: its title, then its first paragraph (the <h1> adds
# nothing the title does not say). `[bold]` is text, never rich markup.
FIRST_TEXT = f"{TITLE} - The proxy [bold]could not[/bold] reach the upstream service."
# A page as proxies send it: more than 30 lines, a script and styles, and HTML that is not XML
# (<meta> and <hr> are never closed).
PAGE = (
    """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>500 Internal Server Error</title>
  <style>
    body { font-family: sans-serif; margin: 2em; }
    h1 { color: #b00; }
  </style>
  <script>window.dataLayer = []; function track() { return "never shown"; }</script>
</head>
<body>
  <h1>Internal
      Server Error</h1>
  <p>The proxy [bold]could not[/bold] reach
     the upstream service.</p>
  <hr>
"""
    + "".join(
        f"  <p>Diagnostic line {n}: retry later or contact the network team.</p>\n"
        for n in range(20)
    )
    + """  <address>edge-proxy/1.0 at 127.0.0.1</address>
</body>
</html>
"""
)


@contextlib.contextmanager
def error_page_server(
    page: str = PAGE,
    status: int = 500,
    *,
    content_type: str = "text/html; charset=utf-8",
    lifetime: float = 120.0,
) -> Iterator[str]:
    """The URL of a server on 127.0.0.1 answering `status` with `page` as `content_type` to every
    GET and POST; it stops when the block ends, or by itself after `lifetime` seconds."""
    body = page.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0) or 0))
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer

        def log_message(self, *_args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    deadline = threading.Timer(lifetime, server.shutdown)
    deadline.daemon = True
    deadline.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        deadline.cancel()
        server.shutdown()
        server.server_close()


def client_at(url: str, service: str, region: str = "ap-northeast-2"):
    """A boto3 client of `service` whose endpoint is `url` (one attempt: the page never changes)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service, endpoint_url=url, region_name=region, config=Config(retries={"max_attempts": 1})
    )
