"""Offline harness: runs the real program in-process under Pulumi mocks, with AWS answered by moto.

The program (`__main__.py` with `Pulumi.yaml` and `Pulumi.<stack>.yaml`) runs unchanged. Provider
functions (`aws.ec2.get_vpcs`, `get_subnets`, `get_instance_type`, ...) are answered by moto's EC2
implementation, so tag filters and instance data are real; `aws.ec2.Tag` resources are applied to
moto, so a run leaves the subnet tags an `up` would. Everything the program registers is recorded
with its parent, provider, dependencies, inputs and outputs."""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from toe.offline.account import (
    WORKSHOP_ACCOUNT,
    Account,
    create_in_moto,
    load_account,
)
from toe.offline.account_file import AccountError
from toe.offline.answers import AwsAnswers, InvokeError, _session
from toe.offline.mocks import HarnessMocks, _monitor_class
from toe.offline.moto import shared_botocore_models
from toe.offline.program import (
    SECRET_SIG,
    SECRET_VALUE_SIG,
    UNKNOWN,
    ProgramError,
    ProgramRun,
    Registration,
    Unknown,
    unwrap_secret,
)
from toe.stack_secrets import SecretText
from toe.stackfiles import StackFileError, resolve_dir, stack_config

# What callers read from the harness (one name each), defined in its parts.
__all__ = [
    "SECRET_SIG",
    "SECRET_VALUE_SIG",
    "UNKNOWN",
    "AwsAnswers",
    "InvokeError",
    "ProgramError",
    "ProgramRun",
    "Registration",
    "Unknown",
    "run_program",
    "simulated_aws",
    "unwrap_secret",
]


@contextlib.contextmanager
def simulated_aws(account: Account) -> Iterator[None]:
    """moto's in-process AWS with the account created in it, and throw-away credentials."""
    from moto import mock_aws

    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=account.region,
        # moto loads thousands of public AMIs per region by default; the stack looks none up.
        MOTO_EC2_LOAD_DEFAULT_AMIS="false",
    )
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(key, None)
    try:
        with shared_botocore_models(), mock_aws():
            create_in_moto(account, _session())
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "MOTO_EC2_LOAD_DEFAULT_AMIS",
)


_RUN_LOCK = threading.Lock()


def run_program(
    stack: str = "dev",
    *,
    project_dir: Path | None = None,
    account: Account | Path | None = None,
    config: Mapping[str, Any] | None = None,
    preview: bool = False,
    after: Callable[[], Any] | None = None,
) -> ProgramRun:
    """Evaluate the program once, offline. Raises ProgramError with the program's own message.

    `after` runs once the program has, in the same simulated account (synth prices the stack).
    """
    if account is None:
        account = load_account(WORKSHOP_ACCOUNT)
    elif isinstance(account, Path):
        account = load_account(account)
    project_dir = resolve_dir(project_dir)
    cfg = stack_config(stack, project_dir, config)
    if not (project_dir / "__main__.py").is_file():
        raise StackFileError(
            f"{project_dir} has no __main__.py, the program to run: the folder must hold the "
            "whole project (Pulumi.yaml, the stack files and the program), not only its settings"
        )
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["name"]
    region = cfg.get("aws:region") or account.region
    _same_region(stack, region, account)
    with _RUN_LOCK, simulated_aws(account):
        answers = AwsAnswers(region, account.quotas)
        harness_mocks = HarnessMocks(answers, preview, account.cluster)
        monitor = _evaluate(project_dir, project, stack, cfg, harness_mocks, preview)
        outputs, secrets = _stack_outputs(preview)
        tags = answers.subnet_tags()
        extra = after() if after is not None else None
    return ProgramRun(
        stack=stack,
        project=project,
        preview=preview,
        resources=sorted(monitor.registrations, key=lambda r: r.urn),
        outputs=outputs,
        secret_outputs=secrets,
        config=cfg,
        subnet_tags=tags,
        after=extra,
    )


def _same_region(stack: str, region: object, account: Account) -> None:
    """Refuse a stack that deploys to a region the account file does not describe: the program
    would look there and find nothing (a region AWS lacks is the config reader's to report)."""
    from core.config import valid_regions

    if region == account.region or region not in valid_regions():
        return
    raise AccountError(
        Path(account.source),
        reason=f"{account.source}: describes {account.region}, but stack {stack} deploys to "
        f"{region} (aws:region), where the simulated account has nothing; describe {region} in "
        f"the account file (its region, VPCs and zones), or rehearse this once in the file's "
        f"region with `--set aws:region={account.region}` (the stack file is not changed)",
    )


def _evaluate(project_dir, project, stack, cfg, harness_mocks, preview):
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    settings.ROOT.set(None)  # a fresh root stack, or the previous stack's name sticks in URNs
    # As the CLI hands them over: the values, and which of them came from `secure:` values.
    secret_keys = [k for k, v in cfg.items() if isinstance(v, SecretText)]
    pulumi.runtime.set_all_config(cfg, secret_keys)
    monitor = _monitor_class()(harness_mocks)
    pulumi.runtime.set_mocks(
        harness_mocks, project=project, stack=stack, preview=preview, monitor=monitor
    )
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    main = project_dir / "__main__.py"
    added = str(project_dir) not in sys.path
    if added:
        sys.path.insert(0, str(project_dir))
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(main), run_name="__main__")))
    except pulumi.RunError as err:
        raise ProgramError(str(err), err) from err
    except Exception as err:
        raise ProgramError(f"{type(err).__name__}: {err}", err) from err
    finally:
        if added:
            sys.path.remove(str(project_dir))
    return monitor


def _stack_outputs(preview: bool) -> tuple[dict[str, Any], set[str]]:
    import pulumi
    from pulumi.runtime.sync_await import _sync_await

    root = pulumi.runtime.get_root_resource()
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, value in (root.outputs if root is not None else {}).items():
        output = pulumi.Output.from_input(value)
        known = _sync_await(output.is_known())
        values[key] = _sync_await(output.future()) if known else UNKNOWN
        if _sync_await(output.is_secret()):
            secrets.add(key)
    return values, secrets
