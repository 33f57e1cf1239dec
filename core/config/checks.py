"""Rules for the validation checks' keys: run id, images, EFA, timeouts, the distributed check."""

from __future__ import annotations

import difflib
import re

import core.config.intent as intent
from core import instance_types as it
from core.config.model import (
    CATEGORY_RE,
    DECIMAL_RE,
    FAMILY_RE,
    LABEL_VALUE_RE,
    MAX_BUSBW_GBPS,
    MAX_CHECK_TIMEOUT_SECONDS,
    MIN_CHECK_TIMEOUT_SECONDS,
    ChecksSpec,
    DistributedSpec,
    GpuPoolSpec,
)
from core.config.values import _Reader, _short
from core.images import image_pinned, parse_ref, with_tag


def _checks(r: _Reader, pool: GpuPoolSpec | None, *, lookups: bool) -> ChecksSpec | None:
    before = len(r.problems)
    run_id = r.string("runId", "2")
    if run_id is not None and (
        not run_id or len(run_id) > 63 or not LABEL_VALUE_RE.fullmatch(run_id)
    ):
        r.problem(
            "runId",
            f"{_short(run_id)!r} must be 1-63 letters, digits, '-', '_' or '.'",
            r.set_fix("runId", "2"),
        )
    images = {key: _image(r, key) for key in ("gpuCheckImage", "efaCheckImage")}
    efa_type = r.string("efaInstanceType", "") or ""
    if efa_type and lookups:
        _efa_type(r, efa_type, pool)
    timeout = r.integer(
        "checkTimeoutSeconds",
        1500,
        MIN_CHECK_TIMEOUT_SECONDS,
        MAX_CHECK_TIMEOUT_SECONDS,
        " seconds (a GPU node launch and image pull take minutes; more than a day is a hang)",
    )
    efa_required = r.boolean("efaRequired")
    if efa_required and not efa_type:
        # The check would report EFA unavailable every time, failing `pulumi up` only at the
        # readout, after the whole cluster is built.
        candidate = _efa_type_for(r, pool) if lookups else None
        r.problem(
            "efaRequired",
            "is true but efaInstanceType is empty, so the EFA check runs without EFA and fails "
            "pulumi up after the cluster is built; name the EFA-capable type to launch"
            + (f" (e.g. {candidate}, which the GPU pool can launch)" if candidate else ""),
            r.set_fix("efaInstanceType", candidate)
            if candidate
            else "pulumi config set --stack "
            f"{r.stack} efaInstanceType <an EFA-capable GPU type the pool can launch>",
        )
    distributed = _distributed(r, pool, efa_type, lookups=lookups)
    if len(r.problems) > before:
        return None
    return ChecksSpec(
        run_id=run_id,
        gpu_image=images["gpuCheckImage"],
        efa_image=images["efaCheckImage"],
        efa_instance_type=efa_type,
        efa_required=efa_required,
        timeout_seconds=timeout,
        distributed=distributed,
    )


def _image(r: _Reader, key: str) -> str:
    image = r.string(key, "") or ""
    if image_pinned(image):
        return image
    default = str(r.decls[key].default)
    if not image.strip():
        r.problem(
            key, f"is empty (the fix removes it, so the default runs: {default})", r.rm_fix(key)
        )
        return image
    if image_pinned(image.strip()):
        r.problem(
            key,
            f"{_short(image)!r} has white space around it; did you mean {image.strip()}?",
            r.set_fix(key, image.strip()),
        )
        return image
    repository = _repository(image)
    if repository == _repository(default):
        # The default is this image, pinned: removing the key keeps what was meant.
        fix = r.rm_fix(key)
        hint = f" (the fix pins it to the default, {default})"
    else:
        # Another image: its tags are the registry's to say; removing the key would swap it for
        # the default, a different image.
        fix = (
            f"pin {key} to a tag the registry has, e.g. "
            f"{r.set_fix(key, with_tag(image, '<tag>'))} (`python -m toe preflight` then checks "
            "it exists)"
        )
        hint = ""
    r.problem(key, f"{_short(image)!r} must be pinned to a tag or digest (never latest){hint}", fix)
    return image


def _repository(image: str) -> str | None:
    """registry/repository of a reference, the way the kubelet reads it; None if unreadable."""
    try:
        ref = parse_ref(image.partition("@")[0])
    except ValueError:
        return None
    return f"{ref.registry}/{ref.repository}"


def _distributed(
    r: _Reader, pool: GpuPoolSpec | None, efa_type: str, *, lookups: bool
) -> DistributedSpec:
    enabled = r.boolean("distributedCheck")
    image = _image(r, "distributedCheckImage")
    # Empty: the floor of the nodes' instance type (core/data/fabric.yaml); a number overrides it.
    bound_text = (r.string("distributedMinBusbwGBps", "") or "").strip()
    bound: float | None = None
    if bound_text:
        found = intent.gigabytes_per_second(bound_text)
        if DECIMAL_RE.fullmatch(bound_text) and float(bound_text) <= MAX_BUSBW_GBPS:
            bound = float(bound_text)
        elif found is not None and found <= MAX_BUSBW_GBPS:
            r.problem(
                "distributedMinBusbwGBps",
                f"must be a decimal number of GB/s, got {_short(bound_text)!r}; did you mean "
                f"{found:g}" + (" (bits are an eighth of bytes)?" if "Gb" in bound_text else "?"),
                r.set_fix("distributedMinBusbwGBps", f"{found:g}"),
            )
        elif found is not None or re.fullmatch(r"-[0-9]+(?:\.[0-9]+)?", bound_text):
            # Out of range: the nearest allowed floor (0 lets any bandwidth pass, as -1 meant).
            nearest = 0 if bound_text.startswith("-") else MAX_BUSBW_GBPS
            r.problem(
                "distributedMinBusbwGBps",
                f"must be from 0 to {MAX_BUSBW_GBPS:g} GB/s, got {_short(bound_text)} (the fix "
                f"sets the nearest allowed value, {nearest:g})",
                r.set_fix("distributedMinBusbwGBps", f"{nearest:g}"),
            )
        else:
            # Removing the key keeps the intent (a bandwidth floor): the instance type's own.
            r.problem(
                "distributedMinBusbwGBps",
                f"must be a decimal number of GB/s from 0 to {MAX_BUSBW_GBPS:g} (or empty for "
                f"the instance type's floor), got {_short(bound_text)!r}",
                r.rm_fix("distributedMinBusbwGBps"),
            )
    required = r.boolean("distributedRequired")
    families = (
        r.names("distributedInstanceFamilies", ["g5", "g6"], FAMILY_RE, "instance family") or []
    )
    spec = DistributedSpec(
        enabled=bool(enabled),
        image=image,
        min_busbw_gbps=bound,
        required=bool(required),
        families=tuple(families),
        instance_type=efa_type,
    )
    if spec.enabled and pool is not None:
        _distributed_fits_pool(r, pool, spec, lookups=lookups)
    return spec


def _distributed_fits_pool(
    r: _Reader, pool: GpuPoolSpec, spec: DistributedSpec, *, lookups: bool
) -> None:
    """Its two pods must be launchable beside the GPU check's node, or one stays pending."""
    outside = [
        f
        for f in spec.families
        if CATEGORY_RE.match(f)[0] not in pool.instance_categories
        or (pool.instance_families and f not in pool.instance_families)
    ]
    if outside:
        inside = [f for f in spec.families if f not in outside]
        r.problem(
            "distributedInstanceFamilies",
            f"{', '.join(outside)} outside the GPU pool (gpuInstanceCategories "
            f"{list(pool.instance_categories)}, gpuInstanceFamilies "
            f"{list(pool.instance_families)}): the check's pods could never be scheduled"
            + (f" (the fix keeps {', '.join(inside)})" if inside else ""),
            r.set_fix("distributedInstanceFamilies", inside)
            if inside
            else r.rm_fix("distributedInstanceFamilies"),
        )
    if not spec.families and not spec.efa and "g" not in pool.instance_categories:
        r.problem(
            "distributedInstanceFamilies",
            "is empty, which means the pool's g category, but gpuInstanceCategories has no g",
            r.set_fix("distributedInstanceFamilies", [f"{pool.instance_categories[0]}5"]),
        )
    elif (
        not spec.families
        and not spec.efa
        and pool.instance_families
        and not any(CATEGORY_RE.match(f)[0] == "g" for f in pool.instance_families)
    ):
        r.problem(
            "distributedInstanceFamilies",
            "is empty, which means the pool's g category, but gpuInstanceFamilies "
            f"{list(pool.instance_families)} has no g family",
            r.set_fix("distributedInstanceFamilies", [pool.instance_families[0]]),
        )
    per_node = 1
    if spec.efa and lookups:
        facts = r.facts("efaInstanceType", spec.instance_type)
        per_node = facts.gpu_count if isinstance(facts, it.InstanceFacts) else 1
    # The GPU check's node and the two distributed nodes run at once (with EFA, the EFA check's
    # node too): Karpenter counts each node's GPUs against the pool's limit.
    need = 1 + per_node * (3 if spec.efa else 2)
    if pool.max_gpus < need:
        r.problem(
            "gpuMaxGpus",
            f"{pool.max_gpus} cannot hold the distributed check's two GPU nodes beside the "
            f"other checks' (they need at least {need} GPUs at once): the second pod would stay "
            "pending",
            r.set_fix("gpuMaxGpus", need),
        )


# EFA-capable NVIDIA types to suggest, smallest first; each is checked against EC2's facts and the
# pool before it is offered.
EFA_CANDIDATES = ("g6.8xlarge", "g5.8xlarge", "g6e.8xlarge", "g6.12xlarge", "g5.12xlarge")


def _efa_type_for(r: _Reader, pool: GpuPoolSpec | None, near: str | None = None) -> str | None:
    """The first type that EC2 says has EFA and an NVIDIA GPU and that the pool can launch: with
    `near` (a type written), names close to it and its family's sizes first, smallest first."""
    names = list(EFA_CANDIDATES)
    catalog = (r.catalog() if r.catalog else None) or []
    if near:
        family = it.family(near)
        names = [
            *difflib.get_close_matches(near, catalog, n=3, cutoff=0.8),
            *sorted((n for n in catalog if it.family(n) == family), key=it.size_rank),
            *names,
        ]
    for name in dict.fromkeys(names):
        facts = r.facts("efaInstanceType", name)
        if (
            isinstance(facts, it.InstanceFacts)
            and facts.efa_supported
            and facts.has_nvidia_gpu
            and (pool is None or it.pool_can_launch(pool, facts))
        ):
            return name
    return None


def _efa_type(r: _Reader, efa_type: str, pool: GpuPoolSpec | None) -> None:
    key = "efaInstanceType"
    facts = r.facts(key, efa_type) if it.INSTANCE_TYPE_RE.fullmatch(efa_type) else None
    if facts == "error":
        return
    if facts is None:
        problem = f"EC2 does not know instance type {_short(efa_type)!r}"
    elif not (facts.efa_supported and facts.has_nvidia_gpu):
        problem = f"{efa_type} is not an EFA-capable NVIDIA GPU type"
    elif pool is not None and not it.pool_can_launch(pool, facts):
        # Its pod could never be scheduled: the Job would only fail at its deadline.
        problem = (
            f"the GPU pool cannot launch {efa_type} ({facts.gpu_count} GPUs, {facts.vcpus} "
            f"vCPUs, {facts.memory_mib // 1024} GiB): it must be in gpuInstanceCategories/"
            f"gpuInstanceFamilies and fit gpuMaxGpus {pool.max_gpus}, gpuMaxCpu "
            f"{pool.max_cpu}, gpuMaxMemoryGi {pool.max_memory_gi}"
        )
    else:
        return
    # Naming a type asks for EFA: the fix keeps EFA with the nearest type that works; removing
    # the key (the check then runs without EFA) only when the pool can launch none.
    candidate = _efa_type_for(r, pool, near=efa_type)
    if candidate and facts is None and it.family(candidate) == it.family(efa_type):
        r.problem(key, f"{problem}; did you mean {candidate}?", r.set_fix(key, candidate))
    elif candidate:
        r.problem(
            key,
            f"{problem} (the fix sets {candidate}, the nearest EFA-capable NVIDIA type the GPU "
            "pool can launch)",
            r.set_fix(key, candidate),
        )
    else:
        r.problem(
            key,
            f"{problem}; the GPU pool can launch no EFA-capable type (the fix removes the key, "
            "so the EFA check runs without EFA; widening gpuInstanceFamilies or the limits "
            "keeps EFA)",
            r.rm_fix(key),
        )
