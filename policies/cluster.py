"""The cluster's rules: node group AMIs and subnets, Auto Mode's add-ons, the EKS version's
support phase and the API endpoint's access.
"""

from __future__ import annotations

from datetime import date

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from core import wellknown as wk
from core.eks_versions import HOURS_PER_MONTH, load_eks_table
from core.instance_types import (
    FIRST_MINOR_WITHOUT_AL2,
    ami_arch,
    is_al2,
)
from policies.views import (
    ENGINE_ADDON,
    SUBNET_TAG,
    ClusterView,
    _clusters,
    _node_groups,
    _owner,
    _version_text,
    cluster_view,
    instance_arch,
    node_group_view,
)


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
