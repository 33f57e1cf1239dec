"""Configuration problems: each names the key, what is wrong and the command that fixes it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class Problem:
    """One bad configuration value."""

    key: str
    message: str
    fix: str

    def render(self) -> str:
        return f"  - {self.key}: {self.message}\n    fix: {self.fix}"


def set_command(key: str, value: object, *, secret: bool = False) -> str:
    """The `pulumi config set` command that sets `key` (a path such as `nodeGroups[0].minSize`)."""
    path = "--path " if ("[" in key or "." in key.split(":")[-1]) else ""
    secret_flag = "--secret " if secret else ""
    text = (
        value
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else value
    )
    return f"pulumi config set {secret_flag}{path}{shlex.quote(key)} {shlex.quote(str(text))}"


class ConfigError(pulumi.RunError):
    """Raised once, before any resource is registered, with every configuration problem found."""

    def __init__(self, stack: str, problems: list[Problem]) -> None:
        self.stack = stack
        self.problems = tuple(problems)
        count = len(problems)
        lines = [
            f"Stack '{stack}' has {count} configuration problem{'s' if count != 1 else ''};"
            " nothing was created:"
        ]
        lines.extend(p.render() for p in problems)
        super().__init__("\n".join(lines))
