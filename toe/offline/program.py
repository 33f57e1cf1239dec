"""What an offline run of the program yields: its registrations, outputs and errors, and the
markers the engine uses for unknown and secret values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "123456789012"


SECRET_SIG = "4dabf18193072939515e22adb298388d"


SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270"


class Unknown:
    """A value the engine would only know after `up` (rendered as `<computed>`)."""

    def __repr__(self) -> str:
        return "<computed>"


UNKNOWN = Unknown()


@dataclass
class Registration:
    """One resource the program registered, as the engine would have seen it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    hooks: dict[str, list[str]] = field(default_factory=dict)  # e.g. after_delete: [hook names]


@dataclass
class ProgramRun:
    """What one evaluation of the program did."""

    stack: str
    project: str
    preview: bool
    resources: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    config: dict[str, str]
    subnet_tags: dict[str, dict[str, str]]
    # What `after` (run_program) returned, asked inside the same simulated account.
    after: Any = None

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}


class ProgramError(Exception):
    """The program failed; `message` is its own text (e.g. a configuration report)."""

    def __init__(self, message: str, cause: BaseException) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause


def unwrap_secret(value: Any) -> Any:
    """A secret input's plain value (inputs arrive wrapped; FACTS.md, mocks)."""
    if isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE_SIG:
        return unwrap_secret(value.get("value"))
    if isinstance(value, dict):
        return {k: unwrap_secret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secret(v) for v in value]
    return value
