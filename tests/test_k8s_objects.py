"""Kubernetes builders, checked against the real schemas: Kubernetes 1.33 and Karpenter's CRD."""

from __future__ import annotations

import copy

import jsonschema
import kubernetes_validate
import pytest
import yaml
from conftest import shared_path, workshop_pool

from components.validation import job_specs
from core import k8s_objects
from core import wellknown as wk
from core.config import ChecksSpec, DistributedSpec, GpuPoolSpec

K8S_VERSION = "1.33"

POOL = workshop_pool()
CHECKS = ChecksSpec(
    run_id="1",
    gpu_image="nvidia/cuda:12.8.1-base-ubuntu24.04",
    efa_image="example.com/dlc:2.6.0",
    efa_instance_type="",
    efa_required=False,
    timeout_seconds=1500,
)


@pytest.fixture(scope="module")
def nodepool_schema() -> dict:
    crd = yaml.safe_load(shared_path("schemas", "karpenter.sh_nodepools.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


def validate_nodepool(body: dict, schema: dict) -> None:
    jsonschema.validate(body, schema, cls=jsonschema.Draft7Validator)


def test_gpu_nodepool_matches_the_karpenter_crd(nodepool_schema):
    validate_nodepool(k8s_objects.gpu_nodepool(POOL), nodepool_schema)


def test_crd_schema_rejects_what_karpenter_rejects(nodepool_schema):
    """The schema check can fail: a wrong consolidation policy and a missing nodeClassRef."""
    body = k8s_objects.gpu_nodepool(POOL)
    bad = copy.deepcopy(body)
    bad["spec"]["disruption"]["consolidationPolicy"] = "WhenIdle"
    with pytest.raises(jsonschema.ValidationError):
        validate_nodepool(bad, nodepool_schema)
    bad = copy.deepcopy(body)
    del bad["spec"]["template"]["spec"]["nodeClassRef"]
    with pytest.raises(jsonschema.ValidationError):
        validate_nodepool(bad, nodepool_schema)


def test_gpu_nodepool_is_the_workshop_pool_with_guardrails():
    spec = k8s_objects.gpu_nodepool(POOL)["spec"]
    template = spec["template"]["spec"]
    assert template["nodeClassRef"] == {
        "group": "eks.amazonaws.com",
        "kind": "NodeClass",
        "name": "default",
    }
    requirements = {r["key"]: (r["operator"], r["values"]) for r in template["requirements"]}
    assert requirements["kubernetes.io/arch"] == ("In", ["amd64"])
    assert requirements["karpenter.sh/capacity-type"] == ("In", ["on-demand"])
    assert requirements["eks.amazonaws.com/instance-category"] == ("In", ["g", "p"])
    assert template["taints"] == [{"key": "gpu-workload", "effect": "NoSchedule"}]
    assert spec["limits"] == {"nvidia.com/gpu": "4", "cpu": "96", "memory": "768Gi"}
    assert spec["disruption"] == {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m"}
    assert template["expireAfter"] == "24h"


def test_family_bound_adds_a_requirement(nodepool_schema):
    bounded = GpuPoolSpec(**{**POOL.__dict__, "instance_families": ("g5", "g6")})
    body = k8s_objects.gpu_nodepool(bounded)
    validate_nodepool(body, nodepool_schema)
    keys = [r["key"] for r in body["spec"]["template"]["spec"]["requirements"]]
    assert wk.LABEL_INSTANCE_FAMILY in keys


def named(body: dict, name: str = "x") -> dict:
    body = copy.deepcopy(body)
    body["metadata"].setdefault("name", name)
    return body


@pytest.mark.parametrize("efa_type", ["", "p5.48xlarge"])
def test_check_jobs_validate_against_kubernetes_1_33(efa_type):
    checks = ChecksSpec(**{**CHECKS.__dict__, "efa_instance_type": efa_type})
    for spec in job_specs(checks, "gpu-pool", "check-scripts"):
        kubernetes_validate.validate(named(k8s_objects.check_job(spec)), K8S_VERSION, strict=True)


def test_strict_validation_catches_a_misspelt_field():
    job = named(k8s_objects.check_job(job_specs(CHECKS, "gpu-pool", "cm")[0]))
    job["spec"]["template"]["spec"]["restartpolicy"] = "Never"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_namespace_and_configmap_validate():
    kubernetes_validate.validate(k8s_objects.namespace("toe-validation"), K8S_VERSION, strict=True)
    cm = k8s_objects.scripts_configmap("check-scripts", "toe-validation", {"a.sh": "echo"})
    kubernetes_validate.validate(cm, K8S_VERSION, strict=True)


def test_gpu_check_job_is_bounded_and_lands_on_the_gpu_pool():
    gpu, _ = job_specs(CHECKS, "gpu-pool", "cm")
    job = k8s_objects.check_job(gpu)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] <= 3
    assert job["spec"]["activeDeadlineSeconds"] == 1500
    assert int(job["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]) > 1500
    assert pod["nodeSelector"]["karpenter.sh/nodepool"] == "gpu-pool"
    assert {"key": "gpu-workload", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"name": "NVIDIA_DISABLE_REQUIRE", "value": "true"} in container["env"]
    assert container["command"] == ["sh", "/checks/gpu-check.sh"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_every_check_pod_blocks_voluntary_disruption_of_its_node():
    """Drift or consolidation must not take a node away while a check runs (Karpenter v1)."""
    gpu, efa = job_specs(CHECKS, "gpu-pool", "cm")
    distributed = k8s_objects.distributed_job(
        DistributedSpec(enabled=True, image="repo/torch:2.6"),
        namespace="ns",
        configmap="cm",
        run_id="1",
        nodepool="gpu-pool",
        timeout_seconds=1500,
    )
    for job in (k8s_objects.check_job(gpu), k8s_objects.check_job(efa), distributed):
        template = job["spec"]["template"]["metadata"]
        assert template["annotations"] == {wk.ANNOTATION_DO_NOT_DISRUPT: "true"}
        # On the pods, where Karpenter reads it; not on the Job.
        assert wk.ANNOTATION_DO_NOT_DISRUPT not in job["metadata"]["annotations"]


def test_efa_check_requests_efa_only_for_an_efa_capable_type():
    _, plain = job_specs(CHECKS, "gpu-pool", "cm")
    assert wk.RESOURCE_EFA not in plain.resources
    assert plain.env == {"EFA_REQUESTED": "false"}
    checks = ChecksSpec(**{**CHECKS.__dict__, "efa_instance_type": "p5.48xlarge"})
    _, efa = job_specs(checks, "gpu-pool", "cm")
    job = k8s_objects.check_job(efa)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["vpc.amazonaws.com/efa"] == "1"
    assert job["spec"]["template"]["spec"]["nodeSelector"][wk.LABEL_INSTANCE_TYPE] == "p5.48xlarge"
    assert {"name": "EFA_REQUESTED", "value": "true"} in container["env"]
