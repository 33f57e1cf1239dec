"""Account rules that break a workshop: node types missing in a zone, no GPU node within quota."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import core.config.intent as intent
from core.config import GpuPoolSpec, NodeGroupSpec, StackConfig
from core.instance_types import (
    InstanceFacts,
    category,
    family,
    pool_admits,
    pool_can_launch,
    size_rank,
)
from core.network_lookup import NetworkFacts
from core.problems import ConfigError, Problem, set_command

# EC2 service quotas on running on-demand vCPUs (Service Quotas, service code `ec2`).
SERVICE_CODE = "ec2"
QUOTA_STANDARD = "L-1216C47A"
QUOTA_G_VT = "L-DB2E81BA"
QUOTA_P = "L-417A185B"
QUOTA_NAMES = {
    QUOTA_STANDARD: "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
    QUOTA_G_VT: "Running On-Demand G and VT instances",
    QUOTA_P: "Running On-Demand P instances",
}
# Instance categories counted by each quota (the quota names above).
QUOTA_CATEGORIES = {
    QUOTA_STANDARD: frozenset({"a", "c", "d", "h", "i", "m", "r", "t", "z"}),
    QUOTA_G_VT: frozenset({"g", "gr", "vt"}),  # gr6 (graphics, more memory) is a G family
    QUOTA_P: frozenset({"p"}),
}
GPU_QUOTAS = (QUOTA_G_VT, QUOTA_P)


def quota_code(instance_type: str) -> str | None:
    """The running on-demand vCPU quota that counts this type, if one of the three checked."""
    cat = category(instance_type)
    return next((code for code, cats in QUOTA_CATEGORIES.items() if cat in cats), None)


class AccountApi(Protocol):
    """Answers the EC2 and Service Quotas questions of the account checks."""

    def offerings(self, azs: Sequence[str]) -> dict[str, frozenset[str]]:
        """Every instance type offered in any of `azs` -> the zones of `azs` offering it.

        Names are matched here, not with `instance-type` filter wildcards, which moto ignores.
        """
        ...

    def describe(self, instance_types: Sequence[str]) -> dict[str, InstanceFacts]:
        """Facts of the named types; unknown ones are left out."""
        ...

    def quota(self, code: str) -> float | None:
        """The applied value of an EC2 quota (vCPUs); None when it cannot be read."""
        ...


# ---------------------------------------------------------------------------- rules


def node_group_offering_problems(
    groups: Sequence[NodeGroupSpec],
    offered: Mapping[str, frozenset[str]],
    azs: Sequence[str],
    region: str,
    stack: str | None = None,
) -> list[Problem]:
    """A node group's type must be offered in every zone of the private subnets.

    A managed node group spreads its nodes over all the subnets it is given; a zone without the
    type makes EKS fail the node group after a long wait.
    """
    problems = []
    for index, group in enumerate(groups):
        missing = sorted(set(azs) - offered.get(group.instance_type, frozenset()))
        if not missing:
            continue
        where = sorted(offered.get(group.instance_type, frozenset()))
        problems.append(
            Problem(
                f"nodeGroups[{index}].instanceType",
                f"{group.instance_type} (node group {group.name}) is not offered in "
                f"{', '.join(missing)}, a zone of the private subnets ({', '.join(azs)}) in "
                f"{region}; offered in {', '.join(where) if where else 'none of them'}",
                set_command(
                    f"nodeGroups[{index}].instanceType",
                    "<a type offered in all zones>",
                    stack=stack,
                ),
            )
        )
    return problems


def gpu_patterns(pool: GpuPoolSpec) -> list[str]:
    """EC2 `instance-type` filter values covering what the pool may launch (for CLI queries)."""
    if pool.instance_families:
        return [f"{f}.*" for f in pool.instance_families]
    return [f"{c}*" for c in pool.instance_categories]


def gpu_candidates(pool: GpuPoolSpec, offered: Mapping[str, frozenset[str]]) -> list[str]:
    """Types the pool admits by name and offered in at least one private zone, smallest first."""
    names = [name for name, zones in offered.items() if zones and pool_admits(pool, name)]
    return sorted(names, key=size_rank)


def gpu_family_problems(
    pool: GpuPoolSpec, offered: Mapping[str, frozenset[str]], region: str, stack: str | None = None
) -> list[Problem]:
    """Families (and categories) the pool names of which no private zone offers a type (`g5x`,
    or one this region lacks): Karpenter would launch nothing of them. The fix names the one
    offered there that a name is a slip for, keeping the list a restriction, or lists them."""
    types = [n for n, zones in offered.items() if zones]
    categories = sorted({category(n) for n in types})
    problems = _not_offered(
        "gpuInstanceCategories",
        pool.instance_categories,
        categories,
        categories,
        lambda name, choices: intent.closest(name, choices, cutoff=0.5),
        region,
        stack,
    )
    if problems:  # families are judged once the categories are ones offered here
        return problems
    families = sorted({family(n) for n in types})
    in_pool = sorted({family(n) for n in types if category(n) in pool.instance_categories})
    return _not_offered(
        "gpuInstanceFamilies",
        pool.instance_families,
        families,
        in_pool,
        intent.slip_of_family,
        region,
        stack,
    )


# What each key names, in the singular and the plural, and what its advice suggests.
_NAMES = {
    "gpuInstanceCategories": ("category", "categories", ["g", "p"]),
    "gpuInstanceFamilies": ("family", "families", ["g6", "g5"]),
}


def _not_offered(
    key: str,
    named: Sequence[str],
    here: Sequence[str],
    choices: Sequence[str],
    place: Callable[[str, Sequence[str]], str | None],
    region: str,
    stack: str | None,
) -> list[Problem]:
    """The names of `named` not in `here`; the fix swaps each for the one of `choices` that
    `place` finds it meant, and drops those it cannot place while others remain."""
    one, many, example = _NAMES[key]
    missing = [name for name in named if name not in here]
    if not missing:
        return []
    nearest = {name: place(name, choices) for name in missing}
    kept = list(dict.fromkeys(nearest.get(n, n) for n in named if nearest.get(n, n)))
    meant = [nearest[n] + (f" for {n}" if len(missing) > 1 else "") for n in missing if nearest[n]]
    dropped = [n for n in missing if not nearest[n]]
    return [
        Problem(
            key,
            f"{', '.join(missing)}: EC2 offers no type of "
            f"{f'this {one}' if len(missing) == 1 else f'these {many}'} in the private subnets' "
            f"zones in {region}"
            + (f"; did you mean {', '.join(meant)}?" if meant else "")
            + (f" (the fix drops {', '.join(dropped)})" if dropped and kept else ""),
            set_command(key, kept, stack=stack)
            if kept
            else f"set {key} to {many} offered here ({', '.join(choices) or 'none'}), e.g. "
            + set_command(key, [c for c in example if c in here] or example, stack=stack),
        )
    ]


def gpu_capacity_problems(
    pool: GpuPoolSpec,
    region: str,
    candidates: Sequence[str],
    describe: Callable[[str], InstanceFacts | None],
    quotas: Mapping[str, float | None],
    stack: str | None = None,
) -> list[Problem]:
    """No GPU node can start: no NVIDIA type the pool can launch, or none within the GPU quotas.

    The validation Jobs request `nvidia.com/gpu`, so they need an NVIDIA type. The check stops at
    the first type that fits (candidates come smallest first), so a healthy account costs a few
    look-ups. Spot capacity counts against other quotas, so the quota part needs on-demand. A
    quota that cannot be read never blocks.
    """
    nvidia: list[InstanceFacts] = []
    for name in candidates:
        facts = describe(name)
        if facts is None or not pool_can_launch(pool, facts) or not facts.has_nvidia_gpu:
            continue
        code = quota_code(name)
        value = quotas.get(code) if code else None
        if code is None or value is None or value >= facts.vcpus:
            return []
        if "on-demand" not in pool.capacity_types:
            return []
        nvidia.append(facts)
    if not nvidia:
        what = (
            f"families {', '.join(pool.instance_families)}"
            if pool.instance_families
            else f"categories {', '.join(pool.instance_categories)}"
        )
        key = "gpuInstanceFamilies" if pool.instance_families else "gpuInstanceCategories"
        example = ["g6", "g5"] if pool.instance_families else ["g", "p"]
        return [
            Problem(
                key,
                f"the GPU NodePool ({what}, amd64, at most {pool.max_gpus} GPUs / "
                f"{pool.max_cpu} vCPUs / {pool.max_memory_gi} GiB) can launch no NVIDIA GPU type "
                f"in the private subnets' zones in {region}; the validation Jobs would never start",
                set_command(key, example, stack=stack),
            )
        ]
    smallest = min(nvidia, key=lambda f: (f.vcpus, f.instance_type))
    code = quota_code(smallest.instance_type)
    used = [c for c in GPU_QUOTAS if any(quota_code(f.instance_type) == c for f in nvidia)]
    limits = "; ".join(f"{QUOTA_NAMES[c]} ({c}) is {_vcpus(quotas[c])}" for c in used)
    return [
        Problem(
            f"quota {code}",
            f"{limits} in {region}: no GPU node fits, the smallest GPU type the pool can launch "
            f"({smallest.instance_type}) needs {smallest.vcpus} vCPUs",
            f"aws service-quotas request-service-quota-increase --region {region} "
            f"--service-code {SERVICE_CODE} --quota-code {code} "
            f"--desired-value {max(pool.max_cpu, smallest.vcpus)}",
        )
    ]


def _vcpus(value: float | None) -> str:
    return "unreadable" if value is None else f"{value:g} vCPUs"


def blocking_problems(api: AccountApi, cfg: StackConfig, network: NetworkFacts) -> list[Problem]:
    """Every blocking account problem of the stack, given its resolved network."""
    azs = network.private_azs
    offered = api.offerings(azs)
    if offered is None:  # EC2 could not be asked: nothing to judge (the warning says why)
        return []
    problems = node_group_offering_problems(cfg.node_groups, offered, azs, cfg.region, cfg.stack)
    pool = cfg.gpu_pool
    families = gpu_family_problems(pool, offered, cfg.region, cfg.stack)
    if families:  # what the pool can launch is judged once its families are ones offered here
        return problems + families
    candidates = gpu_candidates(pool, offered)
    codes = sorted({c for c in (quota_code(n) for n in candidates) if c in GPU_QUOTAS})
    quotas = {code: api.quota(code) for code in codes}
    problems += gpu_capacity_problems(
        pool, cfg.region, candidates, _one_by_one(api), quotas, cfg.stack
    )
    return problems


def check_account(api: AccountApi, cfg: StackConfig, network: NetworkFacts) -> None:
    """Raise one ConfigError when the account cannot run the stack (see blocking_problems), or
    only warn when the stack sets skipAccountChecks (e.g. to destroy after the account changed)."""
    problems = blocking_problems(api, cfg, network)
    if problems and cfg.skip_account_checks:
        import pulumi

        for problem in problems:
            pulumi.log.warn(f"skipAccountChecks: {problem.key}: {problem.message}")
    elif problems:
        raise ConfigError(cfg.stack, problems)


def _one_by_one(api: AccountApi) -> Callable[[str], InstanceFacts | None]:
    def describe(name: str) -> InstanceFacts | None:
        return api.describe([name]).get(name)

    return describe
