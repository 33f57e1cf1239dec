"""Stack files read as the CLI reads them: YAML 1.2 booleans, and one-line errors with position."""

from __future__ import annotations

import shutil

import pytest

from toe import cli
from toe.stackfiles import ROOT, StackFileError, read_stack_file, stack_config

BROKEN = [
    pytest.param("config:\n  aws:region: [ap-northeast-2\n", "Pulumi.dev.yaml:3:1:", id="unclosed"),
    pytest.param("- a\n- b\n", "Pulumi.dev.yaml:1:1: the top level must be a mapping", id="list"),
    pytest.param(
        "config:\n  - a\n", "Pulumi.dev.yaml:2:3: `config:` must be a mapping", id="config-list"
    ),
    pytest.param(
        "config:\n  x: &a [*a]\n", "Pulumi.dev.yaml:2:6: an anchor refers to itself", id="loop"
    ),
    pytest.param(
        "config:\n  x: " + "9" * 5000 + "\n", "Pulumi.dev.yaml:2:6: Exceeds the limit", id="digits"
    ),
    pytest.param("config:\n  x: !!python/object:os.system {}\n", "Pulumi.dev.yaml:2:6:", id="tag"),
    pytest.param("config:\n\tx: 1\n", "Pulumi.dev.yaml:2:1:", id="tab"),
    pytest.param(
        "config:\n  aws:region: a\n  x: 1\n  aws:region: b\n",
        'Pulumi.dev.yaml:4:3: mapping key "aws:region" already defined at line 2',
        id="duplicate-key",
    ),
    pytest.param(
        "configs:\n  aws:region: ap-northeast-2\n",
        "Pulumi.dev.yaml:1:1: `configs:` is not a stack file setting (Pulumi ignores it, so "
        "nothing under it is set); did you mean `config:`?",
        id="configs",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_a_broken_stack_file_is_one_line_with_file_line_and_column(tmp_path, text, expected):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    with pytest.raises(StackFileError) as err:
        read_stack_file(path)
    message = str(err.value)
    assert message.startswith(expected), message
    assert "\n" not in message


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_synth_reports_a_broken_stack_file_in_one_line(tmp_path, capsys, text, expected):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    code = cli.main(["synth", "--dir", str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert expected in err
    assert "Traceback" not in err


def test_yes_and_on_are_text_as_in_yaml_1_2(tmp_path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n  a: yes\n  b: on\n  c: true\n  d: False\n")
    assert read_stack_file(path)["config"] == {"a": "yes", "b": "on", "c": True, "d": False}


def test_keys_without_a_namespace_are_the_projects_as_for_the_cli(tmp_path):
    """pulumi sdk go/common/workspace/loaders.go, stackConfigNamespacedWithProject."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  gpuMaxGpus: 8\n")
    values = stack_config("dev", tmp_path)
    assert values["training-on-eks:gpuMaxGpus"] == "8"
    assert "gpuMaxGpus" not in values


def test_the_cli_entry_point_reports_a_broken_stack_file(tmp_path, capsys, monkeypatch):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.team.yaml").write_text("config: [\n")
    code = cli.main(["attendees", "list", "--dir", str(tmp_path)])
    assert code == 2
    assert "Pulumi.team.yaml:2:1:" in capsys.readouterr().err


def test_a_dangling_link_is_named_as_one(tmp_path, capsys):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.f06.yaml").symlink_to(tmp_path / "gone" / "Pulumi.f06.yaml")
    with pytest.raises(StackFileError) as err:
        stack_config("f06", tmp_path)
    assert str(err.value) == (
        f"Pulumi.f06.yaml: is a symbolic link to {tmp_path}/gone/Pulumi.f06.yaml, which does "
        "not exist"
    )
    code = cli.main(["synth", "--stack", "f06", "--dir", str(tmp_path), "--out", str(tmp_path)])
    assert code == 1
    assert "which does not exist" in capsys.readouterr().err
