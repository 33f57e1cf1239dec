"""Attendee stack files: generation from the dev stack, validation, listing and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from toe import attendees
from toe.cli import main

DEV_STACK = """\
encryptionsalt: v1:abc:def
config:
  aws:region: ap-northeast-2
  training-on-eks:clusterName: workshop-dev
  training-on-eks:kubernetesVersion: "1.33"
  training-on-eks:vpcName: training-on-eks
  training-on-eks:privateSubnetPattern: TOE-priv-subnet-*
  training-on-eks:publicSubnetPattern: TOE-pub-subnet-*
  training-on-eks:nodeGroups:
    - name: ng-arm
      instanceType: c7g.2xlarge
      minSize: 2
    - name: ng-x86
      instanceType: c6i.2xlarge
      minSize: 2
  training-on-eks:gpuInstanceFamilies:
    - g6
    - g5
  training-on-eks:gpuLimit: 8
  training-on-eks:runId: "7"
  training-on-eks:webhookToken:
    secure: v1:AAAA:BBBB
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: training-on-eks\n", encoding="utf-8")
    (tmp_path / "Pulumi.dev.yaml").write_text(DEV_STACK, encoding="utf-8")
    return tmp_path


def _config(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["config"]


def test_generated_file_copies_dev_overrides_in_order_except_per_stack_values(project: Path):
    planned = attendees.plan_attendees(project, ["alice"])
    attendees.write_planned(planned)
    path = project / "Pulumi.alice.yaml"
    config = _config(path)

    assert list(config) == [
        "aws:region",
        "training-on-eks:kubernetesVersion",
        "training-on-eks:vpcName",
        "training-on-eks:privateSubnetPattern",
        "training-on-eks:publicSubnetPattern",
        "training-on-eks:nodeGroups",
        "training-on-eks:gpuInstanceFamilies",
        "training-on-eks:gpuLimit",
        "training-on-eks:manageSubnetRoleTags",
    ]
    assert config["training-on-eks:kubernetesVersion"] == "1.33"  # still a string
    assert config["training-on-eks:nodeGroups"][1] == {
        "name": "ng-x86",
        "instanceType": "c6i.2xlarge",
        "minSize": 2,
    }
    assert config["training-on-eks:manageSubnetRoleTags"] is False
    assert "encryptionsalt" not in yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(planned[0].skipped) == {
        "encryptionsalt",
        "training-on-eks:clusterName",
        "training-on-eks:runId",
        "training-on-eks:webhookToken",
    }


def test_generated_file_has_a_header_and_block_style(project: Path):
    attendees.write_planned(attendees.plan_attendees(project, ["attendee01"]))
    text = (project / "Pulumi.attendee01.yaml").read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]

    assert header[0] == f"{attendees.GENERATED_MARK} from Pulumi.dev.yaml."
    assert "toe-attendee01" in header[1]
    assert "stack 'dev' owns" in header[2]
    assert "{" not in text and "[" not in text  # block style, no flow collections
    assert "  - name: ng-arm\n" in text


def test_shared_vpc_leaves_role_tags_to_the_owner_only(project: Path):
    planned = attendees.plan_attendees(
        project, ["a1", "a2", "a3"], role_tags_owner="a2", shared_vpc=True
    )
    attendees.write_planned(planned)
    manages = {
        name: _config(project / f"Pulumi.{name}.yaml")[attendees.ROLE_TAGS_KEY]
        for name in ("a1", "a2", "a3")
    }
    assert manages == {"a1": False, "a2": True, "a3": False}


def test_separate_vpcs_let_every_stack_manage_its_role_tags(project: Path):
    attendees.write_planned(attendees.plan_attendees(project, ["a1", "a2"], shared_vpc=False))
    assert _config(project / "Pulumi.a1.yaml")[attendees.ROLE_TAGS_KEY] is True
    assert _config(project / "Pulumi.a2.yaml")[attendees.ROLE_TAGS_KEY] is True


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bad name", "Pulumi stack names"),
        ("ali/ce", "Pulumi stack names"),
        ("", "Pulumi stack names"),
        ("x" * 101, "Pulumi stack names"),
        ("alice.k", "not a valid EKS name"),
        ("_alice", None),  # toe-_alice is a valid EKS name: starts with 't'
    ],
)
def test_stack_name_rules(name: str, reason: str | None):
    errors = attendees.stack_name_errors(name)
    if reason is None:
        assert errors == []
    else:
        assert len(errors) == 1 and reason in errors[0]


def test_every_problem_is_reported_at_once_and_nothing_is_written(project: Path):
    (project / "Pulumi.bob.yaml").write_text("config: {}\n", encoding="utf-8")
    with pytest.raises(attendees.AttendeeError) as raised:
        attendees.plan_attendees(project, ["bad name", "bob", "carol", "carol", "dev"])
    lines = str(raised.value).splitlines()
    assert len(lines) == 4
    assert any("'bad name'" in line for line in lines)
    assert any("Pulumi.bob.yaml already exists; pass --force" in line for line in lines)
    assert any("'carol' is named twice" in line for line in lines)
    assert any("'dev' is the source stack" in line for line in lines)
    assert not (project / "Pulumi.carol.yaml").exists()


def test_force_overwrites_but_keeps_the_stacks_own_encryption(project: Path):
    bob = project / "Pulumi.bob.yaml"
    bob.write_text(
        "encryptionsalt: v1:bob:salt\n"
        "config:\n"
        "  aws:region: us-east-1\n"
        "  training-on-eks:apiKey:\n"
        "    secure: v1:bob:cipher\n",
        encoding="utf-8",
    )
    attendees.write_planned(attendees.plan_attendees(project, ["bob"], force=True))
    document = yaml.safe_load(bob.read_text(encoding="utf-8"))
    assert document["config"]["aws:region"] == "ap-northeast-2"
    assert document["encryptionsalt"] == "v1:bob:salt"
    assert document["config"]["training-on-eks:apiKey"] == {"secure": "v1:bob:cipher"}
    assert "training-on-eks:webhookToken" not in document["config"]  # dev's key, dev's cipher


def test_missing_source_is_reported(tmp_path: Path):
    with pytest.raises(attendees.AttendeeError, match="source stack file is missing"):
        attendees.plan_attendees(tmp_path, ["alice"], source_stack="dev")
    (tmp_path / "Pulumi.workshop.yaml").write_text("config: {}\n")
    with pytest.raises(attendees.AttendeeError, match=r"\(see --from; stacks here: workshop\)"):
        attendees.plan_attendees(tmp_path, ["alice"], source_stack="dev")


def test_numbered_names_pad_to_the_widest_number():
    assert attendees.numbered_names(3) == ["attendee01", "attendee02", "attendee03"]
    assert attendees.numbered_names(2, "u", start=99) == ["u099", "u100"]
    with pytest.raises(attendees.AttendeeError):
        attendees.numbered_names(0)


def test_list_reports_cluster_region_and_role_tags(project: Path):
    attendees.write_planned(attendees.plan_attendees(project, ["a1"]))
    (project / "Pulumi.solo.yaml").write_text("config:\n  aws:region: us-west-2\n", "utf-8")
    listed = {s.name: s for s in attendees.list_stack_files(project)}

    assert sorted(listed) == ["a1", "dev", "solo"]
    assert listed["dev"].cluster_name == "workshop-dev"  # explicit override
    assert listed["a1"].cluster_name == "toe-a1"
    assert listed["dev"].manages_role_tags and listed["solo"].manages_role_tags
    assert not listed["a1"].manages_role_tags
    assert listed["solo"].region == "us-west-2"
    assert listed["a1"].generated and not listed["dev"].generated
    assert attendees.stack_names(project) == ["a1", "dev", "solo"]


def test_cli_add_count_then_list_json(project: Path, capsys):
    assert main(["attendees", "add", "--count", "3", "--dir", str(project)]) == 0
    out = capsys.readouterr().out
    assert out.count("wrote ") == 3
    assert "training-on-eks:webhookToken" in out  # the operator is told what was not copied

    assert main(["attendees", "list", "--json", "--dir", str(project)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["attendee01", "attendee02", "attendee03", "dev"]
    assert [r["managesRoleTags"] for r in rows] == [False, False, False, True]


def test_cli_table_and_refusals(project: Path, capsys):
    assert main(["attendees", "add", "alice", "--dir", str(project)]) == 0
    assert main(["attendees", "add", "alice", "--dir", str(project)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["attendees", "add", "alice", "--count", "2", "--dir", str(project)]) == 2
    assert main(["attendees", "list", "--dir", str(project)]) == 0
    out = capsys.readouterr().out
    assert "toe-alice" in out and "ap-northeast-2" in out


def test_cli_table_says_a_region_no_file_sets_is_not_set(project: Path, capsys):
    """Pulumi.yaml has no aws:region: a stack file without one has no region at all."""
    (project / "Pulumi.noregion.yaml").write_text("config: {}\n", "utf-8")
    assert main(["attendees", "list", "--dir", str(project)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if " noregion " in line)
    assert "not set" in row and "default" not in row
    (project / "Pulumi.yaml").write_text(
        "name: training-on-eks\nconfig:\n  aws:region:\n    value: us-west-2\n", "utf-8"
    )
    assert main(["attendees", "list", "--dir", str(project)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if " noregion " in line)
    assert "us-west-2 (Pulumi.yaml)" in row


def test_cli_warns_when_the_role_tag_owner_does_not_manage_them(project: Path, capsys):
    dev = project / "Pulumi.dev.yaml"
    dev.write_text(DEV_STACK + "  training-on-eks:manageSubnetRoleTags: false\n", "utf-8")
    assert main(["attendees", "add", "a1", "--dir", str(project)]) == 0
    assert "no stack manages" in capsys.readouterr().out
    assert (
        main(["attendees", "add", "a2", "--role-tags-owner", "ghost", "--dir", str(project)]) == 0
    )
    assert "'ghost' has no stack file" in capsys.readouterr().out
    assert main(["attendees", "add", "a3", "--role-tags-owner", "a3", "--dir", str(project)]) == 0
    assert "note:" not in capsys.readouterr().out


def test_a_symlinked_stack_file_is_refused_and_nothing_is_written_outside(project: Path, tmp_path):
    outside = tmp_path / "outside" / "Pulumi.attendee01.yaml"  # dangling: does not exist yet
    (project / "Pulumi.attendee01.yaml").symlink_to(outside)
    with pytest.raises(attendees.AttendeeError, match="is a symbolic link"):
        attendees.plan_attendees(project, ["attendee01"], force=True)
    assert not outside.exists() and not outside.parent.exists()


def test_force_keeps_the_stacks_own_cluster_name_and_run_id(project: Path):
    path = project / "Pulumi.attendee01.yaml"
    attendees.write_planned(attendees.plan_attendees(project, ["attendee01"]))
    document = yaml.safe_load(path.read_text())
    document["config"]["training-on-eks:clusterName"] = "toe-a01"
    document["config"]["training-on-eks:runId"] = "7"
    path.write_text(yaml.safe_dump(document))
    attendees.write_planned(attendees.plan_attendees(project, ["attendee01"], force=True))
    config = yaml.safe_load(path.read_text())["config"]
    assert config["training-on-eks:clusterName"] == "toe-a01"  # no rename, no replacement
    assert config["training-on-eks:runId"] == "7"
    assert "cluster toe-a01." in path.read_text()


@pytest.mark.parametrize(
    ("stack", "like"),
    [("bad name", "bad-name"), ("Team.07", "Team-07"), ("a" * 100, "a" * 96)],
)
def test_a_refused_stack_name_gets_the_nearest_name_both_pulumi_and_eks_take(stack, like):
    (error,) = attendees.stack_name_errors(stack)
    assert error.endswith(f"choose a name such as {like}")
    assert attendees.stack_name_errors(like) == []  # the suggestion is taken as it stands
