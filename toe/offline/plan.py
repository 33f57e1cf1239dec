"""What synth writes from an offline run: the plan (resources, dependencies, config), one
manifest per Kubernetes object, every secret masked and every unknown marked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from toe.offline.harness import SECRET_SIG, SECRET_VALUE_SIG, ProgramRun, Registration, Unknown
from toe.stack_secrets import SecretText

COMPUTED = "<computed>"
PLAN_FILE = "plan.json"
GRAPH_FILE = "graph.mmd"
MANIFEST_DIR = "manifests"
VERDICTS_FILE = "verdicts.json"


SECRET = "[secret]"


PLAN_FORMAT = 1


# The engine's marker for an unknown value inside serialized properties (pulumi.runtime.rpc).
UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


# Keys whose values are credentials, or carry them, wherever they appear: pulumi-eks does not
# mark the kubeconfig secret (FACTS.md, "Running a Pulumi Python program under mocks").
SECRET_KEYS = frozenset(
    {
        "kubeconfig",
        "kubeconfigJson",
        "kubeconfig_json",
        "certificate-authority-data",
        "certificateAuthority",
        "client-certificate-data",
        "client-key-data",
        "token",
        "password",
    }
)


# Leaves shorter than this under a secret key are not used to hunt for copies elsewhere.
_MIN_FRAGMENT = 16


def _is_wrapped_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE_SIG


def is_unknown(value: Any) -> bool:
    """Whether a value is only known after `up` (the harness's or the Pulumi SDK's marker)."""
    if isinstance(value, Unknown) or value == UNKNOWN_SENTINEL:
        return True
    kind = type(value)
    return kind.__name__ == "Unknown" and kind.__module__.startswith("pulumi")


class Masker:
    """Masks secrets and renders unknowns; knows every secret text the run produced."""

    def __init__(self, fragments: Iterable[str] = ()) -> None:
        self.fragments = sorted({f for f in fragments if len(f) >= _MIN_FRAGMENT}, key=len)

    @classmethod
    def for_run(cls, run: ProgramRun) -> Masker:
        """Every secret text of the run: wrapped secret inputs, values under secret keys, secret
        stack outputs, and the credential leaves inside them (the CA data of a kubeconfig)."""
        fragments: list[str] = []

        def add_secret(value: Any) -> None:
            if value is None or is_unknown(value):
                return
            if _is_wrapped_secret(value):
                add_secret(value.get("value"))
                return
            fragments.append(value if isinstance(value, str) else json.dumps(value, sort_keys=True))
            inner = value
            if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
                try:
                    inner = json.loads(value)
                except ValueError:
                    return
            hunt(inner)

        def hunt(value: Any) -> None:
            if _is_wrapped_secret(value):
                add_secret(value)
            elif isinstance(value, Mapping):
                for key, item in value.items():
                    if key in SECRET_KEYS:
                        add_secret(item)
                    else:
                        hunt(item)
            elif isinstance(value, list | tuple):
                for item in value:
                    hunt(item)

        for reg in run.resources:
            hunt(reg.inputs)
            hunt(reg.outputs)
        for key in run.secret_outputs:
            add_secret(run.outputs.get(key))
        for value in run.config.values():  # `secure:` stack values, opened or stand-ins
            if isinstance(value, SecretText):
                add_secret(str(value))
        return cls(fragments)

    def _hides(self, text: str) -> bool:
        return any(fragment in text for fragment in self.fragments)

    def clean(self, value: Any) -> Any:
        """A JSON-ready copy: secrets `[secret]`, unknowns `<computed>`, 2.0 -> 2."""
        if _is_wrapped_secret(value):
            return SECRET
        if is_unknown(value):
            return COMPUTED
        if isinstance(value, Mapping):
            return {
                str(k): SECRET if k in SECRET_KEYS and v not in (None, "") else self.clean(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.clean(v) for v in value]
        if isinstance(value, float) and value.is_integer():
            return int(value)  # the engine sends every number as a float
        if isinstance(value, str):
            if self._hides(value):
                return SECRET
            return value.replace(UNKNOWN_SENTINEL, COMPUTED)
        if value is None or isinstance(value, bool | int | float):
            return value
        return str(value)


def provider_urn(reference: str) -> str:
    """The provider's URN from a provider reference `<urn>::<id>`."""
    if not reference:
        return ""
    urn, _, _ = reference.rpartition("::")
    return urn or reference


def resource_dependencies(reg: Registration) -> list[str]:
    """Everything the resource waits for: explicit dependencies and property dependencies."""
    deps = set(reg.dependencies)
    for urns in reg.property_dependencies.values():
        deps.update(urns)
    deps.discard(reg.urn)
    return sorted(deps)


def _config_view(config: Mapping[str, str], masker: Masker) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for key, text in sorted(config.items()):
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if isinstance(value, dict) and "secure" in value:
            view[key] = SECRET
        else:
            view[key] = masker.clean(text)
    return view


def build_plan(run: ProgramRun, masker: Masker, account: str = "") -> dict[str, Any]:
    """The plan: every resource (sorted by URN) and the stack outputs, secrets masked."""
    resources = []
    for reg in sorted(run.resources, key=lambda r: r.urn):
        inputs = masker.clean(reg.inputs)
        outputs = masker.clean(reg.outputs)
        resources.append(
            {
                "urn": reg.urn,
                "type": reg.type,
                "name": reg.name,
                "custom": reg.custom,
                "parent": reg.parent,
                "provider": provider_urn(reg.provider),
                "dependencies": resource_dependencies(reg),
                "propertyDependencies": {
                    k: sorted(v) for k, v in sorted(reg.property_dependencies.items()) if v
                },
                "inputs": inputs,
                # Only what the provider added or changed (auto-names, ARNs, kubeconfig).
                "outputs": {k: v for k, v in outputs.items() if inputs.get(k) != v},
            }
        )
    outputs = {
        key: SECRET if key in run.secret_outputs else masker.clean(value)
        for key, value in sorted(run.outputs.items())
    }
    return {
        "format": PLAN_FORMAT,
        "project": run.project,
        "stack": run.stack,
        "preview": run.preview,
        "account": account,
        "config": _config_view(run.config, masker),
        "resources": resources,
        "outputs": outputs,
        "secretOutputs": sorted(run.secret_outputs),
    }


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load_plan(path: Path | str) -> dict[str, Any]:
    """Read a `plan.json` written by `synth` (a directory means its `plan.json`)."""
    path = Path(path)
    if path.is_dir():
        path = path / PLAN_FILE
    return json.loads(path.read_text())


def api_version_kind(type_token: str) -> tuple[str, str]:
    """`kubernetes:batch/v1:Job` -> (`batch/v1`, `Job`); `kubernetes:core/v1:...` -> `v1`."""
    _, group_version, kind = type_token.split(":", 2)
    if group_version.startswith("core/"):
        group_version = group_version[len("core/") :]
    return group_version, kind


def _file_part(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-") or "object"


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def manifest(reg: Registration, masker: Masker) -> dict[str, Any]:
    """The object as `kubectl apply` takes it: apiVersion, kind, metadata, then the body.

    Keys below the top level are sorted: the engine hands properties over in no fixed order.
    """
    body = _sorted(masker.clean(reg.outputs or reg.inputs))
    default_api, default_kind = api_version_kind(reg.type)
    metadata = dict(body.get("metadata") or {})
    if not metadata.get("name"):
        metadata["name"] = COMPUTED
    ordered: dict[str, Any] = {
        "apiVersion": body.get("apiVersion") or default_api,
        "kind": body.get("kind") or default_kind,
        "metadata": metadata,
    }
    for key in sorted(body):
        if key not in ordered and key != "status" and not key.startswith("__"):
            ordered[key] = body[key]
    return ordered


def build_manifests(run: ProgramRun, masker: Masker) -> dict[str, tuple[Registration, dict]]:
    """`<kind>-<name>.yaml` -> (registration, object) for every Kubernetes registration."""
    files: dict[str, tuple[Registration, dict]] = {}
    for reg in sorted(run.resources, key=lambda r: r.urn):
        if not reg.type.startswith("kubernetes:"):
            continue
        obj = manifest(reg, masker)
        meta = obj["metadata"]
        name = meta["name"] if meta["name"] != COMPUTED else reg.name
        filename = f"{_file_part(obj['kind'])}-{_file_part(name)}.yaml"
        if filename in files:
            namespace = meta.get("namespace") or "cluster"
            filename = f"{_file_part(obj['kind'])}-{_file_part(namespace)}-{_file_part(name)}.yaml"
        files[filename] = (reg, obj)
    return files


def manifest_text(reg: Registration, obj: Mapping[str, Any]) -> str:
    header = f"# {reg.type} {reg.name}\n# {reg.urn}\n"
    return header + yaml.safe_dump(dict(obj), sort_keys=False, default_flow_style=False, width=100)
