"""The whole program under the offline harness: what it registers, tags, exports and depends on."""

from __future__ import annotations

import pulumi.dynamic
import pytest
import yaml
from conftest import WORKSHOP_STACK

from components import outputs
from toe.offline.harness import ProgramError, ProgramRun, run_program, unwrap_secret

DEV = yaml.safe_load(WORKSHOP_STACK.read_text())["config"]


DEPLOYER = "arn:aws:iam::123456789012:role/Deployer"


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    return run_program("dev")


def one(run: ProgramRun, type_: str, name: str | None = None):
    found = [r for r in run.of_type(type_) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in run.of_type(type_)]
    return found[0]


def components_of(run: ProgramRun) -> dict[str, str]:
    return {r.urn: r.type for r in run.resources if r.type.startswith("training-on-eks:")}


def test_components_and_their_children(dev):
    kinds = sorted(components_of(dev).values())
    assert kinds == [
        "training-on-eks:cluster:Cluster",
        "training-on-eks:gpu:GpuNodePool",
        "training-on-eks:network:Network",
        "training-on-eks:nodes:NodeGroups",
        "training-on-eks:validation:Validation",
    ]
    top = {r.urn for r in dev.resources if r.type.startswith("training-on-eks:")}
    for r in dev.resources:
        if r.type.startswith("training-on-eks:"):
            assert r.parent.endswith("pulumi:pulumi:Stack::training-on-eks-dev"), r.name
        else:
            assert r.parent in top, f"{r.type} {r.name} is not a component's child"


def test_cluster_is_auto_mode_eks_1_33_in_the_looked_up_subnets(dev):
    cluster = one(dev, "eks:index:Cluster")
    props = cluster.inputs
    assert props["name"] == "toe-dev"
    assert props["version"] == "1.33"
    assert props["authenticationMode"] == "API"
    assert props["autoMode"]["enabled"] is True
    assert props["autoMode"]["computeConfig"]["nodePools"] == ["general-purpose", "system"]
    assert props["endpointPrivateAccess"] is True
    assert props["skipDefaultNodeGroup"] is True
    # Auto Mode makes pulumi-eks skip these; managed node groups need them.
    assert props["useDefaultVpcCni"] is False
    assert props["kubeProxyAddonOptions"]["enabled"] is True
    assert props["vpcId"] == dev.outputs[outputs.VPC_ID]
    assert props["privateSubnetIds"] == dev.outputs[outputs.PRIVATE_SUBNET_IDS]
    assert props["publicSubnetIds"] == dev.outputs[outputs.PUBLIC_SUBNET_IDS]


def test_node_groups_are_private_with_explicit_ami_and_imdsv2(dev):
    groups = {
        r.inputs["nodeGroupName"]: r.inputs for r in dev.of_type("eks:index:ManagedNodeGroup")
    }
    assert set(groups) == {"ng-arm", "ng-x86"}
    assert groups["ng-arm"]["instanceTypes"] == ["c7g.2xlarge"]
    assert groups["ng-arm"]["amiType"] == "AL2023_ARM_64_STANDARD"
    assert groups["ng-x86"]["instanceTypes"] == ["c6i.2xlarge"]
    assert groups["ng-x86"]["amiType"] == "AL2023_x86_64_STANDARD"
    for props in groups.values():
        assert props["subnetIds"] == dev.outputs[outputs.PRIVATE_SUBNET_IDS]
        assert props["scalingConfig"] == {"minSize": 2.0, "desiredSize": 2.0, "maxSize": 2.0}
        assert props["enableIMDSv2"] is True
        assert props["labels"]["training-on-eks/node-group"] == props["nodeGroupName"]
        assert props["nodeRole"]  # a role, with the standard worker policies
    policies = {
        r.inputs["policyArn"].rsplit("/", 1)[-1]
        for r in dev.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert {
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonEC2ContainerRegistryReadOnly",
    } <= policies


def test_subnets_end_up_tagged_for_load_balancers_and_the_cluster(dev):
    public = set(dev.outputs[outputs.PUBLIC_SUBNET_IDS])
    private = set(dev.outputs[outputs.PRIVATE_SUBNET_IDS])
    for subnet_id in public:
        tags = dev.subnet_tags[subnet_id]
        assert tags["kubernetes.io/role/elb"] == "1"
        assert tags["kubernetes.io/cluster/toe-dev"] == "shared"
        assert "kubernetes.io/role/internal-elb" not in tags
    for subnet_id in private:
        tags = dev.subnet_tags[subnet_id]
        assert tags["kubernetes.io/role/internal-elb"] == "1"
        assert tags["kubernetes.io/cluster/toe-dev"] == "shared"
    others = set(dev.subnet_tags) - public - private
    assert others  # the decoy VPC's same-named subnets ...
    for subnet_id in others:  # ... are left alone
        assert not any(k.startswith("kubernetes.io/") for k in dev.subnet_tags[subnet_id])
    # One aws.ec2.Tag per subnet per key (cluster, role, the mark that the role tag is this
    # stack's); the subnets themselves are never managed.
    assert len(dev.of_type("aws:ec2/tag:Tag")) == 3 * len(public | private)
    assert not dev.of_type("aws:ec2/subnet:Subnet")


def test_shared_vpc_stack_leaves_role_tags_to_their_owner():
    run = run_program("dev", config={"manageSubnetRoleTags": False})
    keys = {r.inputs["key"] for r in run.of_type("aws:ec2/tag:Tag")}
    assert keys == {"kubernetes.io/cluster/toe-dev"}


def test_gpu_nodepool_and_jobs_use_the_explicit_cluster_provider(dev):
    provider = one(dev, "pulumi:providers:kubernetes")
    k8s_resources = [r for r in dev.resources if r.type.startswith("kubernetes:")]
    assert {r.type for r in k8s_resources} == {
        "kubernetes:karpenter.sh/v1:NodePool",
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:ConfigMap",
        "kubernetes:batch/v1:Job",
    }
    for r in k8s_resources:
        assert r.provider.startswith(provider.urn + "::"), r.name
    assert dev.config["pulumi:disable-default-providers"] == '["kubernetes"]'


def test_gpu_check_does_not_wait_for_the_node_groups(dev):
    """Jobs depend on the cluster (via its provider) and the NodePool only."""
    by_urn = dev.by_urn()

    def ancestors(urn: str, seen: set[str]) -> set[str]:
        r = by_urn.get(urn)
        if r is None or urn in seen:
            return seen
        seen.add(urn)
        edges = set(r.dependencies) | {u for us in r.property_dependencies.values() for u in us}
        if r.provider:
            edges.add(r.provider.rsplit("::", 1)[0])
        for dep in edges:
            ancestors(dep, seen)
        return seen

    nodepool = one(dev, "kubernetes:karpenter.sh/v1:NodePool")
    for job in dev.of_type("kubernetes:batch/v1:Job"):
        deps = ancestors(job.urn, set())
        assert nodepool.urn in deps
        types = {by_urn[u].type for u in deps if u in by_urn}
        assert "eks:index:Cluster" in types
        assert "eks:index:ManagedNodeGroup" not in types
        assert "training-on-eks:nodes:NodeGroups" not in types


def test_outputs_are_the_documented_set_and_the_kubeconfig_is_secret(dev):
    assert set(dev.outputs) == set(outputs.ALL)
    assert dev.secret_outputs == {outputs.KUBECONFIG}
    assert dev.outputs[outputs.CLUSTER_NAME] == "toe-dev"
    assert dev.outputs[outputs.REGION] == "ap-northeast-2"
    assert dev.outputs[outputs.UPDATE_KUBECONFIG_COMMAND] == (
        "aws eks update-kubeconfig --region ap-northeast-2 --name toe-dev"
    )
    assert dev.outputs[outputs.CLUSTER_ENDPOINT].startswith("https://")
    assert [g["amiType"] for g in dev.outputs[outputs.NODE_GROUPS]] == [
        "AL2023_ARM_64_STANDARD",
        "AL2023_x86_64_STANDARD",
    ]
    assert dev.outputs[outputs.GPU_NODE_POOL]["taints"] == ["gpu-workload:NoSchedule"]


def test_the_kubernetes_provider_gets_the_kubeconfig_as_a_secret(dev):
    provider = one(dev, "pulumi:providers:kubernetes")
    raw = provider.inputs["kubeconfig"]
    assert raw != unwrap_secret(raw), "the provider's kubeconfig input must be secret"


def _token_args(kubeconfig) -> list[str]:
    import json

    text = unwrap_secret(kubeconfig)
    return (json.loads(text) if isinstance(text, str) else text)["users"][0]["user"]["exec"]["args"]


@pytest.mark.parametrize(
    ("config", "program", "exported"),
    [
        ({}, [], []),
        # pulumi-eks leaves the profile out of its output (multi-user access); the program's
        # provider needs it, or it reaches the cluster as whoever the default credentials are.
        ({"aws:profile": "workshop"}, ["--profile", "workshop"], []),
        (
            {"aws:profile": "workshop", "aws:assumeRoles": [{"roleArn": DEPLOYER}]},
            ["--role", DEPLOYER, "--profile", "workshop"],
            ["--role", DEPLOYER],
        ),
    ],
)
def test_the_kubeconfigs_reach_the_cluster_as_the_aws_provider_does(config, program, exported):
    """The identity EKS made admin is the aws provider's: its profile, then its role."""
    run = run_program("dev", config=config)
    provider = one(run, "pulumi:providers:kubernetes")
    base = ["--region", "ap-northeast-2", "eks", "get-token", "--cluster-name", "toe-dev"]
    assert _token_args(provider.inputs["kubeconfig"]) == [*base, "--output", "json", *program]
    assert _token_args(run.outputs[outputs.KUBECONFIG]) == [*base, "--output", "json", *exported]
    command = run.outputs[outputs.UPDATE_KUBECONFIG_COMMAND]
    assert command.endswith(f"--name toe-dev --role-arn {DEPLOYER}" if exported else "toe-dev")
    given = {"aws:profile": "profileName", "aws:assumeRoles": "roleArn"}
    opts = run.named("cluster-eks").inputs.get("providerCredentialOpts")
    assert set(opts or {}) == {given[k] for k in config}


def test_two_attendee_stacks_never_collide():
    runs = [run_program(stack, config=DEV) for stack in ("attendee-01", "attendee-02")]
    names = [
        {
            run.named("cluster-eks").inputs["name"],
            *(
                r.inputs["key"]
                for r in run.of_type("aws:ec2/tag:Tag")
                if r.inputs["key"].startswith("kubernetes.io/cluster/")
            ),
        }
        for run in runs
    ]
    assert names[0] == {"toe-attendee-01", "kubernetes.io/cluster/toe-attendee-01"}
    assert names[1] == {"toe-attendee-02", "kubernetes.io/cluster/toe-attendee-02"}
    assert runs[0].outputs[outputs.CLUSTER_NAME] != runs[1].outputs[outputs.CLUSTER_NAME]


def test_two_evaluations_register_identical_resources(dev):
    again = run_program("dev")
    assert [(r.urn, r.inputs, r.dependencies, r.provider) for r in again.resources] == [
        (r.urn, r.inputs, r.dependencies, r.provider) for r in dev.resources
    ]


def test_bad_config_fails_before_anything_is_registered():
    with pytest.raises(ProgramError) as err:
        run_program("dev", config={"kubernetesVersion": "133", "gpuMaxGpus": -1})
    text = err.value.message
    assert "Stack 'dev' has 2 configuration problems; nothing was created" in text
    assert "kubernetesVersion" in text and "gpuMaxGpus" in text
    assert "fix: pulumi config set --stack dev kubernetesVersion 1.3" in text


def test_missing_vpc_fails_with_the_tag_value():
    with pytest.raises(ProgramError) as err:
        run_program("dev", config={"vpcName": "no-such-vpc"})
    assert "no VPC carries Name='no-such-vpc' in ap-northeast-2" in err.value.message


def test_preview_renders_values_known_only_after_up_as_computed():
    run = run_program("dev", preview=True)
    assert repr(run.outputs[outputs.CLUSTER_ENDPOINT]) == "<computed>"
    assert run.outputs[outputs.CLUSTER_NAME] == "toe-dev"
    assert run.subnet_tags  # preview changes nothing ...
    assert not any(
        k.startswith("kubernetes.io/") for tags in run.subnet_tags.values() for k in tags
    )


def test_validation_outputs_read_the_finished_jobs(dev):
    validation = dev.outputs[outputs.VALIDATION]
    gpu, efa = validation["gpu"], validation["efa"]
    assert gpu["status"] == "passed"
    assert gpu["gpus"] == [
        {"name": "NVIDIA A10G", "driverVersion": "570.195.03", "memoryMiB": 23028}
    ]
    assert (gpu["instanceType"], gpu["zone"], gpu["cudaVersion"]) == (
        "g5.xlarge",
        "ap-northeast-2a",
        "12.8",
    )
    assert gpu["durationSeconds"] == 3
    jobs = {
        r.inputs["metadata"]["labels"]["app.kubernetes.io/name"]: r.outputs["metadata"]["name"]
        for r in dev.of_type("kubernetes:batch/v1:Job")
    }
    assert gpu["jobName"] == jobs["gpu-check"] and efa["jobName"] == jobs["efa-check"]
    assert efa["status"] == "unavailable" and efa["requested"] is False
    gpu_line, efa_line = dev.outputs[outputs.VALIDATION_SUMMARY].splitlines()
    assert gpu_line == (
        "gpu: passed — NVIDIA A10G on g5.xlarge (ap-northeast-2a), driver 570.195.03, CUDA 12.8, "
        "23028 MiB"
    )
    assert efa_line.startswith("efa: unavailable — not requested")


def test_readout_waits_for_both_jobs_and_runs_nothing_in_preview(dev):
    (readout,) = dev.of_type("pulumi-python:dynamic/training-on-eks:ValidationReadout")
    jobs = {r.urn for r in dev.of_type("kubernetes:batch/v1:Job")}
    deps = set(readout.dependencies) | {
        u for us in readout.property_dependencies.values() for u in us
    }
    assert jobs <= deps
    preview = run_program("dev", preview=True)
    assert repr(preview.outputs[outputs.VALIDATION]) == "<computed>"


def test_changing_run_id_replaces_the_jobs_and_the_readout(dev):
    from components.readout import ReadoutProvider

    rerun = run_program("dev", config={"runId": "2"})
    for old, new in zip(
        dev.of_type("kubernetes:batch/v1:Job"),
        rerun.of_type("kubernetes:batch/v1:Job"),
        strict=True,
    ):
        labels = lambda r: r.inputs["spec"]["template"]["metadata"]["labels"]  # noqa: E731
        assert labels(old)["training-on-eks/run-id"] == "1"
        assert labels(new)["training-on-eks/run-id"] == "2"  # a template change replaces a Job
    (old,) = dev.of_type("pulumi-python:dynamic/training-on-eks:ValidationReadout")
    (new,) = rerun.of_type("pulumi-python:dynamic/training-on-eks:ValidationReadout")
    diff = ReadoutProvider().diff("id", unwrap_secret(old.inputs), unwrap_secret(new.inputs))
    assert diff.replaces == ["runId"]


def test_a_failed_gpu_check_fails_the_update_with_its_reason():
    import dataclasses

    from toe.offline.account import CheckOutcome, load_account

    account = load_account()
    failed = (
        "format=toe-check/1\ncheck=gpu\nstatus=failed\nexit=9\n"
        "reason=nvidia-smi exited 9: No devices were found\ncuda=\ncount=0\ntruncated=0\n--\nend\n"
    )
    checks = {**account.cluster.checks, "gpu-check": CheckOutcome(0, failed)}
    broken = dataclasses.replace(
        account, cluster=dataclasses.replace(account.cluster, checks=checks)
    )
    with pytest.raises(ProgramError) as err:
        run_program("dev", account=broken)
    assert "the GPU check is failed: nvidia-smi exited 9: No devices were found" in str(err.value)


def test_preview_hands_the_readout_check_the_unknowns_the_engine_does(monkeypatch):
    """The readout's `check` runs at preview on Unknown() objects (the cluster is not created
    yet); a provider that rejects them fails the harness preview as it fails `pulumi preview`."""
    from components import readout
    from toe.offline import harness

    seen = []
    original = readout.ReadoutProvider.check

    def spy(self, olds, news):
        seen.append({k: readout.is_unknown(v) for k, v in news.items() if not k.startswith("__")})
        return original(self, olds, news)

    monkeypatch.setattr(readout.ReadoutProvider, "check", spy)
    run_program("dev", preview=True)
    assert seen and seen[0]["endpoint"] and seen[0]["certificateAuthority"]
    assert seen[0]["gpuJobName"] and seen[0]["efaJobName"]  # the Jobs do not exist yet either
    assert not seen[0]["clusterName"]

    def strict(self, olds, news):  # the check as it was before unknowns were handled
        bad = [k for k in ("endpoint", "certificateAuthority") if not isinstance(news[k], str)]
        failures = [pulumi.dynamic.CheckFailure(k, f"{k} must be a non-empty string") for k in bad]
        return pulumi.dynamic.CheckResult(news, failures)

    monkeypatch.setattr(readout.ReadoutProvider, "check", strict)
    with pytest.raises(harness.ProgramError, match="endpoint must be a non-empty string"):
        run_program("dev", preview=True)


def test_config_and_look_up_problems_are_reported_together():
    """A wrong VPC name shows up with the node-group typo, not after it is fixed."""
    groups = yaml.safe_load(WORKSHOP_STACK.read_text())["config"]["training-on-eks:nodeGroups"]
    groups[1]["instanceType"] = "c6i.2xlage"
    with pytest.raises(ProgramError) as err:
        run_program("dev", config={"vpcName": "no-such-vpc", "nodeGroups": groups}, preview=True)
    text = err.value.message
    assert "has 2 configuration problems" in text
    assert "vpcName: no VPC carries Name='no-such-vpc'" in text
    assert "nodeGroups[1].instanceType: EC2 does not know instance type 'c6i.2xlage'" in text
    assert "did you mean c6i.2xlarge?" in text


def test_role_tags_set_before_the_stack_are_left_alone_and_noted():
    """A role tag the VPC's builder set would be adopted by aws.ec2.Tag and deleted on destroy."""
    import dataclasses

    from toe.offline.account import load_account

    workshop = load_account()
    vpcs = list(workshop.vpcs)
    subnets = [
        dataclasses.replace(s, tags={"kubernetes.io/role/elb": "1"})
        if s.name == "TOE-pub-subnet-a"
        else s
        for s in vpcs[0].subnets
    ]
    vpcs[0] = dataclasses.replace(vpcs[0], subnets=tuple(subnets))
    run = run_program("dev", account=dataclasses.replace(workshop, vpcs=tuple(vpcs)))
    roles = [
        r for r in run.of_type("aws:ec2/tag:Tag") if r.inputs["key"] == "kubernetes.io/role/elb"
    ]
    assert len(roles) == 1  # only the other public subnet's, which had none
    notes = run.outputs[outputs.NETWORK_NOTES]
    assert "kubernetes.io/role/elb=1 was already on subnet-" in notes
    assert "(TOE-pub-subnet-a) before this stack: left as it is, not managed" in notes


def test_the_stacks_own_role_tags_stay_its_own_on_the_next_up():
    from toe.offline import harness

    first = run_program("dev")
    tagged = first.subnet_tags
    assert all(
        tags.get("training-on-eks/role-tags") == "dev"
        for tags in tagged.values()
        if "kubernetes.io/role/elb" in tags or "kubernetes.io/role/internal-elb" in tags
    )
    # The next `up` looks the subnets up with those tags on them: it must keep managing them.
    from components.network import role_tag_plan
    from core.network_lookup import SubnetFacts

    subnet = SubnetFacts(
        "subnet-1",
        "TOE-pub-subnet-a",
        "ap-northeast-2a",
        "10.0.0.0/24",
        next(t for t in tagged.values() if "kubernetes.io/role/elb" in t),
    )
    assert role_tag_plan(subnet, "kubernetes.io/role/elb", "dev", True) == (True, None)
    manage, note = role_tag_plan(subnet, "kubernetes.io/role/elb", "attendee01", True)
    assert not manage and "managed by stack dev" in note
    assert harness  # the run above went through the harness


def test_the_deploying_identity_gets_no_second_access_entry(caplog):
    me = "arn:aws:iam::123456789012:user/workshop-instructor"  # the harness's caller
    other = "arn:aws:iam::123456789012:role/Instructor"
    with caplog.at_level("WARNING"):
        run = run_program("dev", config={"clusterAdminArns": [me, other]})
    (cluster,) = run.of_type("eks:index:Cluster")
    entries = cluster.inputs["accessEntries"]
    assert [e["principalArn"] for e in entries.values()] == [other]
    assert f"clusterAdminArns: {me} is the identity running this update" in caplog.text


def test_readout_and_teardown_reach_aws_as_the_provider_does():
    run = run_program(
        "dev",
        config={
            "aws:profile": "workshop",
            "aws:assumeRoles": [{"roleArn": "arn:aws:iam::123456789012:role/Deployer"}],
        },
    )
    (readout,) = run.of_type("pulumi-python:dynamic/training-on-eks:ValidationReadout")
    assert readout.inputs["awsProfile"] == "workshop"
    assert readout.inputs["assumeRoles"] == [{"roleArn": "arn:aws:iam::123456789012:role/Deployer"}]
    assert readout.inputs["region"] == "ap-northeast-2"
