"""`python -m toe sweep` as a process against a real moto server, reached via AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT
from tests.e2e.rehearsal import aws
from tests.test_sweep import CLUSTER, DECOYS, REGION, _ids, new_account, seed_cluster, seed_untagged
from toe import sweep


@pytest.fixture
def server_env() -> Iterator[dict[str, str]]:
    """moto's server on 127.0.0.1 (the rehearsal's), and the environment that points AWS clients
    at it."""
    with pytest.MonkeyPatch.context() as patch:
        server = aws.Moto({}, patch=patch)
        try:
            env = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith("AWS_") and not key.startswith("MOTO_")
            }
            yield {**env, **server.client_environment(REGION)}
        finally:
            server.stop()


def _sweep(env: dict[str, str], *args: str) -> tuple[int, dict]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "toe",
            "sweep",
            "--cluster",
            CLUSTER,
            "--region",
            REGION,
            "--json",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout)


def test_sweep_against_a_moto_server(
    server_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    for key, value in server_env.items():
        if key.startswith(("AWS_", "MOTO_")):
            monkeypatch.setenv(key, value)
    account = new_account()
    seed_cluster(account, CLUSTER)
    for decoy in DECOYS:
        seed_cluster(account, decoy)
    untagged = seed_untagged(account)

    code, dry_run = _sweep(server_env, "--vpc-id", account.vpc_id)
    assert code == 1 and dry_run["mode"] == "dry-run"
    listed = _ids([sweep.Leftover(**item) for item in dry_run["leftovers"]])
    assert listed == account.seeded[CLUSTER]

    code, deleted = _sweep(server_env, "--vpc-id", account.vpc_id, "--delete")
    assert code == 0, deleted["failed"]
    assert _ids([sweep.Leftover(**item) for item in deleted["deleted"]]) == account.seeded[CLUSTER]

    code, after = _sweep(server_env)
    assert code == 0 and after["leftovers"] == []
    for decoy in DECOYS:
        assert _ids(sweep.find_leftovers(account.session, decoy)) == account.seeded[decoy]
    volumes = account.session.client("ec2").describe_volumes(VolumeIds=[untagged[sweep.VOLUME]])[
        "Volumes"
    ]
    assert volumes and volumes[0]["State"] == "available"
