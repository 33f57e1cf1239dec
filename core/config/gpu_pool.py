"""Rules for the GPU NodePool's keys: categories, families, capacity types, limits, durations."""

from __future__ import annotations

import core.config.intent as intent
from core.config.model import (
    CATEGORY_RE,
    FAMILY_RE,
    INT32_MAX,
    K8S_NAME_RE,
    KARPENTER_CAPACITY_TYPES,
    GpuPoolSpec,
)
from core.config.values import _Reader, _short


def _gpu_pool(r: _Reader) -> GpuPoolSpec | None:
    before = len(r.problems)
    categories = r.names(
        "gpuInstanceCategories",
        ["g", "p"],
        CATEGORY_RE,
        "instance category",
        needed=True,
        offered=lambda: (
            sorted({CATEGORY_RE.match(f)[0] for f in r.offered_families() or []}) or None
        ),
    )
    families = r.names(
        "gpuInstanceFamilies",
        ["g6", "g5"],
        FAMILY_RE,
        "instance family",
        offered=r.offered_families,
    )
    capacity = r.strings("gpuCapacityTypes", ["on-demand"])
    if capacity is not None:
        if not capacity:
            r.problem(
                "gpuCapacityTypes",
                "must name at least one capacity type",
                r.rm_fix("gpuCapacityTypes"),
            )
        # `Spot`, `ON_DEMAND` or `on demand` mean a capacity type: the fix keeps each one meant
        # (spot stays spot, never the dearer on-demand default).
        meant = {c: _capacity_type(c) for c in capacity}
        for c in capacity:
            if c not in KARPENTER_CAPACITY_TYPES:
                r.problem(
                    "gpuCapacityTypes",
                    f"{_short(repr(c))} is not a capacity type "
                    f"({', '.join(KARPENTER_CAPACITY_TYPES)})"
                    + (f"; did you mean {meant[c]}?" if meant[c] else ""),
                    r.set_fix(
                        "gpuCapacityTypes",
                        list(dict.fromkeys(m for m in meant.values() if m)) or ["on-demand"],
                    ),
                )
    limits = {
        key: r.integer(key, example, 1, INT32_MAX)
        for key, example in (("gpuMaxGpus", 4), ("gpuMaxCpu", 96), ("gpuMaxMemoryGi", 768))
    }
    durations = {}
    for key, example in (("gpuConsolidateAfter", "5m"), ("gpuExpireAfter", "24h")):
        durations[key] = r.duration(key, example)
    name = r.string("gpuNodePoolName", "gpu-pool")
    if name is not None and not K8S_NAME_RE.fullmatch(name):
        found = intent.dns_label(name)
        r.problem(
            "gpuNodePoolName",
            f"{_short(name)!r} is not a Kubernetes object name (lower-case letters, digits and "
            "'-', at most 63)" + (f"; did you mean {found}?" if found else ""),
            r.set_fix("gpuNodePoolName", found) if found else r.rm_fix("gpuNodePoolName"),
        )
    if len(r.problems) > before:
        return None
    return GpuPoolSpec(
        name=name,
        instance_categories=tuple(categories),
        instance_families=tuple(families),
        capacity_types=tuple(capacity),
        max_gpus=limits["gpuMaxGpus"],
        max_cpu=limits["gpuMaxCpu"],
        max_memory_gi=limits["gpuMaxMemoryGi"],
        consolidate_after=durations["gpuConsolidateAfter"],
        expire_after=durations["gpuExpireAfter"],
    )


def _capacity_type(written: str) -> str | None:
    """The Karpenter capacity type `written` means (`Spot`, `ON_DEMAND`, `reserve`), or None."""
    return intent.choice(written, KARPENTER_CAPACITY_TYPES)
