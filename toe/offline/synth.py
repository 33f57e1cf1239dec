"""Offline synth: the program's plan, Kubernetes manifests and diagram, rendered without AWS.

`synth()` evaluates the program once through `toe.offline.harness.run_program` against a simulated
account, then renders what it registered: `plan.json` (every resource with its inputs, secrets
masked), one YAML file per Kubernetes object under `manifests/`, and `graph.mmd` (Mermaid). Values
the engine only knows after `up` render as `<computed>`; secret values as `[secret]`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from toe.offline.harness import SECRET_SIG, SECRET_VALUE_SIG, ProgramRun, Registration, Unknown
from toe.stack_secrets import SecretText
from toe.stackfiles import resolve_dir

COMPUTED = "<computed>"
SECRET = "[secret]"
PLAN_FILE = "plan.json"
GRAPH_FILE = "graph.mmd"
MANIFEST_DIR = "manifests"
VERDICTS_FILE = "verdicts.json"
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


# ---------------------------------------------------------------------------- values


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


# ---------------------------------------------------------------------------- plan


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


# ---------------------------------------------------------------------------- manifests


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


# ---------------------------------------------------------------------------- synth


class SynthError(Exception):
    """Synth cannot start (e.g. no such stack); the message says what to do."""


@dataclass(frozen=True)
class SynthResult:
    """What one synth produced: the run (unmasked, in memory only) and the files written."""

    run: ProgramRun
    out_dir: Path
    plan: dict[str, Any]
    manifests: dict[str, dict[str, Any]]
    graph: str
    verdicts: list | None  # None: the policy pack is not in this checkout
    verdicts_text: str | None  # the policy pack's own rendering of the verdicts, masked
    files: tuple[Path, ...]

    @property
    def mandatory_violations(self) -> list:
        return [v for v in self.verdicts or () if enforcement(v) == "mandatory"]


def enforcement(verdict: Any) -> str:
    level = getattr(verdict, "enforcement", "")
    return str(getattr(level, "value", level)).lower()


def policy_runner(project_dir: Path | None = None):
    """The offline policy runner (toe.offline.policy_runner), or None where the project has no
    policy pack (`policies/rules.py`)."""
    project_dir = resolve_dir(project_dir)
    if not (project_dir / "policies" / "rules.py").exists():
        return None
    import importlib
    import sys

    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    return importlib.import_module("toe.offline.policy_runner")


def verdict_record(verdict: Any, masker: Masker) -> dict[str, Any]:
    return masker.clean(
        {
            "policy": getattr(verdict, "policy", ""),
            "enforcement": enforcement(verdict),
            "urn": getattr(verdict, "urn", ""),
            "resourceName": getattr(verdict, "resource_name", ""),
            "message": getattr(verdict, "message", ""),
        }
    )


def _account_label(account: Path | None, project_dir: Path) -> str:
    from toe.offline.account import WORKSHOP_ACCOUNT

    path = Path(account or WORKSHOP_ACCOUNT).resolve()
    try:
        return str(path.relative_to(project_dir.resolve()))
    except ValueError:
        return path.name


def default_out_dir(stack: str) -> Path:
    return Path("build") / "synth" / stack


def synth(
    stack: str = "dev",
    *,
    project_dir: Path | None = None,
    account: Path | None = None,
    out_dir: Path | None = None,
    preview: bool = False,
    config: Mapping[str, Any] | None = None,
    policies: bool = True,
) -> SynthResult:
    """Run the program offline and write plan.json, manifests/ and graph.mmd under `out_dir`.

    Raises `toe.offline.account.AccountError` for an unusable account file and
    `toe.offline.harness.ProgramError` (with the program's own message) when the program fails.
    """
    from toe import guidance
    from toe.offline.account import load_account
    from toe.offline.harness import run_program
    from toe.offline.synth_graph import mermaid

    project_dir = resolve_dir(project_dir)
    if not (project_dir / f"Pulumi.{stack}.yaml").exists():
        raise SynthError(guidance.unknown_stack(stack, project_dir))
    out = Path(out_dir) if out_dir is not None else default_out_dir(stack)
    _ours(out)  # before the program runs: refuse a folder of someone else's files at once
    loaded = load_account(account) if account is not None else None
    run = run_program(
        stack,
        project_dir=project_dir,
        account=loaded,
        config=config,
        preview=preview,
        after=(lambda: _price(stack, project_dir)) if config is None else None,
    )
    masker = Masker.for_run(run)
    plan = build_plan(run, masker, _account_label(account, project_dir))
    manifests = build_manifests(run, masker)
    graph = mermaid(plan)
    runner = policy_runner(project_dir) if policies else None
    verdicts = list(runner.evaluate(run)) if runner is not None else None
    verdicts_text = None
    if verdicts is not None and hasattr(runner, "format_verdicts"):
        verdicts_text = masker.clean(str(runner.format_verdicts(verdicts)))

    written = write(out, plan, manifests, graph, verdicts, masker)
    return SynthResult(
        run=run,
        out_dir=out,
        plan=plan,
        manifests={name: obj for name, (_, obj) in manifests.items()},
        graph=graph,
        verdicts=verdicts,
        verdicts_text=verdicts_text,
        files=tuple(written),
    )


def _price(stack: str, project_dir: Path):
    """The stack's bill in the simulated account, from the bundled prices; why not, as text, when
    it cannot be priced (synth reports the program: the price comes on top)."""
    import boto3

    from toe import cost
    from toe.preflight import Clients, CouldNotCheck

    region = boto3.Session().region_name
    ec2 = boto3.client("ec2", region_name=region)
    clients = Clients(ec2=ec2, quotas=None, iam=None, sts=None, eks=None)
    try:
        return cost.run([stack], project_dir=project_dir, clients=clients)
    except CouldNotCheck as err:
        return f"could not price the stack: {err}"


MARKER_FILE = ".toe-synth.json"  # what synth wrote into a folder, so it may replace it later


def _ours(out: Path) -> None:
    """Refuse an output folder that holds anything an earlier synth did not write."""
    if not out.exists():
        return
    if not out.is_dir():
        raise SynthError(f"--out {out} is a file, not a folder")
    present = sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()
    )
    if not present:
        return
    marker = out / MARKER_FILE
    listed: set[str] = set()
    if marker.is_file():
        try:
            listed = set(json.loads(marker.read_text()).get("files", [])) | {MARKER_FILE}
        except (ValueError, AttributeError):
            listed = set()
    foreign = [name for name in present if name not in listed]
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise SynthError(
            f"--out {out} holds files synth did not write ({shown}); nothing was changed. "
            "Choose a new or empty folder (default: build/synth/<stack>)"
        )


def write(
    out: Path,
    plan: Mapping[str, Any],
    manifests: Mapping[str, tuple[Registration, dict]],
    graph: str,
    verdicts: list | None,
    masker: Masker,
) -> list[Path]:
    """Write the files into a fresh folder, then move it into place: `out` ends up holding exactly
    one synth's output, even when two run at once, and nothing synth did not write is deleted."""
    import contextlib
    import shutil
    import tempfile

    _ours(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    names = [PLAN_FILE, GRAPH_FILE]
    (staging / PLAN_FILE).write_text(dump_json(plan))
    (staging / GRAPH_FILE).write_text(graph)
    (staging / MANIFEST_DIR).mkdir()
    for filename, (reg, obj) in sorted(manifests.items()):
        (staging / MANIFEST_DIR / filename).write_text(manifest_text(reg, obj))
        names.append(f"{MANIFEST_DIR}/{filename}")
    if verdicts is not None:
        (staging / VERDICTS_FILE).write_text(
            dump_json([verdict_record(v, masker) for v in verdicts])
        )
        names.append(VERDICTS_FILE)
    (staging / MARKER_FILE).write_text(dump_json({"stack": plan["stack"], "files": names}))
    for _attempt in range(10):
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            with contextlib.suppress(FileNotFoundError):  # another synth moved it first
                out.rename(old / out.name)
        try:
            staging.rename(out)
        except OSError:  # another synth put its folder in place meanwhile: move that aside
            continue
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        break
    else:
        shutil.rmtree(staging, ignore_errors=True)
        raise SynthError(f"could not move the output into {out}: other synths keep replacing it")
    return [out / name for name in names]
