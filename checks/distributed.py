"""Distributed check: an all-reduce across the Job's pods, one per node, as training would do it.

Started by `checks/distributed.sh` through `torchrun` (one process per pod; torchrun sets RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT). Python standard library and torch only.

1. Correctness first: every rank contributes a tensor of (rank + 1); after all_reduce each element
   must be world * (world + 1) / 2.
2. Then bandwidth: for each size from 1 MiB to 256 MiB, warm-up runs, then timed runs (CUDA events
   on GPUs, a monotonic clock on CPU). algbw = size / time; busbw = algbw * 2 (n - 1) / n, the
   all-reduce bus bandwidth as nccl-tests defines it (nccl-tests doc/PERFORMANCE.md).
3. The transport NCCL chose, from its NCCL_DEBUG=INFO log (`via NET/Socket` on ENA, the
   aws-ofi-nccl `Libfabric`/OFI plugin with EFA); `gloo` when there is no GPU.

Rank 0 writes the result to the termination message ($TERMINATION_LOG, default
/dev/termination-log), format toe-check/1 (parsed by components/results.py):

    format=toe-check/1
    check=distributed
    status=passed|failed       failed: wrong all-reduce sum, an error, or busbw below the bound
    exit=0|1
    reason=<one line>
    backend=nccl|gloo
    transport=<what carried the traffic>
    world=<ranks>
    nodes=<node names, comma-separated, rank order>
    minBusbwGBps=<the bound checked at the largest size>
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

MIB = 1 << 20
SIZES = tuple(int(s) * MIB for s in os.environ.get("TOE_SIZES_MIB", "1 4 16 64 256").split())
WARMUP = int(os.environ.get("TOE_WARMUP", "3"))
ITERATIONS = int(os.environ.get("TOE_ITERATIONS", "10"))
MAX_MESSAGE_BYTES = 4096
NAME_BYTES = 64  # a node name as Auto Mode gives it (an instance ID) fits
TERMINATION_LOG = os.environ.get("TERMINATION_LOG", "/dev/termination-log")
# NCCL's log lines naming the transport of a channel: "... via NET/Socket/0",
# "... via NET/AWS Libfabric/0", "... via NET/Libfabric/0/GDRDMA" (NCCL and aws-ofi-nccl logs).
VIA_RE = re.compile(r"\bvia (NET/[^/\s]+(?: [^/\s]+)?|P2P/\S+|SHM/\S+)")


def log(text: str) -> None:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%H:%M:%S")
    print(f"[{stamp} rank {os.environ.get('RANK', '?')}] {text}", flush=True)


def transport(backend: str) -> str:
    """What carried the all-reduce: NCCL's network plugin from its debug files, or gloo's TCP."""
    if backend != "nccl":
        return "gloo/TCP"
    pattern = os.environ.get("NCCL_DEBUG_FILE", "")
    found: list[str] = []
    for path in glob.glob(re.sub(r"%[hp]", "*", pattern)) if pattern else []:
        with open(path, errors="replace") as handle:
            found += VIA_RE.findall(handle.read())
    if not found:
        return "unknown (no NCCL channel lines in the NCCL_DEBUG log)"
    names = sorted(set(found), key=found.index)
    return ", ".join(names)


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
    minimum = float(os.environ.get("TOE_MIN_BUSBW_GBPS", "0"))
    header: dict[str, object] = {
        "status": "failed",
        "exit": 1,
        "reason": "",
        "backend": backend,
        "transport": "",
        "world": os.environ.get("WORLD_SIZE", "?"),
        "nodes": "",
        "minBusbwGBps": minimum,
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
        for size in SIZES:
            tensor = torch.ones(size // 4, dtype=torch.float32, device=device)
            seconds = timed_all_reduce(tensor, dist, torch, on_gpu)
            algbw = size / seconds / 1e9
            rows.append((size, algbw, algbw * factor))
            log(
                f"{size // MIB:>4} MiB: {seconds * 1e3:9.3f} ms  algbw {algbw:8.3f} GB/s  "
                f"busbw {algbw * factor:8.3f} GB/s"
            )
        header["transport"] = transport(backend)
        largest = rows[-1][2]
        if largest < minimum:
            header["reason"] = (
                f"busbw {largest:.3f} GB/s at {rows[-1][0] // MIB} MiB is below "
                f"distributedMinBusbwGBps {minimum:g}"
            )
        else:
            header["status"], header["exit"] = "passed", 0
            header["reason"] = (
                f"all_reduce correct over {world} nodes; busbw {largest:.3f} GB/s at "
                f"{rows[-1][0] // MIB} MiB over {header['transport']}"
            )
        dist.barrier()
        dist.destroy_process_group()
    except Exception as exc:  # report, never crash: the readout explains what went wrong
        if not header["reason"]:
            header["reason"] = f"{type(exc).__name__}: {exc}"
        header["transport"] = header["transport"] or transport(backend)
        log(f"failed: {header['reason']}")
    if rank == 0:
        text = message(header, rows)
        with open(TERMINATION_LOG, "w") as handle:
            handle.write(text)
        sys.stdout.write("== result\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
