"""checks/distributed.sh and distributed.py as the pods run them: two ranks over gloo on this
machine's CPU (no GPU here), rendezvous at 127.0.0.1, each with its own termination log."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from core.results import parse_distributed_result

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "checks" / "distributed.sh"


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_two_ranks(tmp_path: Path, **env: str) -> tuple[str, list[str]]:
    port = str(_port())
    base = {
        "PATH": f"{os.environ['TOE_TORCH_BIN']}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": port,
        "NNODES": "2",
        **env,
    }
    processes = []
    for rank in (0, 1):
        processes.append(
            subprocess.Popen(
                ["sh", str(LAUNCHER)],
                env={
                    **base,
                    "JOB_COMPLETION_INDEX": str(rank),
                    "NODE_NAME": f"node-{rank}",
                    "TERMINATION_LOG": str(tmp_path / f"termination-log-{rank}"),
                },
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    logs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], logs  # every pod exits 0
    return (tmp_path / "termination-log-0").read_text(), logs


def test_two_ranks_all_reduce_correctly_and_report_their_bandwidth(tmp_path):
    message, logs = run_two_ranks(tmp_path)
    result = parse_distributed_result(message)
    assert result.status == "passed", message
    assert (result.backend, result.transport, result.world) == ("gloo", "gloo/TCP", 2)
    assert result.nodes == ("node-0", "node-1")
    # On CPU the sizes stop at TOE_CPU_MAX_MIB (256): gloo is a sanity run, not the fabric.
    assert [s.bytes for s in result.sizes] == [m << 20 for m in (1, 4, 16, 64, 256)]
    assert result.skipped_mib == (1024, 4096)
    assert (result.evidence.fi_provider, result.evidence.efa_devices) == ("", 0)
    for size in result.sizes:  # busbw = algbw * 2(n-1)/n: equal for two ranks
        assert size.busbw_gbps == size.algbw_gbps > 0
    assert "all_reduce of rank+1 over 2 ranks = 3: correct" in logs[0]
    assert not (tmp_path / "termination-log-1").exists()  # only rank 0 reports


def test_the_script_measures_and_the_readout_judges_so_no_floor_reaches_the_pod(tmp_path):
    message, _ = run_two_ranks(tmp_path, TOE_SIZES_MIB="1 4 512", TOE_CPU_MAX_MIB="4")
    result = parse_distributed_result(message)
    assert result.status == "passed", message
    assert [s.bytes for s in result.sizes] == [1 << 20, 4 << 20]
    assert result.skipped_mib == (512,)
    assert "minBusbwGBps" not in message
