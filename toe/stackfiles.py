"""Stack configuration as the Pulumi CLI hands it to the program, read from the project's files."""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from toe.stack_secrets import PLACEHOLDER, Decrypter, SecretsError, SecretText, is_secure

ROOT = Path(__file__).resolve().parents[1]
# Where Pulumi.yaml and the stack files are read from when a caller names no folder: this
# checkout. The test suite points it at a copy of the workshop's files, so that it never reads an
# instructor's own stack files (`pulumi stack init` and `pulumi config set` rewrite them).
PROJECT_DIR = ROOT


def resolve_dir(given: Path | None = None) -> Path:
    """The folder a command reads: the one it was given, else PROJECT_DIR."""
    return Path(given) if given is not None else PROJECT_DIR


class StackFileError(ValueError):
    """A stack or project file that cannot be read; the message is one line: file:line:col."""


class _Loader(yaml.SafeLoader):
    """YAML as the CLI reads stack files (Go yaml.v3, YAML 1.2): only true/false are booleans,
    so `yes`, `no`, `on` and `off` stay text; every construction error keeps its position."""

    def construct_mapping(self, node, deep=False):
        # yaml.v3, which the CLI reads stack files with, refuses a key given twice in one mapping
        # (`pulumi stack select`: `mapping key "x" already defined at line 4`); PyYAML keeps the
        # last one silently.
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = getattr(key_node, "value", None)
                if not isinstance(key, str):
                    continue
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f'mapping key "{key}" already defined at line {seen[key].line + 1}',
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError) as err:  # e.g. a 5000-digit number
            raise yaml.constructor.ConstructorError(
                None, None, str(err).splitlines()[0], node.start_mark
            ) from None


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _cycle(node, ancestors: tuple = ()) -> Any:
    """The first node that contains itself through an alias (a recursive anchor), else None."""
    if any(node is a for a in ancestors):
        return node
    children = []
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    for child in children:
        found = _cycle(child, (*ancestors, node))
        if found is not None:
            return found
    return None


def _where(path: Path, mark) -> str:
    return f"{path.name}:{mark.line + 1}:{mark.column + 1}"


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is an empty mapping).

    Raises StackFileError in one line naming the file, line and column.
    """
    return _read_yaml(path)[0]


def _read_yaml(path: Path) -> tuple[dict[str, Any], Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise StackFileError(f"{path.name}: not UTF-8 text (byte {err.start})") from None
    except IsADirectoryError:
        raise StackFileError(f"{path.name}: is a directory, not a stack file") from None
    except OSError as err:
        raise StackFileError(f"{path.name}: cannot be read ({err.strerror})") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, None
        cyclic = _cycle(node)
        if cyclic is not None:
            raise StackFileError(
                f"{_where(path, cyclic.start_mark)}: an anchor refers to itself (recursive alias)"
            )
        document = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        what = " ".join(str(err.problem or err.context or "invalid YAML").split())
        where = _where(path, mark) if mark else path.name
        raise StackFileError(f"{where}: {what}") from None
    except yaml.YAMLError as err:
        raise StackFileError(f"{path.name}: {' '.join(str(err).split())}") from None
    finally:
        loader.dispose()
    if document is None:
        return {}, None
    if not isinstance(document, dict):
        raise StackFileError(
            f"{_where(path, node.start_mark)}: the top level must be a mapping "
            f"(`config:` ...), not a {type(document).__name__}"
        )
    return document, node


# The top-level keys of a stack file (pulumi sdk go/common/workspace/project.go, ProjectStack);
# the CLI ignores any other, so a misspelt `configs:` would silently set nothing.
STACK_FILE_KEYS = ("secretsprovider", "encryptedkey", "encryptionsalt", "config", "environment")


def read_stack_file(path: Path) -> dict[str, Any]:
    """A `Pulumi.<stack>.yaml` document, checked: a mapping with a mapping under `config:`."""
    if path.is_symlink() and not path.exists():
        raise StackFileError(
            f"{path.name}: is a symbolic link to {os.readlink(path)}, which does not exist"
        )
    document, node = _read_yaml(path)
    for key_node, _ in node.value if node is not None else ():
        key = getattr(key_node, "value", None)
        if key not in STACK_FILE_KEYS:
            meant = difflib.get_close_matches(str(key), STACK_FILE_KEYS, n=1)
            raise StackFileError(
                f"{_where(path, key_node.start_mark)}: `{key}:` is not a stack file setting "
                "(Pulumi ignores it, so nothing under it is set)"
                + (f"; did you mean `{meant[0]}:`?" if meant else "")
            )
    config = document.get("config")
    if config is not None and not isinstance(config, dict):
        value = next(v for k, v in node.value if getattr(k, "value", None) == "config")
        raise StackFileError(
            f"{_where(path, value.start_mark)}: `config:` must be a mapping of keys to values, "
            f"not a {type(config).__name__}"
        )
    return document


def _config_text(value: Any) -> str:
    if isinstance(value, SecretText):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def stack_access(stack: str, region: str | None, project_dir: Path | None = None) -> Any:
    """How the stack's aws provider reaches AWS (core.config.AwsAccess: its profile and role),
    from its stack file; the ambient credentials where there is no file to read."""
    from core.config import AwsAccess, aws_access

    try:
        return aws_access(stack_config(stack, project_dir), region, stack=stack)
    except (StackFileError, OSError):
        return AwsAccess(region)


def stack_config(
    stack: str, project_dir: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Config as the CLI would hand it to the program: Pulumi.yaml defaults, then the stack file.

    Keys are fully qualified (`training-on-eks:vpcName`, `aws:region`); a stack file's key without
    a namespace is the project's, as the CLI reads it (pulumi sdk go/common/workspace/loaders.go,
    stackConfigNamespacedWithProject). `overrides` may use short project keys too. A value of
    None in `overrides` removes the key.
    A `secure:` value arrives as a SecretText: decrypted with the stack's passphrase when it is
    given (see toe.stack_secrets), else a placeholder that the key's type checks accept.
    Raises StackFileError for a file that cannot be read or secrets that cannot be opened.
    """
    project_dir = resolve_dir(project_dir)
    project = _project_document(project_dir / "Pulumi.yaml")
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
    if stack_file.exists() or stack_file.is_symlink():
        document = read_stack_file(stack_file)
        config = document.get("config") or {}
        secrets = None
        if any(is_secure(v) or isinstance(v, dict | list) for v in config.values()):
            try:
                secrets = Decrypter(document, stack_file.name)
            except SecretsError as err:
                raise StackFileError(str(err)) from None
        for key, value in config.items():
            full = key if ":" in str(key) else f"{name}:{key}"
            if secrets is not None:
                default = merged.get(full)
                stand_in = PLACEHOLDER if default is None else _config_text(default)
                try:
                    value = secrets.reveal(value, stand_in)
                except SecretsError as err:
                    raise StackFileError(f"{stack_file.name}: {full}: {err}") from None
            merged[full] = value
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if value is None:
            merged.pop(full, None)
        else:
            merged[full] = value
    try:
        return {str(k): _config_text(v) for k, v in merged.items()}
    except RecursionError:
        raise StackFileError(f"{stack_file.name}: a value refers to itself") from None


def _project_document(path: Path) -> dict[str, Any]:
    """Pulumi.yaml, parsed once per version of the file (a fleet reads it once per stack)."""
    try:
        stat = path.stat()
    except OSError:
        return read_yaml_mapping(path)  # says what is wrong with it
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _PROJECTS:
        _PROJECTS[key] = read_yaml_mapping(path)
    return copy.deepcopy(_PROJECTS[key])


_PROJECTS: dict[tuple[str, int, int], dict[str, Any]] = {}


def stack_names(project_dir: Path | None = None) -> list[str]:
    """The stacks that have a `Pulumi.<stack>.yaml` file."""
    project_dir = resolve_dir(project_dir)
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def read_config(
    stack: str, lookup, project_dir: Path | None = None, overrides=None, *, catalog=None, today=None
):
    """The validated StackConfig of a stack, read from its files (no Pulumi engine involved).

    `lookup` answers instance-type questions (see core.instance_types); `catalog` lists the
    types the region offers, for "did you mean" (optional). Raises one ConfigError listing every
    problem.
    """
    reading = read_stack_config(stack, lookup, project_dir, overrides, catalog=catalog, today=today)
    return reading.checked(stack)


def read_stack_config(
    stack: str, lookup, project_dir: Path | None = None, overrides=None, *, catalog=None, today=None
):
    """Like read_config, but returns the `Reading` (config or problems) without raising."""
    from core import config

    return config.read(
        stack_config(stack, project_dir, overrides),
        stack=stack,
        lookup=lookup,
        catalog=catalog,
        today=today,
    )
