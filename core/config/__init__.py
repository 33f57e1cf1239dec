"""The one configuration reader: Pulumi.yaml's schema in, a validated frozen `StackConfig` out.

`read()` checks every key before it reports, and returns the problems with whatever it could read;
`load()` raises them as one `ConfigError`. Each problem names the key, says what is wrong and
gives a fix (`pulumi config set/rm --stack <stack> ...`) that, applied alone, makes that key valid.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from core import instance_types as it
from core.eks_versions import load_eks_table, version_key
from core.images import image_pinned
from core.problems import ConfigError, Problem, chain, rm_command, set_command
from core.wellknown import PROJECT

PROJECT_FILE = Path(__file__).resolve().parents[2] / "Pulumi.yaml"

# Patterns are matched whole (`fullmatch`): `$` would also match before a trailing newline.
# Kubernetes MAJOR.MINOR in ASCII digits (`\d` would also take other scripts' digits).
VERSION_RE = re.compile(r"1\.(0|[1-9][0-9]*)")
# YAML reads an unquoted 1.30 as the number 1.3: one digit after the dot.
YAML_ATE_A_ZERO_RE = re.compile(r"1\.[1-9]")
# EKS cluster names (botocore EKS model, shape ClusterName: 1-100, `^[0-9A-Za-z][A-Za-z0-9\-_]*`).
CLUSTER_NAME_RE = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}")
# EKS node group names: 1-63 characters of the same alphabet.
NODE_GROUP_NAME_RE = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,62}")
# Kubernetes label values and keys (apimachinery validation: IsValidLabelValue, IsQualifiedName).
LABEL_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
LABEL_NAME_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# The NodePool CRD's duration pattern for consolidateAfter / expireAfter.
DURATION_RE = re.compile(r"([0-9]+(s|m|h))+|Never")
CATEGORY_RE = re.compile(r"[a-z]+")
DECIMAL_RE = re.compile(r"[0-9]+(\.[0-9]+)?")
MAX_BUSBW_GBPS = 10_000.0  # far beyond any interconnect: a typo, not a bound
FAMILY_RE = re.compile(r"[a-z][a-z0-9-]*")
ARN_RE = re.compile(r"arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[A-Za-z-]+/.+")
K8S_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# The CLI's integer check is Go's strconv.Atoi (pulumi sdk workspace.ValidateConfigValue).
INTEGER_RE = re.compile(r"[+-]?[0-9]+")

# Integers of the EKS API are 32-bit (Smithy `integer`, e.g. NodegroupScalingConfig); Kubernetes
# takes int64 seconds. A check that needs more than a day is broken, not slow.
INT32_MAX = 2**31 - 1
MAX_CHECK_TIMEOUT_SECONDS = 86_400
MIN_CHECK_TIMEOUT_SECONDS = 300
# EKS taint keys and values: 1-63 and 0-63 characters (botocore EKS model, shape Taint).
TAINT_KEY_MAX, TAINT_VALUE_MAX = 63, 63

# Kubernetes taint effect -> EKS API TaintEffect.
TAINT_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}
KARPENTER_CAPACITY_TYPES = ("on-demand", "spot", "reserved")
NODE_GROUP_FIELDS = (
    "name",
    "instanceType",
    "minSize",
    "desiredSize",
    "maxSize",
    "labels",
    "taints",
    "capacityType",
    "diskSize",
    "amiType",
)
NODE_GROUP_EXAMPLE = [
    {"name": "ng-arm", "instanceType": "c7g.2xlarge", "minSize": 2, "desiredSize": 2, "maxSize": 2}
]


@dataclass(frozen=True)
class Declaration:
    """One key of Pulumi.yaml's `config:` block."""

    key: str
    type: str | None
    description: str
    default: Any = None
    has_default: bool = False


@cache
def schema(path: Path = PROJECT_FILE) -> dict[str, Declaration]:
    """The project's configuration schema declared in Pulumi.yaml (`ns:key` values excluded)."""
    declared = yaml.safe_load(path.read_text())["config"]
    return {
        key: Declaration(
            key=key,
            type=spec.get("type"),
            description=" ".join(str(spec.get("description", "")).split()),
            default=spec.get("default"),
            has_default="default" in spec,
        )
        for key, spec in declared.items()
        if ":" not in key
    }


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str  # Kubernetes spelling, e.g. NoSchedule

    @property
    def eks_effect(self) -> str:
        return TAINT_EFFECTS[self.effect]


@dataclass(frozen=True)
class NodeGroupSpec:
    """A managed node group as configured, with its AMI type resolved."""

    name: str
    instance_type: str
    min_size: int
    desired_size: int
    max_size: int
    ami_type: str
    arch: str  # kubernetes.io/arch of its nodes
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[Taint, ...] = ()
    capacity_type: str = "ON_DEMAND"
    disk_size: int = 50


@dataclass(frozen=True)
class GpuPoolSpec:
    name: str
    instance_categories: tuple[str, ...]
    instance_families: tuple[str, ...]
    capacity_types: tuple[str, ...]
    max_gpus: int
    max_cpu: int
    max_memory_gi: int
    consolidate_after: str
    expire_after: str


@dataclass(frozen=True)
class DistributedSpec:
    """The optional two-node all-reduce check (distributedCheck and its keys)."""

    enabled: bool = False
    image: str = ""
    min_busbw_gbps: float = 0.0
    required: bool = False
    families: tuple[str, ...] = ()  # empty: the pool's `g` category
    instance_type: str = ""  # efaInstanceType when EFA is requested: both nodes use EFA

    @property
    def efa(self) -> bool:
        return bool(self.instance_type)


@dataclass(frozen=True)
class ChecksSpec:
    run_id: str
    gpu_image: str
    efa_image: str
    efa_instance_type: str
    efa_required: bool
    timeout_seconds: int
    distributed: DistributedSpec = field(default_factory=DistributedSpec)

    @property
    def efa_requested(self) -> bool:
        return bool(self.efa_instance_type)


@dataclass(frozen=True)
class AwsAccess:
    """How the aws provider reaches AWS (`aws:region`, `aws:profile`, `aws:assumeRoles`): the
    readout and the teardown hook build their boto3 sessions the same way."""

    region: str
    profile: str | None = None
    assume_role_arn: str | None = None
    assume_role_session_name: str | None = None
    assume_role_external_id: str | None = None


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs from configuration, validated."""

    project: str
    stack: str
    region: str
    cluster_name: str
    kubernetes_version: str
    vpc_name: str
    private_subnet_pattern: str
    public_subnet_pattern: str
    manage_subnet_role_tags: bool
    endpoint_public_access: bool
    public_access_cidrs: tuple[str, ...]
    cluster_admin_arns: tuple[str, ...]
    node_groups: tuple[NodeGroupSpec, ...]
    gpu_pool: GpuPoolSpec
    checks: ChecksSpec
    skip_account_checks: bool = False
    aws: AwsAccess | None = None

    @property
    def minor_version(self) -> int:
        return int(self.kubernetes_version.split(".")[1])

    @property
    def access(self) -> AwsAccess:
        return self.aws or AwsAccess(self.region)


@dataclass(frozen=True)
class NetworkInputs:
    """The keys the VPC look-up needs, when they are valid (even if other keys are not)."""

    region: str
    vpc_name: str
    private_pattern: str
    public_pattern: str


@dataclass(frozen=True)
class Reading:
    """What `read()` found: the config when every key is valid, and every problem otherwise."""

    config: StackConfig | None
    problems: tuple[Problem, ...]
    network: NetworkInputs | None = None


def derive_cluster_name(stack: str) -> str:
    """`toe-<stack>`, exactly: a stack whose derived name EKS refuses must set clusterName."""
    return f"toe-{stack}"


@cache
def valid_regions() -> frozenset[str]:
    """Every region botocore knows, in every partition (its endpoints data; read once)."""
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("eks", partition_name=partition)
    )


def _today() -> date:
    return datetime.now(UTC).date()


def _closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    choices = list(choices)
    folded = {c.lower(): c for c in choices}
    if word.lower() in folded:
        return folded[word.lower()]
    found = difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
    return found[0] if found else None


# An instance-type catalog: every type name EC2 offers in the region (None when it cannot say).
Catalog = Callable[[], "Sequence[str] | None"]


@dataclass
class _Reader:
    """Reads raw values by the schema's types, collecting problems instead of raising."""

    values: Mapping[str, str]
    decls: Mapping[str, Declaration]
    stack: str
    lookup: it.InstanceLookup
    catalog: Catalog | None
    today: date
    problems: list[Problem] = field(default_factory=list)
    _lookups: dict[str, Any] = field(default_factory=dict)
    _lookup_errors: set[str] = field(default_factory=set)

    # -------------------------------------------------------------------- problems and fixes

    def problem(self, key: str, message: str, fix: str, *, unchecked: bool = False) -> None:
        self.problems.append(Problem(key, message, fix, unchecked))

    def set_fix(self, key: str, value: object) -> str:
        return set_command(key, value, stack=self.stack)

    def rm_fix(self, key: str) -> str:
        return rm_command(key, stack=self.stack)

    def default_fix(self, key: str, example: object) -> str:
        """Back to the schema's default when there is one, else the example value."""
        return self.rm_fix(key) if self.decls[key].has_default else self.set_fix(key, example)

    # -------------------------------------------------------------------- raw values

    def raw(self, key: str) -> str | None:
        value = self.values.get(f"{PROJECT}:{key}")
        return None if value is None else str(value)

    def present(self, key: str) -> str | None:
        """The raw text, the default's text, or None with a problem when required and unset."""
        decl = self.decls[key]
        raw = self.raw(key)
        if raw is not None and (raw != "" or decl.type == "string"):
            return raw
        if decl.has_default:
            default = decl.default
            if isinstance(default, bool):
                return str(default).lower()
            return json.dumps(default) if isinstance(default, list | dict) else str(default)
        return None

    def required(self, key: str, example: object) -> str | None:
        text = self.present(key)
        if text is None:
            self.problem(key, "is required and not set", self.set_fix(key, example))
        return text

    def string(self, key: str, example: str) -> str | None:
        text = self.required(key, example)
        if text is None:
            return None
        parsed = _json_or_none(text)
        if isinstance(parsed, list | dict):
            kind = "a list" if isinstance(parsed, list) else "a map"
            # The CLI refuses a list or map for a string-typed key (pulumi/pkg workspace
            # validateStackConfigValue); our tools receive it as JSON text.
            self.problem(key, f"must be text, got {kind} ({text})", self.default_fix(key, example))
            return None
        return text

    def boolean(self, key: str) -> bool | None:
        text = self.present(key)
        # The CLI takes only the text true/false for a boolean key (sdk go/common/workspace
        # ValidateConfigValue): `pulumi config set endpointPublicAccess False` stores "False",
        # and `pulumi preview` refuses it ("must be of type 'boolean'", tests/data/stackfiles).
        # YAML 1.2, which the CLI reads stack files with, has no yes/no/on/off booleans either.
        if text in ("true", "false"):
            return text == "true"
        meant = _meant_boolean(text)
        if meant is None:
            # No telling what was meant: false opens, launches and skips nothing (a public
            # endpoint, extra GPU nodes, skipped checks all need an explicit true).
            self.problem(
                key,
                f"must be true or false, got {_short(str(text))!r} (the fix sets false, which "
                "turns nothing on; set true if that is what you meant)",
                self.set_fix(key, False),
            )
        else:
            self.problem(
                key,
                f"must be true or false, got {_short(str(text))!r}; did you mean "
                f"{str(meant).lower()}?",
                self.set_fix(key, meant),
            )
        return None

    def integer(self, key: str, example: int, low: int, high: int, unit: str = "") -> int | None:
        text = self.required(key, example)
        if text is None:
            return None
        if not INTEGER_RE.fullmatch(text):
            self.problem(
                key, f"must be a whole number, got {text!r}", self.default_fix(key, example)
            )
            return None
        value = int(text)
        if not low <= value <= high:
            self.problem(
                key,
                f"must be between {low} and {high}{unit}, got {_short(text)}",
                self.default_fix(key, example),
            )
            return None
        return value

    def strings(self, key: str, example: list[str]) -> list[str] | None:
        text = self.required(key, example)
        if text is None:
            return None
        value = _json_or_none(text)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(
                key,
                f"must be a list of strings, got {_short(text)}",
                self.default_fix(key, example),
            )
            return None
        return value

    # -------------------------------------------------------------------- instance types

    def facts(self, key: str, instance_type: str) -> it.InstanceFacts | str | None:
        """Facts of a type; None when EC2 does not know it; "error" when the look-up failed."""
        if instance_type not in self._lookups:
            try:
                self._lookups[instance_type] = self.lookup(instance_type)
            except it.LookupFailed as err:
                self._lookups[instance_type] = "error"
                if str(err) not in self._lookup_errors:
                    self._lookup_errors.add(str(err))
                    self.problem(
                        key,
                        f"could not be checked: {err}",
                        "check that the credentials reach EC2 in this region and may call "
                        "ec2:DescribeInstanceTypes (aws sts get-caller-identity), then run again",
                        unchecked=True,
                    )
        return self._lookups[instance_type]

    def suggest_type(self, typed: str, arch: str | None) -> str | None:
        """The nearest type EC2 offers here of the intended architecture, or None.

        The intent is the architecture of the typed family when EC2 has that family (`c6i` in
        `c6i.2xlage` is x86), else of the explicit amiType; without either, the close names must
        all agree on one architecture, or nothing is suggested.
        """
        names = self.catalog() if self.catalog else None
        if not names:
            return None
        family = it.family(typed)
        if arch is None:
            sibling = next((n for n in names if it.family(n) == family), None)
            facts = self.facts("", sibling) if sibling else None
            arch = facts.kubernetes_arch if isinstance(facts, it.InstanceFacts) else None
        close = []
        for name in difflib.get_close_matches(typed, names, n=6, cutoff=0.75):
            facts = self.facts("", name)
            if isinstance(facts, it.InstanceFacts):
                close.append((name, facts.kubernetes_arch))
        if arch is None:
            archs = {a for _, a in close}
            return close[0][0] if len(archs) == 1 else None
        return next((name for name, a in close if a == arch), None)


_TRUE_WORDS = frozenset({"true", "yes", "y", "on", "1", "enable", "enabled"})
_FALSE_WORDS = frozenset({"false", "no", "n", "off", "0", "disable", "disabled", "none"})


def _meant_boolean(text: str | None) -> bool | None:
    """The boolean a person meant by `yes`, `off`, `0`, `["true"]` or `TRUE `, else None."""
    if text is None:
        return None
    parsed = _json_or_none(text)
    if isinstance(parsed, list) and len(parsed) == 1:
        return _meant_boolean(str(parsed[0]).lower() if isinstance(parsed[0], bool) else parsed[0])
    word = str(text).strip().strip("'\"").lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return None


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else f"{text[: width - 3]}..."


# ---------------------------------------------------------------------------- entry points


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
            vpc_name=vpc_name,
            private_subnet_pattern=patterns["privateSubnetPattern"],
            public_subnet_pattern=patterns["publicSubnetPattern"],
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


def load(
    values: Mapping[str, str],
    *,
    stack: str,
    lookup: it.InstanceLookup,
    catalog: Catalog | None = None,
    today: date | None = None,
    decls: Mapping[str, Declaration] | None = None,
) -> StackConfig:
    """`read()`, raising one ConfigError listing every problem."""
    reading = read(values, stack=stack, lookup=lookup, catalog=catalog, today=today, decls=decls)
    if reading.config is None:
        raise ConfigError(stack, reading.problems)
    return reading.config


def program_values() -> dict[str, str]:
    """Every configuration value the running program was given (the CLI's PULUMI_CONFIG, or
    what the offline harness set), fully qualified."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


# ---------------------------------------------------------------------------- keys


@cache
def aws_provider_keys() -> frozenset[str]:
    """The `aws:*` settings the aws provider reads: every key its SDK's config module asks for
    (pulumi_aws/config/vars.py, generated from the provider's schema)."""
    import importlib.util

    spec = importlib.util.find_spec("pulumi_aws.config.vars")
    text = Path(spec.origin).read_text(encoding="utf-8")
    return frozenset(re.findall(r"__config__\.get(?:_[a-z]+)?\('([A-Za-z0-9]+)'", text))


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
            meant = _closest(name, aws_provider_keys())
            r.problem(
                key,
                "is not a setting of the aws provider (pulumi_aws.config)"
                + (f"; did you mean aws:{meant}?" if meant else ""),
                chain(r.rm_fix(key), set_command(f"aws:{meant}", value, stack=r.stack))
                if meant and f"aws:{meant}" not in r.values
                else r.rm_fix(key),
            )
        elif sep and namespace not in (PROJECT, "aws") and _closest(namespace, [PROJECT], 0.8):
            # Pulumi hands `training_on_eks:x` to no one: the setting silently does nothing.
            meant = name if name in declared else _closest(name, declared)
            r.problem(
                key,
                f"is in the namespace {namespace!r}, which is not this project's ({PROJECT}), so "
                "it sets nothing" + (f"; did you mean {PROJECT}:{meant}?" if meant else ""),
                chain(r.rm_fix(key), r.set_fix(meant, value)) if meant else r.rm_fix(key),
            )
        elif namespace == PROJECT and name not in declared:
            suggestion = _closest(name, declared)
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
        nearest = _closest(region, regions) or example
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
        if isinstance(parsed, list):
            parsed = parsed[0] if parsed else {}
        if not isinstance(parsed, dict) or not isinstance(parsed.get("roleArn", ""), str):
            r.problem(
                key,
                "must be an object with roleArn (a list of them for assumeRoles)",
                rm_command(key, stack=r.stack),
            )
            return None
        role = parsed
        break
    return AwsAccess(
        region=region,
        profile=profile,
        assume_role_arn=role.get("roleArn") or None,
        assume_role_session_name=role.get("sessionName") or None,
        assume_role_external_id=role.get("externalId") or None,
    )


def _cluster_name(r: _Reader) -> str | None:
    explicit = r.string("clusterName", "toe-attendee-01")
    if explicit:
        if not CLUSTER_NAME_RE.fullmatch(explicit):
            r.problem(
                "clusterName",
                f"{explicit!r} is not a valid EKS cluster name (1-100 letters, digits, '-' or "
                "'_', starting with a letter or digit)",
                r.set_fix("clusterName", _cluster_name_from(explicit)),
            )
            return None
        return explicit
    derived = derive_cluster_name(r.stack)
    if not CLUSTER_NAME_RE.fullmatch(derived):
        r.problem(
            "clusterName",
            f"the cluster name derives from the stack name as {derived!r}, which EKS refuses "
            "(1-100 letters, digits, '-' or '_'); rename the stack, or set clusterName",
            r.set_fix("clusterName", _cluster_name_from(derived)),
        )
        return None
    return derived


def _cluster_name_from(text: str) -> str:
    """A valid EKS name close to `text` (for fixes only: the program never renames silently)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")[:100]
    return cleaned if CLUSTER_NAME_RE.fullmatch(cleaned) else "toe-attendee-01"


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
        written = [w for w in re.split(r"[\s,]+", text.strip("[]() ")) if w]
        meant = [_nearest_cidr(w) for w in written]
        if written and None not in meant:
            r.problem(
                key,
                f"must be a list of CIDR blocks, got the text {_short(text)!r}",
                r.set_fix(key, meant),
            )
        else:
            r.problem(
                key,
                f"must be a list of CIDR blocks, got {_short(text)!r}",
                _CIDR_ADVICE.format(stack=r.stack),
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
        others = [a for a in arns if a != arn]
        if not ARN_RE.fullmatch(arn):
            r.problem(
                "clusterAdminArns",
                f"{_short(arn)!r} is not an IAM principal ARN",
                r.set_fix("clusterAdminArns", others) if others else r.rm_fix("clusterAdminArns"),
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


# ---------------------------------------------------------------------------- node groups


def _node_groups(r: _Reader, minor: int | None, *, lookups: bool) -> tuple[NodeGroupSpec, ...]:
    text = r.required("nodeGroups", NODE_GROUP_EXAMPLE)
    if text is None:
        return ()
    items = _json_or_none(text)
    if not isinstance(items, list) or not items:
        r.problem(
            "nodeGroups",
            f"must be a non-empty list of node groups, got {_short(text)}",
            r.set_fix("nodeGroups", NODE_GROUP_EXAMPLE),
        )
        return ()
    seen: set[str] = set()
    groups = []
    for index, item in enumerate(items):
        group = _node_group(r, f"nodeGroups[{index}]", item, minor, seen, lookups)
        if group is not None:
            groups.append(group)
    return tuple(groups)


def _int_field(r: _Reader, key: str, item: Mapping, name: str, default: int | None) -> int | None:
    value = item.get(name, default)
    if isinstance(value, float) and value.is_integer() and abs(value) <= INT32_MAX:
        value = int(value)
    if isinstance(value, str) and INTEGER_RE.fullmatch(value):
        value = int(value)
    path = f"{key}.{name}"
    if not isinstance(value, int) or isinstance(value, bool):
        r.problem(path, f"must be a whole number, got {_short(repr(value))}", r.set_fix(path, 2))
        return None
    if not 0 <= value <= INT32_MAX:
        r.problem(
            path,
            f"must be between 0 and {INT32_MAX} (EKS takes 32-bit sizes), got {_short(str(value))}",
            r.set_fix(path, 2),
        )
        return None
    return value


def _size_problems(r: _Reader, key: str, lo: int, want: int, hi: int) -> None:
    """minSize <= desiredSize <= maxSize, maxSize >= 1; the fix changes the fewest values."""
    if hi >= 1 and lo <= want <= hi:
        return
    fixed_hi = max(hi, 1)
    fixed_lo = min(lo, fixed_hi)
    fixed_want = min(max(want, fixed_lo), fixed_hi)
    changes = [
        (name, new)
        for name, old, new in (
            ("maxSize", hi, fixed_hi),
            ("minSize", lo, fixed_lo),
            ("desiredSize", want, fixed_want),
        )
        if old != new
    ]
    fix = chain(*(r.set_fix(f"{key}.{name}", new) for name, new in changes))
    # Raising maxSize keeps the size that was asked for (`--path 'nodeGroups[0].desiredSize' 3`).
    raise_max = r.set_fix(f"{key}.maxSize", max(lo, want))
    if hi < 1:
        r.problem(f"{key}.maxSize", f"must be at least 1, got {hi}", fix)
    elif lo > hi:
        r.problem(
            f"{key}.minSize",
            f"minSize {lo} is above maxSize {hi}; to keep at least {lo} nodes, raise maxSize "
            f"instead: {raise_max}",
            fix,
        )
    elif want > hi:
        r.problem(
            f"{key}.desiredSize",
            f"desiredSize {want} is above maxSize {hi}; the fix raises maxSize to {want} (or keep "
            f"{hi} nodes: {r.set_fix(f'{key}.desiredSize', hi)})",
            raise_max,
        )
    else:
        r.problem(
            f"{key}.desiredSize",
            f"sizes must satisfy minSize <= desiredSize <= maxSize, got {lo} / {want} / {hi}",
            fix,
        )


def _node_group(r, key, item, minor, seen, lookups) -> NodeGroupSpec | None:
    if not isinstance(item, Mapping):
        r.problem(
            key,
            f"must be an object with name and instanceType, got {_short(repr(item))}",
            r.set_fix("nodeGroups", NODE_GROUP_EXAMPLE),
        )
        return None
    before = len(r.problems)
    moved = _unknown_fields(r, key, item)
    name = item.get("name", "")
    if not isinstance(name, str) or not NODE_GROUP_NAME_RE.fullmatch(name):
        if "name" not in moved:
            r.problem(
                f"{key}.name",
                f"{_short(repr(name))} is not a valid node group name (1-63 letters, digits, "
                "'-' or '_')",
                r.set_fix(f"{key}.name", f"ng-{key[len('nodeGroups[') : -1]}"),
            )
    elif name in seen:
        r.problem(
            f"{key}.name",
            f"duplicate node group name {name!r}; names must be unique",
            r.set_fix(f"{key}.name", f"{name}-2"),
        )
    seen.add(name if isinstance(name, str) else "")

    sizes = {
        f: (None if f in moved else _int_field(r, key, item, f, None))
        for f in ("minSize", "desiredSize", "maxSize")
    }
    if None not in sizes.values():
        _size_problems(r, key, sizes["minSize"], sizes["desiredSize"], sizes["maxSize"])
    disk = _int_field(r, key, item, "diskSize", 50)
    if disk is not None and disk < 20:
        r.problem(
            f"{key}.diskSize",
            f"must be at least 20 GiB, got {disk}",
            r.set_fix(f"{key}.diskSize", 50),
        )

    capacity = item.get("capacityType", "ON_DEMAND")
    kinds = it.eks_enum("CapacityTypes")
    if capacity not in kinds:
        # `spot` or `on-demand` (Karpenter's spelling) mean SPOT and ON_DEMAND: keep the choice.
        folded = {k.replace("_", "").lower(): k for k in kinds}
        meant = folded.get(re.sub(r"[-_\s]", "", str(capacity)).lower())
        r.problem(
            f"{key}.capacityType",
            f"{_short(repr(capacity))} is not one of {', '.join(kinds)}"
            + (f"; did you mean {meant}?" if meant else ""),
            r.set_fix(f"{key}.capacityType", meant) if meant else r.rm_fix(f"{key}.capacityType"),
        )

    labels = _labels(r, key, item.get("labels"))
    taints = _taints(r, key, item.get("taints"))
    if "instanceType" in moved:
        ami_type, arch = None, None
    else:
        ami_type, arch = _resolve_ami(r, key, item, minor, lookups)
    if len(r.problems) > before:
        return None
    return NodeGroupSpec(
        name=name,
        instance_type=str(item["instanceType"]),
        min_size=sizes["minSize"],
        desired_size=sizes["desiredSize"],
        max_size=sizes["maxSize"],
        ami_type=ami_type,
        arch=arch,
        labels=labels,
        taints=taints,
        capacity_type=capacity,
        disk_size=disk,
    )


def _unknown_fields(r: _Reader, key: str, item: Mapping) -> set[str]:
    """Fields a node group does not have; returns the known fields they were meant to be."""
    meant: set[str] = set()
    for name, value in item.items():
        if name in NODE_GROUP_FIELDS:
            continue
        suggestion = _closest(str(name), NODE_GROUP_FIELDS)
        path = f"{key}.{name}"
        if suggestion is None or suggestion in item:
            r.problem(path, "is not a node group field", r.rm_fix(path))
            continue
        meant.add(suggestion)
        r.problem(
            path,
            f"is not a node group field; did you mean {suggestion}?",
            chain(r.rm_fix(path), r.set_fix(f"{key}.{suggestion}", value)),
        )
    return meant


def _labels(r: _Reader, key: str, raw: Any) -> tuple[tuple[str, str], ...]:
    labels = raw or {}
    if not isinstance(labels, Mapping):
        r.problem(
            f"{key}.labels",
            f"must be a map of label key to value, got {_short(repr(labels))}",
            r.rm_fix(f"{key}.labels"),
        )
        return ()
    good = []
    for lk, lv in labels.items():
        path = f'{key}.labels["{lk}"]'
        if not _is_label_key(str(lk)) or not isinstance(lv, str) or not _is_label_value(lv):
            r.problem(
                path,
                f"{_short(str(lk))}={_short(str(lv))} is not a valid Kubernetes label",
                r.rm_fix(path),
            )
        else:
            good.append((str(lk), lv))
    return tuple(sorted(good))


def _is_label_key(text: str) -> bool:
    prefix, slash, name = text.rpartition("/")
    if slash and (len(prefix) > 253 or not DNS_SUBDOMAIN_RE.fullmatch(prefix)):
        return False
    return bool(LABEL_NAME_RE.fullmatch(name))


def _is_label_value(text: str) -> bool:
    return len(text) <= 63 and bool(LABEL_VALUE_RE.fullmatch(text))


# kubectl's taint syntax, `key=value:Effect` or `key:Effect` (kubectl taint nodes --help).
KUBECTL_TAINT_RE = re.compile(r"(?P<key>[^=:\s]+)(=(?P<value>[^:\s]*))?:(?P<effect>[A-Za-z]+)")


def _kubectl_taint(text: Any) -> dict[str, str] | None:
    """`dedicated=x86:NoSchedule` as {key, value, effect}, when that is what it reads as."""
    match = KUBECTL_TAINT_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    effect = _closest(match["effect"], TAINT_EFFECTS) or match["effect"]
    taint = {"key": match["key"], "effect": effect}
    if match["value"]:
        taint["value"] = match["value"]
    return taint


def _taints(r: _Reader, key: str, raw: Any) -> tuple[Taint, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str) or (isinstance(raw, list) and any(isinstance(t, str) for t in raw)):
        # kubectl's syntax: the fix writes the same taints as objects (the list whole, so that
        # no element's index shifts under the next command).
        items = [w for w in re.split(r"[\s,]+", raw) if w] if isinstance(raw, str) else raw
        written = [t if isinstance(t, Mapping) else _kubectl_taint(t) for t in items]
        r.problem(
            f"{key}.taints",
            f"must be a list of {{key, value, effect}} objects, got {_short(repr(raw))}"
            + (
                "; kubectl's key=value:Effect is written as an object here"
                if None not in written
                else ""
            ),
            r.set_fix(f"{key}.taints", written)
            if written and None not in written
            else r.rm_fix(f"{key}.taints"),
        )
        return ()
    if not isinstance(raw, list):
        r.problem(
            f"{key}.taints",
            f"must be a list of {{key, value, effect}}, got {_short(repr(raw))}",
            r.rm_fix(f"{key}.taints"),
        )
        return ()
    taints = []
    for index, taint in enumerate(raw):
        tkey = f"{key}.taints[{index}]"
        if not isinstance(taint, Mapping):
            r.problem(
                tkey,
                f"must be an object with key, value and effect, got {_short(repr(taint))}",
                r.rm_fix(tkey),
            )
            continue
        tk, tv, effect = taint.get("key"), taint.get("value", ""), taint.get("effect")
        ok = True
        if not isinstance(tk, str) or not 1 <= len(tk) <= TAINT_KEY_MAX or not _is_label_key(tk):
            # EKS: 1-63 characters (botocore model, Taint.key); Kubernetes: a qualified name.
            r.problem(
                f"{tkey}.key",
                f"{_short(repr(tk))} is not a taint key (a Kubernetes label key of "
                f"1-{TAINT_KEY_MAX} characters)",
                r.rm_fix(tkey),
            )
            ok = False
        if not isinstance(tv, str) or len(tv) > TAINT_VALUE_MAX or not _is_label_value(tv):
            r.problem(
                f"{tkey}.value",
                f"{_short(repr(tv))} is not a taint value (a Kubernetes label value of "
                f"0-{TAINT_VALUE_MAX} characters)",
                r.rm_fix(f"{tkey}.value"),
            )
            ok = False
        if effect not in TAINT_EFFECTS:
            r.problem(
                f"{tkey}.effect",
                f"{_short(repr(effect))} is not a taint effect ({', '.join(TAINT_EFFECTS)})",
                r.set_fix(f"{tkey}.effect", "NoSchedule"),
            )
            ok = False
        if ok:
            taints.append(Taint(tk, tv, effect))
    return tuple(taints)


def _resolve_ami(r, key, item, minor, lookups) -> tuple[str | None, str | None]:
    instance_type = item.get("instanceType", "")
    path = f"{key}.instanceType"
    explicit = item.get("amiType")
    hinted_arch = it.ami_arch(explicit) if isinstance(explicit, str) else None
    if not isinstance(instance_type, str) or not it.INSTANCE_TYPE_RE.fullmatch(instance_type):
        suggestion = r.suggest_type(str(instance_type), hinted_arch) if lookups else None
        r.problem(
            path,
            f"{_short(repr(instance_type))} is not an EC2 instance type (family.size, e.g. "
            "c7g.2xlarge)" + (f"; did you mean {suggestion}?" if suggestion else ""),
            r.set_fix(path, suggestion)
            if suggestion
            else f"set {path} to an instance type EC2 offers in the region",
        )
        return None, None
    if not lookups:
        return None, None  # the region is wrong: every look-up would fail (reported there)
    facts = r.facts(path, instance_type)
    if facts == "error":
        return None, None
    if facts is None:
        suggestion = r.suggest_type(instance_type, hinted_arch)
        r.problem(
            path,
            f"EC2 does not know instance type {instance_type!r} in this region"
            + (f"; did you mean {suggestion}?" if suggestion else ""),
            r.set_fix(path, suggestion)
            if suggestion
            else "choose a type from `aws ec2 describe-instance-type-offerings "
            "--location-type region --query 'InstanceTypeOfferings[].InstanceType'`",
        )
        return None, None
    derived = it.derive_ami_type(facts)
    if explicit is None:
        return derived, facts.kubernetes_arch
    explicit = str(explicit)
    ami_key = f"{key}.amiType"
    if explicit not in it.eks_enum("AMITypes"):
        r.problem(
            ami_key,
            f"{_short(repr(explicit))} is not an EKS AMI type; leave it unset to derive {derived}",
            r.rm_fix(ami_key),
        )
    elif minor is not None and minor >= it.FIRST_MINOR_WITHOUT_AL2 and it.is_al2(explicit):
        r.problem(
            ami_key,
            f"{explicit} is an Amazon Linux 2 AMI; EKS publishes none for "
            f"Kubernetes 1.{it.FIRST_MINOR_WITHOUT_AL2}+ (use {derived})",
            r.set_fix(ami_key, derived),
        )
    elif it.ami_arch(explicit) not in (None, facts.kubernetes_arch):
        r.problem(
            ami_key,
            f"{explicit} is for {it.ami_arch(explicit)} but "
            f"{instance_type} is {facts.kubernetes_arch} (use {derived})",
            r.set_fix(ami_key, derived),
        )
    return explicit, facts.kubernetes_arch


# ---------------------------------------------------------------------------- GPU pool


def _gpu_pool(r: _Reader) -> GpuPoolSpec | None:
    before = len(r.problems)
    categories = r.strings("gpuInstanceCategories", ["g", "p"])
    if categories is not None:
        if not categories:
            r.problem(
                "gpuInstanceCategories",
                "must name at least one instance category",
                r.rm_fix("gpuInstanceCategories"),
            )
        for c in categories:
            if not CATEGORY_RE.fullmatch(c):
                r.problem(
                    "gpuInstanceCategories",
                    f"{_short(repr(c))} is not an instance category",
                    r.rm_fix("gpuInstanceCategories"),
                )
    families = r.strings("gpuInstanceFamilies", ["g6", "g5"])
    for f in families or []:
        if not FAMILY_RE.fullmatch(f):
            r.problem(
                "gpuInstanceFamilies",
                f"{_short(repr(f))} is not an instance family",
                r.rm_fix("gpuInstanceFamilies"),
            )
    capacity = r.strings("gpuCapacityTypes", ["on-demand"])
    if capacity is not None:
        if not capacity:
            r.problem(
                "gpuCapacityTypes",
                "must name at least one capacity type",
                r.rm_fix("gpuCapacityTypes"),
            )
        for c in capacity:
            if c not in KARPENTER_CAPACITY_TYPES:
                r.problem(
                    "gpuCapacityTypes",
                    f"{_short(repr(c))} is not a capacity type "
                    f"({', '.join(KARPENTER_CAPACITY_TYPES)})",
                    r.set_fix(
                        "gpuCapacityTypes",
                        [x for x in capacity if x in KARPENTER_CAPACITY_TYPES] or ["on-demand"],
                    ),
                )
    limits = {
        key: r.integer(key, example, 1, INT32_MAX)
        for key, example in (("gpuMaxGpus", 4), ("gpuMaxCpu", 96), ("gpuMaxMemoryGi", 768))
    }
    durations = {}
    for key, example in (("gpuConsolidateAfter", "5m"), ("gpuExpireAfter", "24h")):
        value = r.string(key, example)
        if value is not None and not DURATION_RE.fullmatch(value):
            r.problem(
                key,
                f"{_short(value)!r} is not a duration like 30s, 5m, 1h30m or Never",
                r.rm_fix(key),
            )
            value = None
        durations[key] = value
    name = r.string("gpuNodePoolName", "gpu-pool")
    if name is not None and not K8S_NAME_RE.fullmatch(name):
        r.problem(
            "gpuNodePoolName",
            f"{_short(name)!r} is not a Kubernetes object name",
            r.rm_fix("gpuNodePoolName"),
        )
    if len(r.problems) > before:
        return None
    return GpuPoolSpec(
        name=name,
        instance_categories=tuple(categories),
        instance_families=tuple(families),
        capacity_types=tuple(capacity),
        max_gpus=limits["gpuMaxGpus"],
        max_cpu=limits["gpuMaxCpu"],
        max_memory_gi=limits["gpuMaxMemoryGi"],
        consolidate_after=durations["gpuConsolidateAfter"],
        expire_after=durations["gpuExpireAfter"],
    )


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
    images = {}
    for key in ("gpuCheckImage", "efaCheckImage"):
        image = r.string(key, "") or ""
        if not image_pinned(image):
            r.problem(
                key,
                f"{_short(image)!r} must be pinned to a tag or digest (never latest)",
                r.rm_fix(key),
            )
        images[key] = image
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
        meant = _efa_type_for(r, pool) if lookups else None
        r.problem(
            "efaRequired",
            "is true but efaInstanceType is empty, so the EFA check runs without EFA and fails "
            "pulumi up after the cluster is built; name the EFA-capable type to launch"
            + (f" (e.g. {meant}, which the GPU pool can launch)" if meant else ""),
            r.set_fix("efaInstanceType", meant)
            if meant
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


def _distributed(
    r: _Reader, pool: GpuPoolSpec | None, efa_type: str, *, lookups: bool
) -> DistributedSpec:
    enabled = r.boolean("distributedCheck")
    image = r.string("distributedCheckImage", "") or ""
    if not image_pinned(image):
        r.problem(
            "distributedCheckImage",
            f"{_short(image)!r} must be pinned to a tag or digest (never latest)",
            r.rm_fix("distributedCheckImage"),
        )
    bound_text = r.string("distributedMinBusbwGBps", "0.1")
    bound = 0.0
    if bound_text is not None:
        if DECIMAL_RE.fullmatch(bound_text) and float(bound_text) <= MAX_BUSBW_GBPS:
            bound = float(bound_text)
        else:
            r.problem(
                "distributedMinBusbwGBps",
                f"must be a decimal number of GB/s from 0 to {MAX_BUSBW_GBPS:g}, got "
                f"{_short(bound_text)!r}",
                r.rm_fix("distributedMinBusbwGBps"),
            )
    required = r.boolean("distributedRequired")
    families = r.strings("distributedInstanceFamilies", ["g5", "g6"]) or []
    for f in families:
        if not FAMILY_RE.fullmatch(f):
            r.problem(
                "distributedInstanceFamilies",
                f"{_short(repr(f))} is not an instance family",
                r.rm_fix("distributedInstanceFamilies"),
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
        r.problem(
            "distributedInstanceFamilies",
            f"{', '.join(outside)} outside the GPU pool (gpuInstanceCategories "
            f"{list(pool.instance_categories)}, gpuInstanceFamilies "
            f"{list(pool.instance_families)}): the check's pods could never be scheduled",
            r.rm_fix("distributedInstanceFamilies"),
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


def _efa_type_for(r: _Reader, pool: GpuPoolSpec | None) -> str | None:
    """The first candidate that EC2 says has EFA and an NVIDIA GPU and that the pool can launch."""
    for name in EFA_CANDIDATES:
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
    # Removing the key runs the check without EFA (it reports EFA unavailable): always valid.
    fix = r.rm_fix(key)
    facts = r.facts(key, efa_type) if it.INSTANCE_TYPE_RE.fullmatch(efa_type) else None
    if facts == "error":
        return
    if facts is None:
        r.problem(key, f"EC2 does not know instance type {_short(efa_type)!r}", fix)
    elif not (facts.efa_supported and facts.has_nvidia_gpu):
        r.problem(key, f"{efa_type} is not an EFA-capable NVIDIA GPU type", fix)
    elif pool is not None and not it.pool_can_launch(pool, facts):
        # Its pod could never be scheduled: the Job would only fail at its deadline.
        r.problem(
            key,
            f"the GPU pool cannot launch {efa_type} ({facts.gpu_count} GPUs, {facts.vcpus} "
            f"vCPUs, {facts.memory_mib // 1024} GiB): it must be in gpuInstanceCategories/"
            f"gpuInstanceFamilies and fit gpuMaxGpus {pool.max_gpus}, gpuMaxCpu "
            f"{pool.max_cpu}, gpuMaxMemoryGi {pool.max_memory_gi}",
            fix,
        )


# ---------------------------------------------------------------------------- the program


def from_pulumi(lookup: it.InstanceLookup | None = None, catalog: Catalog | None = None) -> Reading:
    """Read the running program's configuration (what `pulumi up` or the offline harness set)."""
    import pulumi

    return read(
        program_values(),
        stack=pulumi.get_stack(),
        lookup=lookup or it.pulumi_lookup(),
        catalog=catalog or it.pulumi_catalog(),
    )
