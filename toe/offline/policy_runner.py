"""Runs the policy pack against an offline program run, the way the Pulumi engine would."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from inspect import isawaitable
from typing import TYPE_CHECKING, Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policies import rules

if TYPE_CHECKING:
    from toe.offline.harness import ProgramRun, Registration

Policy = ResourceValidationPolicy | StackValidationPolicy


@dataclass(frozen=True)
class Verdict:
    """One policy violation (or a policy that could not run during preview)."""

    policy: str
    enforcement: str  # "mandatory" | "advisory"
    urn: str | None
    resource_name: str | None
    message: str


def _engine_value(value: Any) -> Any:
    """A value as it reaches the analyzer: unknowns become the engine's unknown sentinel."""
    from pulumi.output import Unknown as OutputUnknown

    from toe.offline.harness import Unknown

    if isinstance(value, (Unknown, OutputUnknown)):
        return UNKNOWN_STRING_VALUE
    if isinstance(value, Mapping):
        return {str(k): _engine_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_engine_value(v) for v in value]
    return value


def _props(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """Props as pulumi_policy hands them to a validation: secrets unwrapped, unknowns guarded."""
    return unknown_checking_proxy(deserialize_properties(_engine_value(values)))


def _options(reg: Registration) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0.0, 0.0, 0.0),
        additional_secret_outputs=[],
        parent=reg.parent or None,
    )


def _provider(
    reg: Registration, by_urn: Mapping[str, Registration]
) -> PolicyProviderResource | None:
    """The explicit provider of a resource; its reference is `<provider urn>::<provider id>`."""
    if not reg.provider:
        return None
    urn = reg.provider.rsplit("::", 1)[0]
    provider = by_urn.get(urn)
    if provider is None:
        return None
    return PolicyProviderResource(provider.type, _props(provider.inputs), urn, provider.name)


def _stack_resources(run: ProgramRun, by_urn: Mapping[str, Registration]) -> list[PolicyResource]:
    """Every resource with its state (inputs overlaid with outputs), linked as the engine does."""
    resources = {
        reg.urn: PolicyResource(
            reg.type,
            _props({**reg.inputs, **reg.outputs}),
            reg.urn,
            reg.name,
            _options(reg),
            _provider(reg, by_urn),
            None,
            [],
            {},
        )
        for reg in run.resources
    }
    for reg in run.resources:
        resource = resources[reg.urn]
        resource.parent = resources.get(reg.parent)
        resource.dependencies = [resources[d] for d in reg.dependencies if d in resources]
        resource.property_dependencies = {
            key: [resources[d] for d in deps if d in resources]
            for key, deps in reg.property_dependencies.items()
        }
    return list(resources.values())


def _config(policy: Policy, today: date | None) -> dict[str, Any]:
    schema = policy.config_schema
    if today is not None and schema is not None and "today" in schema.properties:
        return {"today": today.isoformat()}
    return {}


def _level(policy: Policy) -> str:
    return (policy.enforcement_level or EnforcementLevel.ADVISORY).value


def _call(policy: Policy, args: Any, report) -> str | None:
    """Run one validation; the text of an unknown-value diagnostic when it cannot run in preview."""
    try:
        result = policy.validate(args, report)
        if isawaitable(result):
            asyncio.run(result)
    except UnknownValueError as err:
        return f"can't run policy '{policy.name}' during preview: {err.message}"
    except _NotApplicableError:
        return None
    return None


def _reporter(
    verdicts: list[Verdict],
    policy: str,
    level: str,
    by_urn: Mapping[str, Registration],
    resource: Registration | None,
):
    """A `report_violation` callback; a resource policy's violations always name its resource."""

    def report(message: str, urn: str | None = None) -> None:
        reg = resource if resource is not None else by_urn.get(urn or "")
        where = reg.urn if reg is not None else (urn or None)
        verdicts.append(Verdict(policy, level, where, reg.name if reg else None, message))

    return report


def evaluate(
    run: ProgramRun,
    *,
    today: date | None = None,
    policies: Sequence[Policy] | None = None,
) -> list[Verdict]:
    """Every policy against every registered resource, then the stack policies against all."""
    by_urn = run.by_urn()
    verdicts: list[Verdict] = []
    stack = None
    for policy in rules.POLICIES if policies is None else policies:
        level = _level(policy)
        if level == EnforcementLevel.DISABLED.value:
            continue
        config = _config(policy, today)
        if isinstance(policy, ResourceValidationPolicy):
            for reg in run.resources:
                report = _reporter(verdicts, policy.name, level, by_urn, reg)
                args = ResourceValidationArgs(
                    reg.type,
                    _props(reg.inputs),
                    reg.urn,
                    reg.name,
                    _options(reg),
                    _provider(reg, by_urn),
                    config,
                    {},
                )
                note = _call(policy, args, report)
                if note is not None:
                    verdicts.append(Verdict(policy.name, "advisory", reg.urn, reg.name, note))
        else:
            if stack is None:
                stack = _stack_resources(run, by_urn)
            report = _reporter(verdicts, policy.name, level, by_urn, None)
            note = _call(policy, StackValidationArgs(stack, config, {}), report)
            if note is not None:
                verdicts.append(Verdict(policy.name, "advisory", None, None, note))
    return verdicts


def mandatory(verdicts: Iterable[Verdict]) -> list[Verdict]:
    return [v for v in verdicts if v.enforcement == EnforcementLevel.MANDATORY.value]


def format_verdicts(verdicts: Sequence[Verdict]) -> str:
    """A plain-text report: one block per verdict, then a count per enforcement level."""
    if not verdicts:
        return f"policy pack {rules.PACK_NAME}: no violations ({len(rules.POLICIES)} policies)"
    lines = []
    for v in verdicts:
        where = v.resource_name or "(stack)"
        lines.append(f"[{v.enforcement}] {v.policy}  {where}")
        lines.append(f"    {v.message}")
    count = len(mandatory(verdicts))
    lines.append(
        f"policy pack {rules.PACK_NAME}: {count} mandatory, {len(verdicts) - count} advisory"
    )
    return "\n".join(lines)
