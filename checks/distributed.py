"""Distributed check: an all-reduce across the Job's pods, one per node, as training would do it.

Started by `checks/distributed.sh` through `torchrun` (one process per pod; torchrun sets RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT). Python standard library and torch only, plus
`nccl_log.py` beside it.

1. Correctness first: every rank contributes a tensor of (rank + 1); after all_reduce each element
   must be world * (world + 1) / 2.
2. Then bandwidth: for each size of TOE_SIZES_MIB (1 MiB to 4 GiB, and up to where a published
   figure was measured), warm-up runs, then timed runs (CUDA events on GPUs, a monotonic clock on
   CPU). A size over a third of the GPU's memory (or, on CPU, over TOE_CPU_MAX_MIB) is skipped.
   algbw = size / time; busbw = algbw * 2 (n - 1) / n, the all-reduce bus bandwidth as
   nccl-tests defines it (nccl-tests doc/PERFORMANCE.md).
3. The fabric, from NCCL's NCCL_DEBUG=INFO log (nccl_log.py): the net plugin, the libfabric
   provider aws-ofi-nccl selected, and what each channel ran over; `gloo` when there is no GPU.
   The readout judges them, and the bus bandwidth against the instance type's floor
   (core/data/fabric.yaml): this script only measures and reports.

Rank 0 writes the result to the termination message ($TERMINATION_LOG, default
/dev/termination-log), format toe-check/1 (parsed by core/results.py):

    format=toe-check/1
    check=distributed
    status=passed|failed       failed: wrong all-reduce sum, or an error
    exit=0|1
    reason=<one line>
    backend=nccl|gloo
    transport=<what carried the traffic>
    world=<ranks>
    nodes=<node names, comma-separated, rank order>
    skippedMiB=<sizes left out for memory, space-separated>
    fiProvider=<FI_PROVIDER in the pod; empty: unset>
    efaDevices=<EFA devices the pod sees: /dev/infiniband/uverbs*>
    netPlugin= netPluginError= network= ofi= ofiProvider= ofiFabric= ofiNics= ofiError=
    via= socketIfs=            what NCCL's log says (nccl_log.summarize)
    count=<size lines>
    truncated=0
    --
    <bytes> <algbw GB/s> <busbw GB/s>     one line per size, GB = 10^9 bytes
    end

Every rank exits 0 once it is done (passed or failed): the stack's readout decides what a failed
check means (`distributedRequired`).
"""

from __future__ import annotations

import datetime
import glob
import os
import re
import socket
import sys
import time

import nccl_log

MIB = 1 << 20
SIZES = tuple(
    int(s) * MIB for s in os.environ.get("TOE_SIZES_MIB", "1 4 16 64 256 1024 4096").split()
)
# An all-reduce in place needs its tensor plus NCCL's buffers: a third of the GPU's memory leaves
# room and reaches 4 GiB on every NVIDIA type EC2 lists (a T4 shows about 15.5 GiB to CUDA) and
# 16 GiB on an 80 GiB H100. gloo on CPU is a sanity run, not a fabric measurement, and its
# memory is the pod's.
GPU_MEMORY_SHARE = 3
CPU_MAX_BYTES = int(os.environ.get("TOE_CPU_MAX_MIB", "256")) * MIB
WARMUP = int(os.environ.get("TOE_WARMUP", "3"))
ITERATIONS = int(os.environ.get("TOE_ITERATIONS", "10"))
MAX_MESSAGE_BYTES = 4096
NAME_BYTES = 64  # a node name as Auto Mode gives it (an instance ID) fits
TERMINATION_LOG = os.environ.get("TERMINATION_LOG", "/dev/termination-log")
EFA_DEVICES = "/dev/infiniband/uverbs*"  # what the EFA device plugin hands the pod


def log(text: str) -> None:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%H:%M:%S")
    print(f"[{stamp} rank {os.environ.get('RANK', '?')}] {text}", flush=True)


def nccl_evidence(backend: str) -> dict[str, str]:
    """What NCCL's debug files say about the network, with the pod's FI_PROVIDER and EFA
    devices; gloo has no NCCL log."""
    found = {
        "fiProvider": os.environ.get("FI_PROVIDER", ""),
        "efaDevices": str(len(glob.glob(EFA_DEVICES))),
    }
    if backend != "nccl":
        return {**found, "transport": "gloo/TCP"}
    pattern = os.environ.get("NCCL_DEBUG_FILE", "")
    text = ""
    for path in sorted(glob.glob(re.sub(r"%[hp]", "*", pattern))) if pattern else []:
        with open(path, errors="replace") as handle:
            text += handle.read()
    summary = nccl_log.summarize(text)
    return {**found, **summary, "transport": nccl_log.transport(summary)}


def sizes_for(on_gpu: bool, torch) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(sizes to run, sizes skipped) within the device's memory."""
    if on_gpu:
        limit = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
        limit //= GPU_MEMORY_SHARE
    else:
        limit = CPU_MAX_BYTES
    return tuple(s for s in SIZES if s <= limit), tuple(s for s in SIZES if s > limit)


def gather_names(dist, torch, device, world: int) -> list[str]:
    """Every rank's node name, in rank order (as bytes in a tensor: no pickling, no numpy)."""
    name = (os.environ.get("NODE_NAME") or socket.gethostname()).encode()[:NAME_BYTES]
    mine = torch.zeros(NAME_BYTES, dtype=torch.uint8, device=device)
    mine[: len(name)] = torch.tensor(list(name), dtype=torch.uint8, device=device)
    everyone = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(everyone, mine)
    return [bytes(t.cpu().tolist()).rstrip(b"\0").decode(errors="replace") for t in everyone]


def timed_all_reduce(tensor, dist, torch, on_gpu: bool) -> float:
    """Seconds one all_reduce of `tensor` takes, averaged over ITERATIONS after WARMUP runs."""
    for _ in range(WARMUP):
        dist.all_reduce(tensor)
    if on_gpu:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(ITERATIONS):
            dist.all_reduce(tensor)
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000 / ITERATIONS
    dist.barrier()
    began = time.perf_counter()
    for _ in range(ITERATIONS):
        dist.all_reduce(tensor)
    return (time.perf_counter() - began) / ITERATIONS


def message(header: dict[str, object], rows: list[tuple[int, float, float]]) -> str:
    reason = " ".join(str(header.get("reason", "")).split())[:200]
    lines = ["format=toe-check/1", "check=distributed"]
    lines += [
        f"{k}={' '.join(str(v).split()) if k != 'reason' else reason}" for k, v in header.items()
    ]
    lines += [f"count={len(rows)}", "truncated=0", "--"]
    lines += [f"{size} {algbw:.3f} {busbw:.3f}" for size, algbw, busbw in rows]
    lines.append("end")
    text = "\n".join(lines) + "\n"
    return text if len(text.encode()) <= MAX_MESSAGE_BYTES else text[:MAX_MESSAGE_BYTES]


def main() -> int:
    import torch
    import torch.distributed as dist

    on_gpu = torch.cuda.is_available()
    backend = "nccl" if on_gpu else "gloo"
    header: dict[str, object] = {
        "status": "failed",
        "exit": 1,
        "reason": "",
        "backend": backend,
        "transport": "",
        "world": os.environ.get("WORLD_SIZE", "?"),
        "nodes": "",
        "skippedMiB": "",
    }
    rows: list[tuple[int, float, float]] = []
    rank = int(os.environ.get("RANK", "0"))
    try:
        if on_gpu:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        timeout = datetime.timedelta(seconds=int(os.environ.get("TOE_COLLECTIVE_TIMEOUT", "300")))
        dist.init_process_group(backend, timeout=timeout)
        world = dist.get_world_size()
        header["world"] = world
        device = torch.device("cuda") if on_gpu else torch.device("cpu")
        header["nodes"] = ",".join(gather_names(dist, torch, device, world))
        log(f"{backend} process group of {world}: {header['nodes']}")

        probe = torch.full((1024,), float(rank + 1), device=device)
        dist.all_reduce(probe)
        expected = world * (world + 1) / 2
        if not bool(torch.all(probe == expected)):
            got = float(probe[0])
            header["reason"] = f"all_reduce is wrong: {got:g} where {expected:g} was expected"
            raise RuntimeError(header["reason"])
        log(f"all_reduce of rank+1 over {world} ranks = {expected:g}: correct")

        factor = 2 * (world - 1) / world
        sizes, skipped = sizes_for(on_gpu, torch)
        header["skippedMiB"] = " ".join(str(s // MIB) for s in skipped)
        for size in sizes:
            tensor = torch.ones(size // 4, dtype=torch.float32, device=device)
            seconds = timed_all_reduce(tensor, dist, torch, on_gpu)
            del tensor
            algbw = size / seconds / 1e9
            rows.append((size, algbw, algbw * factor))
            log(
                f"{size // MIB:>4} MiB: {seconds * 1e3:9.3f} ms  algbw {algbw:8.3f} GB/s  "
                f"busbw {algbw * factor:8.3f} GB/s"
            )
        header.update(nccl_evidence(backend))
        header["status"], header["exit"] = "passed", 0
        header["reason"] = (
            f"all_reduce correct over {world} nodes; busbw {rows[-1][2]:.3f} GB/s at "
            f"{rows[-1][0] // MIB} MiB over {header['transport']}"
        )
        dist.barrier()
        dist.destroy_process_group()
    except Exception as exc:  # report, never crash: the readout explains what went wrong
        if not header["reason"]:
            header["reason"] = f"{type(exc).__name__}: {exc}"
        if not header["transport"]:
            header.update(nccl_evidence(backend))
        log(f"failed: {header['reason']}")
    if rank == 0:
        text = message(header, rows)
        with open(TERMINATION_LOG, "w") as handle:
            handle.write(text)
        sys.stdout.write("== result\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
