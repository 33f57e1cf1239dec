"""The CrossGuard policies of the training-on-eks stack: pure validators and the POLICIES list."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from core import wellknown as wk
from core.eks_versions import HOURS_PER_MONTH, load_eks_table
from core.images import image_pinned
from core.instance_types import (
    FIRST_MINOR_WITHOUT_AL2,
    INSTANCE_TYPE_RE,
    ami_arch,
    family,
    is_al2,
)

PACK_NAME = "training-on-eks"

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

# Type tokens: what a mock run shows (pulumi-eks remote components register once, with their
# camelCase inputs) and what the real engine shows (the components' aws children). Under the real
# engine the components themselves reach the analyzer with no inputs (the provider registers them
# inside Construct) and with their outputs at AnalyzeStack, as the rehearsal (`make e2e`) showed:
# a component view is read only when its inputs are there.
MOCK_CLUSTER = "eks:index:Cluster"
ENGINE_CLUSTER = "aws:eks/cluster:Cluster"
MOCK_NODE_GROUP = "eks:index:ManagedNodeGroup"
ENGINE_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ENGINE_ADDON = "aws:eks/addon:Addon"
SUBNET_TAG = "aws:ec2/tag:Tag"

MAX_CONSOLIDATE_AFTER_SECONDS = 30 * 60
MAX_JOB_BACKOFF_LIMIT = 3

# Images allowed to run as root. The AWS Deep Learning Containers (registry account 763104351884)
# run as root by design and the EFA check's libfabric opens the EFA device files, which the device
# plugin hands to root only; every other image must run as a non-root user.
ROOT_ALLOWED_IMAGES = (re.compile(r"^763104351884\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/"),)

GPU_CATEGORIES = frozenset({"g", "p"})
GPU_CATEGORIES_PREFIXES = tuple(sorted(GPU_CATEGORIES))
LABEL_DOMAINS = ("eks.amazonaws.com/", "karpenter.k8s.aws/")


# ---------------------------------------------------------------------------- reading props


def _get(value: Any, *path: str) -> Any:
    """The value at `path` inside nested mappings; None where a step is missing."""
    for step in path:
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _list(value: Any) -> list:
    return list(value) if _is_list(value) else []


def _map(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _minor(version: Any) -> tuple[int, int] | None:
    """(major, minor) of a `MAJOR.MINOR` Kubernetes version string."""
    match = re.match(r"^(\d+)\.(\d+)", str(version or ""))
    return (int(match[1]), int(match[2])) if match else None


def _version_text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


# ---------------------------------------------------------------------------- instance types


def is_graviton(instance_type: str) -> bool:
    """Whether an EC2 instance type is Graviton (arm64), from its name alone.

    Graviton families have a `g` right after the generation digit (c7g, m7gd, r8g, t4g, g5g,
    c7gn, im4gn, is4gen); `a1` (Graviton 1) is the one exception. Instance data cannot be looked
    up while the pack runs, so this pure rule stands in (tested against moto's EC2 data).
    """
    name = family(instance_type)
    return name == "a1" or re.fullmatch(r"[a-z]+\d+g[a-z0-9-]*", name) is not None


def instance_arch(instance_type: str) -> str | None:
    """`arm64` or `amd64` for a well-formed instance type name, None otherwise."""
    if not INSTANCE_TYPE_RE.match(instance_type):
        return None
    return "arm64" if is_graviton(instance_type) else "amd64"


# ---------------------------------------------------------------------------- durations


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def duration_seconds(text: Any) -> float | None:
    """Seconds of a Go/Karpenter duration (`30s`, `5m`, `1h30m`); None for `Never` or garbage."""
    text = str(text or "")
    if not text or _DURATION_PART.sub("", text) != "":
        return None
    return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text))


# ---------------------------------------------------------------------------- EKS views


@dataclass(frozen=True)
class ClusterView:
    """One EKS cluster, from either the mock's component inputs or the engine's aws resource."""

    urn: str
    mock: bool  # the mock view (pulumi-eks component inputs) rather than the engine's resource
    name: str | None
    version: tuple[int, int] | None
    private_access: bool
    public_access: bool
    public_cidrs: tuple[str, ...]
    private_subnets: frozenset[str] | None  # None when the view does not say (engine)
    public_subnets: frozenset[str]
    auto_mode: bool
    default_vpc_cni: bool | None  # mock view only
    kube_proxy_addon: bool | None  # mock view only


def cluster_view(resource_type: str, urn: str, props: Mapping) -> ClusterView | None:
    if resource_type == MOCK_CLUSTER and "vpcId" in props:
        public_access = props.get("endpointPublicAccess")
        return ClusterView(
            urn=urn,
            mock=True,
            name=props.get("name"),
            version=_minor(props.get("version")),
            # pulumi-eks defaults: private access off, public access on, open to 0.0.0.0/0.
            private_access=props.get("endpointPrivateAccess") is True,
            public_access=public_access is not False,
            public_cidrs=tuple(_list(props.get("publicAccessCidrs")) or ["0.0.0.0/0"]),
            private_subnets=(
                frozenset(_list(props["privateSubnetIds"])) if "privateSubnetIds" in props else None
            ),
            public_subnets=frozenset(_list(props.get("publicSubnetIds"))),
            auto_mode=_get(props, "autoMode", "enabled") is True,
            default_vpc_cni=props.get("useDefaultVpcCni"),
            kube_proxy_addon=_get(props, "kubeProxyAddonOptions", "enabled"),
        )
    if resource_type == ENGINE_CLUSTER:
        vpc = _map(props.get("vpcConfig"))
        return ClusterView(
            urn=urn,
            mock=False,
            name=props.get("name"),
            version=_minor(props.get("version")),
            # AWS defaults: private access off, public access on, open to 0.0.0.0/0.
            private_access=vpc.get("endpointPrivateAccess") is True,
            public_access=vpc.get("endpointPublicAccess") is not False,
            public_cidrs=tuple(_list(vpc.get("publicAccessCidrs")) or ["0.0.0.0/0"]),
            private_subnets=None,
            public_subnets=frozenset(),
            auto_mode=_get(props, "computeConfig", "enabled") is True,
            default_vpc_cni=None,
            kube_proxy_addon=None,
        )
    return None


@dataclass(frozen=True)
class NodeGroupView:
    urn: str
    name: str
    cluster_ref: str | None  # the cluster's URN (mock) or name (engine)
    ami_type: str | None
    instance_types: tuple[str, ...]
    subnet_ids: tuple[str, ...]


def node_group_view(
    resource_type: str, urn: str, name: str, props: Mapping
) -> NodeGroupView | None:
    if resource_type not in (MOCK_NODE_GROUP, ENGINE_NODE_GROUP):
        return None
    if resource_type == MOCK_NODE_GROUP and "cluster" not in props:  # the engine's view of it
        return None
    cluster = props.get("cluster") if resource_type == MOCK_NODE_GROUP else props.get("clusterName")
    if isinstance(cluster, Mapping):  # a resource reference
        cluster = cluster.get("urn")
    return NodeGroupView(
        urn=urn,
        name=str(props.get("nodeGroupName") or name),
        cluster_ref=cluster if isinstance(cluster, str) else None,
        ami_type=props.get("amiType"),
        instance_types=tuple(str(t) for t in _list(props.get("instanceTypes"))),
        subnet_ids=tuple(str(s) for s in _list(props.get("subnetIds"))),
    )


def _clusters(args: StackValidationArgs) -> list[ClusterView]:
    found = (cluster_view(r.resource_type, r.urn, r.props) for r in args.resources)
    return [c for c in found if c is not None]


def _node_groups(args: StackValidationArgs) -> list[NodeGroupView]:
    found = (node_group_view(r.resource_type, r.urn, r.name, r.props) for r in args.resources)
    return [g for g in found if g is not None]


def _owner(group: NodeGroupView, clusters: list[ClusterView]) -> ClusterView | None:
    """The cluster a node group belongs to: by URN or name, or the stack's only cluster."""
    for cluster in clusters:
        if group.cluster_ref is not None and group.cluster_ref in (cluster.urn, cluster.name):
            return cluster
    return clusters[0] if len(clusters) == 1 else None


# ---------------------------------------------------------------------------- Kubernetes views


def k8s_kind(resource_type: str, props: Mapping) -> str | None:
    """The Kubernetes kind of a `kubernetes:...` resource (from props, else the type token)."""
    if not resource_type.startswith("kubernetes:"):
        return None
    kind = props.get("kind")
    return str(kind) if kind else resource_type.rsplit(":", 1)[-1]


def is_nodepool(resource_type: str, props: Mapping) -> bool:
    api = str(props.get("apiVersion") or "")
    return k8s_kind(resource_type, props) == "NodePool" and api.startswith("karpenter.sh/")


_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Job": ("spec", "template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def pod_spec(resource_type: str, props: Mapping) -> Mapping | None:
    """The pod spec of a Pod or of a workload's pod template."""
    path = _TEMPLATE_PATHS.get(k8s_kind(resource_type, props) or "")
    spec = _get(props, *path) if path else None
    return spec if isinstance(spec, Mapping) else None


def containers(spec: Mapping) -> Iterator[Mapping]:
    for key in ("initContainers", "containers"):
        for container in _list(spec.get(key)):
            if isinstance(container, Mapping):
                yield container


def _requirements(props: Mapping) -> list[Mapping]:
    reqs = _list(_get(props, "spec", "template", "spec", "requirements"))
    return [r for r in reqs if isinstance(r, Mapping)]


def _label(key: Any, name: str) -> bool:
    """Whether a requirement key is the Auto Mode or Karpenter label `<domain>/<name>`."""
    return any(key == f"{domain}{name}" for domain in LABEL_DOMAINS)


def _values(req: Mapping) -> list[str]:
    return [str(v) for v in _list(req.get("values"))]


def nodepool_can_launch_gpus(props: Mapping) -> bool:
    """Whether a NodePool's requirements or limits let it launch NVIDIA GPU instances."""
    if wk.RESOURCE_GPU in _map(_get(props, "spec", "limits")):
        return True
    for req in _requirements(props):
        key, op, values = req.get("key"), req.get("operator"), _values(req)
        if _label(key, "instance-category") and op == "In" and GPU_CATEGORIES & set(values):
            return True
        names = _label(key, "instance-family") or key == wk.LABEL_INSTANCE_TYPE
        if names and op == "In" and any(v.startswith(GPU_CATEGORIES_PREFIXES) for v in values):
            return True
        if _label(key, "instance-gpu-count") and (
            op in ("Gt", "Exists") or (op == "In" and any(v != "0" for v in values))
        ):
            return True
        gpu_label = _label(key, "instance-gpu-name") or _label(key, "instance-gpu-manufacturer")
        if gpu_label and op in ("In", "Exists"):
            return True
    return False


def _nodepool_name(props: Mapping, fallback: str) -> str:
    return str(_get(props, "metadata", "name") or fallback)


def _taints(props: Mapping) -> list[Mapping]:
    taints = _list(_get(props, "spec", "template", "spec", "taints"))
    return [t for t in taints if isinstance(t, Mapping)]


def _tolerates(tolerations: list[Mapping], taint: Mapping) -> bool:
    """Kubernetes' toleration matching (k8s.io/api core/v1 Toleration.ToleratesTaint)."""
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        operator = tol.get("operator") or "Equal"
        if not tol.get("key"):
            if operator == "Exists":
                return True
            continue
        if tol.get("key") != taint.get("key"):
            continue
        if operator == "Exists" or (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _requests_gpu(spec: Mapping) -> bool:
    for container in containers(spec):
        resources = _map(container.get("resources"))
        for section in ("requests", "limits"):
            if wk.RESOURCE_GPU in _map(resources.get(section)):
                return True
    return False


def _gpus_requested(spec: Mapping) -> float:
    total = 0.0
    for container in containers(spec):
        resources = _map(container.get("resources"))
        value = _map(resources.get("limits")).get(wk.RESOURCE_GPU) or _map(
            resources.get("requests")
        ).get(wk.RESOURCE_GPU)
        try:
            total += float(value or 0)
        except (TypeError, ValueError):
            continue
    return total


def validate_gpu_jobs_fit_pool(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """The GPU Jobs that run at once (every pod of an Indexed Job, e.g. the distributed check)
    must fit the GPU limit of the NodePool they select, or a pod stays Pending to its deadline."""
    limits: dict[str, tuple[float, str]] = {}
    for r in args.resources:
        if is_nodepool(r.resource_type, r.props) and nodepool_can_launch_gpus(r.props):
            value = _map(_get(r.props, "spec", "limits")).get(wk.RESOURCE_GPU)
            try:
                limits[_nodepool_name(r.props, r.name)] = (float(value), r.urn)
            except (TypeError, ValueError):
                continue
    wanted: dict[str, list[tuple[str, float]]] = {}
    for r in args.resources:
        if k8s_kind(r.resource_type, r.props) != "Job":
            continue
        spec = pod_spec(r.resource_type, r.props) or {}
        pool = _map(spec.get("nodeSelector")).get(wk.LABEL_NODEPOOL)
        gpus = _gpus_requested(spec)
        if pool in limits and gpus:
            pods = float(_get(r.props, "spec", "parallelism") or 1)
            wanted.setdefault(pool, []).append((r.name, gpus * pods))
    for pool, jobs in wanted.items():
        need = sum(n for _, n in jobs)
        limit, urn = limits[pool]
        if need > limit:
            listed = ", ".join(f"{name} {n:g}" for name, n in jobs)
            report_violation(
                f"The GPU Jobs selecting NodePool {pool} need {need:g} GPUs at once ({listed}) "
                f"but its spec.limits allow {limit:g}: a pod stays Pending until its "
                f"deadline. Raise the limit (config gpuMaxGpus {need:g} or more) or turn the "
                "distributed check off (config distributedCheck false).",
                urn,
            )


def _taint_text(taint: Mapping) -> str:
    value = f"={taint.get('value')}" if taint.get("value") else ""
    return f"{taint.get('key')}{value}:{taint.get('effect')}"


# ---------------------------------------------------------------------------- policy 1


def validate_node_group_ami_architecture(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    group = node_group_view(args.resource_type, args.urn, args.name, args.props)
    if group is None:
        return
    arches = {t: instance_arch(t) for t in group.instance_types}
    if len(set(arches.values()) - {None}) > 1:
        report_violation(
            f"Node group {group.name} mixes arm64 and x86 instance types "
            f"({', '.join(group.instance_types)}); one AMI cannot boot both. Split it into one "
            "node group per architecture.",
            None,
        )
        return
    if group.ami_type is None:
        if "arm64" in arches.values():
            report_violation(
                f"Node group {group.name} runs Graviton instances "
                f"({', '.join(group.instance_types)}) without an amiType, and EKS then boots an "
                "x86 AMI. Set amiType to AL2023_ARM_64_STANDARD.",
                None,
            )
        return
    wanted = ami_arch(str(group.ami_type))
    if wanted is None:  # CUSTOM: the launch template's AMI decides
        return
    for instance_type, arch in arches.items():
        if arch is not None and arch != wanted:
            fix = "AL2023_ARM_64_STANDARD" if arch == "arm64" else "AL2023_x86_64_STANDARD"
            kind = "a Graviton (arm64)" if arch == "arm64" else "an x86 (amd64)"
            report_violation(
                f"Node group {group.name} uses amiType {group.ami_type} ({wanted}) but "
                f"{instance_type} is {kind} instance type, so its nodes cannot boot. Set amiType "
                f"to {fix} (or the _NVIDIA variant for GPU types).",
                None,
            )


def validate_no_al2_from_1_33(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    clusters = _clusters(args)
    for group in _node_groups(args):
        cluster = _owner(group, clusters)
        if cluster is None or cluster.version is None or group.ami_type is None:
            continue
        if is_al2(str(group.ami_type)) and cluster.version >= (1, FIRST_MINOR_WITHOUT_AL2):
            arch = "ARM_64" if ami_arch(str(group.ami_type)) == "arm64" else "x86_64"
            report_violation(
                f"Node group {group.name} uses the Amazon Linux 2 AMI type {group.ami_type} on "
                f"Kubernetes {_version_text(cluster.version)}, but EKS publishes no AL2 AMIs after "
                f"1.32. Use AL2023_{arch}_STANDARD (or AL2023_{arch}_NVIDIA for GPU types).",
                group.urn,
            )


# ---------------------------------------------------------------------------- policy 2


def _public_subnets(args: StackValidationArgs, clusters: list[ClusterView]) -> set[str]:
    public: set[str] = set()
    for cluster in clusters:
        public |= cluster.public_subnets
    for r in args.resources:
        if r.resource_type == SUBNET_TAG and r.props.get("key") == wk.TAG_ROLE_ELB:
            public.add(str(r.props.get("resourceId")))
    return public


def validate_node_groups_private(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    clusters = _clusters(args)
    public = _public_subnets(args, clusters)
    for group in _node_groups(args):
        exposed = [s for s in group.subnet_ids if s in public]
        if exposed:
            report_violation(
                f"Node group {group.name} is placed in public subnets ({', '.join(exposed)}), "
                "which put its nodes next to internet-facing load balancers. Place node groups in "
                "the private subnets only (privateSubnetPattern must match no public subnet).",
                group.urn,
            )
            continue
        cluster = _owner(group, clusters)
        if cluster is None or cluster.private_subnets is None:
            continue
        foreign = [s for s in group.subnet_ids if s not in cluster.private_subnets]
        if foreign:
            report_violation(
                f"Node group {group.name} uses subnets {', '.join(foreign)} that are not the "
                "cluster's private subnets. Pass the cluster's privateSubnetIds as subnetIds.",
                group.urn,
            )


# ---------------------------------------------------------------------------- policies 3 and 4


def validate_gpu_nodepool_guardrails(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    props = args.props
    if not is_nodepool(args.resource_type, props) or not nodepool_can_launch_gpus(props):
        return
    name = _nodepool_name(props, args.name)
    if not any(t.get("effect") == "NoSchedule" for t in _taints(props)):
        report_violation(
            f"GPU NodePool {name} has no NoSchedule taint, so any pod can land on (and keep alive) "
            f"an expensive GPU node. Add spec.template.spec.taints "
            f"[{{key: {wk.GPU_TAINT_KEY}, effect: NoSchedule}}].",
            None,
        )
    limits = _map(_get(props, "spec", "limits"))
    if not (wk.RESOURCE_GPU in limits or "cpu" in limits):
        report_violation(
            f"GPU NodePool {name} has no spec.limits on {wk.RESOURCE_GPU} or cpu, so it can "
            "launch GPU nodes without bound. Set spec.limits (e.g. nvidia.com/gpu: 4, cpu: 96).",
            None,
        )
    after = _get(props, "spec", "disruption", "consolidateAfter")
    seconds = duration_seconds(after)
    if seconds is None or seconds > MAX_CONSOLIDATE_AFTER_SECONDS:
        shown = "unset" if after is None else repr(after)
        report_violation(
            f"GPU NodePool {name} has spec.disruption.consolidateAfter {shown}: empty GPU nodes "
            "must be removed within 30m or they bill idle. Set consolidateAfter to 30m or less "
            "(e.g. 5m, config gpuConsolidateAfter).",
            None,
        )


def validate_gpu_nodepool_p_bounded(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    props = args.props
    if not is_nodepool(args.resource_type, props) or not nodepool_can_launch_gpus(props):
        return
    reqs = _requirements(props)
    categories = [r for r in reqs if _label(r.get("key"), "instance-category")]
    allows_p = not categories or any(
        r.get("operator") == "In" and "p" in _values(r) for r in categories
    )
    bounded = any(
        (_label(r.get("key"), "instance-family") and r.get("operator") == "In")
        or (_label(r.get("key"), "instance-size") and r.get("operator") in ("In", "NotIn"))
        or (r.get("key") == wk.LABEL_INSTANCE_TYPE and r.get("operator") == "In")
        for r in reqs
    )
    if allows_p and not bounded:
        report_violation(
            f"GPU NodePool {_nodepool_name(props, args.name)} allows p instances with no family "
            "or size bound, so one pending pod can launch a p5.48xlarge (8 H100 GPUs, tens "
            "of dollars an hour). Bound it with an instance-family requirement (config "
            'gpuInstanceFamilies, e.g. ["g5","g6"]) or drop p from gpuInstanceCategories.',
            None,
        )


# ---------------------------------------------------------------------------- policy 5


def validate_jobs_bounded(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    props = args.props
    if k8s_kind(args.resource_type, props) != "Job":
        return
    name = str(_get(props, "metadata", "name") or args.name)
    spec = _map(props.get("spec"))
    pod = pod_spec(args.resource_type, props) or {}
    restart = pod.get("restartPolicy")
    if restart not in ("Never", "OnFailure"):
        report_violation(
            f"Job {name} has restartPolicy {restart!r}; a Job's pods must not restart forever. "
            "Set spec.template.spec.restartPolicy to Never (or OnFailure).",
            None,
        )
    backoff = spec.get("backoffLimit")
    if backoff is None or float(backoff) > MAX_JOB_BACKOFF_LIMIT:
        shown = "unset (Kubernetes default 6)" if backoff is None else f"{backoff:g}"
        report_violation(
            f"Job {name} has backoffLimit {shown}; each retry can hold a GPU node. Set "
            f"spec.backoffLimit to {MAX_JOB_BACKOFF_LIMIT} or less.",
            None,
        )
    if not spec.get("activeDeadlineSeconds"):
        report_violation(
            f"Job {name} has no spec.activeDeadlineSeconds, so a stuck pod runs (and bills) "
            "forever. Set activeDeadlineSeconds (e.g. config checkTimeoutSeconds).",
            None,
        )
    if wk.ANNOTATION_TIMEOUT not in _map(_get(props, "metadata", "annotations")):
        report_violation(
            f"Job {name} has no {wk.ANNOTATION_TIMEOUT} annotation, so `pulumi up` gives up "
            "after the default 10 minutes, before a GPU node has launched. Annotate it with "
            "the Job's deadline plus a margin.",
            None,
        )
    for container in containers(pod):
        image = str(container.get("image") or "")
        if not image_pinned(image):
            report_violation(
                f"Job {name} container {container.get('name')} uses image {image!r}, which is "
                "not pinned: reruns may pull a different image. Pin it to a version tag or a "
                "@sha256 digest, never latest.",
                None,
            )


# ---------------------------------------------------------------------------- policy 6


def _gpu_pool_taints(args: StackValidationArgs) -> dict[str, list[Mapping]]:
    """Scheduling taints of every GPU NodePool in the stack, by NodePool name."""
    pools: dict[str, list[Mapping]] = {}
    for r in args.resources:
        if is_nodepool(r.resource_type, r.props) and nodepool_can_launch_gpus(r.props):
            pools[_nodepool_name(r.props, r.name)] = [
                t for t in _taints(r.props) if t.get("effect") in ("NoSchedule", "NoExecute")
            ]
    return pools


def validate_gpu_pods_tolerate(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    pools = _gpu_pool_taints(args)
    if not pools:
        pools = {"(default)": [{"key": wk.GPU_TAINT_KEY, "effect": wk.GPU_TAINT_EFFECT}]}
    for r in args.resources:
        spec = pod_spec(r.resource_type, r.props)
        if spec is None or not _requests_gpu(spec):
            continue
        tolerations = [t for t in _list(spec.get("tolerations")) if isinstance(t, Mapping)]
        # EKS's ExtendedResourceToleration admission plugin adds this one to every pod that
        # requests nvidia.com/gpu (FACTS.md, "EKS and node groups").
        tolerations.append({"key": wk.RESOURCE_GPU, "operator": "Exists"})
        selected = _map(spec.get("nodeSelector")).get(wk.LABEL_NODEPOOL)
        candidates = {selected: pools[selected]} if selected in pools else pools
        if any(all(_tolerates(tolerations, t) for t in taints) for taints in candidates.values()):
            continue
        missing = sorted(
            {
                _taint_text(t)
                for taints in candidates.values()
                for t in taints
                if not _tolerates(tolerations, t)
            }
        )
        report_violation(
            f"{k8s_kind(r.resource_type, r.props)} {r.name} requests {wk.RESOURCE_GPU} but does "
            f"not tolerate the GPU pool's taint {', '.join(missing)}, so it stays Pending. Add a "
            "toleration {key: <taint key>, operator: Exists, effect: NoSchedule} to its pod "
            "template (EKS adds one only for nvidia.com/gpu taints).",
            r.urn,
        )


# ---------------------------------------------------------------------------- policy 7


def validate_auto_mode_addons(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    clusters = _clusters(args)
    groups = _node_groups(args)
    addons: dict[str | None, set[str]] = {}
    for r in args.resources:
        if r.resource_type == ENGINE_ADDON:
            addons.setdefault(r.props.get("clusterName"), set()).add(str(r.props.get("addonName")))
    for cluster in clusters:
        if not cluster.auto_mode or not any(_owner(g, clusters) is cluster for g in groups):
            continue
        missing: list[str] = []
        if cluster.mock:
            if cluster.default_vpc_cni is not False:
                missing.append("vpc-cni (set useDefaultVpcCni: false)")
            if cluster.kube_proxy_addon is not True:
                missing.append("kube-proxy (set kubeProxyAddonOptions.enabled: true)")
        else:
            names = addons.get(cluster.name, set()) | (
                addons.get(None, set()) if len(clusters) == 1 else set()
            )
            missing = [a for a in ("vpc-cni", "kube-proxy") if a not in names]
        if missing:
            report_violation(
                f"Auto Mode cluster {cluster.name} has managed node groups but lacks the "
                f"{' and '.join(missing)} add-on: pulumi-eks skips them under Auto Mode, and "
                "without them the node groups' nodes never join. Enable both add-ons.",
                cluster.urn,
            )


# ---------------------------------------------------------------------------- policy 8


def validate_standard_support(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    cluster = cluster_view(args.resource_type, args.urn, args.props)
    if cluster is None or cluster.version is None:
        return
    version = _version_text(cluster.version)
    # After the end of standard support a cluster runs in extended support, and its control plane
    # is billed at the extended rate. Versions the calendar does not list are not reported.
    table = load_eks_table()
    dates = table.versions.get(version)
    configured = args.get_config().get("today")
    today = date.fromisoformat(str(configured)) if configured else date.today()
    if dates is None or dates.phase(today) == "standard":
        return
    if dates.phase(today) == "ended":
        report_violation(
            f"Kubernetes {version} left EKS extended support on "
            f"{dates.end_of_extended.isoformat()}: EKS creates no new cluster of it and upgrades "
            "existing ones itself. Choose a version in standard support.",
            None,
        )
        return
    extra = table.extended_extra_per_month
    report_violation(
        f"Kubernetes {version} left EKS standard support on {dates.end_of_standard.isoformat()}; "
        f"this cluster runs in extended support until {dates.end_of_extended.isoformat()}, billed "
        f"at ${table.extended_price:.2f} instead of ${table.standard_price:.2f} per cluster-hour "
        f"(about ${extra:,.0f} more a {HOURS_PER_MONTH}-hour month). Plan the upgrade to a "
        "version in standard support.",
        None,
    )


# ---------------------------------------------------------------------------- policy 9


def validate_containers_hardened(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    kind = k8s_kind(args.resource_type, args.props)
    pod_seccomp = _get(spec, "securityContext", "seccompProfile", "type")
    for container in containers(spec):
        ctx = _map(container.get("securityContext"))
        where = f"{kind} {args.name} container {container.get('name')}"
        if ctx.get("allowPrivilegeEscalation") is not False:
            report_violation(
                f"{where} may escalate privileges. Set securityContext.allowPrivilegeEscalation: "
                "false.",
                None,
            )
        drop = [str(c) for c in _list(_get(ctx, "capabilities", "drop"))]
        if "ALL" not in drop:
            report_violation(
                f"{where} keeps Linux capabilities. Set securityContext.capabilities.drop: [ALL].",
                None,
            )
        seccomp = _get(ctx, "seccompProfile", "type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            report_violation(
                f"{where} runs without a seccomp profile. Set seccompProfile.type: "
                "RuntimeDefault on the pod (or the container) securityContext.",
                None,
            )


def root_allowed(image: str) -> bool:
    return any(p.match(image) for p in ROOT_ALLOWED_IMAGES)


def validate_non_root(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    kind = k8s_kind(args.resource_type, args.props)
    pod_ctx = _map(spec.get("securityContext"))
    for container in containers(spec):
        ctx = _map(container.get("securityContext"))
        non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        user = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
        if non_root is True or (user is not None and float(user) > 0):
            continue
        image = str(container.get("image") or "")
        if root_allowed(image):
            continue
        report_violation(
            f"{kind} {args.name} container {container.get('name')} may run as root "
            f"(image {image}). Set securityContext.runAsNonRoot: true and a runAsUser, or add "
            "the image to ROOT_ALLOWED_IMAGES in policies/rules.py with the reason it needs root.",
            None,
        )


def validate_private_endpoint(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    cluster = cluster_view(args.resource_type, args.urn, args.props)
    if cluster is not None and not cluster.private_access:
        report_violation(
            f"Cluster {cluster.name or args.name} has private endpoint access off, so nodes reach "
            "the API server over the internet. Set endpointPrivateAccess: true.",
            None,
        )


def validate_public_endpoint(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    cluster = cluster_view(args.resource_type, args.urn, args.props)
    if cluster is None or not cluster.public_access:
        return
    if "0.0.0.0/0" in cluster.public_cidrs:
        report_violation(
            f"Cluster {cluster.name or args.name} has its public API endpoint open to 0.0.0.0/0. "
            "Narrow publicAccessCidrs to the venue's egress range (config publicAccessCidrs) or "
            "set endpointPublicAccess: false.",
            None,
        )


# ---------------------------------------------------------------------------- the pack

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="node-group-ami-architecture",
        description="A node group's AMI type matches the architecture of its instance types.",
        validate=validate_node_group_ami_architecture,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="no-al2-ami-from-kubernetes-1-33",
        description="Node groups do not use Amazon Linux 2 AMI types on Kubernetes 1.33 or later.",
        validate=validate_no_al2_from_1_33,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="node-groups-in-private-subnets",
        description="Node groups are placed only in the stack's private subnets.",
        validate=validate_node_groups_private,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="gpu-nodepool-guardrails",
        description=(
            "A NodePool that can launch GPU instances has a NoSchedule taint, limits and "
            "consolidateAfter of 30m or less."
        ),
        validate=validate_gpu_nodepool_guardrails,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="gpu-nodepool-p-instances-bounded",
        description="A GPU NodePool that allows p instances bounds their family or size.",
        validate=validate_gpu_nodepool_p_bounded,
        enforcement_level=ADVISORY,
    ),
    ResourceValidationPolicy(
        name="jobs-bounded",
        description=(
            "Jobs never restart in place, retry at most 3 times, have a deadline and an await "
            "timeout, and use pinned images."
        ),
        validate=validate_jobs_bounded,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="gpu-pods-tolerate-gpu-taint",
        description="A pod template that requests nvidia.com/gpu tolerates the GPU pool's taint.",
        validate=validate_gpu_pods_tolerate,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="gpu-jobs-fit-gpu-pool",
        description="The GPU Jobs that run at once fit the GPU limit of the NodePool they select.",
        validate=validate_gpu_jobs_fit_pool,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="auto-mode-node-group-addons",
        description=(
            "An Auto Mode cluster with managed node groups enables the vpc-cni and kube-proxy "
            "add-ons."
        ),
        validate=validate_auto_mode_addons,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="kubernetes-version-standard-support",
        description="The cluster's Kubernetes version is in EKS standard support, not extended.",
        validate=validate_standard_support,
        enforcement_level=ADVISORY,
        config_schema=PolicyConfigSchema(
            properties={"today": {"type": "string", "description": "ISO date to compare against"}}
        ),
    ),
    ResourceValidationPolicy(
        name="containers-hardened",
        description=(
            "Containers disallow privilege escalation, drop all capabilities and run with the "
            "RuntimeDefault seccomp profile."
        ),
        validate=validate_containers_hardened,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="containers-run-as-non-root",
        description="Containers run as a non-root user unless their image is allow-listed.",
        validate=validate_non_root,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="cluster-endpoint-private-access",
        description="The cluster API endpoint is reachable privately from inside the VPC.",
        validate=validate_private_endpoint,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="cluster-public-endpoint-restricted",
        description="The cluster's public API endpoint is not open to 0.0.0.0/0.",
        validate=validate_public_endpoint,
        enforcement_level=ADVISORY,
    ),
]
