"""Rules for the stack-level keys: unknown keys, region and AWS access, cluster name, Kubernetes
version, subnet patterns, public-access CIDRs and admin ARNs.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import re
import shlex
from functools import cache
from pathlib import Path

import core.config.intent as intent
from core.config.model import (
    ARN_RE,
    CLUSTER_NAME_RE,
    VERSION_RE,
    YAML_ATE_A_ZERO_RE,
    AwsAccess,
    cleaned_cluster_name,
    derive_cluster_name,
)
from core.config.values import _json_or_none, _Reader, _short, valid_regions
from core.eks_versions import load_eks_table, version_key
from core.problems import chain, rm_command, set_command
from core.wellknown import PROJECT


@cache
def aws_provider_keys() -> frozenset[str]:
    """The `aws:*` settings the aws provider reads: every key its SDK's config module asks for
    (pulumi_aws/config/vars.py, generated from the provider's schema)."""
    spec = importlib.util.find_spec("pulumi_aws.config.vars")
    text = Path(spec.origin).read_text(encoding="utf-8")
    return frozenset(re.findall(r"__config__\.get(?:_[a-z]+)?\('([A-Za-z0-9]+)'", text))


@cache
def assume_role_fields() -> tuple[str, ...]:
    """The fields of one `aws:assumeRoles` entry as the aws provider names them (roleArn,
    sessionName, ...: the getters of pulumi_aws.config.outputs.AssumeRoles)."""
    from pulumi_aws.config.outputs import AssumeRoles

    getters = (v.fget for v in vars(AssumeRoles).values() if isinstance(v, property))
    return tuple(sorted(getattr(f, "_pulumi_name", f.__name__) for f in getters))


def _unknown_keys(r: _Reader) -> None:
    """Keys this project does not declare, aws:* keys the aws provider does not read, and keys in
    a namespace that is nearly this project's, are mistakes. (A stack file's key without a
    namespace is the project's: toe.stackfiles qualifies it as the CLI does.)"""
    declared = set(r.decls)
    for key, raw in r.values.items():
        namespace, sep, name = key.partition(":")
        value = _json_or_none(raw) if str(raw).startswith(("[", "{")) else raw
        if namespace == "aws" and name not in aws_provider_keys():
            # The aws provider refuses a key it does not know, at preview.
            meant = intent.closest(name, aws_provider_keys())
            if (name, meant) == ("assumeRole", "assumeRoles") and isinstance(value, dict):
                value = [value]  # pulumi-aws 7 takes a list of roles (aws:assumeRoles)
            r.problem(
                key,
                "is not a setting of the aws provider (pulumi_aws.config)"
                + (f"; did you mean aws:{meant}?" if meant else ""),
                chain(r.rm_fix(key), set_command(f"aws:{meant}", value, stack=r.stack))
                if meant and f"aws:{meant}" not in r.values
                else r.rm_fix(key),
            )
        elif (
            sep and namespace not in (PROJECT, "aws") and intent.closest(namespace, [PROJECT], 0.8)
        ):
            # Pulumi hands `training_on_eks:x` to no one: the setting silently does nothing.
            meant = name if name in declared else intent.closest(name, declared)
            r.problem(
                key,
                f"is in the namespace {namespace!r}, which is not this project's ({PROJECT}), so "
                "it sets nothing" + (f"; did you mean {PROJECT}:{meant}?" if meant else ""),
                chain(r.rm_fix(key), r.set_fix(meant, value)) if meant else r.rm_fix(key),
            )
        elif namespace == PROJECT and name not in declared:
            base = re.match(r"[A-Za-z0-9_]+", name)
            if base and base[0] in declared and name != base[0]:
                # `pulumi config set 'nodeGroups[0].amiType' X` without --path stores a key of that
                # literal name; the same command with --path sets the element.
                literal_rm = f"pulumi config rm --stack {shlex.quote(r.stack)} {shlex.quote(key)}"
                r.problem(
                    key,
                    f"is a path into {base[0]} that was set without --path, so it sets nothing",
                    chain(literal_rm, r.set_fix(name, value)),
                )
                continue
            suggestion = intent.closest(name, declared)
            if suggestion is None:
                r.problem(
                    key,
                    "is not a setting of this project (see Pulumi.yaml)",
                    r.rm_fix(key),
                )
                continue
            r.problem(
                key,
                f"is not a setting of this project; did you mean {suggestion}?",
                chain(r.rm_fix(key), r.set_fix(suggestion, value)),
            )


def _region(r: _Reader) -> str | None:
    region = r.values.get("aws:region")
    example = "ap-northeast-2"
    if not region:
        r.problem(
            "aws:region",
            "is required and not set",
            set_command("aws:region", example, stack=r.stack),
        )
        return None
    regions = valid_regions()
    if region not in regions:
        nearest = intent.closest(region, regions) or example
        # One message: every look-up (instance types, offerings) would fail on a bad region.
        r.problem(
            "aws:region",
            f"{region!r} is not an AWS region (botocore's endpoint data); did you mean {nearest}?",
            set_command("aws:region", nearest, stack=r.stack),
        )
        return None
    return region


def _aws_access(r: _Reader, region: str | None) -> AwsAccess | None:
    """The aws provider's profile and first assume-role entry (pulumi-aws 7: `aws:assumeRoles`,
    a list of {roleArn, sessionName, externalId}; `aws:assumeRole` before it)."""
    if region is None:
        return None
    profile = r.values.get("aws:profile") or None
    role: dict = {}
    for key in ("aws:assumeRoles", "aws:assumeRole"):
        raw = r.values.get(key)
        if not raw:
            continue
        parsed = _json_or_none(raw)
        entry = f"{key}[0]" if isinstance(parsed, list) else key
        if isinstance(parsed, list):
            parsed = parsed[0] if parsed else {}
        if not isinstance(parsed, dict) or not isinstance(parsed.get("roleArn", ""), str):
            # Removing it would run as the caller's own identity instead of the role: the fix
            # keeps the role where one was written.
            arn = parsed if isinstance(parsed, str) else raw.strip()
            path = (
                "aws:assumeRoles[0].roleArn"
                if key == "aws:assumeRoles"
                else "aws:assumeRole.roleArn"
            )
            r.problem(
                key,
                "must be an object with roleArn (a list of them for assumeRoles)",
                chain(rm_command(key, stack=r.stack), set_command(path, arn, stack=r.stack))
                if ARN_RE.fullmatch(arn)
                else "write it as the aws provider reads it: "
                + set_command(path, "<role ARN>", stack=r.stack),
            )
            return None
        role = parsed
        if key.partition(":")[2] in aws_provider_keys():  # else _unknown_keys moves it
            _unknown_role_fields(r, key, entry, role)
        break
    return AwsAccess(
        region=region,
        profile=profile,
        assume_role_arn=role.get("roleArn") or None,
        assume_role_session_name=role.get("sessionName") or None,
        assume_role_external_id=role.get("externalId") or None,
    )


def _unknown_role_fields(r: _Reader, key: str, entry: str, role: dict) -> None:
    """A misspelt field (`rolearn`) would be dropped by the provider, and without roleArn
    `pulumi up` runs as the caller's own identity, maybe in another account: a problem.
    `entry` is the path of the role object (`aws:assumeRoles[0]`)."""
    fields = assume_role_fields()
    for name, value in role.items():
        if name in fields:
            continue
        meant = intent.closest(str(name), fields)
        path = f"{entry}.{name}"
        r.problem(
            key,
            f"{name!r} is not a field of an assume-role entry ({', '.join(fields)})"
            + (f"; did you mean {meant}?" if meant else ""),
            chain(
                rm_command(path, stack=r.stack),
                set_command(f"{entry}.{meant}", value, stack=r.stack),
            )
            if meant and meant not in role
            else rm_command(path, stack=r.stack),
        )


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
        r.problem(
            "kubernetesVersion",
            f"{_short(text)!r} is not a Kubernetes MAJOR.MINOR version (e.g. 1.33)",
            fix,
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
