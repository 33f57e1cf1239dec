"""The house's layers: which package may import which, no import cycles, a composing __main__.py.

core/        the kernel: pure rules and facts; imports no other layer
components/  what `pulumi up` registers; imports core
policies/    the CrossGuard pack; imports core
toe/         the operator CLI; toe/offline/ (the simulation synth runs) imports no command
tests/e2e/rehearsal/  the stand-ins judge the program: from the kernel they take facts only
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from conftest import ROOT

LAYERS = ("core", "components", "policies", "toe")
# Which layers each may import (itself always).
ALLOWED = {
    "core": set(),
    "components": {"core"},
    "policies": {"core"},
    "toe": {"core", "components", "policies"},
}
# The kernel's facts the rehearsal may read (what pulumi-eks generates, AWS's error text, the
# recorded check images); its rules (config, account checks, instance types, results) never: the
# rehearsal is an oracle.
REHEARSAL_MAY_IMPORT = {
    "core.pulumi_eks",
    "core.aws_errors",
    "core.wellknown",
    "core.image_catalogue",  # the recorded check images the kubelet stand-in can pull
}
# (and the bundled price table's one reader: Karpenter chooses by those prices)
REHEARSAL_MAY_IMPORT_TOE = {"toe.offline.account", "toe.offline.harness", "toe.prices"}
# The rehearsal's items (tests/e2e/test_*.py) may call the program's own code as the subject they
# try, never to judge it: the readout `pulumi up` runs, and the NodePool's drain hook.
REHEARSAL_ITEMS_MAY_CALL = {"components.pods", "components.teardown"}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports at run time (TYPE_CHECKING blocks left out)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _sources() -> dict[str, Path]:
    return {
        _module(p): p
        for layer in LAYERS
        for p in (ROOT / layer).rglob("*.py")
        if "__pycache__" not in p.parts
    }


def test_every_layer_imports_only_the_layers_below_it():
    wrong = []
    for name, path in _sources().items():
        layer = name.split(".")[0]
        for target in _imports(path):
            top = target.split(".")[0]
            if top in LAYERS and top != layer and top not in ALLOWED[layer]:
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_the_offline_simulation_imports_no_command():
    wrong = [
        f"{name} imports {target}"
        for name, path in _sources().items()
        if name.startswith("toe.offline")
        for target in _imports(path)
        if target.startswith(("toe.commands", "toe.cli"))
    ]
    assert wrong == []


def test_the_rehearsal_takes_facts_from_the_kernel_never_its_rules():
    wrong = []
    for path in (ROOT / "tests" / "e2e").rglob("*.py"):
        item = path.parent.name == "e2e" and path.name.startswith("test_")
        for target in _imports(path):
            top = target.split(".")[0]
            # (`from components import pods` names both `components` and `components.pods`)
            if item and any(
                target == m or target.startswith(m + ".") or m.startswith(target + ".")
                for m in REHEARSAL_ITEMS_MAY_CALL
            ):
                continue
            if (
                top == "core"
                and target != "core"
                and not any(target == m or target.startswith(m + ".") for m in REHEARSAL_MAY_IMPORT)
            ):
                wrong.append(f"{path.relative_to(ROOT)} imports {target}")
            if top in ("components", "policies"):
                wrong.append(f"{path.relative_to(ROOT)} imports {target}")
            if top == "toe" and not any(
                target == m or target.startswith(m + ".") for m in REHEARSAL_MAY_IMPORT_TOE
            ):
                wrong.append(f"{path.relative_to(ROOT)} imports {target}")
    assert wrong == []


def test_there_is_no_import_cycle():
    sources = _sources()
    graph = {
        name: {t for t in _imports(path) if t in sources and t != name}
        for name, path in sources.items()
    }
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_main_only_composes():
    text = (ROOT / "__main__.py").read_text()
    assert len(text.splitlines()) <= 60
    tree = ast.parse(text)
    defined = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert defined == [], "__main__.py composes components; functions and classes live in them"


@pytest.mark.parametrize("layer", ["core", "components"])
def test_the_kernel_and_the_components_have_a_one_line_docstring_per_module(layer):
    missing = [
        str(p.relative_to(ROOT))
        for p in (ROOT / layer).rglob("*.py")
        if "__pycache__" not in p.parts and not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert missing == []


MAX_MODULE_LINES = 400


def test_no_module_outgrows_one_concern():
    """A module over 400 lines holds more than one concern, unless its docstring says why
    (a line naming the limit: "over 400 lines because ...")."""
    big = []
    for path in [*_sources().values(), *(ROOT / "checks").glob("*.py")]:
        text = path.read_text()
        doc = ast.get_docstring(ast.parse(text)) or ""
        if len(text.splitlines()) > MAX_MODULE_LINES and "over 400 lines" not in doc:
            big.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
    assert big == []


def test_standard_library_imports_stand_at_the_top():
    """An import inside a function defers a cost (pulumi, boto3, rich when the CLI starts) or
    breaks a cycle; the standard library's cost nothing, so they stand where a reader looks."""
    inside = []
    for path in [*_sources().values(), ROOT / "__main__.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for found in ast.walk(node):
                if isinstance(found, ast.Import):
                    names = [a.name for a in found.names]
                elif isinstance(found, ast.ImportFrom) and found.level == 0:
                    names = [found.module or ""]
                else:
                    continue
                if any(n.split(".")[0] in sys.stdlib_module_names for n in names):
                    inside.append(f"{path.relative_to(ROOT)}:{found.lineno} in {node.name}")
    assert inside == []
