"""AWS's own words for a failed call, shared by the program and the operator tools."""

from __future__ import annotations

import ast
import contextlib
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

NO_CREDENTIALS = (
    "no AWS credentials found (environment, shared files, SSO or instance role): set "
    "AWS_PROFILE, or run `aws configure` or `aws sso login`"
)
# How much of a response body's text one line quotes (the whole body: response_body()).
WIDTH = 160

# A document of markup, not a message: an HTML error page from a proxy, a load balancer or an
# endpoint that is not the service's.
_MARKUP = re.compile(r"<(?:!doctype|html|head|body|title|h[1-6]|p|div|center|pre)\b", re.I)
# botocore's ResponseParserError: "Unable to parse response (...), invalid XML received. Further
# retries may succeed:\n" followed by repr() of the body's bytes (botocore/parsers.py).
_PARSER_BODY = "Further retries may succeed:\n"


def unparsable() -> type[Exception]:
    """botocore's ResponseParserError: an answer no parser could read (an HTML page where a
    query service's XML belongs). It is neither a ClientError nor a BotoCoreError."""
    from botocore.parsers import ResponseParserError

    return ResponseParserError


@contextlib.contextmanager
def asking(service: str) -> Iterator[None]:
    """Name the service ("Service Quotas") on an error raised inside, for aws_error's line when
    whoever reports it does not know which client failed."""
    try:
        yield
    except Exception as err:
        if not getattr(err, "aws_service", ""):
            with contextlib.suppress(AttributeError, TypeError):
                err.aws_service = service  # type: ignore[attr-defined]
        raise


def aws_error(err: BaseException, service: str = "") -> str:
    """One line for a failed call: `Code: Message` for AWS's error document; `HTTP 500 from
    <service> <Operation>: <the body's first text>` when something else answered (an HTML page);
    the guidance for missing credentials; else the client's own text."""
    service = service or getattr(err, "aws_service", "")
    answer = _foreign_answer(err)
    if answer is not None:
        status, text = answer
        return f"HTTP {status} from {_call(err, service)}: {text}".rstrip(": ")
    response = getattr(err, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return one_line(f"{error.get('Code', 'Error')}: {error.get('Message', '')}")
    if type(err).__name__ == "ResponseParserError":
        return f"ResponseParserError: {_parser_error(err)}"
    from botocore.exceptions import NoCredentialsError

    if isinstance(err, NoCredentialsError):
        return NO_CREDENTIALS
    text = one_line(str(err))
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def call_failed(err: BaseException, service: str = "") -> str:
    """`<service> <Operation> failed: Code: Message`, or aws_error's line when something other
    than AWS answered (that line names the call already)."""
    service = service or getattr(err, "aws_service", "")
    if _foreign_answer(err) is not None:
        return aws_error(err, service)
    return f"{_call(err, service)} failed: {aws_error(err)}"


def response_body(err: BaseException) -> str | None:
    """The whole body of an answer that was not AWS's error document (what aws_error quotes the
    first text of), for --verbose and --json; None otherwise. Follows the exception's cause."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        body = _own_body(current)
        if body is not None:
            return body
        current = current.__cause__ or current.__context__
    return None


def body_text(body: str | bytes | None, width: int = WIDTH) -> str:
    """The first meaningful text of a response body on one line, at most `width` characters:
    an HTML page's title, first heading and first paragraph (tags and scripts left out), a JSON
    document's message, else the text itself."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if _MARKUP.search(body):
        return shorten(_html_text(body), width)
    stripped = body.strip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except ValueError:
            document = None
        if isinstance(document, dict):
            for key in ("message", "Message", "error", "reason"):
                if isinstance(document.get(key), str) and document[key].strip():
                    return shorten(document[key], width)
    return shorten(body, width)


def one_line(text: str, width: int | None = None) -> str:
    """`text` on one line; an HTML document in it becomes its first text (body_text)."""
    found = _MARKUP.search(text)
    if found:
        head = " ".join(text[: found.start()].split())
        return f"{head} {body_text(text[found.start() :])}".strip()
    folded = " ".join(text.split())
    return shorten(folded, width) if width else folded


def shorten(text: str, width: int = WIDTH) -> str:
    """Whitespace folded; cut at a word boundary with "..." when longer than `width`."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[: width - 3]
    space = cut.rfind(" ")
    if space > width // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "..."


# ---------------------------------------------------------------------------- helpers


def _call(err: BaseException, service: str) -> str:
    operation = getattr(err, "operation_name", "") or "call"
    return f"{service} {operation}" if service else operation


def _foreign_answer(err: BaseException) -> tuple[int, str] | None:
    """(HTTP status, the body's first text) when the service's error document is missing.

    What botocore 1.44 makes of an HTML 500 page (seen against a loopback server): JSON and
    REST-JSON services (Service Quotas, Price List, EKS) give Error {Code: "500", Message: <the
    whole page>}; query services (EC2, STS, IAM) parse a page that is well-formed XML into the
    response ({"head": {"title": ...}, "body": {"h1": ..., "p": ...}}, no "Error"), and raise
    ResponseParserError for any other page; a 5xx body starting with "<html>" is "generic" to
    every parser: Code "502", Message the reason phrase ("Bad Gateway"), the body dropped.
    """
    response = getattr(err, "response", None)
    if not isinstance(response, dict):
        return None
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    error = response.get("Error") or {}
    code, message = str(error.get("Code") or ""), str(error.get("Message") or "")
    if _MARKUP.search(message) or (status and (code.isdigit() or (not code and status >= 300))):
        text = body_text(message) if message.strip() else _parsed_text(response)
        return status or (int(code) if code.isdigit() else 0), text
    return None


def _own_body(err: BaseException) -> str | None:
    if type(err).__name__ == "ResponseParserError":
        text = str(err)
        if _PARSER_BODY in text:
            return _decoded(text.split(_PARSER_BODY, 1)[1])
        return None
    if _foreign_answer(err) is None:
        return None
    response: dict[str, Any] = err.response  # type: ignore[attr-defined]
    message = str((response.get("Error") or {}).get("Message") or "")
    if message.strip():  # the body itself, unless the line quotes all of it
        return None if body_text(message) == message else message
    parsed = {k: v for k, v in response.items() if k not in ("Error", "ResponseMetadata")}
    return json.dumps(parsed, indent=2, default=str) if parsed else None


def _parser_error(err: BaseException) -> str:
    text = str(err)
    if _PARSER_BODY not in text:
        return one_line(text)
    head, raw = text.split(_PARSER_BODY, 1)
    body = body_text(_decoded(raw))
    head = " ".join(head.split()).removesuffix(".")
    return f"{head}: {body}" if body else head


def _decoded(raw: str) -> str:
    """The body from its repr() in botocore's message (b'...'), else the text as it is."""
    raw = raw.strip()
    if raw[:2] in ("b'", 'b"'):
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return raw
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
    return raw


def _parsed_text(response: dict) -> str:
    """The first text of an HTML page that botocore's XML parser turned into a dict."""
    found: dict[str, str] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "ResponseMetadata":
                    continue
                name = str(key).lower()
                if isinstance(item, str) and name in _PICK and name not in found:
                    found[name] = item
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(response)
    return shorten(_compose(found.get("title"), _heading(found), found.get("p")), WIDTH)


_PICK = ("title", "h1", "h2", "h3", "p")


def _heading(found: dict[str, str]) -> str | None:
    return next((found[h] for h in ("h1", "h2", "h3") if h in found), None)


def _compose(*pieces: str | None) -> str:
    """The pieces, whitespace folded, each left out when an earlier one already says it."""
    chosen: list[str] = []
    for piece in pieces:
        text = " ".join((piece or "").split())
        if text and not any(text.casefold() in c.casefold() for c in chosen):
            chosen.append(text)
    return " - ".join(chosen)


class _PageText(HTMLParser):
    """The title, first heading, first paragraph and all visible text of an HTML page."""

    SKIP = frozenset({"script", "style", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.parts: dict[str, list[str]] = {}
        self.done: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.parts:  # a second <p> (or an unclosed first one) ends the first
            self.done.add(tag)
        if tag in _PICK or tag in self.SKIP:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass
            if tag in self.parts:
                self.done.add(tag)

    def handle_data(self, data: str) -> None:
        if any(tag in self.SKIP for tag in self.stack):
            return
        self.text.append(data)
        for tag in self.stack:
            if tag in _PICK and tag not in self.done:
                self.parts.setdefault(tag, []).append(data)

    def first(self, tag: str) -> str | None:
        return " ".join(self.parts[tag]) if tag in self.parts else None


def _html_text(page: str) -> str:
    parser = _PageText()
    try:
        parser.feed(page)
        parser.close()
    except Exception:  # html.parser is lenient; never let a page hide the error it reports
        return re.sub(r"<[^>]*>", " ", page)
    found = {tag: text for tag in _PICK if (text := parser.first(tag))}
    return _compose(found.get("title"), _heading(found), found.get("p")) or " ".join(parser.text)
