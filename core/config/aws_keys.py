"""Which keys a stack may set (the project's, the aws provider's), and how the aws provider
reaches AWS: region, profile, assume-role.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import shlex
from functools import cache
from pathlib import Path

import core.config.intent as intent
from core.config.fields import unknown_fields
from core.config.model import ARN_RE, AwsAccess
from core.config.values import _json_or_none, _Reader, _short, valid_regions
from core.problems import chain, set_command
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
    return tuple(sorted(assume_role_field_kinds()))


@cache
def assume_role_field_kinds() -> dict[str, str]:
    """Each `aws:assumeRoles` field and what it holds ("text", "list" or "map"), from the return
    types of pulumi_aws.config.outputs.AssumeRoles' getters (Optional[str], Sequence, Mapping)."""
    from pulumi_aws.config.outputs import AssumeRoles

    getters = (v.fget for v in vars(AssumeRoles).values() if isinstance(v, property))
    kinds = {}
    for getter in getters:
        returns = str(inspect.signature(getter).return_annotation)
        kind = "list" if "Sequence" in returns else "map" if "Mapping" in returns else "text"
        kinds[getattr(getter, "_pulumi_name", getter.__name__)] = kind
    return kinds


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
        # One message: every look-up (instance types, offerings) would fail on a bad region.
        # Only a slip in how it is written is fixed: the nearest other region is elsewhere.
        meant = intent.region(region, regions)
        said = f"{region!r} is not an AWS region (botocore's endpoint data)"
        r.problem(
            "aws:region",
            f"{said}; did you mean {meant}?" if meant else said,
            set_command("aws:region", meant, stack=r.stack)
            if meant
            else f"pulumi config set --stack {r.stack} aws:region <the region to deploy to; "
            f"the workshop's is {example}>",
        )
        return None
    return region


def _aws_access(r: _Reader, region: str | None) -> AwsAccess | None:
    """The aws provider's profile and assume-role entries (pulumi-aws 7: `aws:assumeRoles`, a
    list of {roleArn, sessionName, ...} assumed in order; `aws:assumeRole`, one, before it)."""
    if region is None:
        return None
    profile = r.values.get("aws:profile") or None
    written = _json_or_none(profile) if profile and profile.startswith(("[", "{")) else None
    if written is not None:
        # A profile is one name from ~/.aws/config; a list of one is that name.
        one = written[0] if isinstance(written, list) and len(written) == 1 else None
        r.problem(
            "aws:profile",
            f"must be the name of one AWS profile, got {_short(profile)}",
            set_command("aws:profile", one, stack=r.stack)
            if isinstance(one, str) and one.strip()
            else "set the profile to use: aws configure list-profiles; "
            + set_command("aws:profile", "<profile>", stack=r.stack),
        )
        return None
    roles = _assume_roles(r)
    if roles is None:
        return None
    return AwsAccess(region=region, profile=profile, assume_roles=roles)


def _is_role(entry: object) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("roleArn", ""), str)


def _assume_roles(r: _Reader) -> tuple[dict, ...] | None:
    """Every assume-role entry, in order (the provider chains them); None after a problem that
    leaves no role to assume."""
    for key in ("aws:assumeRoles", "aws:assumeRole"):
        raw = r.values.get(key)
        if not raw:
            continue
        parsed = _json_or_none(raw)
        listed = isinstance(parsed, list)
        entries = parsed if listed else [raw.strip() if parsed is None else parsed]
        one = key == "aws:assumeRole"  # pulumi-aws 6 read one role; 7 reads a list of them
        if not all(_is_role(e) for e in entries) or not (listed or one):
            # Removing it would run as the caller's own identity instead of the role: the fix
            # keeps each role where one was written.
            written = [e if _is_role(e) else {"roleArn": str(e).strip()} for e in entries]
            bad = next((i for i, e in enumerate(entries) if not _is_role(e)), 0)
            path = f"{key}.roleArn" if one else f"{key}[{bad}].roleArn"
            r.problem(
                key,
                "must be an object with roleArn (a list of them for assumeRoles)",
                set_command(key, written[0] if one else written, stack=r.stack)
                if entries and all(ARN_RE.fullmatch(w["roleArn"]) for w in written)
                else "write it as the aws provider reads it: "
                + set_command(path, "<role ARN>", stack=r.stack),
            )
            return None
        if key.partition(":")[2] in aws_provider_keys():  # else _unknown_keys moves it
            before = len(r.problems)
            wheres = [f"{key}[{i}]" if listed else key for i in range(len(entries))]
            for where, entry in zip(wheres, entries, strict=True):
                # A misspelt field (`rolearn`) is dropped by the provider, and without roleArn
                # `pulumi up` runs as the caller's own identity, maybe in another account.
                meant = unknown_fields(r, where, entry, assume_role_fields(), "role")
                _field_kinds(r, where, entry)
                arn = entry.get("roleArn", "")
                if "roleArn" not in meant and not ARN_RE.fullmatch(arn):
                    # Without one the provider assumes nothing (and warns it will refuse that).
                    r.problem(
                        f"{where}.roleArn",
                        f"must be the ARN of the role to assume, got {_short(arn)}",
                        r.set_fix(f"{where}.roleArn", arn.strip())
                        if ARN_RE.fullmatch(arn.strip())
                        else "find it with aws iam get-role --role-name <name> --query Role.Arn; "
                        + r.set_fix(f"{where}.roleArn", "<role ARN>"),
                    )
            if len(r.problems) == before:  # each role reads; can the kubeconfig assume it?
                _one_role_for_the_kubeconfig(r, key, list(zip(wheres, entries, strict=True)))
        return tuple(entries)
    return ()


# The kubeconfig's exec plugin, `aws eks get-token --role-arn`, assumes one role and sends only
# RoleArn and RoleSessionName (awscli customizations/eks/get_token.py, _get_role_credentials).
GET_TOKEN_CANNOT_SEND = ("externalId", "sourceIdentity", "tags")


def _one_role_for_the_kubeconfig(r: _Reader, key: str, entries: list[tuple[str, dict]]) -> None:
    """pulumi-kubernetes reaches the cluster through that kubeconfig: a role it cannot assume as
    the aws provider did would meet the cluster as an identity EKS did not make admin, and `pulumi
    up` would fail after the cluster was created. An AWS CLI profile can hold what it cannot."""
    use = chain(r.rm_fix(key), r.set_fix("aws:profile", "<profile>"))
    # The aws CLI, boto3 and the aws provider all assume a profile's role (and a chain of them).
    profile = (
        "write the role in an AWS CLI profile instead (role_arn, source_profile, external_id in "
        f"~/.aws/config) and use it: {use}"
    )
    if len(entries) > 1:
        r.problem(
            key,
            f"chains {len(entries)} roles, and the cluster's kubeconfig (`aws eks get-token "
            "--role`) assumes one",
            "write the chain as AWS CLI profiles in ~/.aws/config, each with its role_arn and the "
            f"one before as its source_profile, and use the last: {use}",
        )
        return
    for where, entry in entries:
        for name in (n for n in GET_TOKEN_CANNOT_SEND if entry.get(n)):
            path = f"{where}.{name}"
            r.problem(
                path,
                "cannot be sent by the cluster's kubeconfig (`aws eks get-token --role` sends "
                "the role alone)",
                profile
                if name == "externalId"
                else "if the role's trust policy does not demand it, remove it: " + r.rm_fix(path),
            )


def _field_kinds(r: _Reader, where: str, entry: dict) -> None:
    """Each field as the provider's schema types it: text, a list of text, a map of text."""
    for name, value in entry.items():
        kind = assume_role_field_kinds().get(name)
        if kind == "list" and isinstance(value, str):
            # One policy ARN or tag key written bare is a list of that one.
            r.problem(f"{where}.{name}", "must be a list", r.set_fix(f"{where}.{name}", [value]))
        elif (
            (kind == "text" and not isinstance(value, str))
            or (kind == "list" and not _all_text(value, list))
            or (kind == "map" and not _all_text(value, dict))
        ):
            what = {"text": "text", "list": "a list of text", "map": "a map of text to text"}
            r.problem(
                f"{where}.{name}",
                f"must be {what[kind]}, got {_short(value)}",
                "write it as the aws provider reads it (pulumi_aws.config.outputs.AssumeRoles): "
                + r.set_fix(f"{where}.{name}", "<value>"),
            )


def _all_text(value: object, shape: type) -> bool:
    """`value` is a list of text (shape list) or a map of text to text (shape dict)."""
    if not isinstance(value, shape):
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return all(isinstance(item, str) for item in value)
