"""Configuration problems: each names the key, what is wrong and the command that fixes it."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class Problem:
    """One bad configuration value (or look-up) and how to fix it."""

    key: str
    message: str
    fix: str
    # True when AWS could not be asked (access denied, throttled, unreachable): nothing is known
    # to be wrong with the value itself.
    unchecked: bool = False

    def render(self) -> str:
        return f"  - {self.key}: {self.message}\n    fix: {self.fix}"


def _flags(stack: str | None, key: str, force_path: bool = False) -> str:
    stack_flag = f"--stack {shlex.quote(stack)} " if stack else ""
    nested = "[" in key or "." in key.split(":")[-1]
    return stack_flag + ("--path " if nested or force_path else "")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


_COERCED = re.compile(r"true|false|-?[0-9]+")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _scalars(key: str, value: object) -> list[tuple[str, object]]:
    """(path, scalar) pairs that `pulumi config set --path` builds `value` from."""
    if isinstance(value, list | tuple):
        return [p for i, item in enumerate(value) for p in _scalars(f"{key}[{i}]", item)]
    if isinstance(value, dict):
        pairs = []
        for name, item in value.items():
            step = f".{name}" if _PLAIN_NAME.fullmatch(str(name)) else f'["{name}"]'
            pairs += _scalars(f"{key}{step}", item)
        return pairs
    return [(key, value)]


def set_command(key: str, value: object, *, stack: str | None = None, secret: bool = False) -> str:
    """The `pulumi config set` command(s) that set `key` (a path such as `nodeGroups[0].minSize`).

    A list or map is set scalar by scalar with `--path` after removing the key: `pulumi config
    set KEY '[...]'` would store the text, not a list. `--path` turns text that reads as a
    boolean or an integer into one (pulumi sdk config Value.coerceObject), so such text gets
    `--type string`.
    """
    if isinstance(value, list | tuple | dict):
        commands = [rm_command(key, stack=stack)]
        for path, item in _scalars(key, value):
            commands.append(_set_one(path, item, stack, secret, force_path=True))
        return " && ".join(commands)
    return _set_one(key, value, stack, secret)


def _set_one(key: str, value: object, stack: str | None, secret: bool, force_path=False) -> str:
    flags = _flags(stack, key, force_path)
    if isinstance(value, str) and "--path" in flags and _COERCED.fullmatch(value):
        flags += "--type string "
    secret_flag = "--secret " if secret else ""
    return f"pulumi config set {flags}{secret_flag}{shlex.quote(key)} {shlex.quote(_text(value))}"


def rm_command(key: str, *, stack: str | None = None) -> str:
    """The `pulumi config rm` command that removes `key`."""
    return f"pulumi config rm {_flags(stack, key)}{shlex.quote(key)}"


def chain(*commands: str) -> str:
    return " && ".join(commands)


def describe(stack: str, problems: Sequence[Problem], outcome: str = "nothing was created") -> str:
    """Every problem of a stack, each with its fix: what the program stops with, and what the
    operator CLI prints for the same configuration."""
    count = len(problems)
    lines = [
        f"Stack '{stack}' has {count} configuration problem{'s' if count != 1 else ''}; {outcome}:"
    ]
    lines.extend(p.render() for p in problems)
    return "\n".join(lines)


class ConfigError(pulumi.RunError):
    """Raised once, before any resource is registered, with every configuration problem found."""

    def __init__(self, stack: str, problems: Sequence[Problem]) -> None:
        self.stack = stack
        self.problems = tuple(problems)
        super().__init__(describe(stack, self.problems))
