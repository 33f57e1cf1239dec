"""The one configuration reader: Pulumi.yaml's schema in, a validated frozen `StackConfig` out."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from components import instance_types as it
from components.problems import ConfigError, Problem, set_command
from components.wellknown import PROJECT

PROJECT_FILE = Path(__file__).resolve().parents[1] / "Pulumi.yaml"

VERSION_RE = re.compile(r"^1\.(\d+)$")
# EKS: 1-100 characters, alphanumerics, hyphens and underscores, starting alphanumeric.
CLUSTER_NAME_RE = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
# EKS node group names: 1-63 characters of the same alphabet.
NODE_GROUP_NAME_RE = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,62}$")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
# The NodePool CRD's duration pattern for consolidateAfter / expireAfter.
DURATION_RE = re.compile(r"^(([0-9]+(s|m|h))+|Never)$")
CATEGORY_RE = re.compile(r"^[a-z]+$")
FAMILY_RE = re.compile(r"^[a-z][a-z0-9-]*$")
ARN_RE = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:[A-Za-z-]+/.+$")

# Kubernetes taint effect -> EKS API TaintEffect.
TAINT_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}
KARPENTER_CAPACITY_TYPES = ("on-demand", "spot", "reserved")


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
class ChecksSpec:
    run_id: str
    gpu_image: str
    efa_image: str
    efa_instance_type: str
    efa_required: bool
    timeout_seconds: int

    @property
    def efa_requested(self) -> bool:
        return bool(self.efa_instance_type)


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

    @property
    def minor_version(self) -> int:
        return int(self.kubernetes_version.split(".")[1])


def derive_cluster_name(stack: str) -> str:
    """`toe-<stack>`, reduced to the characters EKS accepts."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", stack).strip("-_") or "stack"
    return f"toe-{cleaned}"[:100]


ConfigGetter = Callable[[str], "str | None"]


class _Reader:
    """Reads raw values by the schema's types, collecting problems instead of raising."""

    def __init__(self, get: ConfigGetter, decls: Mapping[str, Declaration]) -> None:
        self._get = get
        self._decls = decls
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str, value: object) -> None:
        self.problems.append(Problem(key, message, set_command(key, value)))

    def value(self, key: str, example: object) -> Any:
        decl = self._decls[key]
        raw = self._get(key)
        if raw is None or (raw == "" and decl.type != "string"):
            if decl.has_default:
                return decl.default
            self.problem(key, "is required and not set", example)
            return None
        return self._coerce(decl, raw, example)

    def _coerce(self, decl: Declaration, raw: Any, example: object) -> Any:
        if not isinstance(raw, str):
            return raw
        if decl.type == "string":
            return raw
        if decl.type == "integer":
            try:
                return int(raw)
            except ValueError:
                self.problem(decl.key, f"must be an integer, got {raw!r}", example)
                return None
        if decl.type == "boolean":
            if raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            self.problem(decl.key, f"must be true or false, got {raw!r}", example)
            return None
        try:  # arrays and untyped (structured) values arrive as JSON
            return json.loads(raw)
        except json.JSONDecodeError:
            self.problem(decl.key, f"must be a JSON/YAML list, got {raw!r}", example)
            return None


def load(
    get: ConfigGetter,
    *,
    stack: str,
    region: str | None,
    lookup: it.InstanceLookup,
    decls: Mapping[str, Declaration] | None = None,
) -> StackConfig:
    """Read and validate the whole configuration; raise one ConfigError listing every problem."""
    decls = decls if decls is not None else schema()
    r = _Reader(get, decls)
    if not region:
        r.problems.append(
            Problem(
                "aws:region",
                "is required and not set",
                "pulumi config set aws:region ap-northeast-2",
            )
        )

    cluster_name = r.value("clusterName", "toe-attendee-01") or derive_cluster_name(stack)
    if not CLUSTER_NAME_RE.match(cluster_name):
        r.problem(
            "clusterName",
            f"{cluster_name!r} is not a valid EKS cluster name "
            "(1-100 letters, digits, '-' or '_', starting with a letter or digit)",
            "toe-attendee-01",
        )

    version = _text(r.value("kubernetesVersion", "1.33"))
    if version and not VERSION_RE.match(version):
        r.problem(
            "kubernetesVersion", f"{version!r} is not a Kubernetes MAJOR.MINOR version", "1.33"
        )
    version_match = VERSION_RE.match(version or "")
    minor = int(version_match.group(1)) if version_match else None

    vpc_name = _text(r.value("vpcName", "training-on-eks"))
    patterns = {}
    for key, example in (
        ("privateSubnetPattern", "TOE-priv-subnet-*"),
        ("publicSubnetPattern", "TOE-pub-subnet-*"),
    ):
        patterns[key] = _text(r.value(key, example))
        if patterns[key] is not None and not patterns[key].strip():
            r.problem(key, "is empty; it must match subnet Name tags (wildcards * and ?)", example)
    if vpc_name is not None and not vpc_name.strip():
        r.problem("vpcName", "is empty; it must be the VPC's Name tag", "training-on-eks")

    cidrs = tuple(_strings(r, "publicAccessCidrs", ["203.0.113.0/24"]))
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            r.problem("publicAccessCidrs", f"{cidr!r} is not a CIDR block", '["203.0.113.0/24"]')
    admins = tuple(_strings(r, "clusterAdminArns", ["arn:aws:iam::123456789012:role/Instructor"]))
    for arn in admins:
        if not ARN_RE.match(arn):
            r.problem(
                "clusterAdminArns",
                f"{arn!r} is not an IAM principal ARN",
                '["arn:aws:iam::123456789012:role/Instructor"]',
            )

    node_groups = _node_groups(r, minor, lookup)
    gpu_pool = _gpu_pool(r)
    checks = _checks(r, lookup, gpu_pool)

    if r.problems:
        raise ConfigError(stack, r.problems)
    return StackConfig(
        project=PROJECT,
        stack=stack,
        region=str(region),
        cluster_name=cluster_name,
        kubernetes_version=version,
        vpc_name=vpc_name,
        private_subnet_pattern=patterns["privateSubnetPattern"],
        public_subnet_pattern=patterns["publicSubnetPattern"],
        manage_subnet_role_tags=bool(r.value("manageSubnetRoleTags", "true")),
        endpoint_public_access=bool(r.value("endpointPublicAccess", "true")),
        public_access_cidrs=cidrs,
        cluster_admin_arns=admins,
        node_groups=node_groups,
        gpu_pool=gpu_pool,
        checks=checks,
        skip_account_checks=bool(r.value("skipAccountChecks", "false")),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _strings(r: _Reader, key: str, example: list[str]) -> list[str]:
    value = r.value(key, json.dumps(example))
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        r.problem(key, f"must be a list of strings, got {value!r}", json.dumps(example))
        return []
    return value


NODE_GROUP_EXAMPLE = (
    '[{"name":"ng-arm","instanceType":"c7g.2xlarge","minSize":2,"desiredSize":2,"maxSize":2}]'
)


def _node_groups(r: _Reader, minor: int | None, lookup: it.InstanceLookup) -> tuple:
    items = r.value("nodeGroups", NODE_GROUP_EXAMPLE)
    if items is None:
        return ()
    if not isinstance(items, list) or not items:
        r.problem("nodeGroups", "must be a non-empty list of node groups", NODE_GROUP_EXAMPLE)
        return ()
    seen: set[str] = set()
    groups = []
    for index, item in enumerate(items):
        group = _node_group(r, f"nodeGroups[{index}]", item, minor, lookup, seen)
        if group is not None:
            groups.append(group)
    return tuple(groups)


def _int_field(r: _Reader, key: str, item: Mapping, field: str, default: int | None) -> int | None:
    value = item.get(field, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        r.problem(f"{key}.{field}", f"must be an integer, got {value!r}", 2)
        return None
    if value < 0:
        r.problem(f"{key}.{field}", f"must not be negative, got {value}", 2)
        return None
    return value


def _node_group(r, key, item, minor, lookup, seen) -> NodeGroupSpec | None:
    if not isinstance(item, Mapping):
        r.problem(
            key, f"must be an object with name and instanceType, got {item!r}", NODE_GROUP_EXAMPLE
        )
        return None
    before = len(r.problems)
    name = str(item.get("name", ""))
    if not NODE_GROUP_NAME_RE.match(name):
        r.problem(
            f"{key}.name",
            f"{name!r} is not a valid node group name (1-63 letters, digits, '-' or '_')",
            "ng-arm",
        )
    elif name in seen:
        r.problem(
            f"{key}.name", f"duplicate node group name {name!r}; names must be unique", f"{name}-2"
        )
    seen.add(name)

    sizes = {f: _int_field(r, key, item, f, None) for f in ("minSize", "desiredSize", "maxSize")}
    if None not in sizes.values():
        lo, want, hi = sizes["minSize"], sizes["desiredSize"], sizes["maxSize"]
        if hi < 1:
            r.problem(f"{key}.maxSize", "must be at least 1", max(want, 1))
        elif not lo <= want <= hi:
            r.problem(
                f"{key}.desiredSize",
                f"sizes must satisfy minSize <= desiredSize <= maxSize, got {lo} / {want} / {hi}",
                min(max(want, lo), hi),
            )
    disk = _int_field(r, key, item, "diskSize", 50)
    if disk is not None and disk < 20:
        r.problem(f"{key}.diskSize", f"must be at least 20 GiB, got {disk}", 50)

    capacity = str(item.get("capacityType", "ON_DEMAND"))
    if capacity not in it.eks_enum("CapacityTypes"):
        r.problem(
            f"{key}.capacityType",
            f"{capacity!r} is not one of {', '.join(it.eks_enum('CapacityTypes'))}",
            "ON_DEMAND",
        )

    labels = item.get("labels") or {}
    if not isinstance(labels, Mapping):
        r.problem(f"{key}.labels", f"must be a map of label key to value, got {labels!r}", "{}")
        labels = {}
    for lk, lv in labels.items():
        if (
            not LABEL_KEY_RE.match(str(lk))
            or not LABEL_VALUE_RE.match(str(lv))
            or len(str(lv)) > 63
        ):
            r.problem(f"{key}.labels", f"{lk}={lv} is not a valid Kubernetes label", "{}")

    taints = []
    for ti, taint in enumerate(item.get("taints") or []):
        tkey = f"{key}.taints[{ti}]"
        if not isinstance(taint, Mapping) or not taint.get("key"):
            r.problem(tkey, f"must be an object with key, value and effect, got {taint!r}", "{}")
            continue
        effect = str(taint.get("effect", ""))
        if effect not in TAINT_EFFECTS:
            r.problem(
                f"{tkey}.effect",
                f"{effect!r} is not a taint effect ({', '.join(TAINT_EFFECTS)})",
                "NoSchedule",
            )
            continue
        taints.append(Taint(str(taint["key"]), str(taint.get("value", "")), effect))

    ami_type, arch = _resolve_ami(r, key, item, minor, lookup)
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
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        taints=tuple(taints),
        capacity_type=capacity,
        disk_size=disk,
    )


def _resolve_ami(r, key, item, minor, lookup) -> tuple[str | None, str | None]:
    instance_type = str(item.get("instanceType", ""))
    if not it.INSTANCE_TYPE_RE.match(instance_type):
        r.problem(
            f"{key}.instanceType",
            f"{instance_type!r} is not an EC2 instance type (family.size, e.g. c7g.2xlarge)",
            "c7g.2xlarge",
        )
        return None, None
    facts = lookup(instance_type)
    if facts is None:
        r.problem(
            f"{key}.instanceType",
            f"EC2 does not know instance type {instance_type!r} in this region",
            "c7g.2xlarge",
        )
        return None, None
    derived = it.derive_ami_type(facts)
    explicit = item.get("amiType")
    if explicit is None:
        return derived, facts.kubernetes_arch
    explicit = str(explicit)
    if explicit not in it.eks_enum("AMITypes"):
        r.problem(
            f"{key}.amiType",
            f"{explicit!r} is not an EKS AMI type; leave it unset to derive {derived}",
            derived,
        )
    elif minor is not None and minor >= it.FIRST_MINOR_WITHOUT_AL2 and it.is_al2(explicit):
        r.problem(
            f"{key}.amiType",
            f"{explicit} is an Amazon Linux 2 AMI; EKS publishes none for "
            f"Kubernetes 1.{it.FIRST_MINOR_WITHOUT_AL2}+ (use {derived})",
            derived,
        )
    elif it.ami_arch(explicit) not in (None, facts.kubernetes_arch):
        r.problem(
            f"{key}.amiType",
            f"{explicit} is for {it.ami_arch(explicit)} but "
            f"{instance_type} is {facts.kubernetes_arch} (use {derived})",
            derived,
        )
    return explicit, facts.kubernetes_arch


def _gpu_pool(r: _Reader) -> GpuPoolSpec:
    categories = _strings(r, "gpuInstanceCategories", ["g", "p"])
    if not categories:
        r.problem("gpuInstanceCategories", "must name at least one instance category", '["g","p"]')
    for c in categories:
        if not CATEGORY_RE.match(c):
            r.problem("gpuInstanceCategories", f"{c!r} is not an instance category", '["g","p"]')
    families = _strings(r, "gpuInstanceFamilies", ["g6", "g5"])
    for f in families:
        if not FAMILY_RE.match(f):
            r.problem("gpuInstanceFamilies", f"{f!r} is not an instance family", '["g6","g5"]')
    capacity = _strings(r, "gpuCapacityTypes", ["on-demand"])
    if not capacity:
        r.problem("gpuCapacityTypes", "must name at least one capacity type", '["on-demand"]')
    for c in capacity:
        if c not in KARPENTER_CAPACITY_TYPES:
            r.problem(
                "gpuCapacityTypes",
                f"{c!r} is not a capacity type ({', '.join(KARPENTER_CAPACITY_TYPES)})",
                '["on-demand"]',
            )
    limits = {}
    for key, example in (("gpuMaxGpus", 4), ("gpuMaxCpu", 96), ("gpuMaxMemoryGi", 768)):
        value = r.value(key, example)
        if value is not None and (not isinstance(value, int) or value < 1):
            r.problem(key, f"must be a positive integer, got {value!r}", example)
        limits[key] = value
    durations = {}
    for key, example in (("gpuConsolidateAfter", "5m"), ("gpuExpireAfter", "24h")):
        value = _text(r.value(key, example))
        if value is not None and not DURATION_RE.match(value):
            r.problem(key, f"{value!r} is not a duration like 30s, 5m, 1h30m or Never", example)
        durations[key] = value
    name = _text(r.value("gpuNodePoolName", "gpu-pool")) or ""
    if not re.match(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", name):
        r.problem("gpuNodePoolName", f"{name!r} is not a Kubernetes object name", "gpu-pool")
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


def _checks(r: _Reader, lookup: it.InstanceLookup, pool: GpuPoolSpec) -> ChecksSpec:
    run_id = _text(r.value("runId", "2")) or ""
    if not run_id or len(run_id) > 63 or not LABEL_VALUE_RE.match(run_id):
        r.problem("runId", f"{run_id!r} must be 1-63 letters, digits, '-', '_' or '.'", "2")
    images = {}
    for key, example in (
        ("gpuCheckImage", "nvidia/cuda:12.8.1-base-ubuntu24.04"),
        ("efaCheckImage", "public.ecr.aws/example/efa:1.0"),
    ):
        image = _text(r.value(key, example)) or ""
        tag = image.rsplit("/", 1)[-1]
        if "@sha256:" not in image and (":" not in tag or tag.endswith(":latest")):
            r.problem(key, f"{image!r} must be pinned to a tag or digest (never latest)", example)
        images[key] = image
    efa_type = _text(r.value("efaInstanceType", "g6.8xlarge")) or ""
    if efa_type:
        facts = lookup(efa_type) if it.INSTANCE_TYPE_RE.match(efa_type) else None
        if facts is None:
            r.problem(
                "efaInstanceType", f"EC2 does not know instance type {efa_type!r}", "g6.8xlarge"
            )
        elif not (facts.efa_supported and facts.has_nvidia_gpu):
            r.problem(
                "efaInstanceType", f"{efa_type} is not an EFA-capable NVIDIA GPU type", "g6.8xlarge"
            )
        elif None not in (pool.max_gpus, pool.max_cpu, pool.max_memory_gi) and not (
            it.pool_can_launch(pool, facts)
        ):
            # Its pod could never be scheduled: the Job would only fail at its deadline.
            r.problem(
                "efaInstanceType",
                f"the GPU pool cannot launch {efa_type} ({facts.gpu_count} GPUs, {facts.vcpus} "
                f"vCPUs, {facts.memory_mib // 1024} GiB): it must be in gpuInstanceCategories/"
                f"gpuInstanceFamilies and fit gpuMaxGpus {pool.max_gpus}, gpuMaxCpu "
                f"{pool.max_cpu}, gpuMaxMemoryGi {pool.max_memory_gi}",
                "g6.8xlarge",
            )
    timeout = r.value("checkTimeoutSeconds", 1500)
    if timeout is not None and (not isinstance(timeout, int) or timeout < 300):
        r.problem(
            "checkTimeoutSeconds",
            f"must be at least 300 (a GPU node launch and image "
            f"pull take minutes), got {timeout!r}",
            1500,
        )
    return ChecksSpec(
        run_id=run_id,
        gpu_image=images["gpuCheckImage"],
        efa_image=images["efaCheckImage"],
        efa_instance_type=efa_type,
        efa_required=bool(r.value("efaRequired", "false")),
        timeout_seconds=timeout if isinstance(timeout, int) else 1500,
    )


def from_pulumi(lookup: it.InstanceLookup | None = None) -> StackConfig:
    """Read the running program's configuration (what `pulumi up` or the offline harness set)."""
    import pulumi

    project_config = pulumi.Config()
    return load(
        project_config.get,
        stack=pulumi.get_stack(),
        region=pulumi.Config("aws").get("region"),
        lookup=lookup or it.pulumi_lookup(),
    )
