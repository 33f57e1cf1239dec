"""The README documents every configuration key and output, and names the commands that exist."""

from __future__ import annotations

import json
import re

import yaml

from components import outputs
from core import config
from toe.stackfiles import ROOT

README = (ROOT / "README.md").read_text()


def table_keys(heading: str) -> set[str]:
    section = README.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.M))


def test_configuration_table_lists_every_key():
    assert table_keys("Configuration") == set(config.schema())


def test_outputs_table_lists_every_output():
    assert table_keys("Outputs") == set(outputs.ALL)


def test_quick_start_commands_exist_in_the_makefile():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "synth"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}:", makefile, flags=re.M)


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_architecture_diagram_is_mermaid():
    assert "```mermaid" in README


def _table_rows(heading: str) -> dict[str, list[str]]:
    section = README.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([^`]+)` \|(.*)\|$", line)
        if match:
            rows[match[1]] = [cell.strip() for cell in match[2].split(" | ")]
    return rows


def _cell_value(cell: str):
    text = cell.strip().strip("`")
    try:
        return json.loads(text)
    except ValueError:
        return text


def test_configuration_table_says_what_pulumi_yaml_says():
    """Type, default and description of every key, as the schema has them (one source)."""
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    types = {"string": "string", "boolean": "boolean", "integer": "integer"}
    for key, row in _table_rows("Configuration").items():
        spec = schema[key]
        kind, default, description = row
        expected = types.get(spec.get("type"), "list of objects")
        if spec.get("type") == "array":
            expected = f"list of {spec['items']['type']}s"
        assert kind == expected, key
        if "default" in spec:
            assert _cell_value(default) == spec["default"], key
        else:
            assert default == "—", key
        assert description == " ".join(spec["description"].split()), key


def _after(marker: str, fence: str) -> str:
    """The first ```<fence> block after `marker` in the README."""
    rest = README.split(marker, 1)[1]
    return rest.split(f"```{fence}\n", 1)[1].split("```", 1)[0]


def test_the_config_error_example_is_what_synth_prints(tmp_path, capsys):
    """The commands the example shows, applied to a copy of the dev stack, then `synth`."""
    from toe.cli import main

    marker = "Every bad value is reported before anything is created"
    commands = _after(marker, "bash").splitlines()
    assert commands == [
        "pulumi config set --path 'nodeGroups[0].amiType' AL2_ARM_64",
        "pulumi config set gpuConsolidateAfter '10 minutes'",
        "python -m toe synth",
    ]
    for name in ("Pulumi.yaml", "__main__.py"):
        (tmp_path / name).symlink_to(ROOT / name)
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    stack["config"]["training-on-eks:nodeGroups"][0]["amiType"] = "AL2_ARM_64"
    stack["config"]["training-on-eks:gpuConsolidateAfter"] = "10 minutes"
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    assert main(["synth", "--dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == _after(marker, "text")


def test_the_test_time_claim_names_an_idle_machine():
    claim = r"`make test` runs [0-9,]+ tests in under two minutes on an idle two-core machine"
    assert re.search(claim, README)


def test_the_toe_command_the_readme_names_is_the_one_pyproject_installs():
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "toe" in scripts
    assert "`.venv/bin/toe <command>` from any folder" in README
    assert "`uv run toe <command>`" in README
