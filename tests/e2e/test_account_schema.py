"""The account file's schema in an editor: the YAML language server, through the modeline the
workshop account starts with, flags what `toe synth` refuses, where it stands in the file.

`toe synth` is run as a user runs it (the rehearsal imports no `toe` module)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKSHOP_ACCOUNT = ROOT / "toe" / "accounts" / "workshop.yaml"
SCHEMA = ROOT / "toe" / "accounts" / "account.schema.json"

SOURCE = "yaml-schema: training-on-eks simulated account"  # the schema's title


def _diagnostics(tools, path) -> list[dict]:
    done = subprocess.run(
        ["node", str(tools.yaml_language_server_check), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_server_is_the_pinned_one(tools):
    installed = tools.folders["yaml-language-server"] / "node_modules" / "yaml-language-server"
    version = json.loads((installed / "package.json").read_text())["version"]
    assert version == tools.v["YAML_LANGUAGE_SERVER_VERSION"]


def test_the_workshop_account_has_no_problem_in_an_editor(tools):
    assert _diagnostics(tools, WORKSHOP_ACCOUNT) == []


def test_an_editor_flags_what_synth_refuses_on_its_line(tools, tmp_path):
    text = WORKSHOP_ACCOUNT.read_text()
    modeline = "# yaml-language-server: $schema=account.schema.json\n"
    assert text.startswith(modeline)
    # A copy elsewhere names the schema by its path from there (README, "Render offline").
    text = text.replace(modeline, f"# yaml-language-server: $schema={SCHEMA}\n")
    for wrong, written in (
        ("    cidr: 10.0.0.0/16\n", "    cidr_block: 10.0.0.0/16\n"),
        ("  L-DB2E81BA: 192  #", '  L-DB2E81BA: "lots"  #'),
        ("capacityType: on-demand}", "capacityType: ondemand}"),
    ):
        assert text.count(wrong) == 1, wrong
        text = text.replace(wrong, written)
    copy = tmp_path / "account.yaml"
    copy.write_text(text)
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(n for n, line in enumerate(lines, start=1) if fragment in line)

    argv = ["synth", "--dir", ROOT, "--account", copy, "--out", tmp_path / "synth"]
    synth = subprocess.run(
        [sys.executable, "-m", "toe", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert synth.returncode == 1, synth.stderr
    assert f"{copy}: 4 problems in the account file:" in synth.stderr
    refused = set(re.findall(r"^  - (\S+): ", synth.stderr, re.MULTILINE))
    assert refused == {
        "vpcs[0].cidr",  # missing
        "vpcs[0].cidr_block",  # not a key
        "quotas.L-DB2E81BA",
        "cluster.gpuNode.capacityType",
    }

    found = _diagnostics(tools, copy)
    assert {d["source"] for d in found} == {SOURCE}
    said = {(d["line"], d["message"]) for d in found}
    assert said == {
        (line_of("- name: training-on-eks"), 'Missing property "cidr".'),
        (line_of("cidr_block:"), "Property cidr_block is not allowed."),
        (line_of('L-DB2E81BA: "lots"'), 'Incorrect type. Expected "number".'),
        (
            line_of("capacityType: ondemand"),
            'Value is not accepted. Valid values: "on-demand", "spot", "reserved".',
        ),
    }
