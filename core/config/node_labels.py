"""Rules for a node group's labels and taints."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import core.config.intent as intent
from core.config.fields import unknown_fields
from core.config.model import (
    TAINT_EFFECTS,
    TAINT_FIELDS,
    TAINT_KEY_MAX,
    TAINT_VALUE_MAX,
    Taint,
)
from core.config.values import _Reader, _short
from core.problems import chain


def labels(r: _Reader, key: str, raw: Any) -> tuple[tuple[str, str], ...]:
    labels = raw or {}
    if not isinstance(labels, Mapping):
        # kubectl's `key=value` words (a list, or one text) are the same labels as a map.
        words = labels.split(",") if isinstance(labels, str) else labels
        readable = isinstance(words, list) and all(isinstance(w, str) for w in words)
        pairs = [w.strip().partition("=") for w in words] if readable else []
        kept = {k: v for k, eq, v in pairs if eq}
        dropped = [k for k, eq, _ in pairs if not eq and k]
        if kept:
            r.problem(
                f"{key}.labels",
                f"must be a map of label key to value, got {_short(repr(labels))}; kubectl's "
                "key=value is written as a map here"
                + (
                    f" (the fix drops {', '.join(dropped)}: a label is key=value)"
                    if dropped
                    else ""
                ),
                r.set_fix(f"{key}.labels", kept),
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


def taints(r: _Reader, key: str, raw: Any) -> tuple[Taint, ...]:
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
        moved = unknown_fields(r, tkey, taint, TAINT_FIELDS, "taint")
        tk, tv, effect = taint.get("key"), taint.get("value", ""), taint.get("effect")
        ok = not moved
        if "key" not in moved and (
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
        if "value" not in moved and (
            not isinstance(tv, str) or len(tv) > TAINT_VALUE_MAX or not intent.is_label_value(tv)
        ):
            # Tolerations match the value: the fix keeps one, as meant, where it can.
            fixed = intent.label_value(tv)
            r.problem(
                f"{tkey}.value",
                f"{_short(repr(tv))} is not a taint value (a Kubernetes label value of "
                f"0-{TAINT_VALUE_MAX} characters)" + (f"; did you mean {fixed}?" if fixed else ""),
                r.set_fix(f"{tkey}.value", fixed) if fixed else r.rm_fix(f"{tkey}.value"),
            )
            ok = False
        if "effect" not in moved and effect not in TAINT_EFFECTS:
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
    without its list (it names a taint's field), or kubectl's `key: value` pairs (NoSchedule,
    as kubectl takes them without an effect); advice when neither reads."""
    said = f"must be a list of {{key, value, effect}} objects, got a map, {_short(repr(raw))}"
    if set(raw) & {"key", "value", "effect"}:
        return said + " (one taint without its list)", r.set_fix(f"{key}.taints", [dict(raw)])
    pairs = [intent.taint(k, v, "NoSchedule") for k, v in raw.items()]
    if None not in pairs:
        return (
            said + "; read as kubectl's key=value, NoSchedule where no effect was written",
            r.set_fix(f"{key}.taints", pairs),
        )
    example = [{"key": "dedicated", "value": "x86", "effect": "NoSchedule"}]
    return said, f"write each taint as an object, e.g. {r.set_fix(f'{key}.taints', example)}"
