"""The account file `toe synth --account` reads: one schema, every problem at once, true fixes."""

import copy
import json

import jsonschema
import pytest
import yaml

import core.account_checks as ac
import core.wellknown as wk
from core.config.model import KARPENTER_CAPACITY_TYPES
from toe.cli import main
from toe.offline.account import DEFAULT_QUOTAS, WORKSHOP_ACCOUNT, load_account
from toe.offline.account_file import SCHEMA, AccountError, FileProblem

# Every mistake below, and where each is reported.
MISTAKES = {
    "region": "ap-northeast-2",
    "vpcs": [
        {
            "name": "training-on-eks",
            "cidr": "10.0.0.0/8",  # a /8: too large
            "subnet": [  # misspelt key
                {"name": "TOE-priv-subnet-a", "az": "A", "cidr": "10.0.16.0/20"},
            ],
        },
        {
            "name": "data-platform",
            "cidr": "10.1.0.1/16",  # host bits set
            "subnets": {"name": 5, "az": "ap-northeast-2c", "cidr": "10.1.0.0/24"},  # no list
        },
    ],
    "quotas": {"L-DB2E81BA": "96", "l-417a185b": 8},
    "cluster": {
        "gpuNode": {
            "instanceType": "g5.xlarg",
            "zone": "ap-northeast-2 a",
            "capacityType": "OnDemand",
        },
        "checks": {
            "gpu_check": {"exitCode": "1", "message": "[bold]not markup[/bold]"},
            "efa-check": {"exitcode": 0, "message": "x"},
        },
    },
}


def _load(tmp_path, document, name="account.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_account(path)


def _problems(tmp_path, document) -> tuple[FileProblem, ...]:
    with pytest.raises(AccountError) as raised:
        _load(tmp_path, document)
    return raised.value.problems


def test_the_schema_is_valid_and_the_workshop_account_follows_it():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(WORKSHOP_ACCOUNT.read_text()), schema)
    assert load_account().cluster.checks[wk.GPU_CHECK].exit_code == 0


def test_the_schema_names_what_the_code_reads():
    """Its lists of names are the kernel's: quota codes the checks read, check (Job) names,
    Karpenter's capacity types."""
    defs = json.loads(SCHEMA.read_text())
    quotas = defs["properties"]["quotas"]["propertyNames"]["enum"]
    assert set(quotas) == set(DEFAULT_QUOTAS) == set(ac.QUOTA_NAMES)
    checks = defs["definitions"]["cluster"]["properties"]["checks"]["propertyNames"]["enum"]
    assert set(checks) == {wk.GPU_CHECK, wk.EFA_CHECK, wk.DISTRIBUTED_CHECK}
    capacity = defs["definitions"]["gpuNode"]["properties"]["capacityType"]["enum"]
    assert tuple(capacity) == KARPENTER_CAPACITY_TYPES


def test_every_mistake_is_reported_at_once_and_its_fix_keeps_what_was_meant(tmp_path):
    found = _problems(tmp_path, MISTAKES)
    assert {p.key for p in found} == {
        "vpcs[0].cidr",
        "vpcs[0].subnet",
        "vpcs[1].cidr",
        "vpcs[1].subnets",
        "quotas.L-DB2E81BA",
        "quotas.l-417a185b",
        "cluster.gpuNode.instanceType",
        "cluster.gpuNode.zone",
        "cluster.gpuNode.capacityType",
        "cluster.checks.gpu_check",
        "cluster.checks.gpu_check.exitCode",
        "cluster.checks.efa-check.exitcode",
    }
    # What a misspelt key or a list written as one item holds is judged once the fix has put
    # it where it belongs: here in a second round, whose problems are all fixed by edits too.
    fixed, rounds = copy.deepcopy(MISTAKES), 0
    while found:
        assert all(p.edit is not None for p in found), [p.key for p in found if p.edit is None]
        # Values first, then keys' names: a rename moves what is below it.
        for problem in sorted(found, key=lambda p: (p.edit.rename is not None, -len(p.edit.path))):
            problem.edit.apply(fixed)
        rounds += 1
        try:
            _load(tmp_path, fixed)
            found = ()
        except AccountError as error:
            found = error.problems
            assert {p.key for p in found} == {
                "vpcs[0].subnets[0].az",
                "vpcs[1].subnets[0].name",
            }
    assert rounds == 2
    account = _load(tmp_path, fixed)
    assert account.vpcs[0].cidr == "10.0.0.0/16" and account.vpcs[1].cidr == "10.1.0.0/16"
    assert account.vpcs[0].subnets[0].az == "ap-northeast-2a"
    assert account.vpcs[1].subnets[0].name == "5"
    assert account.quotas[ac.QUOTA_G_VT] == 96.0 and account.quotas[ac.QUOTA_P] == 8.0
    node = account.cluster
    assert (node.instance_type, node.zone, node.capacity_type) == (
        "g5.xlarge",
        "ap-northeast-2a",
        "on-demand",
    )
    assert node.checks[wk.GPU_CHECK].exit_code == 1
    assert node.checks[wk.GPU_CHECK].message == "[bold]not markup[/bold]"
    assert node.checks[wk.EFA_CHECK].exit_code == 0


@pytest.mark.parametrize(
    ("subnets", "key", "said", "fix"),
    [
        (
            [{"name": "a", "az": "ap-northeast-2a", "cidr": "10.9.0.0/24"}],
            "vpcs[0].subnets[0].cidr",
            "10.9.0.0/24 is outside the VPC's 10.0.0.0/16",
            "inside 10.0.0.0/16",
        ),
        (
            [
                {"name": "a", "az": "ap-northeast-2a", "cidr": "10.0.0.0/20"},
                {"name": "b", "az": "ap-northeast-2c", "cidr": "10.0.8.0/24"},
            ],
            "vpcs[0].subnets[1].cidr",
            "10.0.8.0/24 overlaps vpcs[0].subnets[0].cidr",
            "that vpcs[0].subnets[0].cidr does not use",
        ),
        (
            [{"name": "a", "az": "ap-northeast-2z", "cidr": "10.0.0.0/24"}],
            "vpcs[0].subnets[0].az",
            "'ap-northeast-2z' is not a zone of ap-northeast-2 (ap-northeast-2a,",
            "set it to one of ap-northeast-2a,",
        ),
        (
            [{"name": "a", "cidr": "10.0.0.0/24"}],
            "vpcs[0].subnets[0].az",
            "is missing: an availability zone of the region",
            'add az, e.g. "ap-northeast-2a"',
        ),
        (
            [{"name": "a", "az": "ap-northeast-2a", "cidr": "10.0.0/24"}],
            "vpcs[0].subnets[0].cidr",
            "'10.0.0/24' is not an IPv4 CIDR block",
            "set it to one such as",
        ),
    ],
)
def test_what_no_edit_can_know_gets_guidance(tmp_path, subnets, key, said, fix):
    """A wrong zone letter or a clashing block has no one right answer: the fix says what to
    choose from rather than choosing."""
    document = {"region": "ap-northeast-2", "vpcs": [{"name": "v", "cidr": "10.0.0.0/16"}]}
    document["vpcs"][0]["subnets"] = subnets
    (problem,) = _problems(tmp_path, document)
    assert (problem.key, problem.edit) == (key, None)
    assert said in problem.message and fix in problem.fix


def test_the_gpu_node_is_one_the_gpu_pool_could_launch(tmp_path):
    """amd64 with NVIDIA GPUs (EC2's data, as moto copies it): not a CPU type, not Graviton."""
    for kind in ("m5.large", "g5g.xlarge"):
        node = {"gpuNode": {"instanceType": kind, "zone": "ap-northeast-2a"}}
        (problem,) = _problems(tmp_path, {"region": "ap-northeast-2", "vpcs": [], "cluster": node})
        assert problem.key == "cluster.gpuNode.instanceType"
        assert f"{kind} is not amd64 with NVIDIA GPUs" in problem.message
        assert "g4dn.xlarge" in problem.fix and "g5g" not in problem.fix


def test_an_unknown_region_stops_the_zone_checks_only(tmp_path):
    document = {"region": "ap-northeast2", "vpcs": [{"name": "v", "cidr": "10.0.0.0/33"}]}
    found = _problems(tmp_path, document)
    assert [(p.key, p.fix) for p in found] == [
        ("region", 'set region to "ap-northeast-2"'),
        ("vpcs[0].cidr", "set it to one such as 10.0.16.0/20"),
    ]


def test_synth_prints_every_problem_as_text(tmp_path, capsys):
    """Text from the file is data: rich markup in it is printed, not rendered."""
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    bad = tmp_path / "bad.yaml"
    subnet = {"name": "s", "az": "[red]2a", "cidr": "10.0.0.0/24"}
    vpcs = [{"name": "v", "cidr": "10.0.0.0/16", "subnets": [subnet]}, {"name": "w"}]
    bad.write_text(yaml.safe_dump({"region": "ap-northeast-2", "vpcs": vpcs}))
    argv = ["synth", "--dir", str(tmp_path), "--account", str(bad), "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    said = capsys.readouterr().err
    assert f"synth: {bad}: 2 problems in the account file:" in said
    assert "  - vpcs[0].subnets[0].az: '[red]2a' is not a zone of ap-northeast-2" in said
    assert "  - vpcs[1].cidr: is missing: the VPC's IPv4 CIDR block, /16 to /28" in said
    assert '    fix: add cidr, e.g. "10.0.0.0/16"' in said


def test_another_region_or_zone_is_not_guessed(tmp_path):
    """`ap-northeast-9` is no typo of one region: the fix says what to choose, it picks none."""
    node = {"gpuNode": {"instanceType": "g5.xlarge", "zone": "ap-northeast-2e"}}
    document = {"region": "ap-northeast-2", "vpcs": [], "cluster": node}
    (zone,) = _problems(tmp_path, document)
    assert zone.edit is None and zone.fix.startswith("set it to one of ap-northeast-2a")
    (region,) = _problems(tmp_path, {"region": "ap-northeast-9", "vpcs": []})
    assert region.edit is None and region.fix == "set region to one such as ap-northeast-2"
