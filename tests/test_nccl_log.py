"""The distributed check's fabric: checks/nccl_log.py on NCCL logs built from NCCL's and
aws-ofi-nccl's format strings (tests/data/distributed/nccl/README.md), and the readout's verdict
on each transport case (core/nccl_transport.py, core/fabric.py)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from core import fabric, results
from core.nccl_transport import efa_verdict

DATA = Path(__file__).parent / "data" / "distributed"
LOGS = DATA / "nccl"
REPLAY = DATA / "replay"
sys.path.append(str(ROOT / "checks"))  # as in the pod: the scripts sit side by side in /checks
nccl_log = importlib.import_module("nccl_log")
script = importlib.import_module("distributed")

EFA_2_21 = "efa-nccl2.21.5-ofi1.13.2.log"
EFA_2_27 = "efa-nccl2.27.7-ofi1.16.3.log"
NO_PLUGIN = "socket-no-plugin-nccl2.21.5.log"
NO_DEVICE = "socket-no-efa-device-nccl2.21.5-ofi1.13.2.log"
TCP_PROVIDER = "ofi-tcp-provider-nccl2.21.5-ofi1.13.2.log"
P5EN = ["p5en.48xlarge", "p5en.48xlarge"]
# Synthetic busbw (GB/s) per size of fabric.SIZES_MIB: not measured (see the logs' README).
OVER_EFA = (0.9, 3.1, 8.2, 14.6, 18.9, 20.7, 21.4)
OVER_TCP = (0.4, 1.1, 1.6, 1.9, 2.0, 2.1, 2.1)


def summary(name: str) -> dict[str, str]:
    return nccl_log.summarize((LOGS / name).read_text())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            EFA_2_21,
            {
                "netPlugin": "Libfabric",
                "netPluginError": "",
                "network": "Libfabric",
                "ofi": "aws-ofi-nccl 1.13.2-aws",
                "ofiProvider": "efa",
                "ofiFabric": "",
                "ofiNics": "1",
                "ofiError": "",
                "via": "NET/Libfabric/GDRDMA*4",
                "socketIfs": "",
            },
        ),
        (
            EFA_2_27,
            {
                "netPlugin": "Libfabric",
                "ofi": "aws-ofi-nccl 1.16.3",
                "ofiProvider": "efa",
                "ofiFabric": "efa",
                "ofiNics": "1",
                # /Shared and a proxy rank (PXN) are the same transport.
                "via": "NET/Libfabric/GDRDMA*4",
            },
        ),
        (
            NO_PLUGIN,
            {
                "netPlugin": "",
                "netPluginError": "Plugin: No plugin found (libnccl-net.so)",
                "network": "Socket",
                "ofi": "",
                "ofiProvider": "",
                "via": "NET/Socket*4",
                "socketIfs": "eth0",
            },
        ),
        (
            NO_DEVICE,
            {
                "netPlugin": "Libfabric",
                "network": "Socket",
                "ofi": "aws-ofi-nccl 1.13.2-aws",
                "ofiProvider": "",
                "ofiError": "OFI fi_getinfo() call failed: No data available",
                "via": "NET/Socket*2",
            },
        ),
        (
            TCP_PROVIDER,
            {"network": "Libfabric", "ofiProvider": "tcp", "via": "NET/Libfabric*2"},
        ),
        ("", {"netPlugin": "", "network": "", "via": ""}),  # no log at all (NCCL_DEBUG unset)
    ],
)
def test_the_log_summary_for_each_transport_case(name, expected):
    found = summary(name) if name else nccl_log.summarize("")
    assert {k: found[k] for k in expected} == expected


def test_lines_that_are_not_nccls_are_ignored_and_values_stay_one_line():
    text = (LOGS / NO_PLUGIN).read_text()
    noisy = "Using network Bogus\n[rank 0] Channel 00/0 : via NET/Fake/0\n" + text
    assert nccl_log.summarize(noisy) == summary(NO_PLUGIN)
    assert all("\n" not in v and len(v) <= nccl_log.LIMIT for v in summary(NO_PLUGIN).values())


def test_the_transport_line_names_the_net_and_the_provider():
    assert nccl_log.transport(summary(EFA_2_21)) == (
        "NET/Libfabric/GDRDMA (aws-ofi-nccl, provider efa)"
    )
    assert nccl_log.transport(summary(NO_PLUGIN)) == "NET/Socket"
    assert nccl_log.transport(nccl_log.summarize("")).startswith("unknown")


def replay_message(name: str, busbw: tuple[float, ...], *, efa_devices: int) -> str:
    """What rank 0 would write after a run whose NCCL log is `name` (distributed.py's header,
    in its order), with synthetic bandwidth figures."""
    found = summary(name)
    mib = 1 << 20
    rows = [(m * mib, b, b) for m, b in zip(fabric.SIZES_MIB, busbw, strict=True)]
    header: dict[str, object] = {
        "status": "passed",
        "exit": 0,
        "reason": (
            f"all_reduce correct over 2 nodes; busbw {rows[-1][2]:.3f} GB/s at "
            f"{rows[-1][0] // mib} MiB over {nccl_log.transport(found)}"
        ),
        "backend": "nccl",
        "transport": nccl_log.transport(found),
        "world": 2,
        "nodes": "",  # a replay does not know the nodes: the readout takes the pods'
        "skippedMiB": "",
        "fiProvider": "efa",
        "efaDevices": str(efa_devices),
        **found,
    }
    return script.message(header, rows)


REPLAYS = {
    "efa": (EFA_2_21, OVER_EFA, 1),
    "socket-no-plugin": (NO_PLUGIN, OVER_TCP, 1),
}


@pytest.mark.parametrize("case", sorted(REPLAYS))
def test_the_replayed_termination_messages_are_what_the_script_writes(case):
    name, busbw, devices = REPLAYS[case]
    expected = replay_message(name, busbw, efa_devices=devices)
    assert (REPLAY / case / "termination-log.txt").read_text() == expected
    assert len(expected.encode()) <= results.MAX_MESSAGE_BYTES


def judged(name: str, busbw=OVER_EFA, *, efa_devices: int = 1, efa: bool = True, types=P5EN):
    parsed = results.parse_distributed_result(replay_message(name, busbw, efa_devices=efa_devices))
    assert parsed.status == "passed", parsed.reason
    return fabric.judge(parsed, types, efa_expected=efa, override=None)


@pytest.mark.parametrize("name", [EFA_2_21, EFA_2_27])
def test_efa_carrying_the_traffic_at_the_floor_passes(name):
    verdict = judged(name)
    assert (verdict.status, verdict.over_efa) == ("passed", True)
    # p5en: one EFA device on a 200 Gbps card, half its line rate, judged at 4 GiB.
    assert (verdict.floor.gbps, verdict.floor.bytes) == (12.5, 4 << 30)
    assert verdict.floor.applies_to == "p5en.48xlarge over EFA"
    assert verdict.judged.busbw_gbps == 21.4
    assert "EFA carried it (aws-ofi-nccl provider efa)" in verdict.reason


def test_efa_below_its_floor_fails_with_the_figures_and_the_source():
    verdict = judged(EFA_2_21, OVER_TCP)
    assert verdict.status == "failed"
    assert verdict.reason.startswith(
        "busbw 2.100 GB/s at 4 GiB is below the floor 12.5 GB/s for p5en.48xlarge over EFA "
        "(core/data/fabric.yaml formula: "
    )


@pytest.mark.parametrize(
    ("log", "reason"),
    [
        pytest.param(
            NO_PLUGIN,
            "EFA was requested but NCCL fell back to TCP over ENA (channels via NET/Socket on "
            "eth0); likely causes: the aws-ofi-nccl plugin is missing from the image (NCCL: "
            '"Plugin: No plugin found (libnccl-net.so)")',
            id="fall-back-names-the-missing-plugin",
        ),
        pytest.param(
            TCP_PROVIDER,
            "EFA was requested but aws-ofi-nccl selected tcp, not the efa provider",
            id="libfabrics-tcp-provider-is-not-efa",
        ),
    ],
)
def test_traffic_off_efa_fails_with_what_carried_it(log, reason):
    verdict = judged(log, OVER_TCP)
    assert (verdict.status, verdict.reason) == ("failed", reason)


def test_a_fall_back_without_an_efa_device_names_that():
    verdict = judged(NO_DEVICE, OVER_TCP, efa_devices=0)
    assert verdict.status == "failed"
    assert "fell back to TCP over ENA" in verdict.reason
    assert (
        "likely causes: no EFA interface reached the pod (no /dev/infiniband/uverbs* device in "
        'the pod; aws-ofi-nccl: "OFI fi_getinfo() call failed: No data available")'
    ) in verdict.reason
    assert "plugin is missing" not in verdict.reason  # it loaded


def test_a_fall_back_without_evidence_lists_every_likely_cause():
    """A message from before the script reported the pod's view: no cause can be pointed to."""
    ev = results.NcclEvidence(net_plugin="Libfabric", via=(("NET/Socket", 2),))
    reason = efa_verdict("nccl", ev).reason
    assert reason.endswith(
        "likely causes: no EFA interface reached the pod (the node launched without EFA "
        "interfaces, or the pod did not request vpc.amazonaws.com/efa); the aws-ofi-nccl plugin "
        "is missing from the image; FI_PROVIDER is unset or not efa"
    )


def test_no_channel_lines_prove_nothing():
    parsed = results.parse_distributed_result(
        replay_message(EFA_2_21, OVER_EFA, efa_devices=1).replace(
            "via=NET/Libfabric/GDRDMA*4", "via="
        )
    )
    verdict = fabric.judge(parsed, P5EN, efa_expected=True, override=None)
    assert verdict.status == "failed" and "shows no network channel" in verdict.reason


def test_gloo_cannot_prove_efa():
    message = (DATA / "gloo-cpu" / "termination-log.txt").read_text()
    verdict = fabric.judge(
        results.parse_distributed_result(message), P5EN, efa_expected=True, override=None
    )
    assert verdict.status == "failed"
    assert verdict.reason.startswith("EFA was requested but the check ran on gloo")


def test_tcp_is_fine_when_efa_was_not_asked_for_and_judged_by_the_tcp_floor():
    verdict = judged(NO_PLUGIN, OVER_TCP, efa=False, types=["g6.8xlarge", "g6.8xlarge"])
    assert (verdict.status, verdict.over_efa) == ("passed", None)
    assert (verdict.floor.gbps, verdict.floor.applies_to) == (0.781, "g6.8xlarge over TCP")


def test_the_override_replaces_the_floor_and_says_so():
    parsed = results.parse_distributed_result(replay_message(EFA_2_21, OVER_EFA, efa_devices=1))
    verdict = fabric.judge(parsed, P5EN, efa_expected=True, override=30.0)
    assert verdict.status == "failed"
    assert verdict.reason.endswith(
        "below the floor 30 GB/s for distributedMinBusbwGBps (config distributedMinBusbwGBps "
        "(explicit override))"
    )
    assert verdict.judged.bytes == 4 << 30  # the largest size


def test_a_type_without_a_row_is_judged_by_nothing_and_says_how_to_judge_it():
    verdict = judged(EFA_2_21, types=["p9.48xlarge"])
    assert verdict.status == "passed"
    assert verdict.floor.gbps == 0.0
    assert "p9.48xlarge has no EFA floor in core/data/fabric.yaml" in verdict.floor.source
    assert "set distributedMinBusbwGBps" in verdict.floor.source


def test_a_failed_run_stays_failed_whatever_the_fabric():
    message = (DATA / "no-torchrun" / "termination-log.txt").read_text()
    verdict = fabric.judge(
        results.parse_distributed_result(message), P5EN, efa_expected=True, override=None
    )
    assert (verdict.status, verdict.floor) == ("failed", None)
    assert verdict.reason.startswith("torchrun exited 127")
