"""Fields an object in the config does not have (a node group's, a taint's, an assume-role's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import core.config.intent as intent
from core.config.values import _Reader
from core.problems import chain


def unknown_fields(
    r: _Reader, key: str, item: Mapping, fields: Sequence[str], what: str
) -> set[str]:
    """Fields of `item` (at `key`) that a `what` does not have, each a problem whose fix moves
    its value to the field it was meant to be; returns those fields. The program ignores an
    unknown field, so a typo (`valu`, `rolearn`) would silently lose its value."""
    meant: set[str] = set()
    for name, value in item.items():
        if name in fields:
            continue
        suggestion = intent.closest(str(name), fields)
        path = f"{key}.{name}"
        if suggestion is None or suggestion in item:
            r.problem(path, f"is not a {what} field", r.rm_fix(path))
            continue
        meant.add(suggestion)
        r.problem(
            path,
            f"is not a {what} field; did you mean {suggestion}?",
            chain(r.rm_fix(path), r.set_fix(f"{key}.{suggestion}", value)),
        )
    return meant
