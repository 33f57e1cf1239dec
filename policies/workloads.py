"""The workloads' rules: the GPU NodePool's guardrails, and the validation Jobs (bounded,
tolerating the GPU taint, fitting the pool, hardened, non-root).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from core import durations
from core import wellknown as wk
from core.images import image_pinned
from policies.views import (
    _get,
    _gpus_requested,
    _label,
    _list,
    _map,
    _nodepool_name,
    _requests_gpu,
    _requirements,
    _taint_text,
    _taints,
    _tolerates,
    _values,
    containers,
    is_nodepool,
    k8s_kind,
    nodepool_can_launch_gpus,
    pod_spec,
)

MAX_CONSOLIDATE_AFTER_SECONDS = 30 * 60


MAX_JOB_BACKOFF_LIMIT = 3


# Images allowed to run as root. The AWS Deep Learning Containers (registry account 763104351884)
# run as root by design and the EFA check's libfabric opens the EFA device files, which the device
# plugin hands to root only; every other image must run as a non-root user.
ROOT_ALLOWED_IMAGES = (re.compile(r"^763104351884\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/"),)


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
    seconds = durations.seconds(after)
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


def validate_gpu_jobs_not_disruptible(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """A GPU Job's pods carry `karpenter.sh/do-not-disrupt: "true"`: without it, drift or
    consolidation may take the node away while the check runs (Karpenter v1 disruption)."""
    props = args.props
    if k8s_kind(args.resource_type, props) != "Job":
        return
    pod = pod_spec(args.resource_type, props) or {}
    if not _requests_gpu(pod):
        return
    annotations = _map(_get(props, "spec", "template", "metadata", "annotations"))
    value = annotations.get(wk.ANNOTATION_DO_NOT_DISRUPT)
    if value != "true":
        name = str(_get(props, "metadata", "name") or args.name)
        shown = "is missing" if value is None else f"is {value!r}"
        report_violation(
            f"Job {name} requests {wk.RESOURCE_GPU} but its pod template's "
            f"{wk.ANNOTATION_DO_NOT_DISRUPT} annotation {shown}, so Karpenter may disrupt the "
            "node (drift, consolidation) while the check runs. Set "
            f'spec.template.metadata.annotations["{wk.ANNOTATION_DO_NOT_DISRUPT}"] to "true".',
            None,
        )


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
