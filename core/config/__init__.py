"""The one configuration reader: Pulumi.yaml's schema in, a validated frozen `StackConfig` out.

`read()` checks every key before it reports, and returns the problems with whatever it could read;
`load()` raises them as one `ConfigError`. Each problem names the key, says what is wrong and
gives a fix (`pulumi config set/rm --stack <stack> ...`) that, applied alone, makes that key valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from core import instance_types as it
from core.config.aws_keys import _aws_access, _region, _unknown_keys, aws_provider_keys
from core.config.checks import _checks
from core.config.gpu_pool import _gpu_pool
from core.config.keys import _admins, _cidrs, _cluster_name, _kubernetes_version, _pattern
from core.config.model import (
    PROJECT_FILE,
    AwsAccess,
    ChecksSpec,
    Declaration,
    DistributedSpec,
    GpuPoolSpec,
    NetworkInputs,
    NodeGroupSpec,
    Reading,
    StackConfig,
    Taint,
    derive_cluster_name,
    schema,
)
from core.config.node_groups import _node_groups
from core.config.values import Catalog, _Reader, _today, valid_regions
from core.problems import ConfigError, Problem
from core.wellknown import PROJECT

__all__ = [
    "PROJECT_FILE",
    "AwsAccess",
    "Catalog",
    "ChecksSpec",
    "ConfigError",
    "Declaration",
    "DistributedSpec",
    "GpuPoolSpec",
    "NetworkInputs",
    "NodeGroupSpec",
    "Problem",
    "Reading",
    "StackConfig",
    "Taint",
    "aws_access",
    "aws_provider_keys",
    "derive_cluster_name",
    "from_pulumi",
    "load",
    "program_values",
    "read",
    "schema",
    "valid_regions",
]


def aws_access(values: Mapping[str, str], region: str, *, stack: str) -> AwsAccess:
    """How the stack's aws provider reaches AWS (profile, assumed role), from its config alone:
    for the commands that ask AWS as `pulumi up` will. Where the keys do not read, the ambient
    credentials (the config check says why)."""
    r = _Reader(values=values, decls={}, stack=stack, lookup=None, catalog=None, today=_today())
    access = _aws_access(r, region)
    return access if access is not None and not r.problems else AwsAccess(region)


def read(
    values: Mapping[str, str],
    *,
    stack: str,
    lookup: it.InstanceLookup,
    catalog: Catalog | None = None,
    today: date | None = None,
    decls: Mapping[str, Declaration] | None = None,
) -> Reading:
    """Read and check every key of `values` (fully qualified keys, raw text as the CLI hands
    them over: objects and arrays as JSON); never raises for bad configuration."""
    r = _Reader(
        values=values,
        decls=decls if decls is not None else schema(),
        stack=stack,
        lookup=lookup,
        catalog=catalog,
        today=today or _today(),
    )
    _unknown_keys(r)
    region = _region(r)
    aws = _aws_access(r, region)
    cluster_name = _cluster_name(r)
    version = _kubernetes_version(r)
    vpc_name = r.string("vpcName", "training-on-eks")
    if vpc_name is not None and not vpc_name.strip():
        r.problem(
            "vpcName",
            "is empty; it must be the VPC's Name tag",
            r.set_fix("vpcName", "training-on-eks"),
        )
        vpc_name = None
    patterns = {
        key: _pattern(r, key, example)
        for key, example in (
            ("privateSubnetPattern", "TOE-priv-subnet-*"),
            ("publicSubnetPattern", "TOE-pub-subnet-*"),
        )
    }
    manage_role_tags = r.boolean("manageSubnetRoleTags")
    public_access = r.boolean("endpointPublicAccess")
    skip_account_checks = r.boolean("skipAccountChecks")
    cidrs = _cidrs(r)
    admins = _admins(r)
    minor = int(version.split(".")[1]) if version else None
    node_groups = _node_groups(r, minor, lookups=region is not None)
    gpu_pool = _gpu_pool(r)
    checks = _checks(r, gpu_pool, lookups=region is not None)

    network = None
    if region and vpc_name and None not in patterns.values():
        network = NetworkInputs(
            region,
            vpc_name,
            patterns["privateSubnetPattern"],
            patterns["publicSubnetPattern"],
        )
    if r.problems:
        return Reading(None, tuple(r.problems), network)
    return Reading(
        StackConfig(
            project=PROJECT,
            stack=stack,
            region=region,
            cluster_name=cluster_name,
            kubernetes_version=version,
            network=network,
            manage_subnet_role_tags=manage_role_tags,
            endpoint_public_access=public_access,
            public_access_cidrs=cidrs,
            cluster_admin_arns=admins,
            node_groups=node_groups,
            gpu_pool=gpu_pool,
            checks=checks,
            skip_account_checks=skip_account_checks,
            aws=aws,
        ),
        (),
        network,
    )


def load(values: Mapping[str, str], *, stack: str, **options: Any) -> StackConfig:
    """`read()` (the same arguments), raising one ConfigError listing every problem."""
    return read(values, stack=stack, **options).checked(stack)


def program_values() -> dict[str, str]:
    """Every configuration value the running program was given (the CLI's PULUMI_CONFIG, or
    what the offline harness set), fully qualified."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def from_pulumi(lookup: it.InstanceLookup | None = None, catalog: Catalog | None = None) -> Reading:
    """Read the running program's configuration (what `pulumi up` or the offline harness set)."""
    import pulumi

    return read(
        program_values(),
        stack=pulumi.get_stack(),
        lookup=lookup or it.pulumi_lookup(),
        catalog=catalog or it.pulumi_catalog(),
    )
