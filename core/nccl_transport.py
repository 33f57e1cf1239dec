"""Whether EFA carried the distributed check's traffic, from what NCCL's log said (NcclEvidence).

EFA carried it when aws-ofi-nccl selected libfabric's `efa` provider and NCCL's channels ran over
the plugin's net; a silent fall-back to NCCL's own TCP transport (`NET/Socket`, over ENA) is the
most common multi-node failure, and a job that ran proves nothing about it. The names and the
causes are those of the sources checks/nccl_log.py quotes:

- aws-ofi-nccl names its ncclNet "Libfabric" ("AWS Libfabric" or "OFI" when NCCL_NET asks for
  them), src/nccl_ofi_interface_nvidia.c[pp]; NCCL's TCP net is "Socket",
  src/transport/net_socket.cc.
- On EC2 with FI_PROVIDER unset, aws-ofi-nccl forces the efa provider; a node without EFA then
  falls back to NCCL's TCP (src/platform-aws.c[pp], PlatformAWS::init). FI_PROVIDER set to
  another provider (tcp, sockets) selects that one instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.results import NcclEvidence

OFI_NETS = ("Libfabric", "AWS Libfabric", "OFI")
SOCKET_NET = "Socket"
EFA_PROVIDER = "efa"


@dataclass(frozen=True)
class FabricVerdict:
    """Whether EFA carried the traffic; `reason` says why not, naming the likely causes."""

    over_efa: bool
    reason: str


def _causes(ev: NcclEvidence) -> list[str]:
    """The likely causes of a fall-back, those the evidence points to first."""
    plugin = (
        "the aws-ofi-nccl plugin is missing from the image"
        + (f' (NCCL: "{ev.net_plugin_error}")' if ev.net_plugin_error else "")
        if not ev.net_plugin
        else ""
    )
    no_efa = "no EFA interface reached the pod"
    details = []
    if ev.efa_devices == 0:
        details.append("no /dev/infiniband/uverbs* device in the pod")
    if ev.ofi_error:
        details.append(f'aws-ofi-nccl: "{ev.ofi_error}"')
    no_efa += (
        f" ({'; '.join(details)})"
        if details
        else " (the node launched without EFA interfaces, or the pod did not request "
        "vpc.amazonaws.com/efa)"
    )
    if ev.fi_provider is None:
        provider = "FI_PROVIDER may not be efa in the pod"
    elif ev.fi_provider == "":
        provider = "FI_PROVIDER is unset in the pod (the Job sets efa: the image may clear it)"
    else:
        provider = f"FI_PROVIDER is {ev.fi_provider!r} in the pod, not efa"
    pointed = []
    if plugin:
        pointed.append(plugin)
    if details:
        pointed.append(no_efa)
    if ev.fi_provider not in (None, EFA_PROVIDER):
        pointed.append(provider)
    if pointed:
        return pointed
    return [
        no_efa,
        "the aws-ofi-nccl plugin is missing from the image",
        provider if ev.fi_provider is not None else "FI_PROVIDER is unset or not efa",
    ]


def efa_verdict(backend: str, ev: NcclEvidence) -> FabricVerdict:
    """Judge a run that asked for EFA."""
    if backend != "nccl":
        return FabricVerdict(
            False,
            f"EFA was requested but the check ran on {backend or 'no backend'} (torch saw no "
            "GPU), so NCCL and EFA never ran",
        )
    nets = ev.net_channels
    if not nets:
        return FabricVerdict(
            False,
            "EFA was requested but NCCL's log shows no network channel (NCCL_DEBUG=INFO lines "
            "'Channel ... via NET/...'), so nothing proves EFA carried the traffic",
        )
    if SOCKET_NET in nets or ev.network == SOCKET_NET:
        return FabricVerdict(
            False,
            "EFA was requested but NCCL fell back to TCP over ENA (channels via NET/Socket"
            + (f" on {ev.socket_ifs}" if ev.socket_ifs else "")
            + "); likely causes: "
            + "; ".join(_causes(ev)),
        )
    if not any(net in OFI_NETS for net in nets):
        return FabricVerdict(
            False, f"EFA was requested but NCCL's channels ran via NET/{', NET/'.join(nets)}"
        )
    if ev.ofi_provider != EFA_PROVIDER:
        chosen = ev.ofi_provider or "no provider it logged"
        cause = (
            f"; FI_PROVIDER is {ev.fi_provider!r} in the pod"
            if ev.fi_provider not in (None, "", EFA_PROVIDER)
            else ""
        )
        return FabricVerdict(
            False,
            f"EFA was requested but aws-ofi-nccl selected {chosen}, not the efa provider{cause}",
        )
    return FabricVerdict(True, "")
