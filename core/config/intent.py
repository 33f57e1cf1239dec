"""What a person meant by a value the reader refuses: the nearest valid value, or None.

Every fix the reader offers for a malformed value starts here, so that the fix keeps the intent
(`never` stays Never, `10 minutes` stays ten minutes, a family list stays a restriction) instead
of removing the key and falling back to a default that may mean the opposite. A function returns
None when nothing can be read into the text; the caller then gives advice, or removes the key
only where the default cannot reverse what was written.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from typing import Any

from core import durations
from core import instance_types as it
from core.config.model import (
    DNS_SUBDOMAIN_RE,
    K8S_NAME_RE,
    LABEL_NAME_RE,
    LABEL_VALUE_RE,
    TAINT_EFFECTS,
)


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The choice nearest to `word` by difflib's ratio, letter case aside (equal first), or None."""
    folded = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(word.lower(), list(folded), n=1, cutoff=cutoff)
    return folded[found[0]] if found else None


def written_otherwise(text: str, names: Iterable[str]) -> str | None:
    """The one name `text` is once case, spaces, `-` and `_` are set aside (`ap-northeast2`,
    `AP-NORTHEAST-2 A`), else None. For names where the nearest other one is another thing (a
    region, a zone): `eu-central-3` is not a typo of eu-central-1, and a fix must not move a
    stack there."""
    folded = _folded(text)
    same = {name for name in names if _folded(name) == folded}
    return same.pop() if len(same) == 1 else None


def _folded(text: str) -> str:
    return re.sub(r"[-_\s]", "", text).lower()


def choice(written: str, choices: Iterable[str]) -> str | None:
    """The one of a few fixed `choices` (an enum) `written` means: the same written otherwise
    (`On-Demand`, `on demand` for ON_DEMAND or on-demand), else the nearest in spelling
    (`SPOTTY` for SPOT)."""
    by_fold = {_folded(c): c for c in choices}
    folded = _folded(written)
    return by_fold.get(folded) or by_fold.get(closest(folded, by_fold) or "")


def region(text: str, regions: Iterable[str]) -> str | None:
    """The region `text` means: written otherwise, or with a slip in its letters while its
    number is kept (`us-weast-2`). A different number is another region (`eu-central-3` is not
    eu-central-1), so it means none."""
    meant = written_otherwise(text, regions)
    if meant is not None:
        return meant
    numbers = re.findall(r"[0-9]+", text)
    same = {_folded(r): r for r in regions if re.findall(r"[0-9]+", r) == numbers}
    found = difflib.get_close_matches(_folded(text), list(same), n=2, cutoff=0.8)
    return same[found[0]] if len(found) == 1 else None


def words(text: str, parsed: Any) -> list[str] | None:
    """A list of strings from `g6, g5`, `g6 g5`, `[g6, g5]` or a JSON list of numbers: what the
    CLI stores when `pulumi config set KEY g6` is typed for a list-typed key."""
    if isinstance(parsed, list) and all(isinstance(v, str | int | float) for v in parsed):
        found = [str(v) for v in parsed]
    elif isinstance(parsed, dict):
        return None
    else:
        found = re.findall(r"[^\s,\[\]'\"]+", text)
    return found or None


def name(item: str, pattern: re.Pattern[str], offered: Iterable[str] | None = None) -> str | None:
    """An instance family or category written in capitals or with spaces (`G6 `, `P4D`) as the
    name it is; with `offered` (what EC2 offers in the region), that name if offered, else the
    family it is a slip for."""
    folded = item.strip().lower()
    if not pattern.fullmatch(folded):
        return None
    if offered is None:
        return folded
    offered = list(offered)
    return folded if folded in offered else slip_of_family(folded, offered)


def slip_of_family(family: str, offered: Iterable[str]) -> str | None:
    """The offered family `family` is a slip of the pen for: for a name EC2 has no family of
    (botocore's model), one of its category and generation (`g5x` -> g5), the nearest in
    spelling. A family EC2 has is what was meant, offered here or not: p4d's A100 is not g4dn's
    T4 however near the names, nor p5's H100 p5en's H200, and no fix swaps one in for another."""
    if family in it.known_families():
        return None
    kind = it.category_and_generation(family)
    alike = [f for f in offered if kind is not None and it.category_and_generation(f) == kind]
    return closest(family, alike, cutoff=0.5)


# Units of a duration as people write them; Karpenter takes s, m and h only (core/durations.py).
_SECONDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}
_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*,?")


def duration(text: str) -> str | None:
    """`never` as Never, `10 minutes` as 10m, `1.5h` as 1h30m, `1d` as 24h; None for text
    without a unit on each number (`90` could be seconds or minutes)."""
    if text.strip().lower() == durations.NEVER.lower():
        return durations.NEVER
    if not re.fullmatch(rf"(?:{_PART.pattern})+\s*", text):
        return None
    parts = _PART.findall(text)
    if any(unit.lower() not in _SECONDS for _, unit in parts):
        return None
    total = sum(float(number) * _SECONDS[unit.lower()] for number, unit in parts)
    if total != int(total) or total == 0:
        return None
    return durations.written(int(total))


def minor_version(text: str) -> str | None:
    """`v1.33`, `1.33.2`, `1.33-eks-1` or ` 1.33 ` as 1.33 (EKS versions are MAJOR.MINOR)."""
    found = re.fullmatch(r"\s*[vV]?([0-9]+)\.([0-9]+)(?:[.+-][0-9A-Za-z.+-]*)?\s*", text)
    return f"{int(found.group(1))}.{int(found.group(2))}" if found else None


def dns_label(text: str) -> str | None:
    """`GPU_Pool` as `gpu-pool`: a Kubernetes object name (RFC 1123 label, 63 characters)."""
    found = re.sub(r"[^a-z0-9]+", "-", text.strip().lower()).strip("-")[:63].rstrip("-")
    return found if K8S_NAME_RE.fullmatch(found) else None


def is_label_key(text: str) -> bool:
    """A Kubernetes qualified name: `[prefix/]name` (apimachinery validation IsQualifiedName)."""
    prefix, slash, label = text.rpartition("/")
    if slash and (len(prefix) > 253 or not DNS_SUBDOMAIN_RE.fullmatch(prefix)):
        return False
    return bool(LABEL_NAME_RE.fullmatch(label))


def is_label_value(text: str) -> bool:
    return len(text) <= 63 and bool(LABEL_VALUE_RE.fullmatch(text))


def _label_part(text: str) -> str:
    """Runs of characters a label name may not hold become `-`; the ends are alphanumeric."""
    found = re.sub(r"[^A-Za-z0-9_.-]+", "-", text.strip())
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", found[:63])


def label_key(text: Any) -> str | None:
    """`gpu workload` as `gpu-workload`; a prefix keeps its own rules (lower-case DNS)."""
    if not isinstance(text, str | int | float) or isinstance(text, bool):
        return None
    prefix, slash, label = str(text).rpartition("/")
    if slash:
        prefix = re.sub(r"[^a-z0-9.-]+", "-", prefix.strip().lower()).strip("-.")
    found = f"{prefix}/{_label_part(label)}" if slash else _label_part(label)
    return found if is_label_key(found) else None


def label_value(text: Any) -> str | None:
    """`ml team` as `ml-team`, `1` or `true` (YAML read them as a number, a boolean) as text."""
    if isinstance(text, bool):
        found = str(text).lower()
    elif isinstance(text, str | int | float):
        found = _label_part(str(text))
    else:
        return None
    return found if is_label_value(found) else None


# Bus bandwidth as people write it: GB/s (bytes) is what nccl-tests prints; Gb/s and Gbps are
# bits, an eighth of that (EC2 states network performance in Gbps).
_BANDWIDTH = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(GB/s|GBps|GB|Gb/s|Gbps|Gbit/s|Gbit)?\s*")


def gigabytes_per_second(text: str) -> float | None:
    """`100 GB/s` as 100.0, `400 Gbps` as 50.0; None for anything else."""
    found = _BANDWIDTH.fullmatch(text)
    if not found:
        return None
    number = float(found.group(1))
    return number / 8 if (found.group(2) or "").startswith("Gb") else number


_WHOLE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*")


def whole_number(text: str, seconds: bool = False) -> int | None:
    """`8 GPUs` as 8, `4.0` as 4, `1e+20` as 10**20; for a key in seconds, `30m` as 1800 and
    `1.5h` as 5400. None for a fraction of a whole thing (`1.5` GPUs: `whole_numbers_around`)
    or a unit it cannot read."""
    found = _WHOLE.fullmatch(text)
    if not found:
        return None
    number, unit = float(found.group(1)), found.group(2).lower()
    if seconds and unit:
        if unit not in _SECONDS:
            return None
        number *= _SECONDS[unit]
    return int(number) if math.isfinite(number) and number == int(number) else None


def whole_numbers_around(text: str) -> tuple[int, int] | None:
    """`1.5` as (1, 2): the whole numbers either side of a fraction; which one was meant (a
    limit of 1.5 GPUs: 1 or 2?) only the writer knows."""
    found = re.fullmatch(r"\s*([0-9]+)\.([0-9]*[1-9][0-9]*)\s*", text)
    return (int(found.group(1)), int(found.group(1)) + 1) if found else None


def unitless_duration(text: str) -> list[str]:
    """`90` as [1m30s, 1h30m], the durations it is in seconds and in minutes; `0` as [0s]; []
    for anything but a bare whole number. Karpenter's durations carry a unit on every number."""
    found = re.fullmatch(r"\s*([0-9]+)\s*", text)
    if not found:
        return []
    number = int(found.group(1))
    return list(dict.fromkeys((durations.written(number), durations.written(number * 60))))


def ami_type(written: str, facts: it.InstanceFacts, minor: int | None) -> str | None:
    """The EKS AMI type `written` means for this instance type: the same OS and variant for its
    architecture (`BOTTLEROCKET_ARM_64` on x86 is BOTTLEROCKET_x86_64), never an AL2 one where
    EKS publishes none."""
    arch = facts.kubernetes_arch
    usable = [
        a
        for a in it.eks_enum("AMITypes")
        if it.ami_arch(a) == arch
        and not (minor is not None and minor >= it.FIRST_MINOR_WITHOUT_AL2 and it.is_al2(a))
    ]
    folded = written.upper()
    swapped = (
        folded.replace("ARM_64", "X86_64")
        if arch == "amd64"
        else folded.replace("X86_64", "ARM_64")
    )
    return closest(swapped, usable, cutoff=0.75)


# kubectl's taint syntax, `key=value:Effect` or `key:Effect` (kubectl taint nodes --help).
KUBECTL_TAINT_RE = re.compile(r"(?P<key>[^=:\s]+)(=(?P<value>[^:\s]*))?(:(?P<effect>[A-Za-z]+))?")


def kubectl_taint(text: Any) -> dict[str, str] | None:
    """`dedicated=x86:NoSchedule` as {key, value, effect}, when that is what it reads as."""
    match = KUBECTL_TAINT_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    # No effect written: NoSchedule, the effect that keeps pods off without evicting any.
    return taint(match["key"], match["value"] or "", match["effect"] or "NoSchedule")


def taint(key: Any, value: Any, effect: str) -> dict[str, str] | None:
    """A taint object with the key and value rewritten as `label_key`/`label_value` do, the
    effect as the nearest of EKS's; None when the key or the value cannot be read."""
    found = {"key": label_key(key), "value": label_value(value) if value != "" else ""}
    if None in found.values():
        return None
    if not found["value"]:
        del found["value"]
    return {**found, "effect": closest(effect, TAINT_EFFECTS) or effect}
