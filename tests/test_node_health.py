"""The GPU result carries the node's health as Kubernetes reports it: Ready, the EKS node
monitoring agent's conditions, and the eks.amazonaws.com/instance-gpu-* labels."""

from __future__ import annotations

from test_readout import messages  # noqa: F401  (the fixture: real script output)

from components import readout
from core import wellknown as wk
from core.results import PASSED
from toe.offline.simulated_cluster import NS, FakeCoreV1, node, pod, terminated

GPU_LABELS = {
    "eks.amazonaws.com/instance-gpu-name": "h200",
    "eks.amazonaws.com/instance-gpu-manufacturer": "nvidia",
    "eks.amazonaws.com/instance-gpu-count": "8",
    "eks.amazonaws.com/instance-gpu-memory": "144384",
}


def condition(kind: str, status: str = "True", reason: str = "", message: str = "") -> dict:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def read(messages, conditions: list[dict]) -> dict:  # noqa: F811
    api = FakeCoreV1(
        pods=[pod("gpu-1", "gpu-1-abc", node_name="i-0gpu", state=terminated(*messages["gpu"]))],
        nodes=[
            node(
                "i-0gpu",
                "p5en.48xlarge",
                labels={**GPU_LABELS, "eks.amazonaws.com/instance-family": "p5en"},
                conditions=conditions,
            )
        ],
    )
    return readout.read_validation(api, NS, "gpu-1", None, False)


def test_a_healthy_node_reports_its_conditions_and_gpu_labels(messages):  # noqa: F811
    healthy = [condition("Ready", reason="KubeletReady")] + [
        condition(kind) for kind in wk.NODE_HEALTH_CONDITIONS
    ]
    # Conditions the readout does not judge (pressure conditions, False while healthy) stay out.
    found = read(messages, [*healthy, condition("MemoryPressure", "False")])
    health = found["gpu"]["node"]
    assert health["healthy"] is True
    assert [c["type"] for c in health["conditions"]] == ["Ready", *wk.NODE_HEALTH_CONDITIONS]
    # Only the instance-gpu-* labels, not every eks.amazonaws.com/ label.
    assert health["gpuLabels"] == GPU_LABELS
    assert readout.summary_lines(found)[0].endswith("143771 MiB")  # nothing to warn about


def test_a_bad_accelerator_condition_is_in_the_result_and_the_summary(messages):  # noqa: F811
    xid = "NVRM: Xid (PCI:0000:97:00): 79, GPU has fallen off the bus.\n  See dmesg"
    found = read(
        messages,
        [
            condition("Ready"),
            condition("AcceleratedHardwareReady", "False", "NvidiaXID79Error", xid),
            condition("KernelReady"),
        ],
    )
    gpu = found["gpu"]
    assert gpu["status"] == PASSED  # the check itself ran; the node's health is reported beside
    assert gpu["node"]["healthy"] is False
    bad = gpu["node"]["conditions"][1]
    assert bad == {
        "type": "AcceleratedHardwareReady",
        "status": "False",
        "reason": "NvidiaXID79Error",
        # One line: the agent's message is data, not layout.
        "message": "NVRM: Xid (PCI:0000:97:00): 79, GPU has fallen off the bus. See dmesg",
    }
    assert readout.summary_lines(found)[0].endswith(
        "; node i-0gpu unhealthy: AcceleratedHardwareReady=False (NvidiaXID79Error)"
    )


def test_a_node_not_ready_is_named_even_when_the_check_failed(messages):  # noqa: F811
    found = read(messages, [condition("Ready", "Unknown", "NodeStatusUnknown")])
    assert found["gpu"]["node"]["healthy"] is False
    line = readout.summary_lines({"gpu": {**found["gpu"], "status": "failed", "reason": "x"}})[0]
    assert (
        line == "gpu: failed — x on p5en.48xlarge (ap-northeast-2a); node i-0gpu unhealthy: "
        "Ready=Unknown (NodeStatusUnknown)"
    )
