"""Karpenter durations, read one way by the config reader, the policy pack and `toe cost`.

The NodePool's `disruption.consolidateAfter` and `template.spec.expireAfter` take
`^(([0-9]+(s|m|h))+|Never)$` (CRD karpenter.sh_nodepools.yaml, Karpenter v1.15.0). So `500ms` and
`1.5h`, which Go's time.ParseDuration reads, are not durations here: the API server refuses them.
"""

from __future__ import annotations

import math
import re

PATTERN = re.compile(r"([0-9]+(s|m|h))+|Never")
NEVER = "Never"
UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


def seconds(text: object) -> float | None:
    """Seconds of a duration, `math.inf` for Never; None for anything the CRD refuses."""
    if not isinstance(text, str) or not PATTERN.fullmatch(text):
        return None
    if text == NEVER:
        return math.inf
    return float(sum(int(n) * UNIT_SECONDS[u] for n, u in re.findall(r"([0-9]+)([smh])", text)))


def written(total: int) -> str | None:
    """A whole number of seconds as the CRD's text: 5400 is `1h30m`, 0 is `0s`; None below 0."""
    if total < 0:
        return None
    parts = []
    for unit, size in UNIT_SECONDS.items():
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
