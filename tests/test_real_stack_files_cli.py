"""The CLI's synth, attendees and cost commands on stack files as the real Pulumi CLI leaves them
(tests/data/stackfiles), each in a simulated account of its own: no moto fixture is active here."""

from __future__ import annotations

import json
import shutil

import pytest
from test_real_stack_files import CLI_FILES, PASSPHRASE, SECRET_IMAGE, project

from toe.cli import main
from toe.stack_secrets import SecretText
from toe.stackfiles import stack_config


@pytest.mark.parametrize("name", CLI_FILES)
def test_attendees_add_and_synth_take_every_real_stack_file(tmp_path, monkeypatch, capsys, name):
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    directory = project(tmp_path, name)
    assert main(["attendees", "add", "--count", "3", "--dir", str(directory)]) == 0
    for stack in ("attendee01", "attendee02", "attendee03"):
        values = stack_config(stack, directory)
        assert values["training-on-eks:vpcName"] == "training-on-eks"
        assert not any(isinstance(v, SecretText) for v in values.values())
    out = tmp_path / "out"
    code = main(["synth", "--stack", "dev", "--dir", str(directory), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    written = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert SECRET_IMAGE not in written


def test_synth_and_cost_take_a_secret_image_and_print_it_nowhere(tmp_path, monkeypatch, capsys):
    """`pulumi config set --secret gpuCheckImage ... --stack sec`, then `toe synth --stack sec`."""
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    directory = project(tmp_path, "secrets")
    shutil.move(directory / "Pulumi.dev.yaml", directory / "Pulumi.sec.yaml")
    out = tmp_path / "out"
    assert main(["synth", "--stack", "sec", "--dir", str(directory), "--out", str(out)]) == 0
    assert main(["cost", "--stack", "sec", "--dir", str(directory), "--offline"]) == 0
    printed = capsys.readouterr()
    written = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert SECRET_IMAGE not in written + printed.out + printed.err
    plan = json.loads((out / "plan.json").read_text())
    assert "[secret]" in json.dumps(plan)
