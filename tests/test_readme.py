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
