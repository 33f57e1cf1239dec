"""A rehearsal copy of the project: the program's own files, and a Pulumi.yaml that loads the
rehearsal's provider plugins (`plugins: providers:`), never touching the real one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml
from rehearsal.aws import client_environment
from rehearsal.tools import Tools

ROOT = Path(__file__).resolve().parents[3]
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
# pyproject.toml and uv.lock: Pulumi.yaml's uv toolchain syncs .venv from them, as `pulumi up` does.
LINKED = (
    "__main__.py",
    "core",
    "components",
    "checks",
    "toe",
    ".venv",
    "pyproject.toml",
    "uv.lock",
)


def make_project(directory: Path, tools: Tools) -> Path:
    """`directory` holding the program (linked), its stack files (copied) and the plugin entries."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        target = directory / name
        if not target.exists():
            target.symlink_to(ROOT / name)
    # The policy pack as files, with its `venv` (PulumiPolicy.yaml) being the project's.
    policies = directory / "policies"
    policies.mkdir(exist_ok=True)
    for path in (ROOT / "policies").iterdir():
        if path.is_file():
            shutil.copy(path, policies / path.name)
    if not (policies / "venv").exists():
        (policies / "venv").symlink_to(ROOT / ".venv")
    # The workshop's stack file as the project ships it, never the checkout's own stack files
    # (an instructor's `pulumi stack init` and `pulumi config set` rewrite those).
    shutil.copy(
        ROOT / "tests" / "data" / "workshop" / "Pulumi.dev.yaml", directory / "Pulumi.dev.yaml"
    )
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["plugins"] = {
        "providers": [
            {"name": "aws", "path": str(PLUGINS / "aws")},
            {"name": "eks", "path": str(PLUGINS / "eks")},
            {"name": "kubernetes", "path": str(tools.kubernetes_provider.parent)},
        ]
    }
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return directory


def environment(
    home: Path, tools: Tools, moto_url: str, region: str = "ap-northeast-2"
) -> dict[str, str]:
    """The environment the CLI and every plugin run in: the built tools first on PATH, a local
    backend, AWS at moto with throw-away credentials, nothing downloaded."""
    python = ROOT / ".venv" / "bin" / "python"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PULUMI_", "KUBECONFIG"))
    }
    env.update(
        PATH=os.pathsep.join(
            [
                str(tools.pulumi_bin),
                str(tools.aws_bin),
                str(tools.uv.parent),
                str(python.parent),
                env.get("PATH", "/usr/bin:/bin"),
            ]
        ),
        PULUMI_HOME=str(home / "pulumi-home"),
        PULUMI_BACKEND_URL=f"file://{home / 'state'}",
        PULUMI_CONFIG_PASSPHRASE="rehearsal",
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK="true",
        TOE_PYTHON=str(python),
        MOTO_EC2_LOAD_DEFAULT_AMIS="false",
        **client_environment(moto_url, region),
    )
    (home / "state").mkdir(parents=True, exist_ok=True)
    return env
