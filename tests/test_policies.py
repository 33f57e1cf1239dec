"""The policy pack against the dev stack, a catalogue of bad stacks, and the pack's own files."""

from __future__ import annotations

import ast
import copy
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import yaml
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.policy import _POLICY_PACK_NAME_RE

from core import durations
from core import wellknown as wk
from policies import rules
from toe.offline.harness import UNKNOWN, ProgramRun, Registration, run_program
from toe.offline.policy_runner import Verdict, evaluate, format_verdicts, mandatory
from toe.stackfiles import stack_config

ROOT = Path(__file__).resolve().parents[1]
PACK_DIR = ROOT / "policies"
TODAY = date(2026, 11, 28)

# What the pack says about the workshop stack as configured in Pulumi.dev.yaml: only advisories.
DEV_ADVISORIES = {
    # gpuInstanceCategories [g, p] with no gpuInstanceFamilies: p5 sizes are allowed.
    ("gpu-nodepool-p-instances-bounded", "gpu-nodepool"),
    # Kubernetes 1.33 is past its end of standard support (2026-07-29) on TODAY.
    ("kubernetes-version-standard-support", "cluster-eks"),
    # publicAccessCidrs defaults to 0.0.0.0/0 until a workshop sets the venue's range.
    ("cluster-public-endpoint-restricted", "cluster-eks"),
}


@pytest.fixture(scope="module")
def dev_run() -> ProgramRun:
    return run_program("dev")


def _pairs(verdicts: list[Verdict]) -> set[tuple[str, str | None]]:
    return {(v.policy, v.resource_name) for v in verdicts}


def _only_mandatory(verdicts: list[Verdict]) -> Verdict:
    found = mandatory(verdicts)
    assert len(found) == 1, format_verdicts(verdicts)
    return found[0]


# ---------------------------------------------------------------------------- the pack itself


def test_every_policy_has_a_kebab_name_a_sentence_and_an_explicit_level() -> None:
    names = [p.name for p in rules.POLICIES]
    assert len(names) == len(set(names))
    for policy in rules.POLICIES:
        assert isinstance(policy, (ResourceValidationPolicy, StackValidationPolicy))
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", policy.name), policy.name
        assert policy.description.endswith(".") and policy.description.count(". ") == 0
        assert policy.enforcement_level in (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY)


def test_pulumipolicy_yaml_is_a_python_pack_and_the_pack_name_is_valid() -> None:
    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    # The fields of the CLI's PolicyPackProject (pulumi sdk/go/common/workspace/project.go).
    assert set(project) <= {"runtime", "version", "main", "description", "author", "website"}
    assert project["runtime"]["name"] == "python"
    assert _POLICY_PACK_NAME_RE.match(rules.PACK_NAME)
    requirements = (PACK_DIR / "requirements.txt").read_text()
    assert re.search(r"^pulumi-policy>=1\.21,<2$", requirements, re.MULTILINE)


def test_pack_main_only_builds_the_pack_from_rules() -> None:
    tree = ast.parse((PACK_DIR / "__main__.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    pack = [c for c in calls if isinstance(c.func, ast.Name) and c.func.id == "PolicyPack"]
    assert len(pack) == 1
    keywords = {k.arg: ast.unparse(k.value) for k in pack[0].keywords}
    assert keywords["name"] == "rules.PACK_NAME"
    assert keywords["policies"] == "rules.POLICIES"


DYNAMIC_IMPORTS = ("import_module", "run_module", "__import__")


def _imported_modules(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith(DYNAMIC_IMPORTS):
            found |= {a.value for a in node.args if isinstance(a, ast.Constant)}
    return found


def test_pack_main_is_never_imported_by_the_tests() -> None:
    """PolicyPack(...) serves and blocks: only a subprocess may run policies/__main__.py."""
    assert "policies.__main__" not in sys.modules
    for path in (ROOT / "tests").glob("*.py"):
        imported = _imported_modules(ast.parse(path.read_text()))
        assert "policies.__main__" not in imported, path


def test_pack_main_runs_as_the_cli_runs_it(tmp_path: Path) -> None:
    """policies/ as the working directory and main; PolicyPack replaced so nothing serves."""
    script = (
        "import json, runpy, sys, pulumi_policy\n"
        "class Recorder:\n"
        "    def __init__(self, name, policies, **kw):\n"
        "        json.dump({'name': name, 'policies': [p.name for p in policies]},"
        f" open({str(tmp_path / 'pack.json')!r}, 'w'))\n"
        "pulumi_policy.PolicyPack = Recorder\n"
        "sys.path = [p for p in sys.path if p not in ('', '.')]\n"
        "runpy.run_path('__main__.py', run_name='__main__')\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=PACK_DIR, check=True, timeout=60)
    pack = json.loads((tmp_path / "pack.json").read_text())
    assert pack == {"name": rules.PACK_NAME, "policies": [p.name for p in rules.POLICIES]}


# ---------------------------------------------------------------------------- pure rules


def test_graviton_rule_agrees_with_moto_instance_data() -> None:
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    checked = 0
    for name, item in INSTANCE_TYPES.items():
        arches = item["ProcessorInfo"]["SupportedArchitectures"]
        if "arm64" in arches:
            assert rules.is_graviton(name), name
        elif "x86_64" in arches:
            assert not rules.is_graviton(name), name
        else:
            continue  # Mac instances (arm64_mac, x86_64_mac)
        checked += 1
    assert checked > 1000


def test_graviton_rule_agrees_with_the_dev_stack_node_groups() -> None:
    groups = json.loads(stack_config("dev")[f"{wk.PROJECT}:nodeGroups"])
    arches = {g["instanceType"]: rules.instance_arch(g["instanceType"]) for g in groups}
    assert arches == {"c7g.2xlarge": "arm64", "c6i.2xlarge": "amd64"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("30m", 1800),
        ("1h30m", 5400),
        ("2h", 7200),
        ("Never", float("inf")),
        # Go's time.ParseDuration reads these; the NodePool CRD's pattern refuses them.
        ("500ms", None),
        ("1.5h", None),
        ("", None),
        (None, None),
    ],
)
def test_karpenter_durations(text: str | None, seconds: float | None) -> None:
    """One reader for the config, the policy pack and `toe cost` (core/durations.py)."""
    assert durations.seconds(text) == seconds
    if seconds not in (None, float("inf")):
        assert durations.written(int(seconds)) == text


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("nvidia/cuda:12.8.1-base-ubuntu24.04", True),
        ("registry:5000/team/tool@sha256:" + "a" * 64, True),
        ("nvidia/cuda:latest", False),
        ("nvidia/cuda", False),
        ("registry:5000/team/tool", False),
    ],
)
def test_image_pinning(image: str, pinned: bool) -> None:
    assert rules.image_pinned(image) is pinned


@pytest.mark.parametrize(
    ("toleration", "tolerated"),
    [
        ({"key": "gpu-workload", "operator": "Exists", "effect": "NoSchedule"}, True),
        ({"key": "gpu-workload", "operator": "Exists"}, True),
        ({"operator": "Exists"}, True),
        ({"key": "gpu-workload", "value": "x", "effect": "NoSchedule"}, False),
        ({"key": "gpu-workload", "operator": "Exists", "effect": "NoExecute"}, False),
        ({"key": wk.RESOURCE_GPU, "operator": "Exists"}, False),
    ],
)
def test_toleration_matching(toleration: dict, tolerated: bool) -> None:
    taint = {"key": wk.GPU_TAINT_KEY, "effect": "NoSchedule"}
    assert rules._tolerates([toleration], taint) is tolerated


@pytest.mark.parametrize(
    ("key", "operator", "values", "gpu"),
    [
        (wk.LABEL_INSTANCE_CATEGORY, "In", ["g", "p"], True),
        (wk.LABEL_INSTANCE_CATEGORY, "In", ["c", "m", "r"], False),
        ("karpenter.k8s.aws/instance-category", "In", ["p"], True),
        (wk.LABEL_INSTANCE_FAMILY, "In", ["g6e"], True),
        (wk.LABEL_INSTANCE_FAMILY, "In", ["c7g"], False),
        (wk.LABEL_INSTANCE_TYPE, "In", ["p5.48xlarge"], True),
        (wk.LABEL_INSTANCE_GPU_COUNT, "Gt", ["0"], True),
        ("eks.amazonaws.com/instance-gpu-name", "In", ["h100"], True),
    ],
)
def test_gpu_nodepool_detection(key: str, operator: str, values: list[str], gpu: bool) -> None:
    requirement = {"key": key, "operator": operator, "values": values}
    pool = {"spec": {"template": {"spec": {"requirements": [requirement]}}}}
    assert rules.nodepool_can_launch_gpus(pool) is gpu


# ---------------------------------------------------------------------------- the dev stack


def test_dev_stack_has_no_mandatory_violations_and_exactly_the_expected_advisories(
    dev_run: ProgramRun,
) -> None:
    verdicts = evaluate(dev_run, today=TODAY)
    assert mandatory(verdicts) == []
    assert _pairs(verdicts) == DEV_ADVISORIES
    assert len(verdicts) == len(DEV_ADVISORIES)


def test_dev_stack_preview_gets_the_same_verdicts() -> None:
    verdicts = evaluate(run_program("dev", preview=True), today=TODAY)
    assert _pairs(verdicts) == DEV_ADVISORIES


def test_extended_support_advisory_follows_the_date(dev_run: ProgramRun) -> None:
    policy = "kubernetes-version-standard-support"
    # "1.33 left standard support on 2026-07-29" (FACTS.md): that day is extended support.
    on_last_day = evaluate(dev_run, today=date(2026, 7, 28))
    after = evaluate(dev_run, today=date(2026, 7, 29))
    assert policy not in {v.policy for v in on_last_day}
    [verdict] = [v for v in after if v.policy == policy]
    assert verdict.enforcement == "advisory"
    assert "left EKS standard support on 2026-07-29" in verdict.message
    assert "$0.60 instead of $0.10 per cluster-hour" in verdict.message
    assert "extended support until 2027-07-29" in verdict.message


def test_the_advisory_never_says_extended_support_once_that_is_over(dev_run: ProgramRun) -> None:
    [verdict] = [
        v
        for v in evaluate(dev_run, today=date(2027, 7, 29))
        if v.policy == "kubernetes-version-standard-support"
    ]
    assert "left EKS extended support on 2027-07-29" in verdict.message
    assert "runs in extended support" not in verdict.message
    assert "$0.60" not in verdict.message


def test_format_verdicts_lists_each_and_counts(dev_run: ProgramRun) -> None:
    text = format_verdicts(evaluate(dev_run, today=TODAY))
    assert "[advisory] cluster-public-endpoint-restricted  cluster-eks" in text
    assert text.endswith("0 mandatory, 3 advisory")
    assert format_verdicts([]).startswith(f"policy pack {rules.PACK_NAME}: no violations")


# ---------------------------------------------------------------------------- bad configs


# One run with several bad values the config reader accepts, each caught by its own policy, and
# two values that clear the dev stack's advisories.
BAD_CONFIG = {
    "gpuConsolidateAfter": "2h",
    "efaCheckImage": "public.ecr.aws/example/efa:1.0",
    "publicAccessCidrs": ["203.0.113.0/24"],
    "gpuInstanceFamilies": ["g5", "g6"],
}


@pytest.fixture(scope="module")
def bad_config_verdicts() -> list[Verdict]:
    return evaluate(run_program("dev", config=BAD_CONFIG), today=TODAY)


def test_bad_config_gets_exactly_the_intended_verdicts(bad_config_verdicts: list[Verdict]) -> None:
    assert _pairs(bad_config_verdicts) == {
        ("gpu-nodepool-guardrails", "gpu-nodepool"),
        ("containers-run-as-non-root", "validation-efa-check"),
        ("kubernetes-version-standard-support", "cluster-eks"),
    }
    assert len(bad_config_verdicts) == 3
    assert len(mandatory(bad_config_verdicts)) == 2


def test_config_consolidate_after_2h_breaks_gpu_nodepool_guardrails(
    bad_config_verdicts: list[Verdict],
) -> None:
    [verdict] = [v for v in bad_config_verdicts if v.policy == "gpu-nodepool-guardrails"]
    assert verdict.enforcement == "mandatory"
    assert verdict.message == (
        "GPU NodePool gpu-pool has spec.disruption.consolidateAfter '2h': empty GPU nodes must be "
        "removed within 30m or they bill idle. Set consolidateAfter to 30m or less (e.g. 5m, "
        "config gpuConsolidateAfter)."
    )


def test_config_efa_image_that_is_not_a_dlc_must_not_run_as_root(
    bad_config_verdicts: list[Verdict],
) -> None:
    [verdict] = [v for v in bad_config_verdicts if v.policy == "containers-run-as-non-root"]
    assert verdict.enforcement == "mandatory"
    assert verdict.message == (
        "Job validation-efa-check container check may run as root (image "
        "public.ecr.aws/example/efa:1.0). Set securityContext.runAsNonRoot: true and a runAsUser, "
        "or add the image to ROOT_ALLOWED_IMAGES in policies/rules.py with the reason it needs "
        "root."
    )


# ---------------------------------------------------------------------------- bad resources
# The config reader refuses these values before any resource exists (AMI/architecture, AL2 on
# 1.33, overlapping subnet patterns, unpinned images, ...) or the components hard-code the good
# value: each case mutates one registration of the dev run instead.


def _props(run: ProgramRun, name: str) -> dict:
    reg = run.named(name)
    return reg.inputs


def _pod(run: ProgramRun, job: str) -> dict:
    return _props(run, job)["spec"]["template"]["spec"]


def _public_subnet(run: ProgramRun) -> str:
    return _props(run, "cluster-eks")["publicSubnetIds"][0]


def _inputs_only(run: ProgramRun) -> ProgramRun:
    """A copy whose outputs keep only what the provider computed, so edited inputs show in both
    the resource view (inputs) and the stack view (state)."""
    run = copy.deepcopy(run)
    for reg in run.resources:
        reg.outputs = {k: v for k, v in reg.outputs.items() if reg.inputs.get(k) != v}
    return run


Mutation = Callable[[ProgramRun], None]

MUTATIONS: dict[str, tuple[Mutation, str, str, str]] = {
    "ami_x86_on_graviton_refused_by_config": (
        lambda r: _props(r, "nodes-ng-arm").update(amiType="AL2023_x86_64_STANDARD"),
        "node-group-ami-architecture",
        "nodes-ng-arm",
        "Node group ng-arm uses amiType AL2023_x86_64_STANDARD (amd64) but c7g.2xlarge is a "
        "Graviton (arm64) instance type, so its nodes cannot boot. Set amiType to "
        "AL2023_ARM_64_STANDARD (or the _NVIDIA variant for GPU types).",
    ),
    "al2_on_1_33_refused_by_config": (
        lambda r: _props(r, "nodes-ng-x86").update(amiType="AL2_x86_64"),
        "no-al2-ami-from-kubernetes-1-33",
        "nodes-ng-x86",
        "Node group ng-x86 uses the Amazon Linux 2 AMI type AL2_x86_64 on Kubernetes 1.33, but "
        "EKS publishes no AL2 AMIs after 1.32. Use AL2023_x86_64_STANDARD (or "
        "AL2023_x86_64_NVIDIA for GPU types).",
    ),
    "node_group_in_public_subnet_refused_by_config": (
        lambda r: _props(r, "nodes-ng-x86")["subnetIds"].append(_public_subnet(r)),
        "node-groups-in-private-subnets",
        "nodes-ng-x86",
        "is placed in public subnets",
    ),
    "nodepool_without_taint": (
        lambda r: _props(r, "gpu-nodepool")["spec"]["template"]["spec"].pop("taints"),
        "gpu-nodepool-guardrails",
        "gpu-nodepool",
        "GPU NodePool gpu-pool has no NoSchedule taint",
    ),
    "nodepool_without_limits": (
        lambda r: _props(r, "gpu-nodepool")["spec"].pop("limits"),
        "gpu-nodepool-guardrails",
        "gpu-nodepool",
        "has no spec.limits on nvidia.com/gpu or cpu",
    ),
    "gpu_jobs_beyond_the_pool_limit": (
        lambda r: _props(r, "validation-gpu-check")["spec"].update(parallelism=5.0),
        "gpu-jobs-fit-gpu-pool",
        "gpu-nodepool",
        "The GPU Jobs selecting NodePool gpu-pool need 5 GPUs at once "
        "(validation-gpu-check 5) but its spec.limits allow 4",
    ),
    "job_backoff_limit_6": (
        lambda r: _props(r, "validation-gpu-check")["spec"].update(backoffLimit=6.0),
        "jobs-bounded",
        "validation-gpu-check",
        "has backoffLimit 6; each retry can hold a GPU node. Set spec.backoffLimit to 3 or less.",
    ),
    "job_restarts_always": (
        lambda r: _pod(r, "validation-gpu-check").update(restartPolicy="Always"),
        "jobs-bounded",
        "validation-gpu-check",
        "has restartPolicy 'Always'",
    ),
    "job_without_deadline": (
        lambda r: _props(r, "validation-efa-check")["spec"].pop("activeDeadlineSeconds"),
        "jobs-bounded",
        "validation-efa-check",
        "has no spec.activeDeadlineSeconds",
    ),
    "job_without_await_timeout": (
        lambda r: _props(r, "validation-efa-check")["metadata"]["annotations"].pop(
            wk.ANNOTATION_TIMEOUT
        ),
        "jobs-bounded",
        "validation-efa-check",
        f"has no {wk.ANNOTATION_TIMEOUT} annotation",
    ),
    "job_image_latest_refused_by_config": (
        lambda r: _pod(r, "validation-gpu-check")["containers"][0].update(
            image="nvidia/cuda:latest"
        ),
        "jobs-bounded",
        "validation-gpu-check",
        "uses image 'nvidia/cuda:latest', which is not pinned",
    ),
    "gpu_job_without_do_not_disrupt": (
        lambda r: _props(r, "validation-gpu-check")["spec"]["template"]["metadata"].pop(
            "annotations"
        ),
        "gpu-jobs-do-not-disrupt",
        "validation-gpu-check",
        "Job validation-gpu-check requests nvidia.com/gpu but its pod template's "
        "karpenter.sh/do-not-disrupt annotation is missing",
    ),
    "gpu_job_do_not_disrupt_false": (
        lambda r: _props(r, "validation-gpu-check")["spec"]["template"]["metadata"].update(
            annotations={wk.ANNOTATION_DO_NOT_DISRUPT: "false"}
        ),
        "gpu-jobs-do-not-disrupt",
        "validation-gpu-check",
        "annotation is 'false'",
    ),
    "gpu_pod_without_toleration": (
        lambda r: _pod(r, "validation-gpu-check").pop("tolerations"),
        "gpu-pods-tolerate-gpu-taint",
        "validation-gpu-check",
        "Job validation-gpu-check requests nvidia.com/gpu but does not tolerate the GPU pool's "
        "taint gpu-workload:NoSchedule, so it stays Pending.",
    ),
    "auto_mode_without_vpc_cni": (
        lambda r: _props(r, "cluster-eks").update(useDefaultVpcCni=True),
        "auto-mode-node-group-addons",
        "cluster-eks",
        "Auto Mode cluster toe-dev has managed node groups but lacks the vpc-cni (set "
        "useDefaultVpcCni: false) add-on",
    ),
    "auto_mode_without_kube_proxy": (
        lambda r: _props(r, "cluster-eks").pop("kubeProxyAddonOptions"),
        "auto-mode-node-group-addons",
        "cluster-eks",
        "lacks the kube-proxy (set kubeProxyAddonOptions.enabled: true) add-on",
    ),
    "container_may_escalate": (
        lambda r: _pod(r, "validation-efa-check")["containers"][0]["securityContext"].pop(
            "allowPrivilegeEscalation"
        ),
        "containers-hardened",
        "validation-efa-check",
        "Job validation-efa-check container check may escalate privileges.",
    ),
    "container_keeps_capabilities": (
        lambda r: _pod(r, "validation-gpu-check")["containers"][0]["securityContext"].pop(
            "capabilities"
        ),
        "containers-hardened",
        "validation-gpu-check",
        "keeps Linux capabilities",
    ),
    "pod_without_seccomp": (
        lambda r: _pod(r, "validation-gpu-check")["securityContext"].pop("seccompProfile"),
        "containers-hardened",
        "validation-gpu-check",
        "runs without a seccomp profile",
    ),
    "gpu_check_as_root": (
        lambda r: _pod(r, "validation-gpu-check").update(
            securityContext={"seccompProfile": {"type": "RuntimeDefault"}}
        ),
        "containers-run-as-non-root",
        "validation-gpu-check",
        "may run as root (image nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04)",
    ),
    "endpoint_private_access_off": (
        lambda r: _props(r, "cluster-eks").update(endpointPrivateAccess=False),
        "cluster-endpoint-private-access",
        "cluster-eks",
        "Cluster toe-dev has private endpoint access off, so nodes reach the API server over the "
        "internet. Set endpointPrivateAccess: true.",
    ),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_bad_resource_gets_exactly_its_violation(dev_run: ProgramRun, case: str) -> None:
    mutate, policy, resource, message = MUTATIONS[case]
    run = _inputs_only(dev_run)
    mutate(run)
    verdict = _only_mandatory(evaluate(run, today=TODAY))
    assert (verdict.policy, verdict.resource_name) == (policy, resource)
    assert message in verdict.message
    assert verdict.urn == run.named(resource).urn


def test_a_gpu_pod_tolerates_an_nvidia_taint_without_asking(dev_run: ProgramRun) -> None:
    """EKS's ExtendedResourceToleration plugin adds the toleration for nvidia.com/gpu taints."""
    run = _inputs_only(dev_run)
    _props(run, "gpu-nodepool")["spec"]["template"]["spec"]["taints"] = [
        {"key": wk.RESOURCE_GPU, "effect": "NoSchedule"}
    ]
    _pod(run, "validation-gpu-check").pop("tolerations")
    assert mandatory(evaluate(run, today=TODAY)) == []


def test_every_mandatory_policy_has_a_bad_case() -> None:
    covered = {policy for _, policy, _, _ in MUTATIONS.values()}
    covered |= {"gpu-nodepool-guardrails", "containers-run-as-non-root"}  # the config cases
    wanted = {p.name for p in rules.POLICIES if p.enforcement_level == EnforcementLevel.MANDATORY}
    assert wanted <= covered


def test_a_value_unknown_at_preview_is_reported_as_the_engine_reports_it(
    dev_run: ProgramRun,
) -> None:
    run = copy.deepcopy(dev_run)
    _props(run, "gpu-nodepool")["spec"]["disruption"]["consolidateAfter"] = UNKNOWN
    verdicts = evaluate(run, today=TODAY)
    assert mandatory(verdicts) == []
    [note] = [v for v in verdicts if v.policy == "gpu-nodepool-guardrails"]
    assert note.enforcement == "advisory"
    assert note.message == (
        "can't run policy 'gpu-nodepool-guardrails' during preview: string value at "
        ".spec.disruption.consolidateAfter can't be known during preview"
    )


def test_secret_inputs_reach_policies_unwrapped(dev_run: ProgramRun) -> None:
    run = copy.deepcopy(dev_run)
    props = _props(run, "cluster-eks")
    props["publicAccessCidrs"] = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "value": ["203.0.113.0/24"],
    }
    verdicts = evaluate(run, today=TODAY)
    assert ("cluster-public-endpoint-restricted", "cluster-eks") not in _pairs(verdicts)


# ---------------------------------------------------------------------------- the engine's view
# Under the real engine the pulumi-eks components' children are what the policies see.

CLUSTER_URN = "urn:pulumi:dev::training-on-eks::eks:index:Cluster$aws:eks/cluster:Cluster::c"
PRIVATE = ["subnet-priv-a", "subnet-priv-c"]
PUBLIC = ["subnet-pub-a", "subnet-pub-c"]


def _engine_reg(type_: str, name: str, inputs: dict) -> Registration:
    urn = CLUSTER_URN if type_ == rules.ENGINE_CLUSTER else f"urn:pulumi:dev::p::{type_}::{name}"
    return Registration(urn, type_, name, True, "", "", [], {}, inputs, {})


def _engine_run(**changes: dict) -> ProgramRun:
    resources = {
        "eks-cluster": _engine_reg(
            rules.ENGINE_CLUSTER,
            "eks-cluster",
            {
                "name": "toe-dev",
                "version": "1.33",
                "vpcConfig": {
                    "endpointPrivateAccess": True,
                    "endpointPublicAccess": True,
                    "publicAccessCidrs": ["203.0.113.0/24"],
                    "subnetIds": PRIVATE + PUBLIC,
                },
                "computeConfig": {"enabled": True, "nodePools": ["general-purpose", "system"]},
            },
        ),
        "ng-arm": _engine_reg(
            rules.ENGINE_NODE_GROUP,
            "ng-arm",
            {
                "clusterName": "toe-dev",
                "nodeGroupName": "ng-arm",
                "amiType": "AL2023_ARM_64_STANDARD",
                "instanceTypes": ["c7g.2xlarge"],
                "subnetIds": list(PRIVATE),
                "scalingConfig": {"minSize": 2.0, "desiredSize": 2.0, "maxSize": 2.0},
            },
        ),
        **{
            f"addon-{addon}": _engine_reg(
                rules.ENGINE_ADDON, f"addon-{addon}", {"clusterName": "toe-dev", "addonName": addon}
            )
            for addon in ("vpc-cni", "kube-proxy", "coredns")
        },
        **{
            f"tag-{subnet}": _engine_reg(
                rules.SUBNET_TAG,
                f"tag-{subnet}",
                {"resourceId": subnet, "key": wk.TAG_ROLE_ELB, "value": "1"},
            )
            for subnet in PUBLIC
        },
    }
    for name, update in changes.items():
        if update is None:
            del resources[name.replace("_", "-")]
        else:
            resources[name.replace("_", "-")].inputs.update(update)
    return ProgramRun("dev", "training-on-eks", False, list(resources.values()), {}, set(), {}, {})


def test_engine_view_of_a_good_stack_has_only_the_support_advisory() -> None:
    verdicts = evaluate(_engine_run(), today=TODAY)
    assert _pairs(verdicts) == {("kubernetes-version-standard-support", "eks-cluster")}


@pytest.mark.parametrize(
    ("changes", "policy", "resource", "message"),
    [
        (
            {"ng_arm": {"subnetIds": [PRIVATE[0], PUBLIC[1]]}},
            "node-groups-in-private-subnets",
            "ng-arm",
            f"Node group ng-arm is placed in public subnets ({PUBLIC[1]})",
        ),
        (
            {"addon_kube_proxy": None},
            "auto-mode-node-group-addons",
            "eks-cluster",
            "lacks the kube-proxy add-on",
        ),
        (
            {"ng_arm": {"amiType": "AL2_ARM_64"}},
            "no-al2-ami-from-kubernetes-1-33",
            "ng-arm",
            "uses the Amazon Linux 2 AMI type AL2_ARM_64 on Kubernetes 1.33",
        ),
        (
            {"ng_arm": {"amiType": None}},
            "node-group-ami-architecture",
            "ng-arm",
            "runs Graviton instances (c7g.2xlarge) without an amiType",
        ),
        (
            {"eks_cluster": {"vpcConfig": {"subnetIds": PRIVATE + PUBLIC}}},
            "cluster-endpoint-private-access",
            "eks-cluster",
            "has private endpoint access off",
        ),
    ],
)
def test_engine_view_of_a_bad_stack(changes: dict, policy: str, resource: str, message: str):
    verdicts = evaluate(_engine_run(**changes), today=TODAY)
    verdict = _only_mandatory(verdicts)
    assert (verdict.policy, verdict.resource_name) == (policy, resource)
    assert message in verdict.message


def test_the_distributed_check_passes_the_pack_and_its_pods_count_against_the_pool() -> None:
    run = run_program("dev", config={"distributedCheck": "true"})
    assert mandatory(evaluate(run, today=TODAY)) == []
    tight = _inputs_only(run)
    _props(tight, "gpu-nodepool")["spec"]["limits"][wk.RESOURCE_GPU] = "2"
    verdict = _only_mandatory(evaluate(tight, today=TODAY))
    assert verdict.policy == "gpu-jobs-fit-gpu-pool"
    assert "need 3 GPUs at once (validation-distributed-check 2, validation-gpu-check 1)" in (
        verdict.message
    ) or "need 3 GPUs at once (validation-gpu-check 1, validation-distributed-check 2)" in (
        verdict.message
    )
