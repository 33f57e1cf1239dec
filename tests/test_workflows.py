"""The GitHub workflows: schema-valid, least privilege, documented pulumi/actions inputs only."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"
PREVIEW = WORKFLOWS / "preview.yml"
DESTROY = WORKFLOWS / "destroy.yml"

# Inputs of pulumi/actions v7.0.0 (action.yml at tag v7.0.0), as listed in FACTS.md
# "Automation API and CI".
PULUMI_ACTION_INPUTS = {
    "command",
    "stack-name",
    "work-dir",
    "cloud-url",
    "comment-on-pr",
    "comment-on-pr-number",
    "comment-on-summary",
    "edit-pr-comment",
    "diff",
    "policyPacks",
    "policyPackConfigs",
    "secrets-provider",
    "upsert",
    "refresh",
    "config-map",
    "suppress-outputs",
    "pulumi-version",
}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _steps(workflow: dict) -> list[tuple[str, dict]]:
    return [
        (job_name, step)
        for job_name, job in workflow["jobs"].items()
        for step in job.get("steps", [])
    ]


def _check_jsonschema() -> str:
    found = Path(sys.executable).parent / "check-jsonschema"
    if found.exists():
        return str(found)
    on_path = shutil.which("check-jsonschema")
    if on_path is None:
        pytest.fail("check-jsonschema is missing: run `make test` (uv.lock installs it)")
    return on_path


def _schema_check(path: Path) -> subprocess.CompletedProcess:
    """check-jsonschema on `path` against its bundled GitHub workflow schema."""
    return subprocess.run(
        [_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("path", [PREVIEW, DESTROY], ids=lambda p: p.name)
def test_workflow_matches_the_github_workflow_schema(path: Path):
    completed = _schema_check(path)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    step: []\n")
    assert _schema_check(broken).returncode == 1


def test_triggers():
    # PyYAML reads the `on:` key as the boolean True (YAML 1.1).
    assert "pull_request" in _load(PREVIEW)[True]
    dispatch = _load(DESTROY)[True]["workflow_dispatch"]
    assert {"stacks", "confirm"} <= set(dispatch["inputs"])


@pytest.mark.parametrize("path", [PREVIEW, DESTROY], ids=lambda p: p.name)
def test_pulumi_action_gets_only_documented_inputs(path: Path):
    uses = [
        step
        for _, step in _steps(_load(path))
        if step.get("uses", "").startswith("pulumi/actions@")
    ]
    assert uses, "the workflow should use pulumi/actions"
    for step in uses:
        assert step["uses"] == "pulumi/actions@v7"
        assert set(step.get("with", {})) <= PULUMI_ACTION_INPUTS


def test_preview_matrix_runs_pulumi_preview_per_stack_with_oidc():
    workflow = _load(PREVIEW)
    job = workflow["jobs"]["preview"]
    assert "vars.AWS_ROLE_ARN != ''" in job["if"]
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.offline.outputs.stacks) }}"
    assert job["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
    steps = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert steps["aws-actions/configure-aws-credentials"]["with"]["role-to-assume"] == (
        "${{ vars.AWS_ROLE_ARN }}"
    )
    pulumi = steps["pulumi/actions"]["with"]
    assert pulumi["command"] == "preview"
    assert pulumi["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["comment-on-pr"] is True and pulumi["diff"] is True
    assert pulumi["policyPacks"] == "policies"
    assert pulumi["cloud-url"].startswith("${{ vars.")


def test_offline_job_tests_synthesizes_every_stack_and_uploads_it():
    job = _load(PREVIEW)["jobs"]["offline"]
    assert "permissions" not in job and "secrets." not in yaml.safe_dump(job)
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "make test" in runs
    assert "toe attendees list --json" in runs
    assert 'toe synth --stack "$stack"' in runs
    upload = next(
        s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")
    )
    assert upload["with"]["path"] == "build/synth"


def test_least_privilege_and_pr_concurrency():
    preview, destroy = _load(PREVIEW), _load(DESTROY)
    for workflow in (preview, destroy):
        assert workflow["permissions"] == {"contents": "read"}
    assert preview["concurrency"] == {
        "group": "preview-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }
    writers = {
        (path.name, name)
        for path, workflow in ((PREVIEW, preview), (DESTROY, destroy))
        for name, job in workflow["jobs"].items()
        if any(v == "write" for v in job.get("permissions", {}).values())
    }
    assert writers == {("preview.yml", "preview"), ("destroy.yml", "destroy")}
    assert "pull-requests" not in destroy["jobs"]["destroy"]["permissions"]


def test_destroy_runs_the_fleet_after_the_confirmation():
    steps = _load(DESTROY)["jobs"]["destroy"]["steps"]
    runs = [step.get("run", "") for step in steps]
    assert 'if [ "$CONFIRM" != "destroy" ]' in runs[0]
    destroy = next(run for run in runs if "toe fleet destroy" in run)
    assert "--yes" in destroy
    # workflow inputs reach the shell through env, never pasted into the script
    assert all("${{" not in run for run in runs)


def test_stack_list_command_feeds_the_matrix(tmp_path: Path, capsys):
    from toe.cli import main

    for name in ("dev", "attendee01"):
        (tmp_path / f"Pulumi.{name}.yaml").write_text("config:\n  aws:region: ap-northeast-2\n")
    assert main(["attendees", "list", "--json", "--dir", str(tmp_path)]) == 0
    rows = yaml.safe_load(capsys.readouterr().out)
    assert [row["name"] for row in rows] == ["attendee01", "dev"]
