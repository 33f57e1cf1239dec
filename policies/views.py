"""Resources as the pack sees them: EKS clusters, node groups, NodePools and pod specs, read
from the engine's (or the offline harness's) property bags.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    StackValidationArgs,
)

from core import wellknown as wk
from core.instance_types import (
    INSTANCE_TYPE_RE,
    family,
)

# Type tokens: what a mock run shows (pulumi-eks remote components register once, with their
# camelCase inputs) and what the real engine shows (the components' aws children). Under the real
# engine the components themselves reach the analyzer with no inputs (the provider registers them
# inside Construct) and with their outputs at AnalyzeStack, as the rehearsal (`make e2e`) showed:
# a component view is read only when its inputs are there.
MOCK_CLUSTER = "eks:index:Cluster"

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


ENGINE_CLUSTER = "aws:eks/cluster:Cluster"


MOCK_NODE_GROUP = "eks:index:ManagedNodeGroup"


ENGINE_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


ENGINE_ADDON = "aws:eks/addon:Addon"


SUBNET_TAG = "aws:ec2/tag:Tag"


GPU_CATEGORIES = frozenset({"g", "p"})


GPU_CATEGORIES_PREFIXES = tuple(sorted(GPU_CATEGORIES))


LABEL_DOMAINS = ("eks.amazonaws.com/", "karpenter.k8s.aws/")


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
    auto_mode: bool
    # The mock view only: the engine's resource names no subnets by role and no add-on inputs.
    private_subnets: frozenset[str] | None = None  # None when the view does not say
    public_subnets: frozenset[str] = frozenset()
    default_vpc_cni: bool | None = None
    kube_proxy_addon: bool | None = None


def cluster_view(resource_type: str, urn: str, props: Mapping) -> ClusterView | None:
    if resource_type == MOCK_CLUSTER and "vpcId" in props:
        return ClusterView(
            **_cluster_fields(urn, props, access=props),
            mock=True,
            auto_mode=_get(props, "autoMode", "enabled") is True,
            private_subnets=(
                frozenset(_list(props["privateSubnetIds"])) if "privateSubnetIds" in props else None
            ),
            public_subnets=frozenset(_list(props.get("publicSubnetIds"))),
            default_vpc_cni=props.get("useDefaultVpcCni"),
            kube_proxy_addon=_get(props, "kubeProxyAddonOptions", "enabled"),
        )
    if resource_type == ENGINE_CLUSTER:
        return ClusterView(
            **_cluster_fields(urn, props, access=_map(props.get("vpcConfig"))),
            mock=False,
            auto_mode=_get(props, "computeConfig", "enabled") is True,
        )
    return None


def _cluster_fields(urn: str, props: Mapping, *, access: Mapping) -> dict[str, Any]:
    """What both views read alike; `access` holds the endpoint settings (the engine's resource
    keeps them in vpcConfig). pulumi-eks and AWS have the same defaults: private access off,
    public access on, open to 0.0.0.0/0."""
    return {
        "urn": urn,
        "name": props.get("name"),
        "version": _minor(props.get("version")),
        "private_access": access.get("endpointPrivateAccess") is True,
        "public_access": access.get("endpointPublicAccess") is not False,
        "public_cidrs": tuple(_list(access.get("publicAccessCidrs")) or ["0.0.0.0/0"]),
    }


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


def k8s_kind(resource_type: str, props: Mapping) -> str | None:
    """The Kubernetes kind of a `kubernetes:...` resource (from props, else the type token)."""
    if not resource_type.startswith("kubernetes:"):
        return None
    kind = props.get("kind")
    return str(kind) if kind else resource_type.rsplit(":", 1)[-1]


def is_nodepool(resource_type: str, props: Mapping) -> bool:
    api = str(props.get("apiVersion") or "")
    return k8s_kind(resource_type, props) == "NodePool" and api.startswith("karpenter.sh/")


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


def _taint_text(taint: Mapping) -> str:
    value = f"={taint.get('value')}" if taint.get("value") else ""
    return f"{taint.get('key')}{value}:{taint.get('effect')}"
