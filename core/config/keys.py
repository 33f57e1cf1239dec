"""Rules for the stack-level keys: cluster name, Kubernetes version, subnet patterns,
public-access CIDRs and admin ARNs (which keys exist, and AWS access: aws_keys.py).
"""

from __future__ import annotations

import ipaddress

import core.config.intent as intent
from core.config.model import (
    ARN_RE,
    CLUSTER_NAME_RE,
    VERSION_RE,
    YAML_ATE_A_ZERO_RE,
    cleaned_cluster_name,
    derive_cluster_name,
)
from core.config.values import _json_or_none, _Reader, _short
from core.eks_versions import load_eks_table, version_key


def _cluster_name(r: _Reader) -> str | None:
    explicit = r.string("clusterName", derive_cluster_name(r.stack))
    name = explicit or derive_cluster_name(r.stack)
    if CLUSTER_NAME_RE.fullmatch(name):
        return name
    note, fix = _cluster_name_fix(r, name)
    r.problem(
        "clusterName",
        f"{_short(name)!r} is not a valid EKS cluster name (1-100 letters, digits, '-' or '_', "
        f"starting with a letter or digit){note}"
        if explicit
        else f"the cluster name derives from the stack name as {name!r}, which EKS refuses "
        "(1-100 letters, digits, '-' or '_'); rename the stack, or set clusterName",
        fix,
    )
    return None


def _cluster_name_fix(r: _Reader, name: str) -> tuple[str, str]:
    """What the message adds, and the fix: the name written, cleaned; else this stack's own
    derived name (never another stack's: two stacks with one cluster name would fight over
    the cluster and its subnet tags)."""
    cleaned = cleaned_cluster_name(name)
    if cleaned:
        return "", r.set_fix("clusterName", cleaned)
    derived = derive_cluster_name(r.stack)
    if CLUSTER_NAME_RE.fullmatch(derived):
        return f"; the fix names it after the stack, {derived}", r.rm_fix("clusterName")
    return "", r.set_fix("clusterName", cleaned_cluster_name(derived) or "toe")


def _kubernetes_version(r: _Reader) -> str | None:
    """A version EKS has a calendar entry for and still runs (standard or extended support)."""
    text = r.required("kubernetesVersion", "1.33")
    if text is None:
        return None
    table = load_eks_table()
    fix = r.set_fix("kubernetesVersion", table.newest(r.today))
    if YAML_ATE_A_ZERO_RE.fullmatch(text) and f"{text}0" in table.versions:
        meant = f"{text}0"
        gone = table.versions[meant].phase(r.today) == "ended"
        r.problem(
            "kubernetesVersion",
            f"is {text}: YAML read an unquoted {meant} as the number {text}; quote it "
            f'(kubernetesVersion: "{meant}")'
            + (
                f", though {meant} left EKS extended support on "
                f"{table.versions[meant].end_of_extended}"
                if gone
                else ""
            ),
            fix if gone else r.set_fix("kubernetesVersion", meant),
        )
        return None
    if not VERSION_RE.fullmatch(text):
        # `v1.33`, `1.33.2` or ` 1.33` mean 1.33: never an upgrade the stack did not ask for.
        meant = intent.minor_version(text)
        usable = meant in table.versions and table.versions[meant].phase(r.today) != "ended"
        r.problem(
            "kubernetesVersion",
            f"{_short(text)!r} is not a Kubernetes MAJOR.MINOR version (e.g. 1.33)"
            + (f"; did you mean {meant}?" if usable else ""),
            r.set_fix("kubernetesVersion", meant) if usable else fix,
        )
        return None
    dates = table.versions.get(text)
    if dates is None:
        known = ", ".join(sorted(table.versions, key=version_key))
        r.problem(
            "kubernetesVersion",
            f"EKS has no Kubernetes {text} in its calendar (core/data/eks_versions.yaml "
            f"lists {known})",
            fix,
        )
        return None
    if dates.phase(r.today) == "ended":
        r.problem(
            "kubernetesVersion",
            f"Kubernetes {text} left EKS extended support on {dates.end_of_extended}: EKS "
            "creates no new cluster of it",
            fix,
        )
        return None
    return text


def _pattern(r: _Reader, key: str, example: str) -> str | None:
    text = r.string(key, example)
    if text is None:
        return None
    if not text.strip():
        r.problem(
            key,
            "is empty; it must match subnet Name tags (wildcards * and ?)",
            r.set_fix(key, example),
        )
        return None
    if text.lower() in ("true", "false", "null", "~"):
        r.problem(
            key,
            f"is {text!r}, a YAML literal rather than a subnet Name pattern; give the Name tag "
            "pattern (wildcards * and ?)",
            r.set_fix(key, example),
        )
        return None
    return text


# Advice when no CIDR near what was written can be told: the venue's own address, never the
# open default (0.0.0.0/0 is what the key guards against).
_CIDR_ADVICE = (
    "set publicAccessCidrs to the venue's egress range, e.g. pulumi config set --stack {stack} "
    "--path 'publicAccessCidrs[0]' <address>/32 with the address that "
    "`curl -s https://checkip.amazonaws.com` prints there"
)


def _cidrs(r: _Reader) -> tuple[str, ...]:
    key = "publicAccessCidrs"
    text = r.required(key, ["203.0.113.0/24"])
    if text is None:
        return ()
    parsed = _json_or_none(text)
    if not isinstance(parsed, list):
        # A block (or several) written as text rather than a list: the fix is the list of it.
        meant = [_nearest_cidr(w) for w in intent.words(text.strip("() "), parsed) or []]
        readable = bool(meant) and None not in meant
        r.problem(
            key,
            f"must be a list of CIDR blocks, got {'the text ' if readable else ''}{_short(text)!r}",
            r.set_fix(key, meant) if readable else _CIDR_ADVICE.format(stack=r.stack),
        )
        return ()
    if not all(isinstance(c, str) for c in parsed):
        r.problem(
            key,
            f"must be a list of CIDR blocks (text), got {_short(text)}",
            r.set_fix(key, [str(c) for c in parsed])
            if all(_nearest_cidr(str(c)) == str(c) for c in parsed) and parsed
            else _CIDR_ADVICE.format(stack=r.stack),
        )
        return ()
    good = [c for c in parsed if _is_cidr(c)]
    for cidr in parsed:
        if _is_cidr(cidr):
            continue
        nearest = _nearest_cidr(cidr)
        if nearest is not None:
            fixed = [nearest if c == cidr else c for c in parsed]
            r.problem(
                key,
                f"{_short(cidr)!r} is not a CIDR block; did you mean {nearest}?",
                r.set_fix(key, fixed),
            )
        elif good:
            r.problem(
                key,
                f"{_short(cidr)!r} is not a CIDR block (the fix keeps the others)",
                r.set_fix(key, [c for c in parsed if c != cidr]),
            )
        else:
            r.problem(
                key, f"{_short(cidr)!r} is not a CIDR block", _CIDR_ADVICE.format(stack=r.stack)
            )
    return tuple(good)


def _is_cidr(text: str) -> bool:
    """A network in CIDR notation with no host bits set, as EKS takes it (publicAccessCidrs)."""
    try:
        ipaddress.ip_network(text)
    except ValueError:
        return False
    return "/" in text


def _nearest_cidr(text: str) -> str | None:
    """The block a person most likely meant: host bits cleared (10.0.0.1/24 -> 10.0.0.0/24), a
    prefix past the address's length cut to it (/33 -> /32), a bare address as /32 (or /128)."""
    text = text.strip()
    address, slash, prefix = text.partition("/")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if not slash:
        return f"{ip}/{ip.max_prefixlen}"
    if not prefix.isdigit():
        return None
    length = min(int(prefix), ip.max_prefixlen)
    return str(ipaddress.ip_network(f"{ip}/{length}", strict=False))


def _admins(r: _Reader) -> tuple[str, ...]:
    arns = r.strings("clusterAdminArns", ["arn:aws:iam::123456789012:role/Instructor"]) or []
    seen: list[str] = []
    for arn in arns:
        if not ARN_RE.fullmatch(arn):
            # Each entry is a person meant to administer the cluster: the fix keeps it (pasted
            # with spaces or quotes), never drops it.
            pasted = arn.strip().strip("'\"").strip()
            if ARN_RE.fullmatch(pasted):
                fixed = [pasted if a == arn else a for a in arns]
                r.problem(
                    "clusterAdminArns",
                    f"{_short(arn)!r} is not an IAM principal ARN; did you mean {pasted}?",
                    r.set_fix("clusterAdminArns", list(dict.fromkeys(fixed))),
                )
            else:
                r.problem(
                    "clusterAdminArns",
                    f"{_short(arn)!r} is not an IAM principal ARN "
                    "(arn:aws:iam::<12-digit account>:role/<name> or :user/<name>)",
                    "replace it with the ARN the person signs in as: `aws sts "
                    "get-caller-identity --query Arn --output text` run as them, or `aws iam "
                    "get-role --role-name <name> --query Role.Arn`",
                )
        elif arn in seen:
            # EKS refuses a second access entry for one principal (CreateAccessEntry:
            # ResourceInUseException).
            r.problem(
                "clusterAdminArns",
                f"{arn} is listed twice; EKS takes one access entry per principal",
                r.set_fix("clusterAdminArns", list(dict.fromkeys(arns))),
            )
        else:
            seen.append(arn)
    return tuple(seen)
