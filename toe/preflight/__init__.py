"""Preflight: can this account run the workshop stack? Every check reads the account, none
writes; `run()` checks one stack (the fleet's checks are in toe.preflight.fleet).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from core.config import aws_access
from core.eks_versions import EKS_VERSIONS
from toe.preflight.checks import Checker
from toe.preflight.clients import Clients, bodies_data, connect, guarded  # noqa: F401  (re-exported)
from toe.preflight.eks import _describe_cluster_version, eks_support  # noqa: F401  (re-exported)
from toe.preflight.iam import IAM_ACTIONS, principal_arn, simulate_caller  # noqa: F401  (re-exported)
from toe.preflight.quotas import quota_lines, quota_row, said_once  # noqa: F401  (re-exported)
from toe.preflight.verdicts import (  # noqa: F401  (re-exported)
    EXIT_FAIL,
    EXIT_PASS,
    EXIT_UNCHECKED,
    FAIL,
    PASS,
    STATUS_RANK,
    UNCHECKED,
    WARN,
    Check,
    CouldNotCheck,
    Report,
    Verdicts,
    gpu_row,
)
from toe.stackfiles import stack_config


def run(
    stack: str = "dev",
    *,
    region: str | None = None,
    clients: Clients | None = None,
    today: date | None = None,
    project_dir: Path | None = None,
    eks_table: Path = EKS_VERSIONS,
    overrides: Mapping[str, Any] | None = None,
) -> Report:
    """Run every check against the account the credentials reach; raise CouldNotCheck if none.

    `overrides` change stack configuration values as `pulumi config set` would (short keys).
    """
    from toe import guidance
    from toe.stackfiles import StackFileError, resolve_dir

    project_dir = resolve_dir(project_dir)
    if not (project_dir / f"Pulumi.{stack}.yaml").exists():
        raise CouldNotCheck(guidance.unknown_stack(stack, project_dir))
    try:
        values = stack_config(stack, project_dir)
    except StackFileError as err:
        raise CouldNotCheck(str(err)) from None
    region = region or values.get("aws:region")
    if not region:
        raise CouldNotCheck(f"no region: stack {stack!r} sets no aws:region and --region is absent")
    clients, identity = connect(region, clients, aws_access(values, region, stack=stack))
    today = today or datetime.now(UTC).date()
    overrides = {**(overrides or {}), "aws:region": region}
    checker = Checker(stack, region, clients, identity, today, project_dir, eks_table, overrides)
    checks = checker.all()
    return Report(
        stack=stack,
        region=region,
        account=identity.get("Account", ""),
        caller=identity.get("Arn", ""),
        checks=tuple(checks[0]),
        gpu_types=tuple(checks[1]),
    )
