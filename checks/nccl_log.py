"""What NCCL's NCCL_DEBUG=INFO log says about the network: plugin, provider, channel transports.

Shipped beside distributed.py (Python standard library only) and run in the check's pod, where
the log is; the readout judges the summary (core/nccl_transport.py). Each pattern below is the
format string it matches, quoted from the source that prints it:

NCCL (NVIDIA/nccl; v2.21.5-1 = ab2b89c4, v2.27.7-1 = 593de54e, v2.30.7-1 = 5067397c):
  every line       src/debug.cc: "%s:%d:%d [%d] NCCL INFO " (hostname, pid, tid, cudaDev), WARN
                   lines "%s:%d:%d [%d] %s:%d NCCL WARN " (+ file or function, line)
  plugin loaded    src/net.cc (2.21) and src/plugin/net/net_v*.cc (2.26+):
                   "NET/Plugin: Loaded net plugin %s (v%d)"
  no plugin        src/net.cc (2.21): "NET/Plugin: No plugin found (%s)",
                   "NET/Plugin: Plugin load returned %d : %s : when loading %s",
                   "NET/Plugin: Using internal network plugin."; src/plugin/plugin_open.cc
                   (2.26+): "%s/Plugin: Could not find:%s. %s"
  chosen network   src/init.cc: "Using network %s" (comm->ncclNet->name)
  channels         src/transport/net.cc: "Channel %02d/%d : %d[%d] -> %d[%d] [send] via
                   NET/%s/%d%s%s%s" (name, device, "/GDRDMA", "(PCI)", "/Shared"), "[receive]"
                   likewise, and "via NET/%s/%d(%d)%s%s%s" through a proxy rank (PXN)
  TCP              src/transport/net_socket.cc: "NET/Socket : Using%s" (" [%d]%s:%s" per
                   interface); its ncclNet name is "Socket"

aws-ofi-nccl (aws/aws-ofi-nccl; v1.13.2-aws = 5d0c0757, v1.16.3 = b9e4cc42), every line
prefixed "NET/OFI " (include/nccl_ofi_log.h); its ncclNet name is "Libfabric" ("AWS Libfabric"
or "OFI" when NCCL_NET says so; src/nccl_ofi_interface_nvidia.c[pp]):
  version          src/nccl_ofi_net.c[pp]: "Initializing " PACKAGE_STRING
                   (e.g. "aws-ofi-nccl 1.13.2-aws")
  provider         1.13: "Selected Provider is %s (found %d nics)"; 1.16: "Selected provider is
                   %s, fabric is %s (found %d nics)"
  failure          src/nccl_ofi_rdma.c[pp], nccl_ofi_sendrecv.c[pp] (WARN):
                   "OFI fi_getinfo() call failed: %s" (no EFA device: "No data available")
"""

from __future__ import annotations

import re

_PREFIX = r"^(?:\[[^\]]*\] )?\S+:\d+:\d+ \[-?\d+\] "
INFO_RE = re.compile(_PREFIX + r"NCCL INFO (?P<text>.*)$")
WARN_RE = re.compile(_PREFIX + r".*?:\d+ NCCL WARN (?P<text>.*)$")

PLUGIN_LOADED_RE = re.compile(r"NET/Plugin: Loaded net plugin (?P<name>.+) \(v\d+\)$")
PLUGIN_MISSING_RE = re.compile(
    r"NET/Plugin: (?:No plugin found|Plugin load returned|Could not find:|Most recent plugin"
    r" load returned|Using internal network plugin)"
)
NETWORK_RE = re.compile(r"Using network (?P<name>.+)$")
CHANNEL_RE = re.compile(
    r"Channel \d+/\d+ : \d+\[\d+\] -> \d+\[\d+\] \[(?:send|receive)\] via NET/(?P<name>[^/]+)"
    r"/\d+(?:\(\d+\))?(?P<gdr>/GDRDMA)?(?:\(PCI\))?(?:/Shared)?$"
)
OTHER_VIA_RE = re.compile(r"Channel \d+(?:/\d+)? : .* via (?P<via>(?:P2P|SHM)/\S+)")
SOCKET_RE = re.compile(r"NET/Socket : Using(?P<ifs>.*)$")
OFI_VERSION_RE = re.compile(r"NET/OFI Initializing (?P<version>aws-ofi-nccl \S+)")
OFI_PROVIDER_RE = re.compile(
    r"NET/OFI Selected [Pp]rovider is (?P<provider>[^,\s]+)(?:, fabric is (?P<fabric>\S+))?"
    r" \(found (?P<nics>\d+) nics\)"
)
LIMIT = 160  # characters of a quoted line kept in the termination message


def _short(text: str) -> str:
    return " ".join(text.split())[:LIMIT]


def summarize(text: str) -> dict[str, str]:
    """Header fields for the termination message from the text of NCCL's debug log(s).

    netPlugin / netPluginError: the external net plugin NCCL loaded, or why it loaded none;
    network: the net NCCL's communicator uses; ofi, ofiProvider, ofiFabric, ofiNics, ofiError:
    aws-ofi-nccl's version, the libfabric provider it selected, or its first warning;
    via: each channel transport with its count (`NET/Libfabric/GDRDMA*2,NET/Socket*2`);
    socketIfs: the interfaces NCCL's own TCP transport found. Empty when the log does not say.
    """
    found = dict.fromkeys(
        ("netPlugin", "netPluginError", "network", "ofi", "ofiProvider", "ofiFabric", "ofiNics"),
        "",
    )
    found.update(ofiError="", socketIfs="")
    via: dict[str, int] = {}
    for raw in text.splitlines():
        info = INFO_RE.match(raw.rstrip())
        warn = None if info else WARN_RE.match(raw.rstrip())
        if warn:
            message = warn["text"].strip()
            if message.startswith("NET/OFI ") and not found["ofiError"]:
                found["ofiError"] = _short(message[len("NET/OFI ") :])
            continue
        if not info:
            continue
        message = info["text"].strip()
        if match := PLUGIN_LOADED_RE.match(message):
            found["netPlugin"] = match["name"]
        elif PLUGIN_MISSING_RE.match(message):
            found["netPluginError"] = found["netPluginError"] or _short(message[len("NET/") :])
        elif match := NETWORK_RE.match(message):
            found["network"] = match["name"]
        elif match := CHANNEL_RE.match(message):
            key = f"NET/{match['name']}{match['gdr'] or ''}"
            via[key] = via.get(key, 0) + 1
        elif match := OTHER_VIA_RE.match(message):
            key = match["via"].split("/")[0] + "/" + match["via"].split("/")[1]
            via[key] = via.get(key, 0) + 1
        elif match := SOCKET_RE.match(message):
            names = re.findall(r"\[\d+\]([^:\s]+):", match["ifs"])
            found["socketIfs"] = ",".join(names)
        elif match := OFI_VERSION_RE.match(message):
            found["ofi"] = match["version"]
        elif match := OFI_PROVIDER_RE.match(message):
            found["ofiProvider"] = match["provider"]
            found["ofiFabric"] = match["fabric"] or ""
            found["ofiNics"] = match["nics"]
    found["via"] = ",".join(f"{k}*{n}" for k, n in via.items())
    return found


def transport(found: dict[str, str]) -> str:
    """One line naming what carried the traffic, e.g. `NET/Libfabric/GDRDMA (aws-ofi-nccl efa)`."""
    names = [item.rsplit("*", 1)[0] for item in found.get("via", "").split(",") if item]
    if not names:
        return "unknown (no NCCL channel lines in the NCCL_DEBUG log)"
    text = ", ".join(names)
    if found.get("ofiProvider") and any("Socket" not in n for n in names if n.startswith("NET/")):
        text += f" (aws-ofi-nccl, provider {found['ofiProvider']})"
    return text
