"""The CLI prints user and AWS text as data, survives a closed pipe, and refuses bad usage."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

from toe.cli import main


def test_attendees_list_into_head_ends_quietly(tmp_path):
    """`python -m toe attendees list | head -n 1`: no BrokenPipeError traceback, exit 0."""
    for index in range(200):
        (tmp_path / f"Pulumi.attendee{index:03d}.yaml").write_text("config: {}\n")
    command = f"{sys.executable} -m toe attendees list --dir {tmp_path} --json | head -n 1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.stdout == "[\n"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 0


def test_the_entry_point_exits_with_the_commands_status():
    """`python -m toe` hands on the command's own status (its collector settings change nothing)."""
    done = subprocess.run(
        [sys.executable, "-m", "toe", "synth", "--stack", "no-such-stack"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "no stack 'no-such-stack'" in done.stderr


def test_a_stack_name_that_looks_like_markup_is_printed_as_it_is(tmp_path, capsys):
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    assert main(["attendees", "add", "[/x]", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'[/x]': Pulumi stack names are" in err


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_fleet_parallel_must_be_a_positive_number(capsys, value):
    with pytest.raises(SystemExit) as exit_:
        main(["fleet", "preview", "--parallel", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--parallel" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["report", "--cluster", "x", "--region", "us-wset-2"], "did you mean us-west-2?"),
        # As near to us-east-2 as to us-west-2: naming either would be a guess.
        (["report", "--cluster", "x", "--region", "us-weast-2"], "data); e.g. ap-northeast-2"),
        (["sweep", "--cluster", "toe-dev", "--region", "Seoul"], "'Seoul' is not an AWS region"),
        (["preflight", "--region", "ap-northeast2"], "did you mean ap-northeast-2?"),
        (["report", "--cluster", "toe dev"], "is not an EKS cluster name"),
    ],
)
def test_a_region_or_cluster_name_aws_refuses_is_a_usage_error_before_any_call(argv, said, capsys):
    """The config reader's own rules, at the command line: no credentials are looked for."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    assert said in capsys.readouterr().err


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for inner, deeper in _subparsers(sub):
                    yield f"{name} {inner}", deeper


def test_every_command_reads_the_same_project_folder():
    """One --dir rule: a command run from elsewhere must not read or write other stack files
    than the one beside it."""
    from toe.cli import build_parser
    from toe.terminal import project_folder

    found = {}
    for name, sub in _subparsers(build_parser()):
        for action in sub._actions:
            if "--dir" in action.option_strings:
                found[name] = (action.default, action.type, action.help)
    assert {"synth", "preflight", "cost", "fleet", "attendees add", "attendees list"} <= set(found)
    assert {(default, kind) for default, kind, _ in found.values()} == {(None, project_folder)}
    assert len({text for *_, text in found.values()}) == 1


def test_every_command_with_machine_output_takes_json():
    """Scripts ask every command for JSON the same way: `--json`, a flag (no `--format`)."""
    import argparse

    from toe.cli import build_parser

    takes = {}
    for name, sub in _subparsers(build_parser()):
        for action in sub._actions:
            assert "--format" not in action.option_strings, name
            if "--json" in action.option_strings:
                takes[name] = isinstance(action, argparse._StoreTrueAction)
    assert takes == dict.fromkeys(("attendees list", "cost", "preflight", "report", "sweep"), True)
