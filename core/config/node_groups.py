"""Rules for `nodeGroups`: names, sizes, disk, capacity type, AMI types (labels: node_labels)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import core.config.intent as intent
import core.config.node_labels as node_labels
from core import instance_types as it
from core.config.fields import unknown_fields
from core.config.model import (
    INT32_MAX,
    NODE_GROUP_EXAMPLE,
    NODE_GROUP_FIELDS,
    NODE_GROUP_NAME_RE,
    NodeGroupSpec,
)
from core.config.values import _json_or_none, _Reader, _short
from core.problems import chain


def _node_groups(r: _Reader, minor: int | None, *, lookups: bool) -> tuple[NodeGroupSpec, ...]:
    text = r.required("nodeGroups", NODE_GROUP_EXAMPLE)
    if text is None:
        return ()
    items = _json_or_none(text)
    if not isinstance(items, list) or not items:
        r.problem(
            "nodeGroups",
            f"must be a non-empty list of node groups, got {_short(text)}",
            r.set_fix("nodeGroups", NODE_GROUP_EXAMPLE),
        )
        return ()
    seen: set[str] = set()
    groups = []
    for index, item in enumerate(items):
        group = _node_group(r, f"nodeGroups[{index}]", item, minor, seen, lookups)
        if group is not None:
            groups.append(group)
    return tuple(groups)


def _int_field(r: _Reader, key: str, item: Mapping, name: str, default: int | None) -> int | None:
    path = f"{key}.{name}"
    value = item.get(name, default)
    example = 2 if default is None else default
    unit = " (EKS takes 32-bit sizes)"
    return r.whole(path, value, 0, INT32_MAX, unit, unreadable=r.set_fix(path, example))


def _size_problems(r: _Reader, key: str, lo: int, want: int, hi: int) -> None:
    """minSize <= desiredSize <= maxSize, maxSize >= 1; the fix changes the fewest values."""
    if hi >= 1 and lo <= want <= hi:
        return
    fixed_hi = max(hi, 1)
    fixed_lo = min(lo, fixed_hi)
    fixed_want = min(max(want, fixed_lo), fixed_hi)
    changes = [
        (name, new)
        for name, old, new in (
            ("maxSize", hi, fixed_hi),
            ("minSize", lo, fixed_lo),
            ("desiredSize", want, fixed_want),
        )
        if old != new
    ]
    fix = chain(*(r.set_fix(f"{key}.{name}", new) for name, new in changes))
    # Raising maxSize keeps the size that was asked for (`--path 'nodeGroups[0].desiredSize' 3`).
    raise_max = r.set_fix(f"{key}.maxSize", max(lo, want))
    if hi < 1:
        r.problem(f"{key}.maxSize", f"must be at least 1, got {hi}", fix)
    elif lo > hi:
        r.problem(
            f"{key}.minSize",
            f"minSize {lo} is above maxSize {hi}; to keep at least {lo} nodes, raise maxSize "
            f"instead: {raise_max}",
            fix,
        )
    elif want > hi:
        r.problem(
            f"{key}.desiredSize",
            f"desiredSize {want} is above maxSize {hi}; the fix raises maxSize to {want} (or keep "
            f"{hi} nodes: {r.set_fix(f'{key}.desiredSize', hi)})",
            raise_max,
        )
    else:
        r.problem(
            f"{key}.desiredSize",
            f"sizes must satisfy minSize <= desiredSize <= maxSize, got {lo} / {want} / {hi}",
            fix,
        )


def _node_group(r, key, item, minor, seen, lookups) -> NodeGroupSpec | None:
    if not isinstance(item, Mapping):
        r.problem(
            key,
            f"must be an object with name and instanceType, got {_short(repr(item))}",
            r.set_fix("nodeGroups", NODE_GROUP_EXAMPLE),
        )
        return None
    before = len(r.problems)
    moved = unknown_fields(r, key, item, NODE_GROUP_FIELDS, "node group")
    name = item.get("name", "")
    if not isinstance(name, str) or not NODE_GROUP_NAME_RE.fullmatch(name):
        if "name" not in moved:
            r.problem(
                f"{key}.name",
                f"{_short(repr(name))} is not a valid node group name (1-63 letters, digits, "
                "'-' or '_')",
                r.set_fix(f"{key}.name", _node_group_name_like(name, key, seen)),
            )
    elif name in seen:
        r.problem(
            f"{key}.name",
            f"duplicate node group name {name!r}; names must be unique",
            r.set_fix(f"{key}.name", f"{name}-2"),
        )
    seen.add(name if isinstance(name, str) else "")

    sizes = {
        f: (None if f in moved else _int_field(r, key, item, f, None))
        for f in ("minSize", "desiredSize", "maxSize")
    }
    if None not in sizes.values():
        _size_problems(r, key, sizes["minSize"], sizes["desiredSize"], sizes["maxSize"])
    disk = _int_field(r, key, item, "diskSize", 50)
    if disk is not None and disk < 20:
        r.problem(
            f"{key}.diskSize",
            f"must be at least 20 GiB, got {disk}",
            r.set_fix(f"{key}.diskSize", 50),
        )

    capacity = item.get("capacityType", "ON_DEMAND")
    kinds = it.eks_enum("CapacityTypes")
    if capacity not in kinds:
        # `spot` or `on-demand` (Karpenter's spelling) mean SPOT and ON_DEMAND: keep the choice
        # (the GPU pool's capacity types read by the same rule).
        meant = intent.choice(str(capacity), kinds)
        r.problem(
            f"{key}.capacityType",
            f"{_short(repr(capacity))} is not one of {', '.join(kinds)}"
            + (f"; did you mean {meant}?" if meant else ""),
            r.set_fix(f"{key}.capacityType", meant) if meant else r.rm_fix(f"{key}.capacityType"),
        )

    labels = node_labels.labels(r, key, item.get("labels"))
    taints = node_labels.taints(r, key, item.get("taints"))
    if "instanceType" in moved:
        ami_type, arch = None, None
    else:
        ami_type, arch = _resolve_ami(r, key, item, minor, lookups)
    if len(r.problems) > before:
        return None
    return NodeGroupSpec(
        name=name,
        instance_type=str(item["instanceType"]),
        min_size=sizes["minSize"],
        desired_size=sizes["desiredSize"],
        max_size=sizes["maxSize"],
        ami_type=ami_type,
        arch=arch,
        labels=labels,
        taints=taints,
        capacity_type=capacity,
        disk_size=disk,
    )


def _node_group_name_like(name: object, key: str, seen: set[str]) -> str:
    """The name written in the alphabet EKS takes (`NG X86` as NG-X86), else `ng-<index>`."""
    written = name if isinstance(name, str) else ""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", written).strip("-_")[:63]
    if NODE_GROUP_NAME_RE.fullmatch(cleaned) and cleaned not in seen:
        return cleaned
    return f"ng-{key[len('nodeGroups[') : -1]}"


def _resolve_ami(r, key, item, minor, lookups) -> tuple[str | None, str | None]:
    instance_type = item.get("instanceType", "")
    path = f"{key}.instanceType"
    explicit = item.get("amiType")
    hinted_arch = it.ami_arch(explicit) if isinstance(explicit, str) else None
    if not isinstance(instance_type, str) or not it.INSTANCE_TYPE_RE.fullmatch(instance_type):
        suggestion = r.suggest_type(str(instance_type), hinted_arch) if lookups else None
        r.problem(
            path,
            f"{_short(repr(instance_type))} is not an EC2 instance type (family.size, e.g. "
            "c7g.2xlarge)" + (f"; did you mean {suggestion}?" if suggestion else ""),
            r.set_fix(path, suggestion)
            if suggestion
            else f"set {path} to an instance type EC2 offers in the region",
        )
        return None, None
    if not lookups:
        return None, None  # the region is wrong: every look-up would fail (reported there)
    facts = r.facts(path, instance_type)
    if facts == "error":
        return None, None
    if facts is None:
        suggestion = r.suggest_type(instance_type, hinted_arch)
        known = instance_type in it.known_instance_types()  # well formed: lower case
        r.problem(
            path,
            (
                f"EC2 does not offer {instance_type} in this region (EC2 has it in other regions)"
                if known
                else f"EC2 does not know instance type {instance_type!r} in this region"
            )
            + (f"; did you mean {suggestion}?" if suggestion else ""),
            r.set_fix(path, suggestion)
            if suggestion
            else "choose a type from `aws ec2 describe-instance-type-offerings "
            "--location-type region --query 'InstanceTypeOfferings[].InstanceType'`",
        )
        return None, None
    derived = it.derive_ami_type(facts)
    if explicit is None:
        return derived, facts.kubernetes_arch
    explicit = str(explicit)
    ami_key = f"{key}.amiType"
    if explicit not in it.eks_enum("AMITypes"):
        found = intent.ami_type(explicit, facts, minor)
        r.problem(
            ami_key,
            f"{_short(repr(explicit))} is not an EKS AMI type; "
            + (f"did you mean {found}?" if found else f"leave it unset to derive {derived}"),
            r.set_fix(ami_key, found) if found else r.rm_fix(ami_key),
        )
    elif minor is not None and minor >= it.FIRST_MINOR_WITHOUT_AL2 and it.is_al2(explicit):
        r.problem(
            ami_key,
            f"{explicit} is an Amazon Linux 2 AMI; EKS publishes none for "
            f"Kubernetes 1.{it.FIRST_MINOR_WITHOUT_AL2}+ (use {derived})",
            r.set_fix(ami_key, derived),
        )
    elif it.ami_arch(explicit) not in (None, facts.kubernetes_arch):
        found = intent.ami_type(explicit, facts, minor) or derived  # the same OS, this architecture
        r.problem(
            ami_key,
            f"{explicit} is for {it.ami_arch(explicit)} but "
            f"{instance_type} is {facts.kubernetes_arch} (use {found})",
            r.set_fix(ami_key, found),
        )
    return explicit, facts.kubernetes_arch
