"""Mermaid flowchart of a synth plan: one subgraph per component, dependency and provider edges."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any


def _label(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def is_component(resource: Mapping[str, Any], children: Mapping[str, list]) -> bool:
    """A ComponentResource of this program: not custom and parent of other resources.

    Remote components (`eks:index:Cluster` under mocks) register without children, so they are
    drawn as resources.
    """
    return not resource["custom"] and bool(children.get(resource["urn"]))


def mermaid(plan: Mapping[str, Any]) -> str:
    """`flowchart LR`: components as subgraphs, `A --> B` when B waits for A."""
    resources = list(plan["resources"])
    by_urn = {r["urn"]: r for r in resources}
    children: dict[str, list[dict]] = defaultdict(list)
    for r in resources:
        children[r["parent"]].append(r)
    ids = {r["urn"]: f"r{i}" for i, r in enumerate(resources)}
    lines = ["flowchart LR"]

    def emit(resource: Mapping[str, Any], depth: int) -> None:
        pad = "  " * depth
        node = ids[resource["urn"]]
        title = f"{_label(resource['name'])}<br/>{_label(resource['type'])}"
        if is_component(resource, children):
            lines.append(f'{pad}subgraph {node}["{title}"]')
            for child in children[resource["urn"]]:
                emit(child, depth + 1)
            lines.append(f"{pad}end")
        else:
            shape = ('(["', '"])') if not resource["custom"] else ('["', '"]')
            lines.append(f"{pad}{node}{shape[0]}{title}{shape[1]}")

    roots = [r for r in resources if r["parent"] not in by_urn]
    for r in roots:
        emit(r, 1)

    edges: set[tuple[str, str, str]] = set()
    for r in resources:
        for dep in r["dependencies"]:
            if dep in ids:
                edges.add((ids[dep], "-->", ids[r["urn"]]))
        provider = r.get("provider") or ""
        if provider in ids:
            edges.add((ids[provider], "-.->|provider|", ids[r["urn"]]))
    for src, arrow, dst in sorted(edges, key=lambda e: (int(e[0][1:]), int(e[2][1:]), e[1])):
        lines.append(f"  {src} {arrow} {dst}")
    return "\n".join(lines) + "\n"
