"""What the rehearsal's tests drive: the world process, and the CLI and tools in a project copy."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from rehearsal.tools import Tools

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class World:
    process: subprocess.Popen
    moto: str
    status_url: str
    directory: Path

    def status(self) -> dict:
        import urllib.request

        with urllib.request.urlopen(self.status_url, timeout=10) as answer:
            return json.load(answer)


@dataclass
class Rehearsal:
    """The CLI and tools, run in the project copy with the rehearsal's environment."""

    project: Path
    env: dict[str, str]
    tools: Tools
    world: World
    log: list[str] = field(default_factory=list)

    def run(
        self,
        *argv: str,
        check: bool = True,
        timeout: float = 600,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ):
        started = time.monotonic()
        done = subprocess.run(
            list(argv),
            cwd=cwd or self.project,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.log.append(
            f"$ {' '.join(argv)}  ({time.monotonic() - started:.1f} s, exit {done.returncode})"
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {done.returncode}\n--- stdout\n{done.stdout[-6000:]}"
                f"\n--- stderr\n{done.stderr[-6000:]}"
            )
        return done

    def pulumi(self, *args: str, **kw):
        return self.run(str(self.tools.pulumi), *args, "--non-interactive", **kw)

    def toe(self, *args: str, **kw):
        return self.run(str(ROOT / ".venv" / "bin" / "python"), "-m", "toe", *args, cwd=ROOT, **kw)

    def moto(self, service: str):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.world.moto,
            region_name="ap-northeast-2",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
