"""`nvidia-smi` and `fi_info` that replay the real captures in `../shared/fixtures`, and
`torchrun` (real, or replaying the distributed check's results in `tests/data/distributed`).

A capture is chosen by the GPU EC2 reports for the node's instance type (DescribeInstanceTypes
GpuInfo name): an H200 node replays the H200 captures. The EFA-present listing is derived from the
shm capture, as the fixtures README describes what `fi_info -p efa` prints on an EFA host.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

# DescribeInstanceTypes GPU name -> fixtures/nvidia-smi/<dir> (both captures the check reads).
GPU_CAPTURES = {"H200": "h200"}
# An EFA host prints the shm fixture's block shape with provider efa, domain rdmap0s29-rdm and
# protocol FI_PROTO_EFA (fixtures README).
EFA_FROM_SHM = (
    "s/provider: shm/provider: efa/; s/fabric: shm/fabric: efa/; "
    "s/domain: shm/domain: rdmap0s29-rdm/; s/FI_PROTO_SHM/FI_PROTO_EFA/"
)


def tool(bin_dir: Path, name: str, script: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def _cat(path: Path, exit_code: int = 0, stderr: Path | None = None) -> str:
    err = f"cat {shlex.quote(str(stderr))} >&2\n" if stderr else ""
    return f"cat {shlex.quote(str(path))}\n{err}exit {exit_code}\n"


def nvidia_smi(
    bin_dir: Path, capture: Path, query: Path | None = None, query_exit: int = 0
) -> Path:
    """`nvidia-smi` (its table) and the one query the GPU check makes, from a capture folder."""
    query = query or capture / "query-nounits.csv"
    return tool(
        bin_dir,
        "nvidia-smi",
        'case "$*" in\n'
        f"  *--query-gpu=name,driver_version,memory.total,count*) {_cat(query, query_exit)};;\n"
        f'  "") {_cat(capture / "nvidia-smi.txt")};;\n'
        '  *) echo "no capture for: nvidia-smi $*" >&2; exit 99;;\n'
        "esac\n",
    )


def fi_info(bin_dir: Path, fixture: Path, transform: str = "") -> Path:
    """`fi_info -p efa` printing a capture folder's stdout/stderr and exiting with its code."""
    code = int((fixture / "exit-code.txt").read_text())
    stdout = shlex.quote(str(fixture / "stdout.txt"))
    stderr = shlex.quote(str(fixture / "stderr.txt"))
    pipe = f" | sed {shlex.quote(transform)}" if transform else ""
    return tool(
        bin_dir,
        "fi_info",
        '[ "$*" = "-p efa" ] || { echo "no capture for: fi_info $*" >&2; exit 99; }\n'
        f"cat {stdout}{pipe}\ncat {stderr} >&2\nexit {code}\n",
    )


DISTRIBUTED = Path(__file__).resolve().parents[2] / "data" / "distributed"
DISTRIBUTED_CAPTURE = DISTRIBUTED / "gloo-cpu" / "termination-log.txt"
# What rank 0 writes after an NCCL run over EFA, and after one whose image has no aws-ofi-nccl
# (built from NCCL logs that are themselves built from format strings: replay/README.md).
REPLAY_EFA = DISTRIBUTED / "replay" / "efa" / "termination-log.txt"
REPLAY_NO_PLUGIN = DISTRIBUTED / "replay" / "socket-no-plugin" / "termination-log.txt"
# Faults a test injects into the pods that start while the fault's file exists. The checkout's
# build/ folder (git-ignored) is where the test and the world process, which share it, meet.
FAULTS = Path(__file__).resolve().parents[3] / "build" / "e2e" / "faults"
# The image's NCCL finds no aws-ofi-nccl, so an EFA pod's NCCL falls back to TCP.
FAULT_NO_PLUGIN = "nccl-without-aws-ofi-nccl"


# torchrun's rendezvous: no node rank starts (or ends) before all NNODES have joined (c10d
# rendezvous, "torchrun (Elastic Launch)"). The replay keeps that: each rank marks itself in the
# Job's folder (TOE_RENDEZVOUS, from the kubelet stand-in) and waits, up to 5 minutes, for the rest.
RENDEZVOUS = (
    'if [ -n "${TOE_RENDEZVOUS:-}" ]; then\n'
    '  mkdir -p "$TOE_RENDEZVOUS" && : >"$TOE_RENDEZVOUS/rank-${JOB_COMPLETION_INDEX:-0}"\n'
    "  waited=0\n"
    '  while [ "$(ls "$TOE_RENDEZVOUS" | wc -l)" -lt "${NNODES:-2}" ]; do\n'
    '    [ "$waited" -ge 600 ] && { echo "rendezvous: not all ranks joined" >&2; exit 1; }\n'
    "    waited=$((waited + 1)); sleep 0.5\n"
    "  done\n"
    "fi\n"
)


def _replay(bin_dir: Path, message: Path) -> Path:
    capture = shlex.quote(str(message))
    return tool(
        bin_dir,
        "torchrun",
        RENDEZVOUS
        + '[ "${JOB_COMPLETION_INDEX:-0}" = 0 ] && cat '
        + capture
        + ' >"$TERMINATION_LOG"\nexit 0\n',
    )


def torchrun(bin_dir: Path, efa: int = 0) -> Path:
    """`torchrun`. A pod given EFA devices replays rank 0's result of an NCCL run over EFA (or,
    under the FAULT_NO_PLUGIN fault, of one that fell back to TCP): gloo on this machine's CPU
    cannot stand in for a fabric. Any other pod runs the real torchrun from TOE_TORCH_BIN
    (`make e2e` builds it), so both pods run the script for real over loopback; without it,
    rank 0 replays the real capture of that run."""
    if efa:
        fault = (FAULTS / FAULT_NO_PLUGIN).exists()
        return _replay(bin_dir, REPLAY_NO_PLUGIN if fault else REPLAY_EFA)
    real = os.environ.get("TOE_TORCH_BIN")
    if real and (Path(real) / "torchrun").exists():
        return tool(bin_dir, "torchrun", f'exec {shlex.quote(str(Path(real) / "torchrun"))} "$@"\n')
    return _replay(bin_dir, DISTRIBUTED_CAPTURE)


def node_tools(bin_dir: Path, fixtures: Path, gpu_name: str | None, gpus: int, efa: int) -> None:
    """The tools a check container finds on a node: nvidia-smi when it was given GPUs and the GPU
    has a capture; fi_info (the EFA image carries libfabric) with EFA devices or without; torchrun
    (the PyTorch image)."""
    torchrun(bin_dir, efa)
    capture = GPU_CAPTURES.get(gpu_name or "")
    if gpus and capture:
        nvidia_smi(bin_dir, fixtures / "nvidia-smi" / capture)
    if efa:
        fi_info(bin_dir, fixtures / "fi_info" / "shm", EFA_FROM_SHM)
    else:
        fi_info(bin_dir, fixtures / "fi_info" / "no-efa")
