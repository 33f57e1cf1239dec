"""Apply a problem's fix (`pulumi config set/rm ...`) to a stack file, as the Pulumi CLI would.

What the CLI does, from its source (pulumi/sdk go/common/resource/config): `set KEY VALUE`
stores the text; `set --path` walks `a[0].b` / `a["x/y"]`, creating containers, and coerces the
value to a boolean or an integer when it reads as one (Value.coerceObject); `rm --path` deletes
the element; `--stack S` names the stack file. Commands are joined by `&&`.
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

PROJECT = "training-on-eks"
_PART = re.compile(r'\.?([^.\[\]]+)|\[(\d+)\]|\["([^"]+)"\]')


class NotACommand(ValueError):
    """The fix is advice for a person (edit a file, pick a type), not a CLI command."""


def _path(key: str) -> list[str | int]:
    parts: list[str | int] = []
    for match in _PART.finditer(key):
        name, index, quoted = match.groups()
        parts.append(int(index) if index is not None else (quoted or name))
    return parts


def _coerce(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return text


def _qualified(key: str) -> str:
    return key if ":" in key else f"{PROJECT}:{key}"


def apply(config: dict[str, Any], fix: str, stack: str) -> dict[str, Any]:
    """A copy of a stack file's `config:` mapping with the fix's commands applied."""
    config = yaml.safe_load(yaml.safe_dump(config))  # deep copy
    for command in fix.split(" && "):
        words = shlex.split(command)
        if words[:2] != ["pulumi", "config"] or words[2] not in ("set", "rm"):
            raise NotACommand(fix)
        verb, rest = words[2], words[3:]
        path = "--path" in rest
        if "--stack" in rest:
            named = rest[rest.index("--stack") + 1]
            assert named == stack, f"fix targets stack {named!r}, not {stack!r}: {fix}"
        args = [
            w
            for i, w in enumerate(rest)
            if not w.startswith("--") and (i == 0 or rest[i - 1] not in ("--stack", "--type"))
        ]
        key = args[0]
        if not path:
            if verb == "rm":
                config.pop(_qualified(key), None)
            else:
                config[_qualified(key)] = args[1]
            continue
        parts = _path(key)
        root = _qualified(str(parts[0]))
        if verb == "rm":
            node = config.get(root)
            for part in parts[1:-1]:
                node = node[part]
            if len(parts) == 1:
                config.pop(root, None)
            elif isinstance(node, list):
                node.pop(parts[-1])
            else:
                node.pop(parts[-1], None)
            continue
        value = args[1] if "--type" in rest else _coerce(args[1])
        if len(parts) == 1:
            config[root] = value
            continue
        node = config.setdefault(root, [] if isinstance(parts[1], int) else {})
        for part, following in itertools.pairwise(parts[1:]):
            empty: Any = [] if isinstance(following, int) else {}
            if isinstance(node, list):
                while len(node) <= part:
                    node.append(empty)
            else:
                node.setdefault(part, empty)
            node = node[part]
        last = parts[-1]
        if isinstance(node, list):
            while len(node) <= last:
                node.append(None)
        node[last] = value
    return config


def write_stack(project: Path, stack: str, config: dict[str, Any]) -> None:
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))


def set_config(stack_file: Path, **values: Any) -> None:
    """Set project keys in a stack file as `pulumi config set` would: the file's other top-level
    keys (`encryptionsalt`, `secretsprovider`, ...) and its other values stay as they are."""
    document = yaml.safe_load(stack_file.read_text()) or {}
    config = document.setdefault("config", {}) or {}
    document["config"] = config
    for key, value in values.items():
        config[_qualified(key)] = value
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
