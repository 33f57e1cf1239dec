"""Fleet runs through the real Automation API against a fake `pulumi` CLI in tests/fakes/."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from rich.console import Console

from toe import fleet
from toe.cli import main

FAKE = Path(__file__).parent / "fakes" / "pulumi.py"
STACK_FILE = "config:\n  aws:region: ap-northeast-2\n"


class FakePulumi:
    """A project directory, a fake CLI at `<root>/bin/pulumi` and what it was asked to do."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.project = tmp_path / "project"
        self.project.mkdir()
        (self.project / "Pulumi.yaml").write_text("name: training-on-eks\nruntime: python\n")
        self.state = tmp_path / "state"
        self.state.mkdir()
        self.root = tmp_path / "cli"
        (self.root / "bin").mkdir(parents=True)
        launcher = self.root / "bin" / "pulumi"
        launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
        launcher.chmod(0o755)
        self.logs = tmp_path / "logs"
        monkeypatch.setenv("FAKE_PULUMI_STATE", str(self.state))
        monkeypatch.delenv("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", raising=False)

    def stacks(self, scenario: dict[str, dict]) -> list[str]:
        for name in scenario:
            (self.project / f"Pulumi.{name}.yaml").write_text(STACK_FILE)
        (self.state / "scenario.json").write_text(json.dumps(scenario))
        return list(scenario)

    def calls(self, first: str | None = None) -> list[dict]:
        path = self.state / "calls.jsonl"
        calls = (
            [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        )
        return [c for c in calls if first is None or c["args"][:1] == [first]]

    def options(self, parallel: int = 4, **overrides) -> fleet.FleetOptions:
        return fleet.FleetOptions(
            work_dir=self.project,
            log_dir=self.logs,
            parallel=parallel,
            pulumi_root=self.root,
            **overrides,
        )


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePulumi:
    return FakePulumi(tmp_path, monkeypatch)


def _max_overlap(calls: list[dict]) -> int:
    edges = sorted([(c["start"], 1) for c in calls] + [(c["end"], -1) for c in calls])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


VALIDATION = {"gpu": "NVIDIA H200 x1", "efa": "absent"}


def test_up_reports_success_failure_and_validation_per_stack(fake: FakePulumi):
    stacks = fake.stacks(
        {
            "a1": {"outputs": {"validationSummary": VALIDATION, "kubeconfig": "k"}},
            "a2": {"result": "failed"},
            "a3": {"outputs": {"validationSummary": "nvidia-smi ok"}},
        }
    )
    results = fleet.run_fleet("up", stacks, fake.options(parallel=2))
    by_stack = {r.stack: r for r in results}

    assert [r.stack for r in results] == ["a1", "a2", "a3"]
    assert by_stack["a1"].result == "succeeded" and by_stack["a1"].ok
    assert by_stack["a1"].changes == "create 3"
    assert by_stack["a1"].validation_summary == "gpu: NVIDIA H200 x1, efa: absent"
    assert by_stack["a3"].validation_summary == "nvidia-smi ok"
    assert by_stack["a2"].result == "failed" and not by_stack["a2"].ok
    assert by_stack["a2"].error == "error: up failed"
    # the failing stack did not stop the one after it
    assert [c["stack"] for c in fake.calls("up")].count("a3") == 1


def test_each_stack_streams_its_output_to_its_own_log(fake: FakePulumi):
    stacks = fake.stacks({"a1": {}, "a2": {"result": "failed"}})
    fleet.run_fleet("up", stacks, fake.options())

    ok = (fake.logs / "a1.up.log").read_text()
    bad = (fake.logs / "a2.up.log").read_text()
    assert "Updating (a1)" in ok and "+ aws:ec2:Tag tag-2 created" in ok
    assert "(a2)" not in ok
    assert "**create failed** error: boom" in bad
    assert "[stderr] error: up failed" in bad
    assert "[fleet] up failed:" in bad


def test_parallelism_overlaps_and_is_bounded(fake: FakePulumi):
    stacks = fake.stacks({f"s{i}": {"delay": 0.8, "resources": 2} for i in range(4)})
    results = fleet.run_fleet("preview", stacks, fake.options(parallel=2))
    previews = fake.calls("preview")

    assert all(r.ok for r in results) and len(previews) == 4
    assert _max_overlap(previews) == 2
    assert all(r.changes == "create 2" for r in results)


def test_a_slow_stack_does_not_hold_up_the_others(fake: FakePulumi):
    stacks = fake.stacks({"slow": {"delay": 1.5}, "f1": {}, "f2": {}})
    fleet.run_fleet("preview", stacks, fake.options(parallel=2))
    ends = {c["stack"]: c["end"] for c in fake.calls("preview")}
    assert ends["f1"] < ends["slow"] and ends["f2"] < ends["slow"]


def test_cli_arguments_reach_pulumi(fake: FakePulumi):
    stacks = fake.stacks({"a1": {"exists": False}})
    fleet.run_fleet("up", stacks, fake.options(secrets_provider="awskms://alias/toe"))
    calls = fake.calls()
    commands = [c["args"][:2] for c in calls]

    assert ["stack", "select"] in commands
    init = next(c for c in calls if c["args"][:2] == ["stack", "init"])
    assert init["args"][2:] == ["a1", "--secrets-provider", "awskms://alias/toe"]
    up = fake.calls("up")[0]
    assert {"--yes", "--skip-preview", "--suppress-progress"} <= set(up["args"])
    assert up["args"][up["args"].index("--color") + 1] == "never"
    assert all(c["cwd"] == str(fake.project) for c in calls if c["args"] != ["version"])


def test_progress_counts_resources_from_engine_events(fake: FakePulumi):
    stacks = fake.stacks({"a1": {"resources": 5}})
    progress = fleet.FleetProgress(stacks)
    fleet.run_fleet("up", stacks, fake.options(), progress)
    (state,) = progress.snapshot()
    assert state.phase == "succeeded" and state.resources_done == 5
    assert state.last_line == "5 created"


def test_destroy_runs_the_program_and_sweeps_with_the_stack_outputs(fake, monkeypatch):
    swept = []
    sweep = types.ModuleType("toe.sweep")

    def find_leftovers(session, cluster, vpc_id=None):
        swept.append((session.region_name, cluster, vpc_id))
        return ["eni-0abc (available)"] if cluster == "toe-a2" else []

    sweep.find_leftovers = find_leftovers
    monkeypatch.setitem(sys.modules, "toe.sweep", sweep)
    outputs = {"clusterName": "toe-a1", "vpcId": "vpc-1", "region": "ap-northeast-2"}
    stacks = fake.stacks({"a1": {"outputs": outputs}, "a2": {}})
    fleet.run_fleet("up", stacks, fake.options())
    results = {r.stack: r for r in fleet.run_fleet("destroy", stacks, fake.options())}

    assert all("--run-program=true" in c["args"] for c in fake.calls("destroy"))
    assert sorted(swept) == [
        ("ap-northeast-2", "toe-a1", "vpc-1"),
        ("ap-northeast-2", "toe-a2", None),
    ]
    assert results["a1"].result == "succeeded" and results["a1"].changes == "delete 3"
    assert results["a2"].result == "leftovers" and not results["a2"].ok
    assert "[sweep] leftover: eni-0abc (available)" in (fake.logs / "a2.destroy.log").read_text()


def test_the_sweep_looks_where_the_stack_reached_aws(fake, monkeypatch):
    """A stack that assumes another account's role left its leftovers in that account."""
    import fixes
    from moto import mock_aws

    swept = []
    sweep = types.ModuleType("toe.sweep")

    def find_leftovers(session, cluster, vpc_id=None):
        swept.append(session.client("sts").get_caller_identity()["Arn"])
        return []

    sweep.find_leftovers = find_leftovers
    monkeypatch.setitem(sys.modules, "toe.sweep", sweep)
    stacks = fake.stacks({"a1": {}})
    role = "arn:aws:iam::210987654321:role/Deployer"
    fixes.set_config(fake.project / "Pulumi.a1.yaml", **{"aws:assumeRoles": [{"roleArn": role}]})
    with mock_aws():
        fleet.run_fleet("destroy", stacks, fake.options())
    assert swept == ["arn:aws:sts::210987654321:assumed-role/Deployer/training-on-eks"]


def test_destroy_without_the_sweep_module_says_so(fake, monkeypatch):
    monkeypatch.setitem(sys.modules, "toe.sweep", None)  # import now raises ImportError
    stacks = fake.stacks({"a1": {}, "gone": {"exists": False}})
    results = {r.stack: r for r in fleet.run_fleet("destroy", stacks, fake.options())}

    assert results["a1"].note == "teardown sweep skipped: toe.sweep is not installed"
    assert results["gone"].result == "absent" and results["gone"].ok
    assert [c["stack"] for c in fake.calls("destroy")] == ["a1"]
    assert not any(c["args"][:2] == ["stack", "init"] for c in fake.calls())


def test_summary_table_lists_every_stack():
    results = [
        fleet.StackResult("a1", "up", "succeeded", 75.0, Path("a1.log"), "create 3", "gpu ok"),
        fleet.StackResult("a2", "up", "failed", 2.5, Path("a2.log"), error="error: boom"),
    ]
    console = Console(record=True, width=120)
    console.print(fleet.summary_table(results, "up"))
    text = console.export_text()
    assert "fleet up: 1 ok, 1 failed" in text
    assert "validation summary" in text
    row_a1 = next(line for line in text.splitlines() if " a1 " in line)
    assert "succeeded" in row_a1 and "1m15s" in row_a1 and "gpu ok" in row_a1
    row_a2 = next(line for line in text.splitlines() if " a2 " in line)
    assert "failed" in row_a2 and "2.5s" in row_a2 and "error: boom" in row_a2


def test_select_stacks_defaults_to_every_stack_file_and_checks_names(fake: FakePulumi):
    fake.stacks({"b": {}, "a": {}})
    assert fleet.select_stacks(fake.project, None, "up") == ["a", "b"]
    assert fleet.select_stacks(fake.project, ["b", "b"], "up") == ["b"]
    with pytest.raises(ValueError) as raised:
        fleet.select_stacks(fake.project, ["x/y", "nofile"], "up")
    assert len(str(raised.value).splitlines()) == 2
    assert fleet.select_stacks(fake.project, ["nofile"], "destroy") == ["nofile"]


def test_cli_exit_status_logs_and_summary(fake: FakePulumi, capsys):
    fake.stacks({"a1": {"outputs": {"validationSummary": "ok"}}, "a2": {"result": "failed"}})
    common = ["--work-dir", str(fake.project), "--pulumi-root", str(fake.root)]
    common += ["--log-dir", str(fake.logs)]

    assert main(["fleet", "up", *common, "--parallel", "2"]) == 1
    out = capsys.readouterr().out
    assert "fleet up: 1 ok, 1 failed" in out
    assert f"a2: failed ({fake.logs / 'a2.up.log'})" in out
    # The fake project has no node groups to price: the summary says so instead of a figure.
    assert "cost: could not price the fleet:" in out
    assert sorted(p.name for p in fake.logs.iterdir()) == ["a1.up.log", "a2.up.log"]

    assert main(["fleet", "preview", *common, "--stacks", "a1"]) == 0
    assert main(["fleet", "destroy", *common]) == 2  # needs --yes
    assert "add --yes" in capsys.readouterr().err
    assert main(["fleet", "preview", *common, "--stacks", "nope"]) == 2


def test_a_pulumi_root_that_is_not_a_pulumi_folder_says_what_it_is(fake: FakePulumi, capsys):
    fake.stacks({"a1": {}})
    common = ["--work-dir", str(fake.project), "--log-dir", str(fake.logs)]
    (fake.project / "notes.txt").write_text("")
    cases = {
        fake.root / "nonexistent": "the folder does not exist; give the folder that holds bin/",
        fake.project / "notes.txt": "is a file, not a folder",
        fake.root / "bin" / "pulumi": f"is the CLI itself: give --pulumi-root {fake.root}",
        fake.root / "bin": f"holds pulumi itself: give the folder above it, {fake.root}",
        fake.project: "has no bin/pulumi",
    }
    for root, said in cases.items():
        assert main(["fleet", "preview", *common, "--pulumi-root", str(root)]) == 2
        err = capsys.readouterr().err
        assert err.count("error:") == 1 and said in err, err
        assert "pulumi CLI is not installed" not in err
    assert fake.calls() == []
    assert fleet.pulumi_root_problem(fake.root) is None
    (fake.root / "bin" / "pulumi").chmod(0o644)
    assert "is not executable: chmod +x" in fleet.pulumi_root_problem(fake.root)


def test_live_table_shows_phase_elapsed_and_latest_output():
    ticks = iter([0.0, 1.0, 3.5, 4.0])
    progress = fleet.FleetProgress(["a1", "a2"], clock=lambda: next(ticks))
    progress.started("a1")  # t=0
    progress.line("a1", "    + aws:eks:Cluster created")
    progress.resource_done("a1")
    result = fleet.StackResult("a1", "up", "failed", 1.0, Path("a1.log"))
    progress.finished(result)  # t=1
    progress.started("a2")  # t=3.5
    console = Console(record=True, width=120)
    console.print(progress.table())  # t=4
    rows = {line.split()[1]: line for line in console.export_text().splitlines() if "a" in line}
    assert "failed" in rows["a1"] and "1.0s" in rows["a1"] and "aws:eks:Cluster" in rows["a1"]
    assert "running" in rows["a2"] and "0.5s" in rows["a2"]


def test_a_uv_project_without_uv_on_path_stops_before_any_stack(
    fake: FakePulumi, monkeypatch, capsys
):
    (fake.project / "Pulumi.yaml").write_text(
        (Path(__file__).parents[1] / "Pulumi.yaml").read_text()
    )
    fake.stacks({"a1": {}})
    monkeypatch.setenv("PATH", "/nonexistent")
    common = ["--work-dir", str(fake.project), "--pulumi-root", str(fake.root)]
    assert main(["fleet", "up", *common, "--log-dir", str(fake.logs)]) == 2
    assert "uv is not on PATH" in capsys.readouterr().err
    assert fake.calls("up") == []  # only the version check ran

    uv_dir = fake.root / "uv"
    uv_dir.mkdir()
    (uv_dir / "uv").write_text("#!/bin/sh\n")
    (uv_dir / "uv").chmod(0o755)
    monkeypatch.setenv("PATH", str(uv_dir))
    assert fleet.toolchain_problem(fake.project) is None
