"""The README documents every configuration key and output, and names the commands that exist."""

from __future__ import annotations

import re

from components import config, outputs
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
