"""EC2 vCPU quotas: what each node group and the GPU pool need of each quota."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core import account_checks as ac
from core import instance_types as it
from core.problems import Problem
from toe.preflight.verdicts import FAIL, PASS, UNCHECKED, WARN

QUOTAS_TITLE = "EC2 on-demand vCPU quotas"


def quota_row(
    code: str,
    value: float | None,
    error: str | None,
    source: str,
    *,
    pool,
    launchable: Sequence[it.InstanceFacts],
    efa_type: Any,
    efa_required: bool,
    node_need: Mapping[str, tuple[int, int]],
    blocked: Sequence[Problem],
    gpu_known: bool = True,
    distributed: Any = None,
) -> dict:
    """One quota's verdict: GPU quotas against the pool and the Jobs, standard against groups."""
    desired, maximum = node_need.get(code, (0, 0))
    row = {"code": code, "name": ac.QUOTA_NAMES[code], "value": value, "source": source}

    def verdict(status: str, text: str) -> dict:
        return {**row, "status": status, "verdict": text}

    if value is None:
        return verdict(UNCHECKED, f"could not check: {error or 'unknown error'}")
    if code == ac.QUOTA_STANDARD:
        if value < desired:
            return verdict(
                FAIL,
                f"{value:g} vCPUs < {desired} the node groups need at their desired size",
            )
        if value < maximum:
            return verdict(
                WARN, f"{value:g} vCPUs covers the desired {desired} but not the maximum {maximum}"
            )
        return verdict(PASS, f"{value:g} vCPUs ≥ {desired} for the node groups (desired)")

    kind = "G and VT" if code == ac.QUOTA_G_VT else "P"
    if not gpu_known:
        return verdict(WARN, f"{value:g} vCPUs; not compared: the GPU types need the network")
    if "on-demand" not in pool.capacity_types:
        return verdict(WARN, "the pool launches no on-demand nodes; spot quotas are not checked")
    mine = [f for f in launchable if f.has_nvidia_gpu and ac.quota_code(f.instance_type) == code]
    if not mine:
        return verdict(PASS, f"{value:g} vCPUs; not used (the pool launches no {kind} type here)")
    smallest = min(mine, key=lambda f: (f.vcpus, f.instance_type))
    need = desired + smallest.vcpus
    if distributed is not None and distributed.enabled:
        # Its two nodes run beside the GPU check's: the efaInstanceType with EFA, else (about)
        # the smallest type the pool admits.
        node = efa_type if distributed.efa and efa_type is not None else smallest
        if ac.quota_code(node.instance_type) == code:
            extra = 2 * node.vcpus
            if value < need + extra:
                return verdict(
                    FAIL if distributed.required else WARN,
                    f"{value:g} vCPUs < {need + extra} for the GPU check's node and the "
                    f"distributed check's two {node.instance_type} ({node.vcpus} vCPUs each): "
                    "its second pod would stay pending",
                )
    if value < need:
        here = [p for p in blocked if p.key == f"quota {code}"] or blocked
        if blocked:
            return verdict(FAIL, here[0].message)
        return verdict(
            WARN,
            f"{value:g} vCPUs < {need} for the smallest {kind} type {smallest.instance_type}; "
            "the pool can only use the other category",
        )
    efa_here = efa_type is not None and ac.quota_code(efa_type.instance_type) == code
    if efa_here and value < desired + efa_type.vcpus:
        return verdict(
            FAIL if efa_required else WARN,
            f"{value:g} vCPUs < {efa_type.vcpus} for efaInstanceType "
            f"{efa_type.instance_type}: the EFA check cannot start",
        )
    if value < pool.max_cpu:
        return verdict(
            WARN,
            f"{value:g} vCPUs fits {smallest.instance_type} ({smallest.vcpus}) but is below "
            f"gpuMaxCpu {pool.max_cpu}: the pool stops at the quota before its own limit",
        )
    return verdict(PASS, f"{value:g} vCPUs ≥ gpuMaxCpu {pool.max_cpu}")


def said_once(rows: Sequence[Mapping[str, Any]], name) -> str:
    """The rows' verdicts, each distinct one once with the quotas it is about: three quotas that
    one error kept from being read make one sentence."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row["verdict"], []).append(name(row))
    return "; ".join(f"{', '.join(names)}: {verdict}" for verdict, names in groups.items())


def quota_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One evidence line per quota (and its fix); one for all the quotas an error kept from
    being read (the summary quotes the error)."""
    lines: list[str] = []
    unread: dict[str, list[str]] = {}
    for row in rows:
        if row["status"] == UNCHECKED:
            unread.setdefault(row["verdict"], []).append(f"{row['name']} ({row['code']})")
            continue
        lines.append(f"{row['status'].upper()} {row['name']} ({row['code']}): {row['verdict']}")
        if "fix" in row:
            lines.append(f"fix: {row['fix']}")
    lines += [f"UNCHECKED {', '.join(names)}: not read" for names in unread.values()]
    return lines


def _node_group_vcpus(groups, lookup) -> dict[str, tuple[int, int]]:
    """Per quota code: (desired, maximum) vCPUs of the managed node groups."""
    need: dict[str, tuple[int, int]] = {}
    for group in groups:
        facts = lookup(group.instance_type)
        code = ac.quota_code(group.instance_type)
        if facts is None or code is None:
            continue
        desired, maximum = need.get(code, (0, 0))
        need[code] = (
            desired + group.desired_size * facts.vcpus,
            maximum + group.max_size * facts.vcpus,
        )
    return need


def _short(code: str) -> str:
    return {ac.QUOTA_G_VT: "G/VT", ac.QUOTA_P: "P", ac.QUOTA_STANDARD: "Standard"}[code]


def _value(value: float | None) -> str:
    return "unreadable" if value is None else f"{value:g} vCPUs"
