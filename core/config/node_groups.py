"""Rules for `nodeGroups`: names, sizes, capacity type, labels, taints and AMI types."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import core.config.intent as intent
from core import instance_types as it
from core.config.model import (
    INT32_MAX,
    NODE_GROUP_EXAMPLE,
    NODE_GROUP_FIELDS,
    NODE_GROUP_NAME_RE,
    TAINT_EFFECTS,
    TAINT_KEY_MAX,
    TAINT_VALUE_MAX,
    NodeGroupSpec,
    Taint,
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
    moved = _unknown_fields(r, key, item)
    name = item.get("name", "")
    if not isinstance(name, str) or not NODE_GROUP_NAME_RE.fullmatch(name):
        if "name" not in moved:
            r.problem(
                f"{key}.name",
                f"{_short(repr(name))} is not a valid node group name (1-63 letters, digits, "
                "'-' or '_')",
                r.set_fix(f"{key}.name", f"ng-{key[len('nodeGroups[') : -1]}"),
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
        # `spot` or `on-demand` (Karpenter's spelling) mean SPOT and ON_DEMAND: keep the choice.
        folded = {k.replace("_", "").lower(): k for k in kinds}
        meant = folded.get(re.sub(r"[-_\s]", "", str(capacity)).lower())
        r.problem(
            f"{key}.capacityType",
            f"{_short(repr(capacity))} is not one of {', '.join(kinds)}"
            + (f"; did you mean {meant}?" if meant else ""),
            r.set_fix(f"{key}.capacityType", meant) if meant else r.rm_fix(f"{key}.capacityType"),
        )

    labels = _labels(r, key, item.get("labels"))
    taints = _taints(r, key, item.get("taints"))
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


def _unknown_fields(r: _Reader, key: str, item: Mapping) -> set[str]:
    """Fields a node group does not have; returns the known fields they were meant to be."""
    meant: set[str] = set()
    for name, value in item.items():
        if name in NODE_GROUP_FIELDS:
            continue
        suggestion = intent.closest(str(name), NODE_GROUP_FIELDS)
        path = f"{key}.{name}"
        if suggestion is None or suggestion in item:
            r.problem(path, "is not a node group field", r.rm_fix(path))
            continue
        meant.add(suggestion)
        r.problem(
            path,
            f"is not a node group field; did you mean {suggestion}?",
            chain(r.rm_fix(path), r.set_fix(f"{key}.{suggestion}", value)),
        )
    return meant


def _labels(r: _Reader, key: str, raw: Any) -> tuple[tuple[str, str], ...]:
    labels = raw or {}
    if not isinstance(labels, Mapping):
        # kubectl's `key=value` words (a list, or one text) are the same labels as a map.
        words = labels.split(",") if isinstance(labels, str) else labels
        readable = isinstance(words, list) and all(isinstance(w, str) for w in words)
        pairs = [w.strip().partition("=") for w in words] if readable else []
        if pairs and all(eq for _, eq, _ in pairs):
            r.problem(
                f"{key}.labels",
                f"must be a map of label key to value, got {_short(repr(labels))}; kubectl's "
                "key=value is written as a map here",
                r.set_fix(f"{key}.labels", {k: v for k, _, v in pairs}),
            )
        else:
            r.wrong_shape(f"{key}.labels", "a map of label key to value", labels)
        return ()
    good = []
    for lk, lv in labels.items():
        path = f'{key}.labels["{lk}"]'
        if intent.is_label_key(str(lk)) and isinstance(lv, str) and intent.is_label_value(lv):
            good.append((str(lk), lv))
            continue
        # Workloads select nodes by their labels: the fix writes the label as meant, and drops
        # it only when nothing can be read into it.
        fixed_key, fixed_value = intent.label_key(lk), intent.label_value(lv)
        readable = fixed_key is not None and fixed_value is not None
        said = f"{fixed_key}={fixed_value}" if fixed_key != lk else f"the text {fixed_value!r}"
        r.problem(
            path,
            f"{_short(str(lk))}={_short(str(lv))} is not a valid Kubernetes label"
            + (f"; did you mean {said}?" if readable else ""),
            chain(r.rm_fix(path), r.set_fix(f'{key}.labels["{fixed_key}"]', fixed_value))
            if readable
            else r.rm_fix(path),
        )
    return tuple(sorted(good))


def _taints(r: _Reader, key: str, raw: Any) -> tuple[Taint, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str) or (isinstance(raw, list) and any(isinstance(t, str) for t in raw)):
        # kubectl's syntax: the fix writes the same taints as objects (the list whole, so that
        # no element's index shifts under the next command).
        items = [w for w in re.split(r"[\s,]+", raw) if w] if isinstance(raw, str) else raw
        written = [t if isinstance(t, Mapping) else intent.kubectl_taint(t) for t in items]
        readable = bool(written) and None not in written
        assumed = any(isinstance(t, str) and ":" not in t for t in items)
        example = [{"key": "dedicated", "value": "x86", "effect": "NoSchedule"}]
        r.problem(
            f"{key}.taints",
            f"must be a list of {{key, value, effect}} objects, got {_short(repr(raw))}"
            + ("; kubectl's key=value:Effect is written as an object here" if readable else "")
            + (" (NoSchedule where no effect was written)" if readable and assumed else ""),
            # A taint keeps pods off the nodes: never dropped by a fix, rewritten or explained.
            r.set_fix(f"{key}.taints", written)
            if readable
            else f"write each taint as an object, e.g. {r.set_fix(f'{key}.taints', example)}",
        )
        return ()
    if isinstance(raw, Mapping):
        r.problem(f"{key}.taints", *_taints_from_a_map(r, key, raw))
        return ()
    if not isinstance(raw, list):
        r.wrong_shape(f"{key}.taints", "a list of {key, value, effect}", raw)
        return ()
    taints = []
    for index, taint in enumerate(raw):
        tkey = f"{key}.taints[{index}]"
        if not isinstance(taint, Mapping):
            r.wrong_shape(tkey, "an object with key, value and effect", taint)
            continue
        tk, tv, effect = taint.get("key"), taint.get("value", ""), taint.get("effect")
        ok = True
        if (
            not isinstance(tk, str)
            or not 1 <= len(tk) <= TAINT_KEY_MAX
            or not intent.is_label_key(tk)
        ):
            # EKS: 1-63 characters (botocore model, Taint.key); Kubernetes: a qualified name.
            # A taint keeps pods off: the fix rewrites its key, dropping it only when unreadable.
            fixed = intent.label_key(tk)
            fixed = fixed if fixed and len(fixed) <= TAINT_KEY_MAX else None
            r.problem(
                f"{tkey}.key",
                f"{_short(repr(tk))} is not a taint key (a Kubernetes label key of "
                f"1-{TAINT_KEY_MAX} characters)" + (f"; did you mean {fixed}?" if fixed else ""),
                r.set_fix(f"{tkey}.key", fixed)
                if fixed
                else f"give the taint its key, e.g. {r.set_fix(f'{tkey}.key', 'dedicated')} "
                "(removing the taint would let every pod onto these nodes)",
            )
            ok = False
        if not isinstance(tv, str) or len(tv) > TAINT_VALUE_MAX or not intent.is_label_value(tv):
            # Tolerations match the value: the fix keeps one, as meant, where it can.
            fixed = intent.label_value(tv)
            r.problem(
                f"{tkey}.value",
                f"{_short(repr(tv))} is not a taint value (a Kubernetes label value of "
                f"0-{TAINT_VALUE_MAX} characters)" + (f"; did you mean {fixed}?" if fixed else ""),
                r.set_fix(f"{tkey}.value", fixed) if fixed else r.rm_fix(f"{tkey}.value"),
            )
            ok = False
        if effect not in TAINT_EFFECTS:
            r.problem(
                f"{tkey}.effect",
                f"{_short(repr(effect))} is not a taint effect ({', '.join(TAINT_EFFECTS)})",
                r.set_fix(f"{tkey}.effect", "NoSchedule"),
            )
            ok = False
        if ok:
            taints.append(Taint(tk, tv, effect))
    return tuple(taints)


def _taints_from_a_map(r: _Reader, key: str, raw: Mapping) -> tuple[str, str]:
    """The message and fix for taints written as a map instead of a list: one taint object
    without its list, or kubectl's `key: value` pairs (NoSchedule, as kubectl without an
    effect); advice when neither reads."""
    said = f"must be a list of {{key, value, effect}} objects, got a map, {_short(repr(raw))}"
    if set(raw) <= {"key", "value", "effect"}:
        return said + " (one taint without its list)", r.set_fix(f"{key}.taints", [dict(raw)])
    pairs = [intent.taint(k, v, "NoSchedule") for k, v in raw.items()]
    if None not in pairs:
        return (
            said + "; read as kubectl's key=value, NoSchedule where no effect was written",
            r.set_fix(f"{key}.taints", pairs),
        )
    example = [{"key": "dedicated", "value": "x86", "effect": "NoSchedule"}]
    return said, f"write each taint as an object, e.g. {r.set_fix(f'{key}.taints', example)}"


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
        r.problem(
            path,
            f"EC2 does not know instance type {instance_type!r} in this region"
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
