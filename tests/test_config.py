"""Configuration: the schema in Pulumi.yaml, the reader, and the catalogue of bad input."""

from __future__ import annotations

import json

import pytest
import yaml
from moto import mock_aws

from components import config, instance_types
from components.problems import ConfigError
from toe.stackfiles import ROOT, read_config, stack_config

REGION = "ap-northeast-2"


@pytest.fixture(scope="module")
def lookup():
    """Instance types answered by moto's copy of EC2's real DescribeInstanceTypes data."""
    with mock_aws():
        import boto3

        yield instance_types.boto3_lookup(boto3.client("ec2", region_name=REGION))


def read(lookup, stack="dev", **overrides):
    return read_config(stack, lookup, overrides=overrides)


def problems(lookup, **overrides) -> dict[str, str]:
    with pytest.raises(ConfigError) as err:
        read(lookup, **overrides)
    return {p.key: p.message for p in err.value.problems}


def test_dev_stack_reads_the_workshop_values(lookup):
    cfg = read(lookup)
    assert cfg.region == REGION
    assert cfg.kubernetes_version == "1.33"
    assert cfg.cluster_name == "toe-dev"
    assert cfg.vpc_name == "training-on-eks"
    assert [
        (g.name, g.instance_type, g.min_size, g.desired_size, g.max_size) for g in cfg.node_groups
    ] == [("ng-arm", "c7g.2xlarge", 2, 2, 2), ("ng-x86", "c6i.2xlarge", 2, 2, 2)]
    assert cfg.gpu_pool.name == "gpu-pool"
    assert cfg.gpu_pool.instance_categories == ("g", "p")
    assert cfg.gpu_pool.capacity_types == ("on-demand",)


def test_ami_types_follow_the_architecture_and_exist_in_the_eks_model(lookup):
    cfg = read(lookup)
    amis = {g.name: (g.ami_type, g.arch) for g in cfg.node_groups}
    assert amis == {
        "ng-arm": ("AL2023_ARM_64_STANDARD", "arm64"),
        "ng-x86": ("AL2023_x86_64_STANDARD", "amd64"),
    }
    for ami, _ in amis.values():
        assert ami in instance_types.eks_enum("AMITypes")


def test_gpu_instance_types_get_the_nvidia_ami(lookup):
    groups = [
        {"name": "gpu", "instanceType": "g5.xlarge", "minSize": 0, "desiredSize": 0, "maxSize": 1}
    ]
    cfg = read(lookup, nodeGroups=groups)
    assert cfg.node_groups[0].ami_type == "AL2023_x86_64_NVIDIA"
    assert cfg.node_groups[0].ami_type in instance_types.eks_enum("AMITypes")


def test_every_derivable_ami_type_is_in_the_eks_model():
    facts = [
        instance_types.InstanceFacts("x", (arch,), "NVIDIA" if gpu else None, int(gpu))
        for arch in ("arm64", "x86_64")
        for gpu in (False, True)
    ]
    for f in facts:
        assert instance_types.derive_ami_type(f) in instance_types.eks_enum("AMITypes")


def dev_values() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]


def test_cluster_name_derives_from_the_stack_so_attendees_never_collide(lookup):
    names = {
        read(lookup, stack=s, **dev_values()).cluster_name for s in ("attendee-01", "attendee-02")
    }
    assert names == {"toe-attendee-01", "toe-attendee-02"}
    assert read(lookup, clusterName="workshop-a").cluster_name == "workshop-a"
    assert config.derive_cluster_name("Team A/1") == "toe-Team-A-1"


def base_group(**fields):
    group = {
        "name": "ng",
        "instanceType": "c6i.2xlarge",
        "minSize": 1,
        "desiredSize": 1,
        "maxSize": 2,
    }
    group.update(fields)
    return group


BAD_INPUTS = [
    pytest.param(
        {"nodeGroups": [base_group(instanceType="c7g2xlarge")]},
        "nodeGroups[0].instanceType",
        "is not an EC2 instance type",
        id="malformed-type",
    ),
    pytest.param(
        {"nodeGroups": [base_group(instanceType="c7z.2xlarge")]},
        "nodeGroups[0].instanceType",
        "EC2 does not know",
        id="unknown-type",
    ),
    pytest.param(
        {"nodeGroups": [base_group(instanceType="c7g.2xlarge", amiType="AL2023_x86_64_STANDARD")]},
        "nodeGroups[0].amiType",
        "is for amd64 but c7g.2xlarge is arm64",
        id="arch-ami-mismatch",
    ),
    pytest.param(
        {"nodeGroups": [base_group(instanceType="c7g.2xlarge", amiType="AL2_ARM_64")]},
        "nodeGroups[0].amiType",
        "Amazon Linux 2 AMI",
        id="al2-on-1.33",
    ),
    pytest.param(
        {"nodeGroups": [base_group(amiType="AmazonLinux2_ARM_64")]},
        "nodeGroups[0].amiType",
        "is not an EKS AMI type",
        id="workshop-ami-name",
    ),
    pytest.param(
        {"nodeGroups": [base_group(minSize=3, desiredSize=2, maxSize=1)]},
        "nodeGroups[0].desiredSize",
        "minSize <= desiredSize <= maxSize",
        id="min-gt-desired-gt-max",
    ),
    pytest.param(
        {"nodeGroups": [base_group(minSize=-1)]},
        "nodeGroups[0].minSize",
        "must not be negative",
        id="negative-size",
    ),
    pytest.param({"nodeGroups": []}, "nodeGroups", "non-empty list", id="empty-node-groups"),
    pytest.param(
        {"nodeGroups": [base_group(taints=[{"key": "a", "effect": "NO_SCHEDULE"}])]},
        "nodeGroups[0].taints[0].effect",
        "is not a taint effect",
        id="bad-taint-effect",
    ),
    pytest.param(
        {"nodeGroups": [base_group(capacityType="SPOTTY")]},
        "nodeGroups[0].capacityType",
        "is not one of ON_DEMAND, SPOT",
        id="bad-node-capacity-type",
    ),
    pytest.param(
        {"gpuCapacityTypes": ["on-demand", "preemptible"]},
        "gpuCapacityTypes",
        "'preemptible' is not a capacity type",
        id="bad-gpu-capacity-type",
    ),
    pytest.param(
        {"kubernetesVersion": "1.33.2"},
        "kubernetesVersion",
        "is not a Kubernetes MAJOR.MINOR version",
        id="malformed-version",
    ),
    pytest.param(
        {"nodeGroups": [base_group(), base_group()]},
        "nodeGroups[1].name",
        "duplicate node group name",
        id="duplicate-names",
    ),
    pytest.param(
        {"privateSubnetPattern": " "}, "privateSubnetPattern", "is empty", id="empty-subnet-pattern"
    ),
    pytest.param({"vpcName": None}, "vpcName", "is required and not set", id="missing-vpc-name"),
    pytest.param({"aws:region": None}, "aws:region", "is required", id="missing-region"),
    pytest.param(
        {"gpuConsolidateAfter": "5 minutes"},
        "gpuConsolidateAfter",
        "is not a duration",
        id="bad-duration",
    ),
    pytest.param({"gpuMaxGpus": 0}, "gpuMaxGpus", "positive integer", id="zero-gpu-limit"),
    pytest.param(
        {"gpuCheckImage": "nvidia/cuda:latest"},
        "gpuCheckImage",
        "pinned to a tag or digest",
        id="latest-image",
    ),
    pytest.param(
        {"efaInstanceType": "g5.xlarge"},
        "efaInstanceType",
        "not an EFA-capable NVIDIA GPU type",
        id="efa-type-without-efa",
    ),
    pytest.param(
        {"clusterName": "toe.dev"},
        "clusterName",
        "not a valid EKS cluster name",
        id="bad-cluster-name",
    ),
    pytest.param(
        {"publicAccessCidrs": ["10.0.0.0/33"]},
        "publicAccessCidrs",
        "is not a CIDR block",
        id="bad-cidr",
    ),
    pytest.param({"runId": "run 2"}, "runId", "letters, digits", id="bad-run-id"),
    pytest.param(
        {"checkTimeoutSeconds": 60}, "checkTimeoutSeconds", "at least 300", id="short-timeout"
    ),
]


@pytest.mark.parametrize(("overrides", "key", "text"), BAD_INPUTS)
def test_bad_input_names_the_key_the_reason_and_the_fix(lookup, overrides, key, text):
    with pytest.raises(ConfigError) as err:
        read(lookup, **overrides)
    found = {p.key: p for p in err.value.problems}
    assert key in found, str(err.value)
    assert text in found[key].message
    assert found[key].fix.startswith("pulumi config set ")
    assert key.split(":")[-1].split("[")[0] in found[key].fix
    assert "nothing was created" in str(err.value)


def test_all_problems_are_reported_at_once(lookup):
    found = problems(
        lookup,
        kubernetesVersion="one",
        gpuCapacityTypes=["nope"],
        nodeGroups=[base_group(instanceType="bogus"), base_group(minSize=5)],
    )
    assert {
        "kubernetesVersion",
        "gpuCapacityTypes",
        "nodeGroups[0].instanceType",
        "nodeGroups[1].name",
        "nodeGroups[1].desiredSize",
    } <= found.keys()


def test_fix_commands_use_path_syntax_for_nested_keys(lookup):
    with pytest.raises(ConfigError) as err:
        read(lookup, nodeGroups=[base_group(maxSize=0, minSize=0, desiredSize=0)])
    (problem,) = err.value.problems
    assert problem.fix == "pulumi config set --path 'nodeGroups[0].maxSize' 1"


def test_values_arrive_as_the_cli_passes_them(lookup):
    """The CLI hands every value over as a string; arrays and objects as JSON."""
    values = stack_config("dev")
    assert values["training-on-eks:manageSubnetRoleTags"] == "true"
    assert json.loads(values["training-on-eks:nodeGroups"])[0]["name"] == "ng-arm"
    assert read(lookup, gpuMaxGpus="8").gpu_pool.max_gpus == 8


def test_schema_describes_and_types_every_key():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    project_keys = {k for k in declared if ":" not in k}
    for key in project_keys:
        decl = declared[key]
        assert len(decl.get("description", "")) > 20, key
        # Pulumi cannot type arrays of objects (pulumi/pulumi#11321): only nodeGroups is untyped.
        assert ("type" in decl) == (key != "nodeGroups"), key
        if decl.get("type") == "array":
            assert decl["items"] == {"type": "string"}, key
    read_keys = set(config.schema())
    assert project_keys == read_keys


def test_stack_files_only_set_declared_keys():
    declared = set(config.schema())
    for path in ROOT.glob("Pulumi.*.yaml"):
        keys = (yaml.safe_load(path.read_text()) or {}).get("config", {})
        for key in keys:
            namespace, _, name = key.partition(":")
            if namespace == "training-on-eks":
                assert name in declared, f"{path.name}: {key} is not declared in Pulumi.yaml"


def test_defaults_in_the_schema_pass_validation(lookup):
    """Every default is accepted by the reader (only required keys come from the stack file)."""
    required = {k for k, d in config.schema().items() if not d.has_default}
    assert required == {
        "kubernetesVersion",
        "vpcName",
        "privateSubnetPattern",
        "publicSubnetPattern",
        "nodeGroups",
    }
    read(lookup)  # the dev stack sets exactly those


def test_kubernetes_provider_has_no_default():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert declared["pulumi:disable-default-providers"] == ["kubernetes"]
