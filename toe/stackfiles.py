"""Stack configuration as the Pulumi CLI hands it to the program, read from the project's files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _config_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def stack_config(
    stack: str, project_dir: Path = ROOT, overrides: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Config as the CLI would hand it to the program: Pulumi.yaml defaults, then the stack file.

    Keys are fully qualified (`training-on-eks:vpcName`, `aws:region`); `overrides` may use short
    project keys. A value of None in `overrides` removes the key.
    """
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    name = project["name"]
    merged: dict[str, Any] = {}
    for key, decl in (project.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(decl, dict) and "default" in decl:
            merged[full] = decl["default"]
        elif isinstance(decl, dict) and "value" in decl:
            merged[full] = decl["value"]
        elif not isinstance(decl, dict):
            merged[full] = decl
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if stack_file.exists():
        merged.update((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {})
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if value is None:
            merged.pop(full, None)
        else:
            merged[full] = value
    return {k: _config_text(v) for k, v in merged.items()}


def stack_names(project_dir: Path = ROOT) -> list[str]:
    """The stacks that have a `Pulumi.<stack>.yaml` file."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def read_config(stack: str, lookup, project_dir: Path = ROOT, overrides=None):
    """The validated StackConfig of a stack, read from its files (no Pulumi engine involved).

    `lookup` answers instance-type questions (see components.instance_types).
    """
    from components import config
    from components.wellknown import PROJECT

    values = stack_config(stack, project_dir, overrides)
    return config.load(
        lambda key: values.get(f"{PROJECT}:{key}"),
        stack=stack,
        region=values.get("aws:region"),
        lookup=lookup,
    )
