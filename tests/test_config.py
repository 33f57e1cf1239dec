"""Configuration: the schema in Pulumi.yaml, the reader, and the catalogue of bad input."""

from __future__ import annotations

import json
import shutil
from datetime import date

import fixes
import pytest
import yaml
from conftest import ROOT, WORKSHOP, WORKSHOP_STACK
from moto import mock_aws

from core import config, instance_types
from core.eks_versions import load_eks_table
from core.problems import ConfigError
from toe.stackfiles import read_config, stack_config

REGION = "ap-northeast-2"
TODAY = date(2026, 12, 1)  # 1.31 left extended support on 2026-11-26; 1.32 is extended


@pytest.fixture(scope="module")
def ec2():
    """moto's EC2: a copy of EC2's real DescribeInstanceTypes and offerings data."""
    with mock_aws():
        import boto3

        yield boto3.client("ec2", region_name=REGION)


@pytest.fixture(scope="module")
def lookup(ec2):
    lookup = instance_types.boto3_lookup(ec2)

    def catalog() -> list[str]:  # what pulumi_catalog asks the provider for, from moto's EC2
        pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
            LocationType="region"
        )
        return sorted({o["InstanceType"] for p in pages for o in p["InstanceTypeOfferings"]})

    lookup.catalog = catalog
    return lookup


def read(lookup, stack="dev", project_dir=WORKSHOP, **overrides):
    return read_config(
        stack,
        lookup,
        project_dir,
        overrides=overrides,
        catalog=getattr(lookup, "catalog", None),
        today=TODAY,
    )


def problems(lookup, **overrides) -> dict[str, str]:
    with pytest.raises(ConfigError) as err:
        read(lookup, **overrides)
    return {p.key: p.message for p in err.value.problems}


def test_dev_stack_reads_the_workshop_values(lookup):
    cfg = read(lookup)
    assert cfg.region == REGION
    assert cfg.kubernetes_version == "1.33"
    assert cfg.cluster_name == "toe-dev"
    assert cfg.network.vpc_name == "training-on-eks"
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
    return yaml.safe_load(WORKSHOP_STACK.read_text())["config"]


def test_cluster_name_derives_from_the_stack_so_attendees_never_collide(lookup):
    names = {
        read(lookup, stack=s, **dev_values()).cluster_name for s in ("attendee-01", "attendee-02")
    }
    assert names == {"toe-attendee-01", "toe-attendee-02"}
    assert read(lookup, clusterName="workshop-a").cluster_name == "workshop-a"
    assert config.derive_cluster_name("Team-A_1") == "toe-Team-A_1"


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


def bad(key, value, text, case):
    """`key` set alone to `value`, and the problem at `key` whose message says `text`."""
    return pytest.param({key: value}, key, text, id=case)


def bad_group(field, text, case, **fields):
    """One node group of `fields`, and the problem at its `field` whose message says `text`."""
    return pytest.param(
        {"nodeGroups": [base_group(**fields)]}, f"nodeGroups[0].{field}", text, id=case
    )


BAD_INPUTS = [
    pytest.param(
        {"distributedCheck": True, "gpuMaxGpus": 2},
        "gpuMaxGpus",
        "2 cannot hold the distributed check's two GPU nodes beside the other checks' (they "
        "need at least 3 GPUs at once)",
        id="distributed-beyond-the-pool",
    ),
    bad(
        "distributedMinBusbwGBps",
        "fast",
        "must be a decimal number of GB/s from 0 to 10000 (or empty for the instance type's "
        "floor), got 'fast'",
        "distributed-bound-not-a-number",
    ),
    pytest.param(
        {
            "distributedCheck": True,
            "distributedInstanceFamilies": ["p5"],
            "gpuInstanceCategories": ["g"],
        },
        "distributedInstanceFamilies",
        "p5 outside the GPU pool",
        id="distributed-families-outside-the-pool",
    ),
    pytest.param(
        {"distributedCheck": True, "gpuInstanceCategories": ["p"]},
        "distributedInstanceFamilies",
        "is empty, which means the pool's g category, but gpuInstanceCategories has no g",
        id="distributed-without-g",
    ),
    pytest.param(
        {"distributedCheck": True, "gpuInstanceFamilies": ["p5en"]},
        "distributedInstanceFamilies",
        "gpuInstanceFamilies ['p5en'] has no g family",
        id="distributed-pool-of-p-families",
    ),
    bad("distributedCheck", "yes", "must be true or false", "distributed-switch-not-a-boolean"),
    bad(
        "distributedCheckImage",
        "pytorch/pytorch:latest",
        "must be pinned to a tag or digest",
        "distributed-image-latest",
    ),
    bad_group(
        "instanceType", "is not an EC2 instance type", "malformed-type", instanceType="c7g2xlarge"
    ),
    bad_group("instanceType", "EC2 does not know", "unknown-type", instanceType="c7z.2xlarge"),
    bad_group(
        "amiType",
        "is for amd64 but c7g.2xlarge is arm64",
        "arch-ami-mismatch",
        instanceType="c7g.2xlarge",
        amiType="AL2023_x86_64_STANDARD",
    ),
    bad_group(
        "amiType",
        "Amazon Linux 2 AMI",
        "al2-on-1.33",
        instanceType="c7g.2xlarge",
        amiType="AL2_ARM_64",
    ),
    bad_group(
        "amiType", "is not an EKS AMI type", "workshop-ami-name", amiType="AmazonLinux2_ARM_64"
    ),
    bad_group(
        "minSize",
        "minSize 3 is above maxSize 1",
        "min-gt-desired-gt-max",
        minSize=3,
        desiredSize=2,
        maxSize=1,
    ),
    bad_group(
        "desiredSize",
        "desiredSize 3 is above maxSize 2",
        "desired-above-max",
        minSize=1,
        desiredSize=3,
        maxSize=2,
    ),
    bad_group("minSize", "must be between 0 and 2147483647", "negative-size", minSize=-1),
    bad("nodeGroups", [], "non-empty list", "empty-node-groups"),
    pytest.param(
        {"nodeGroups": [base_group(taints=[{"key": "a", "effect": "NO_SCHEDULE"}])]},
        "nodeGroups[0].taints[0].effect",
        "is not a taint effect",
        id="bad-taint-effect",
    ),
    bad_group(
        "capacityType",
        "is not one of ON_DEMAND, SPOT",
        "bad-node-capacity-type",
        capacityType="SPOTTY",
    ),
    bad(
        "gpuCapacityTypes",
        ["on-demand", "preemptible"],
        "'preemptible' is not a capacity type",
        "bad-gpu-capacity-type",
    ),
    bad(
        "kubernetesVersion",
        "1.33.2",
        "is not a Kubernetes MAJOR.MINOR version",
        "malformed-version",
    ),
    # unquoted in YAML: the number 1.3
    bad("kubernetesVersion", 1.30, 'quote it (kubernetesVersion: "1.30")', "yaml-ate-the-zero"),
    bad(
        "kubernetesVersion",
        "1.033",
        "is not a Kubernetes MAJOR.MINOR version",
        "leading-zero-version",
    ),
    # Arabic-Indic digits: `\d` matched them
    bad(
        "kubernetesVersion",
        "1.\u0663\u0663",
        "is not a Kubernetes MAJOR.MINOR version",
        "non-ascii-digits",
    ),
    bad(
        "kubernetesVersion",
        "1.20",
        "EKS has no Kubernetes 1.20 in its calendar",
        "version-not-in-calendar",
    ),
    bad(
        "kubernetesVersion", "1.99", "EKS has no Kubernetes 1.99 in its calendar", "future-version"
    ),
    bad(
        "kubernetesVersion",
        "1.31",
        "left EKS extended support on 2026-11-26",
        "past-extended-support",
    ),
    pytest.param(
        {"nodeGroups": [base_group(), base_group()]},
        "nodeGroups[1].name",
        "duplicate node group name",
        id="duplicate-names",
    ),
    bad("privateSubnetPattern", " ", "is empty", "empty-subnet-pattern"),
    bad("vpcName", None, "is required and not set", "missing-vpc-name"),
    bad("aws:region", None, "is required", "missing-region"),
    bad("gpuConsolidateAfter", "5 minutes", "is not a duration", "bad-duration"),
    bad("gpuMaxGpus", 0, "between 1 and", "zero-gpu-limit"),
    bad("gpuCheckImage", "nvidia/cuda:latest", "pinned to a tag or digest", "latest-image"),
    bad(
        "efaInstanceType", "g5.xlarge", "not an EFA-capable NVIDIA GPU type", "efa-type-without-efa"
    ),
    bad("clusterName", "toe.dev", "not a valid EKS cluster name", "bad-cluster-name"),
    bad("publicAccessCidrs", ["10.0.0.0/33"], "is not a CIDR block", "bad-cidr"),
    bad("runId", "run 2", "letters, digits", "bad-run-id"),
    bad("checkTimeoutSeconds", 60, "between 300 and", "short-timeout"),
]


@pytest.mark.parametrize(("overrides", "key", "text"), BAD_INPUTS)
def test_bad_input_names_the_key_the_reason_and_the_fix(lookup, overrides, key, text):
    with pytest.raises(ConfigError) as err:
        read(lookup, **overrides)
    found = {p.key: p for p in err.value.problems}
    assert key in found, str(err.value)
    assert text in found[key].message
    assert "nothing was created" in str(err.value)
    if not found[key].fix.startswith("pulumi config "):
        # Advice for a person (pick a type EC2 offers): only when nothing can be suggested.
        assert "did you mean" not in found[key].message
        return
    assert found[key].fix.startswith(("pulumi config set ", "pulumi config rm "))
    assert "--stack dev " in found[key].fix
    assert key.split(":")[-1].split("[")[0] in found[key].fix


def _project_copy(tmp_path, stack="dev", overrides=None):
    """A copy of the project files with the stack file's config changed by `overrides`."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    document = yaml.safe_load(WORKSHOP_STACK.read_text())
    values = dict(document["config"])
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"training-on-eks:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = value
    fixes.write_stack(tmp_path, stack, values)
    return values


def _apply_every_fix(lookup, tmp_path, stack, overrides):
    """Apply each problem's fix to the stack file, as the CLI would, until none is left."""
    values = _project_copy(tmp_path, stack, overrides)
    for _ in range(5):
        try:
            return read(lookup, stack=stack, project_dir=tmp_path)
        except ConfigError as err:
            for problem in err.problems:
                values = fixes.apply(values, problem.fix, stack)
            fixes.write_stack(tmp_path, stack, values)
    raise AssertionError("fixes did not converge")


@pytest.mark.parametrize(("overrides", "key", "text"), BAD_INPUTS)
def test_every_fix_changes_a_value_and_makes_the_config_valid(
    lookup, tmp_path, overrides, key, text
):
    values = _project_copy(tmp_path, "dev", overrides)
    with pytest.raises(ConfigError) as err:
        read(lookup, project_dir=tmp_path)
    (problem,) = [p for p in err.value.problems if p.key == key]
    if not problem.fix.startswith("pulumi config "):
        assert "did you mean" not in problem.message  # advice: nothing safe to suggest
        return
    fixed = fixes.apply(values, problem.fix, "dev")
    assert fixed != values, f"the fix changes nothing: {problem.fix}"
    fixes.write_stack(tmp_path, "dev", fixed)
    try:
        read(lookup, project_dir=tmp_path)
    except ConfigError as after:
        assert key not in {p.key for p in after.problems}, str(after)


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
        "nodeGroups[1].minSize",
    } <= found.keys()


def test_fix_commands_use_path_syntax_for_nested_keys(lookup):
    with pytest.raises(ConfigError) as err:
        read(lookup, nodeGroups=[base_group(maxSize=0, minSize=0, desiredSize=0)])
    (problem,) = err.value.problems
    assert problem.fix == "pulumi config set --stack dev --path 'nodeGroups[0].maxSize' 1"


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
    for path in (WORKSHOP_STACK,):
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


# ---------------------------------------------------------------------------- issue: mislead


DEPLOYER = "arn:aws:iam::123456789012:role/Deployer"
TRAINER = "arn:aws:iam::210987654321:role/Trainer"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def test_no_role_to_assume_is_no_role(lookup):
    assert read(lookup, **{"aws:assumeRoles": []}).aws.assume_roles == ()


def _problems(lookup, stack="dev", **overrides):
    with pytest.raises(ConfigError) as err:
        read(lookup, stack=stack, **overrides)
    return {p.key: p for p in err.value.problems}


def _groups(**second):
    groups = yaml.safe_load(WORKSHOP_STACK.read_text())["config"]["training-on-eks:nodeGroups"]
    groups[1].update(second)
    return groups


def test_a_typo_in_the_x86_type_suggests_the_nearest_x86_type(lookup, tmp_path):
    found = _problems(lookup, nodeGroups=_groups(instanceType="c6i.2xlage"))
    problem = found["nodeGroups[1].instanceType"]
    assert "did you mean c6i.2xlarge?" in problem.message
    assert (
        problem.fix
        == "pulumi config set --stack dev --path 'nodeGroups[1].instanceType' c6i.2xlarge"
    )
    assert "c7g" not in problem.fix
    cfg = _apply_every_fix(
        lookup, tmp_path, "dev", {"nodeGroups": _groups(instanceType="c6i.2xlage")}
    )
    assert cfg.node_groups[1].instance_type == "c6i.2xlarge"


def test_a_type_ec2_has_elsewhere_is_never_swapped_for_a_near_name(lookup):
    """p3.2xlarge (V100s) is nearest in spelling to t3.2xlarge (burstable, no GPU): a type EC2
    has (botocore's model) is the one meant, so the fix says how to choose, it picks none."""
    problem = _problems(lookup, nodeGroups=_groups(instanceType="p3.2xlarge"))[
        "nodeGroups[1].instanceType"
    ]
    assert problem.message == (
        "EC2 does not offer p3.2xlarge in this region (EC2 has it in other regions)"
    )
    assert problem.fix.startswith("choose a type from `aws ec2 describe-instance-type-offerings")


def test_a_type_in_capitals_is_the_type(lookup, tmp_path):
    bad = {"nodeGroups": _groups(instanceType="C6I.2XLARGE ")}
    problem = _problems(lookup, **bad)["nodeGroups[1].instanceType"]
    assert "did you mean c6i.2xlarge?" in problem.message
    assert _apply_every_fix(lookup, tmp_path, "dev", bad).node_groups[1].instance_type == (
        "c6i.2xlarge"
    )


def test_no_suggestion_when_the_architecture_cannot_be_told(lookup):
    # `c7z` is no family: the close names mix Graviton and x86, so nothing is suggested.
    problem = _problems(lookup, nodeGroups=_groups(instanceType="c7z.2xlarge"))[
        "nodeGroups[1].instanceType"
    ]
    assert "did you mean" not in problem.message
    assert not problem.fix.startswith("pulumi config")


def test_min_above_max_gets_a_fix_that_changes_a_value(lookup, tmp_path):
    bad = {"nodeGroups": _groups(minSize=3, desiredSize=2, maxSize=2)}
    problem = _problems(lookup, **bad)["nodeGroups[1].minSize"]
    assert problem.message.startswith("minSize 3 is above maxSize 2; to keep at least 3 nodes")
    assert problem.fix == "pulumi config set --stack dev --path 'nodeGroups[1].minSize' 2"
    cfg = _apply_every_fix(lookup, tmp_path, "dev", bad)
    assert (cfg.node_groups[1].min_size, cfg.node_groups[1].max_size) == (2, 2)


def test_two_size_mistakes_get_one_fix_of_two_commands(lookup, tmp_path):
    bad = {"nodeGroups": _groups(minSize=3, desiredSize=5, maxSize=2)}
    problem = _problems(lookup, **bad)["nodeGroups[1].minSize"]
    assert problem.fix.count("pulumi config set") == 2
    cfg = _apply_every_fix(lookup, tmp_path, "dev", bad)
    group = cfg.node_groups[1]
    assert group.min_size <= group.desired_size <= group.max_size


@pytest.mark.parametrize(
    ("key", "value", "meant"),
    [("gpuMaxGPUs", "8", "gpuMaxGpus"), ("nodeGroup", None, "nodeGroups"), ("runid", "7", "runId")],
)
def test_unknown_project_keys_are_refused_with_did_you_mean(lookup, tmp_path, key, value, meant):
    if value is None:
        value = _groups()
    problem = _problems(lookup, **{key: value})[f"training-on-eks:{key}"]
    assert f"did you mean {meant}?" in problem.message
    cfg = _apply_every_fix(lookup, tmp_path, "dev", {key: value})
    assert cfg is not None


def test_keys_without_a_namespace_are_the_projects_as_for_the_cli(lookup, tmp_path):
    values = _project_copy(tmp_path)
    values["gpuMaxGpus"] = 8
    fixes.write_stack(tmp_path, "dev", values)
    assert read(lookup, project_dir=tmp_path).gpu_pool.max_gpus == 8


@pytest.mark.parametrize("namespace", ["training_on_eks", "training-on-eks-", "trainingoneks"])
def test_a_key_in_a_near_miss_namespace_is_named_with_the_one_meant(lookup, tmp_path, namespace):
    """`training_on_eks:gpuMaxGpus: 1` set nothing: the pool kept its 4 GPUs."""
    key = f"{namespace}:gpuMaxGpus"
    problem = _problems(lookup, **{key: 1})[key]
    assert "did you mean training-on-eks:gpuMaxGpus?" in problem.message
    cfg = _apply_every_fix(lookup, tmp_path, "dev", {key: 1})
    assert cfg.gpu_pool.max_gpus == 1


def test_an_unknown_aws_key_is_refused_as_the_aws_provider_refuses_it(lookup, tmp_path):
    problem = _problems(lookup, **{"aws:regoin": REGION})["aws:regoin"]
    assert "did you mean aws:region?" in problem.message
    assert _apply_every_fix(lookup, tmp_path, "dev", {"aws:regoin": REGION}) is not None


def test_every_aws_key_the_provider_reads_is_accepted(lookup):
    from pulumi_aws.config import vars as aws_vars

    assert "region" in config.aws_provider_keys()
    assert "profile" in config.aws_provider_keys()
    assert read(lookup, **{"aws:skipMetadataApiCheck": "true"}) is not None
    assert aws_vars is not None


def test_efa_required_without_an_efa_type_is_refused_before_anything_is_created(lookup, tmp_path):
    problem = _problems(lookup, efaRequired=True)["efaRequired"]
    assert "efaInstanceType is empty" in problem.message
    assert "efaInstanceType" in problem.fix  # keeps the requirement: names a type to launch
    cfg = _apply_every_fix(lookup, tmp_path, "dev", {"efaRequired": True})
    assert cfg.checks.efa_required and cfg.checks.efa_instance_type


def test_unknown_node_group_fields_are_refused_with_did_you_mean(lookup, tmp_path):
    groups = _groups()
    groups[1]["instancetype"] = groups[1].pop("instanceType")
    groups[1]["desiredsize"] = groups[1].pop("desiredSize")
    found = _problems(lookup, nodeGroups=groups)
    assert set(found) == {"nodeGroups[1].instancetype", "nodeGroups[1].desiredsize"}
    assert "did you mean instanceType?" in found["nodeGroups[1].instancetype"].message
    assert "did you mean desiredSize?" in found["nodeGroups[1].desiredsize"].message
    cfg = _apply_every_fix(lookup, tmp_path, "dev", {"nodeGroups": groups})
    assert (cfg.node_groups[1].instance_type, cfg.node_groups[1].desired_size) == ("c6i.2xlarge", 2)


def test_the_version_advisory_fix_picks_a_version_eks_still_runs(lookup, tmp_path):
    for version in ("1.20", "1.99", "1.31", "1.033"):
        cfg = _apply_every_fix(lookup, tmp_path, "dev", {"kubernetesVersion": version})
        dates = load_eks_table().versions[cfg.kubernetes_version]
        assert dates.end_of_extended > TODAY
    assert read(lookup, kubernetesVersion="1.32").kubernetes_version == "1.32"  # extended


def test_an_unquoted_version_in_the_stack_file_says_quote_it(lookup, tmp_path):
    values = _project_copy(tmp_path)
    text = (tmp_path / "Pulumi.dev.yaml").read_text().replace("'1.33'", "1.30")
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    assert "kubernetesVersion: 1.30" in text and values
    with pytest.raises(ConfigError) as err:
        read(lookup, project_dir=tmp_path)
    (problem,) = err.value.problems
    assert "YAML read an unquoted 1.30 as the number 1.3; quote it" in problem.message


BOOLEAN_KEYS = ("manageSubnetRoleTags", "endpointPublicAccess", "skipAccountChecks", "efaRequired")


@pytest.mark.parametrize(
    ("bad", "meant"),
    [("yes", "true"), (0, "false"), (["true"], "true"), ("TRUE ", "true"), ("off", "false")],
)
def test_every_boolean_is_checked_and_its_fix_keeps_what_was_meant(lookup, bad, meant):
    found = _problems(lookup, **dict.fromkeys(BOOLEAN_KEYS, bad))
    assert set(BOOLEAN_KEYS) <= set(found)
    for key in BOOLEAN_KEYS:
        assert found[key].message.startswith("must be true or false")
        assert f"did you mean {meant}?" in found[key].message
        assert found[key].fix == f"pulumi config set --stack dev {key} {meant}"


@pytest.mark.parametrize("text", ["False", "false", "no", "NO", "0", "off"])
def test_a_closed_endpoint_stays_closed(lookup, tmp_path, text):
    """`endpointPublicAccess: "no"`: the fix must never remove the key (its default opens the API
    to the internet). `False` is what the program's Config.get_bool accepts: no problem at all."""
    cfg = _apply_every_fix(lookup, tmp_path, "dev", {"endpointPublicAccess": text})
    assert cfg.endpoint_public_access is False


def test_a_word_that_is_no_boolean_gets_false_and_says_so(lookup):
    problem = _problems(lookup, endpointPublicAccess="maybe")["endpointPublicAccess"]
    assert problem.fix == "pulumi config set --stack dev endpointPublicAccess false"
    assert "set true if that is what you meant" in problem.message


def test_title_case_text_is_refused_as_the_cli_refuses_it_and_the_fix_keeps_it(lookup):
    """`pulumi config set endpointPublicAccess False` stores the text "False", which `pulumi
    preview` refuses (tests/data/stackfiles/README.md); YAML's own False is a boolean."""
    problem = _problems(lookup, endpointPublicAccess="False")["endpointPublicAccess"]
    assert problem.fix == "pulumi config set --stack dev endpointPublicAccess false"
    assert read(lookup, endpointPublicAccess=False).endpoint_public_access is False


def test_yaml_yes_is_text_as_for_the_cli(lookup, tmp_path):
    """The CLI reads stack files as YAML 1.2 (Go yaml.v3): `yes` is the text "yes"."""
    values = _project_copy(tmp_path)
    text = (tmp_path / "Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.dev.yaml").write_text(
        text + "  training-on-eks:manageSubnetRoleTags: yes\n"
    )
    assert values
    with pytest.raises(ConfigError) as err:
        read(lookup, project_dir=tmp_path)
    assert [p.key for p in err.value.problems] == ["manageSubnetRoleTags"]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"clusterName": "toe-dev\n"}, "clusterName"),
        ({"gpuNodePoolName": "gpu-pool\n"}, "gpuNodePoolName"),
        ({"runId": "1\n"}, "runId"),
        ({"nodeGroups": _groups(name="ng-x86\n")}, "nodeGroups[1].name"),
        ({"gpuInstanceCategories": ["g\n"]}, "gpuInstanceCategories"),
        ({"clusterAdminArns": ["arn:aws:iam::123456789012:role/x\n"]}, "clusterAdminArns"),
    ],
)
def test_names_with_a_trailing_newline_are_refused(lookup, overrides, key):
    assert key in _problems(lookup, **overrides)


@pytest.mark.parametrize(
    ("overrides", "key", "text"),
    [
        (
            {
                "nodeGroups": _groups(
                    taints=[{"key": "bad key", "value": "x", "effect": "NoSchedule"}]
                )
            },
            "nodeGroups[1].taints[0].key",
            "is not a taint key",
        ),
        (
            {
                "nodeGroups": _groups(
                    taints=[{"key": "k", "value": "v" * 64, "effect": "NoSchedule"}]
                )
            },
            "nodeGroups[1].taints[0].value",
            "is not a taint value",
        ),
        (
            {"nodeGroups": _groups(taints=[{"key": "a/b/c", "effect": "NoSchedule"}])},
            "nodeGroups[1].taints[0].key",
            "is not a taint key",
        ),
        (
            {"privateSubnetPattern": ["TOE-priv-subnet-*"]},
            "privateSubnetPattern",
            "must be text, got a list",
        ),
        ({"publicSubnetPattern": True}, "publicSubnetPattern", "a YAML literal"),
        ({"nodeGroups": _groups(maxSize=10**30)}, "nodeGroups[1].maxSize", "32-bit"),
        ({"nodeGroups": _groups(diskSize=2**40)}, "nodeGroups[1].diskSize", "32-bit"),
        ({"checkTimeoutSeconds": 10**20}, "checkTimeoutSeconds", "between 300 and 86400"),
        ({"checkTimeoutSeconds": "1e+20"}, "checkTimeoutSeconds", "got 1e+20 (the fix sets"),
        ({"checkTimeoutSeconds": "soon"}, "checkTimeoutSeconds", "must be a whole number"),
        ({"gpuMaxCpu": 2**63}, "gpuMaxCpu", "between 1 and"),
    ],
)
def test_out_of_range_and_mistyped_values_name_their_key(lookup, tmp_path, overrides, key, text):
    found = _problems(lookup, **overrides)
    assert key in found, found
    assert text in found[key].message
    assert _apply_every_fix(lookup, tmp_path, "dev", overrides) is not None


@pytest.mark.parametrize("written", [" ", "é", "--"])
def test_a_cluster_name_with_nothing_to_keep_gets_the_stacks_own(lookup, tmp_path, written):
    """Never another stack's name: two stacks with one cluster would fight over it."""
    found = _problems(lookup, stack="attendee07", clusterName=written, **dev_values())
    assert "names it after the stack, toe-attendee07" in found["clusterName"].message
    overrides = {"clusterName": written, **dev_values()}
    cfg = _apply_every_fix(lookup, tmp_path, "attendee07", overrides)
    assert cfg.cluster_name == "toe-attendee07"


def test_a_stack_whose_cluster_name_eks_refuses_is_refused(lookup, tmp_path):
    found = _problems(lookup, stack="Attendee.07", **dev_values())
    problem = found["clusterName"]
    assert "'toe-Attendee.07', which EKS refuses" in problem.message
    assert problem.fix == "pulumi config set --stack Attendee.07 clusterName toe-Attendee-07"
    cfg = _apply_every_fix(lookup, tmp_path, "Attendee.07", {})
    assert cfg.cluster_name == "toe-Attendee-07"
    # Never the same name for two stacks: team-07 keeps its own, team.07 must choose one.
    assert read(lookup, stack="team-07", **dev_values()).cluster_name == "toe-team-07"
    assert "clusterName" in _problems(lookup, stack="team.07", **dev_values())


def test_fix_commands_name_the_stack(lookup):
    problem = _problems(
        lookup, stack="attendee01", **{**dev_values(), "training-on-eks:gpuMaxGpus": 0}
    )["gpuMaxGpus"]
    assert problem.fix == "pulumi config set --stack attendee01 gpuMaxGpus 1"


def test_an_out_of_range_number_is_fixed_to_the_nearest_allowed_value_not_the_default(
    lookup, tmp_path
):
    """A 60-second timeout meant short: the fix sets the shortest allowed (300), never the
    default (1500), which would be the opposite of what the user wanted."""
    values = {**dev_values(), "training-on-eks:checkTimeoutSeconds": 60}
    problem = _problems(lookup, **values)["checkTimeoutSeconds"]
    assert "got 60 (the fix sets the nearest allowed value, 300)" in problem.message
    assert problem.fix == "pulumi config set --stack dev checkTimeoutSeconds 300"
    cfg = _apply_every_fix(lookup, tmp_path, "dev", values)
    assert cfg.checks.timeout_seconds == 300


def test_a_region_typo_is_one_problem_naming_aws_region(lookup):
    found = _problems(lookup, **{"aws:region": "ap-northeast2"})
    assert list(found) == ["aws:region"]
    assert "did you mean ap-northeast-2?" in found["aws:region"].message
    assert found["aws:region"].fix == "pulumi config set --stack dev aws:region ap-northeast-2"


@pytest.mark.parametrize("written", ["eu-central-3", "ap-northeast-9", "Seoul", "us-weast-2"])
def test_a_region_aws_lacks_is_never_fixed_to_another_one(lookup, written):
    """The nearest region to eu-central-3 is eu-central-1 or -2: a fix that set it would move
    the stack to another country (and `us-weast-2` is as near us-east-2 as us-west-2). The fix
    says what to choose instead."""
    (problem,) = _problems(lookup, **{"aws:region": written}).values()
    assert problem.message == f"{written!r} is not an AWS region (botocore's endpoint data)"
    assert problem.fix == (
        "pulumi config set --stack dev aws:region <the region to deploy to; the workshop's is "
        "ap-northeast-2>"
    )


@pytest.mark.parametrize("written", ["AP-Northeast 2", "ap-northest-2"])
def test_a_region_written_otherwise_is_the_region(lookup, tmp_path, written):
    """Case, spaces and hyphens, or a slip in the letters with the number kept."""
    values = {**dev_values(), "aws:region": written}
    assert _problems(lookup, **values)["aws:region"].fix.endswith("aws:region ap-northeast-2")
    assert _apply_every_fix(lookup, tmp_path, "dev", values).network.region == "ap-northeast-2"


def test_a_failed_look_up_quotes_aws_and_is_not_a_bad_type():
    import boto3
    from botocore.stub import Stubber

    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ec2)
    for _ in range(3):
        stub.add_client_error(
            "describe_instance_types",
            service_error_code="UnauthorizedOperation",
            service_message="You are not authorized to perform this operation.",
            http_status_code=403,
        )
    with stub:
        found = _problems(instance_types.boto3_lookup(ec2))
    messages = [p.message for p in found.values()]
    assert any("UnauthorizedOperation: You are not authorized" in m for m in messages), messages
    assert not any("does not know" in m or "is not an EC2 instance type" in m for m in messages)


def test_the_program_lookup_tells_not_found_from_failure(monkeypatch):
    import pulumi_aws as aws

    class InvokeError(Exception):
        def __init__(self, text):
            super().__init__(text)
            self.text = text

        def details(self):
            return self.text

    answers = {
        "c7z.2xlarge": InvokeError(
            "reading EC2 Instance Type (c7z.2xlarge): operation error EC2: DescribeInstanceTypes, "
            "https response error StatusCode: 400, api error InvalidInstanceType: The following "
            "supplied instance types do not exist: [c7z.2xlarge]"
        ),
        "c7g.2xlarge": InvokeError(
            "reading EC2 Instance Type (c7g.2xlarge): operation error EC2: DescribeInstanceTypes, "
            "exceeded maximum number of attempts, 3, https response error StatusCode: 400, api "
            "error Throttling: Rate exceeded"
        ),
    }

    def get_instance_type(instance_type):
        raise answers[instance_type]

    monkeypatch.setattr(aws.ec2, "get_instance_type", get_instance_type)
    lookup = instance_types.pulumi_lookup()
    assert lookup("c7z.2xlarge") is None
    with pytest.raises(instance_types.LookupFailed, match="Throttling: Rate exceeded"):
        lookup("c7g.2xlarge")


def test_the_distributed_check_reads_its_keys(lookup):
    cfg = read(
        lookup,
        distributedCheck="true",
        distributedMinBusbwGBps="2.5",
        distributedInstanceFamilies='["g5", "g6"]',
        distributedRequired="true",
    )
    d = cfg.checks.distributed
    assert (d.enabled, d.min_busbw_gbps, d.families, d.required, d.efa) == (
        True,
        2.5,
        ("g5", "g6"),
        True,
        False,
    )
    assert d.image.startswith("763104351884.dkr.ecr.ap-northeast-2.amazonaws.com/pytorch-training:")
    # With efaInstanceType both nodes are that type, with EFA; their GPUs count per node.
    efa = read(lookup, distributedCheck="true", efaInstanceType="g6.8xlarge").checks.distributed
    assert (efa.efa, efa.instance_type) == (True, "g6.8xlarge")
    assert read(lookup).checks.distributed.enabled is False
    # Unset, the floor is the instance type's (core/data/fabric.yaml), not a number of ours.
    assert read(lookup, distributedCheck="true").checks.distributed.min_busbw_gbps is None


# ---------------------------------------------------------------- fixes that keep what was meant


@pytest.mark.parametrize(
    ("value", "meant"),
    [
        ("203.0.113.0/24", ("203.0.113.0/24",)),
        ("203.0.113.0/24, 198.51.100.7/32", ("203.0.113.0/24", "198.51.100.7/32")),
        (["10.0.0.0/33"], ("10.0.0.0/32",)),
        (["10.0.0.1/24"], ("10.0.0.0/24",)),
        (["198.51.100.7"], ("198.51.100.7/32",)),
        (["203.0.113.0/24", "10.0.0.300/8"], ("203.0.113.0/24",)),
    ],
)
def test_a_cidr_fix_keeps_the_range_and_never_opens_the_api(lookup, tmp_path, value, meant):
    cfg = _apply_every_fix(lookup, tmp_path, "dev", {"publicAccessCidrs": value})
    assert cfg.public_access_cidrs == meant


def test_a_cidr_nothing_can_be_made_of_gets_advice_not_the_open_default(lookup):
    problem = _problems(lookup, publicAccessCidrs=["venue"])["publicAccessCidrs"]
    assert "0.0.0.0/0" not in problem.fix and "config rm" not in problem.fix
    assert "checkip.amazonaws.com" in problem.fix


@pytest.mark.parametrize(
    ("written", "meant"),
    [("spot", "SPOT"), ("on-demand", "ON_DEMAND"), ("SPOTTY", "SPOT"), ("On Demand", "ON_DEMAND")],
)
def test_a_capacity_type_in_lower_case_keeps_its_choice(lookup, tmp_path, written, meant):
    """As the GPU pool reads gpuCapacityTypes (one rule): SPOTTY was once reset to ON_DEMAND."""
    problem = _problems(lookup, nodeGroups=_groups(capacityType=written))[
        "nodeGroups[1].capacityType"
    ]
    assert f"did you mean {meant}?" in problem.message
    cfg = _apply_every_fix(lookup, tmp_path, "dev", {"nodeGroups": _groups(capacityType=written)})
    assert cfg.node_groups[1].capacity_type == meant


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("dedicated=x86:NoSchedule", [("dedicated", "x86", "NoSchedule")]),
        (["dedicated=x86:NoSchedule"], [("dedicated", "x86", "NoSchedule")]),
        (
            ["a=b:NoExecute", {"key": "c", "value": "", "effect": "NoSchedule"}, "gpu:noschedule"],
            [("a", "b", "NoExecute"), ("c", "", "NoSchedule"), ("gpu", "", "NoSchedule")],
        ),
    ],
)
def test_a_kubectl_style_taint_is_rewritten_as_an_object(lookup, tmp_path, written, meant):
    problem = _problems(lookup, nodeGroups=_groups(taints=written))["nodeGroups[1].taints"]
    assert f"'nodeGroups[1].taints[0].key' {meant[0][0]}" in problem.fix  # rewritten, not dropped
    cfg = _apply_every_fix(lookup, tmp_path, "dev", {"nodeGroups": _groups(taints=written)})
    assert [(t.key, t.value, t.effect) for t in cfg.node_groups[1].taints] == meant


def test_a_desired_size_above_max_raises_max_and_offers_the_other_way(lookup, tmp_path):
    """The README's own `--path 'nodeGroups[0].desiredSize' 3` on the workshop's maxSize 2."""
    bad = {"nodeGroups": _groups(desiredSize=3)}
    problem = _problems(lookup, **bad)["nodeGroups[1].desiredSize"]
    assert problem.fix == "pulumi config set --stack dev --path 'nodeGroups[1].maxSize' 3"
    assert "pulumi config set --stack dev --path 'nodeGroups[1].desiredSize' 2" in problem.message
    cfg = _apply_every_fix(lookup, tmp_path, "dev", bad)
    assert (cfg.node_groups[1].desired_size, cfg.node_groups[1].max_size) == (3, 3)


def _taint(key="gpu-workload", value="", effect="NoSchedule"):
    return [{"key": key, "value": value, "effect": effect}]


@pytest.mark.parametrize(
    ("overrides", "kept"),
    [
        # A list that narrows the GPU pool stays a restriction (removing it allows every family).
        (
            {"gpuInstanceFamilies": ["g6", "G5x"]},
            lambda c: c.gpu_pool.instance_families == ("g6", "g5"),
        ),
        ({"gpuInstanceFamilies": "g6"}, lambda c: c.gpu_pool.instance_families == ("g6",)),
        ({"gpuInstanceFamilies": "g6, g5"}, lambda c: c.gpu_pool.instance_families == ("g6", "g5")),
        ({"gpuInstanceCategories": ["G"]}, lambda c: c.gpu_pool.instance_categories == ("g",)),
        ({"gpuCapacityTypes": ["Spot"]}, lambda c: c.gpu_pool.capacity_types == ("spot",)),
        (
            {"gpuCapacityTypes": ["spot", "ON_DEMAND"]},
            lambda c: c.gpu_pool.capacity_types == ("spot", "on-demand"),
        ),
        ({"gpuExpireAfter": "never"}, lambda c: c.gpu_pool.expire_after == "Never"),
        ({"gpuConsolidateAfter": "10 minutes"}, lambda c: c.gpu_pool.consolidate_after == "10m"),
        ({"gpuConsolidateAfter": "1.5h"}, lambda c: c.gpu_pool.consolidate_after == "1h30m"),
        ({"gpuNodePoolName": "GPU_Pool"}, lambda c: c.gpu_pool.name == "gpu-pool"),
        ({"gpuNodePoolName": ["gpu"]}, lambda c: c.gpu_pool.name == "gpu"),
        ({"gpuMaxGpus": "8 GPUs"}, lambda c: c.gpu_pool.max_gpus == 8),
        ({"checkTimeoutSeconds": "30m"}, lambda c: c.checks.timeout_seconds == 1800),
        # A number is read as written: 0 is 0s in any unit, half a GPU is at least one, a size
        # with its unit is that size, a size out of range the nearest one EKS takes.
        ({"gpuConsolidateAfter": "0"}, lambda c: c.gpu_pool.consolidate_after == "0s"),
        ({"gpuMaxGpus": "0.5"}, lambda c: c.gpu_pool.max_gpus == 1),
        ({"checkTimeoutSeconds": "1e+20"}, lambda c: c.checks.timeout_seconds == 86400),
        ({"nodeGroups": _groups(diskSize="100 GiB")}, lambda c: c.node_groups[1].disk_size == 100),
        (
            {"nodeGroups": _groups(minSize="3 nodes", desiredSize=3, maxSize=3)},
            lambda c: c.node_groups[1].min_size == 3,
        ),
        ({"nodeGroups": _groups(minSize=-1)}, lambda c: c.node_groups[1].min_size == 0),
        ({"nodeGroups": _groups(name="NG X86")}, lambda c: c.node_groups[1].name == "NG-X86"),
        (
            {"nodeGroups": _groups(instanceType="C6I.2XLARGE")},
            lambda c: c.node_groups[1].instance_type == "c6i.2xlarge",
        ),
        # Naming an EFA type asks for EFA: the fix keeps EFA on, with a type that has it.
        ({"efaInstanceType": "g6.8xlage"}, lambda c: c.checks.efa_instance_type == "g6.8xlarge"),
        ({"efaInstanceType": "g6.xlarge"}, lambda c: c.checks.efa_instance_type == "g6.8xlarge"),
        (
            {"distributedCheck": True, "distributedMinBusbwGBps": "100 GB/s"},
            lambda c: c.checks.distributed.min_busbw_gbps == 100.0,
        ),
        (
            {"distributedCheck": True, "distributedMinBusbwGBps": "400 Gbps"},
            lambda c: c.checks.distributed.min_busbw_gbps == 50.0,
        ),
        (
            {"distributedCheck": True, "distributedMinBusbwGBps": "99999"},
            lambda c: c.checks.distributed.min_busbw_gbps == 10000.0,  # the nearest allowed
        ),
        (
            {"distributedCheck": True, "distributedMinBusbwGBps": "-1"},
            lambda c: c.checks.distributed.min_busbw_gbps == 0.0,  # no floor, as -1 meant
        ),
        (
            {"distributedCheck": True, "distributedInstanceFamilies": ["g6", "G5"]},
            lambda c: c.checks.distributed.families == ("g6", "g5"),
        ),
        (
            {
                "distributedCheck": True,
                "distributedInstanceFamilies": ["g6", "p5"],
                "gpuInstanceCategories": ["g"],
            },
            lambda c: c.checks.distributed.families == ("g6",),
        ),
        # A taint keeps pods off, a label selects nodes: rewritten, never dropped.
        (
            {"nodeGroups": _groups(taints=_taint(key="gpu workload"))},
            lambda c: [t.key for t in c.node_groups[1].taints] == ["gpu-workload"],
        ),
        (
            {"nodeGroups": _groups(taints=_taint(key="team", value="ml team"))},
            lambda c: [t.value for t in c.node_groups[1].taints] == ["ml-team"],
        ),
        (
            {"nodeGroups": _groups(taints="gpu-workload")},
            lambda c: (
                [(t.key, t.effect) for t in c.node_groups[1].taints]
                == [("gpu-workload", "NoSchedule")]
            ),
        ),
        (
            {"nodeGroups": _groups(taints=_taint()[0])},  # one taint, not in a list
            lambda c: [t.key for t in c.node_groups[1].taints] == ["gpu-workload"],
        ),
        (
            {"nodeGroups": _groups(taints=[{"key": "gpu", "valu": "x86", "effect": "NoSchedule"}])},
            lambda c: [t.value for t in c.node_groups[1].taints] == ["x86"],  # a field's typo
        ),
        (
            {"nodeGroups": _groups(taints={"gpu": True})},  # kubectl's key=value, as a map
            lambda c: (
                [(t.key, t.value, t.effect) for t in c.node_groups[1].taints]
                == [("gpu", "true", "NoSchedule")]
            ),
        ),
        (
            {"nodeGroups": _groups(labels=["team=ml", "gpu"])},  # the one without a value goes
            lambda c: dict(c.node_groups[1].labels) == {"team": "ml"},
        ),
        (
            {"nodeGroups": _groups(labels=["team=ml", "tier=1"])},
            lambda c: dict(c.node_groups[1].labels) == {"team": "ml", "tier": "1"},
        ),
        (
            {"nodeGroups": _groups(labels="team=ml")},
            lambda c: dict(c.node_groups[1].labels) == {"team": "ml"},
        ),
        (
            {"nodeGroups": _groups(labels={"team name": "ml team", "tier": 1})},
            lambda c: dict(c.node_groups[1].labels) == {"team-name": "ml-team", "tier": "1"},
        ),
        (
            {"nodeGroups": _groups(amiType="bottlerocket_x86_64")},
            lambda c: c.node_groups[1].ami_type == "BOTTLEROCKET_x86_64",
        ),
        (
            {"nodeGroups": _groups(amiType="BOTTLEROCKET_ARM_64")},  # ng-x86 is c6i: x86
            lambda c: c.node_groups[1].ami_type == "BOTTLEROCKET_x86_64",
        ),
        # An admin pasted with spaces stays an admin; a role written bare stays assumed.
        (
            {"clusterAdminArns": [" arn:aws:iam::123456789012:role/Instructor "]},
            lambda c: c.cluster_admin_arns == ("arn:aws:iam::123456789012:role/Instructor",),
        ),
        (
            {"aws:assumeRoles": "arn:aws:iam::123456789012:role/Deployer"},
            lambda c: c.aws.assume_roles[0]["roleArn"] == DEPLOYER,
        ),
        ({"aws:assumeRoles": {"roleArn": DEPLOYER}}, lambda c: c.aws.assume_roles[0]["roleArn"]),
        (
            {"aws:assumeRoles": [{"rolearn": DEPLOYER, "sessionName": "toe"}]},
            lambda c: c.aws.assume_roles == ({"roleArn": DEPLOYER, "sessionName": "toe"},),
        ),
        (
            {"aws:assumeRoles": [{"roleArn": f" {DEPLOYER} ", "policyArns": READ_ONLY}]},
            lambda c: c.aws.assume_roles == ({"roleArn": DEPLOYER, "policyArns": [READ_ONLY]},),
        ),
        ({"aws:profile": ["workshop"]}, lambda c: c.aws.profile == "workshop"),
        # A version written as a tag or a patch release is that minor: never an upgrade.
        ({"kubernetesVersion": "v1.33"}, lambda c: c.kubernetes_version == "1.33"),
        ({"kubernetesVersion": "1.33.2"}, lambda c: c.kubernetes_version == "1.33"),
        (
            {"gpuCheckImage": "nvcr.io/nvidia/cuda:12.9.1-base-ubuntu24.04 "},  # pinned, padded
            lambda c: c.checks.gpu_image == "nvcr.io/nvidia/cuda:12.9.1-base-ubuntu24.04",
        ),
        # A misspelt field would drop the role: up would run as the caller, maybe elsewhere.
        (
            {"aws:assumeRoles": [{"rolearn": "arn:aws:iam::123456789012:role/Deployer"}]},
            lambda c: c.aws.assume_roles[0]["roleArn"] == DEPLOYER,
        ),
        (
            {"aws:assumeRole": {"RoleArn": "arn:aws:iam::123456789012:role/Deployer"}},
            lambda c: c.aws.assume_roles[0]["roleArn"] == DEPLOYER,
        ),
    ],
    ids=lambda v: "" if callable(v) else str(v)[:60],
)
def test_every_fix_keeps_what_was_meant(lookup, tmp_path, overrides, kept):
    """Each fix applied as the CLI would, until the config reads: what was written is kept."""
    problems = _problems(lookup, **overrides)
    assert not any(
        p.fix.startswith("pulumi config rm") and " && " not in p.fix for p in problems.values()
    ), problems
    assert kept(_apply_every_fix(lookup, tmp_path, "dev", overrides))


@pytest.mark.parametrize(
    ("overrides", "key", "advice"),
    [
        ({"gpuInstanceFamilies": ["5"]}, "gpuInstanceFamilies", "would allow every one"),
        (
            {"gpuCheckImage": "registry.example.com/team/gpu-check"},
            "gpuCheckImage",
            "gpuCheckImage 'registry.example.com/team/gpu-check:<tag>'",
        ),
        (
            {"efaCheckImage": "registry.example.com/efa:latest"},
            "efaCheckImage",
            "efaCheckImage 'registry.example.com/efa:<tag>'",
        ),
        ({"nodeGroups": _groups(taints="a:b:c")}, "nodeGroups[1].taints", "write each taint"),
        (
            {"nodeGroups": _groups(taints=[{"value": "x86", "effect": "NoSchedule"}])},
            "nodeGroups[1].taints[0].key",
            "removing the taint would let every pod",
        ),
        ({"nodeGroups": _groups(taints="é")}, "nodeGroups[1].taints", "write each taint"),
        ({"clusterAdminArns": ["Instructor"]}, "clusterAdminArns", "aws sts get-caller-identity"),
        ({"aws:assumeRoles": "Deployer"}, "aws:assumeRoles", "'aws:assumeRoles[0].roleArn'"),
        (
            {"aws:assumeRoles": [{"roleArn": DEPLOYER}, "Trainer"]},
            "aws:assumeRoles",
            "'aws:assumeRoles[1].roleArn'",
        ),
        # What the kubeconfig's `aws eks get-token --role` cannot do: a profile can.
        (
            {"aws:assumeRoles": [{"roleArn": DEPLOYER}, {"roleArn": TRAINER}]},
            "aws:assumeRoles",
            "the one before as its source_profile",
        ),
        (
            {"aws:assumeRoles": [{"roleArn": DEPLOYER, "externalId": "workshop-2026"}]},
            "aws:assumeRoles[0].externalId",
            "external_id in ~/.aws/config",
        ),
        (
            {"aws:assumeRoles": [{"roleArn": DEPLOYER, "sourceIdentity": "instructor"}]},
            "aws:assumeRoles[0].sourceIdentity",
            "trust policy does not demand it",
        ),
        (
            {"aws:assumeRoles": [{"sessionName": "toe"}]},
            "aws:assumeRoles[0].roleArn",
            "aws iam get-role",
        ),
        (
            {"aws:assumeRoles": [{"roleArn": DEPLOYER, "tags": ["team"]}]},
            "aws:assumeRoles[0].tags",
            "pulumi_aws.config.outputs.AssumeRoles",
        ),
        ({"aws:profile": {"name": "workshop"}}, "aws:profile", "aws configure list-profiles"),
        # Which was meant only the writer knows: both readings, each a command.
        ({"gpuMaxGpus": "1.5"}, "gpuMaxGpus", "gpuMaxGpus 1 or pulumi config set"),
        ({"gpuConsolidateAfter": "90"}, "gpuConsolidateAfter", "1m30s or pulumi config set"),
        (
            {"nodeGroups": _groups(diskSize="50.5")},
            "nodeGroups[1].diskSize",
            "diskSize' 50 or pulumi config set",
        ),
    ],
)
def test_what_cannot_be_read_gets_advice_not_a_reset(lookup, overrides, key, advice):
    """Removing these keys would widen the pool, swap the image for another or drop a taint."""
    fix = _problems(lookup, **overrides)[key].fix
    assert not fix.startswith("pulumi config") and advice in fix, fix


def test_an_unpinned_default_image_is_pinned_by_removing_the_key(lookup, tmp_path):
    """`nvcr.io/nvidia/cuda:latest` is the default's repository: the default is it, pinned."""
    cfg = _apply_every_fix(lookup, tmp_path, "dev", {"gpuCheckImage": "nvcr.io/nvidia/cuda:latest"})
    assert cfg.checks.gpu_image.startswith("nvcr.io/nvidia/cuda:12.")


def test_the_readmes_config_example_is_valid(lookup, tmp_path):
    import re

    readme = (ROOT / "README.md").read_text()
    example = re.search(r"`(pulumi config set --path '[^`]+)`", readme)[1]
    values = _project_copy(tmp_path)
    fixes.write_stack(tmp_path, "dev", fixes.apply(values, example, "dev"))
    assert read(lookup, project_dir=tmp_path).node_groups[0].max_size == 3


def test_a_path_set_without_path_is_named_and_set_with_it(lookup, tmp_path):
    key = "training-on-eks:nodeGroups[1].capacityType"
    problem = _problems(lookup, **{key: "SPOT"})[key]
    assert "set without --path" in problem.message
    assert problem.fix == (
        "pulumi config rm --stack dev 'training-on-eks:nodeGroups[1].capacityType' && "
        "pulumi config set --stack dev --path 'nodeGroups[1].capacityType' SPOT"
    )
    values = _project_copy(tmp_path, "dev", {key: "SPOT"})
    values.pop(key)  # what the literal `config rm` does
    fixed = fixes.apply(
        values, "pulumi config set --stack dev --path 'nodeGroups[1].capacityType' SPOT", "dev"
    )
    fixes.write_stack(tmp_path, "dev", fixed)
    assert read(lookup, project_dir=tmp_path).node_groups[1].capacity_type == "SPOT"


@pytest.mark.parametrize("written", ["spott", "SPOTTY", "On Demand", "ondemand"])
def test_node_groups_and_the_gpu_pool_read_a_capacity_type_alike(lookup, written):
    """Two keys, one rule (they once disagreed: `SPOTTY` was SPOT in the pool, ON_DEMAND in a
    node group): each fix names the same choice in its own API's spelling."""
    eks_to_karpenter = {"SPOT": "spot", "ON_DEMAND": "on-demand"}
    found = _problems(lookup, nodeGroups=_groups(capacityType=written), gpuCapacityTypes=[written])
    group = found["nodeGroups[1].capacityType"].fix.rsplit(" ", 1)[-1]
    pool = found["gpuCapacityTypes"].fix.rsplit(" ", 1)[-1]
    assert eks_to_karpenter[group] == pool
