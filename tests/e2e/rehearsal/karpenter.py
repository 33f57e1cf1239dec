"""Karpenter, for real, per cluster: the controller `make e2e-tools` builds from Karpenter core and
the Auto Mode cloud provider in tests/e2e/tools/karpenter, and the instance-type catalogue it reads.

The catalogue is what Auto Mode would offer in the region, made from the EC2 data the rehearsal
serves (moto's copy: types, the zones that offer them, vCPU, memory, GPUs, EFA, network limits)
and the bundled on-demand prices:
- labels: Auto Mode's well-known labels (FACTS.md, "EKS Auto Mode"; EKS user guide, "Create a
  Node Pool for EKS Auto Mode": `eks.amazonaws.com/instance-*`, `eks.amazonaws.com/compute-type`);
- capacity: cpu and memory from DescribeInstanceTypes, memory less the VM overhead the AWS
  provider subtracts (VM_MEMORY_OVERHEAD_PERCENT, default 0.075, karpenter-provider-aws
  pkg/operator/options); `nvidia.com/gpu` for NVIDIA GPUs and `vpc.amazonaws.com/efa` for EFA
  types (the device plugins' resource names, FACTS.md); pods by the ENI formula EKS documents
  (ENIs x (IPv4 addresses per ENI - 1) + 2, capped at 110 below 30 vCPUs, 250 above);
- overhead: kube-reserved by the formula the AWS provider and Bottlerocket use (memory
  11 x pods + 255 MiB; cpu 6% of the first core, 1% of the second, 0.5% of the next two, 0.25%
  of the rest) and the kubelet's default hard eviction (memory.available 100Mi);
- offerings: on-demand, in the zones EC2 offers the type and the NodeClass has a subnet, at the
  bundled price; a type with no price is left out, as the AWS provider marks an offering without
  a price unavailable (pkg/providers/instancetype/offering: `Available: ... && hasPrice`).
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REHEARSAL_PRICES = Path(__file__).resolve().parent / "prices.yaml"
GPU = "nvidia.com/gpu"
EFA = "vpc.amazonaws.com/efa"


@dataclass(frozen=True)
class InstanceType:
    name: str
    arch: str  # amd64 | arm64
    vcpus: int
    memory_mib: int
    gpu_name: str | None
    gpu_manufacturer: str | None
    gpus: int
    gpu_memory_mib: int
    efa_interfaces: int
    max_pods: int
    zones: frozenset[str]

    @property
    def category(self) -> str:
        return re.match(r"[a-z]+", self.name).group(0)

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def generation(self) -> str:
        match = re.match(r"[a-z]+(?:-[0-9]+tb)?([0-9]+)", self.name)
        return match.group(1) if match else ""

    def labels(self) -> dict[str, str | None]:
        """Every well-known label, None where the type has no value (no GPU: no GPU name)."""
        gpu = self.gpus > 0
        return {
            "kubernetes.io/arch": self.arch,
            "kubernetes.io/os": "linux",
            "eks.amazonaws.com/compute-type": "auto",
            "eks.amazonaws.com/instance-category": self.category,
            "eks.amazonaws.com/instance-family": self.family,
            "eks.amazonaws.com/instance-generation": self.generation or None,
            "eks.amazonaws.com/instance-size": self.name.split(".", 1)[1],
            "eks.amazonaws.com/instance-cpu": str(self.vcpus),
            "eks.amazonaws.com/instance-memory": str(self.memory_mib),
            "eks.amazonaws.com/instance-gpu-count": str(self.gpus),
            "eks.amazonaws.com/instance-gpu-name": (self.gpu_name or "").lower() if gpu else None,
            "eks.amazonaws.com/instance-gpu-manufacturer": (
                (self.gpu_manufacturer or "").lower() if gpu else None
            ),
            "eks.amazonaws.com/instance-gpu-memory": str(self.gpu_memory_mib) if gpu else None,
        }

    def capacity(self) -> dict[str, str]:
        memory = int(self.memory_mib * (1 - 0.075))
        capacity = {
            "cpu": str(self.vcpus),
            "memory": f"{memory}Mi",
            "pods": str(self.max_pods),
            "ephemeral-storage": "80Gi",  # Auto Mode's default node volume (NodeClass default)
        }
        if self.gpus and (self.gpu_manufacturer or "").upper() == "NVIDIA":
            capacity[GPU] = str(self.gpus)
        if self.efa_interfaces:
            capacity[EFA] = str(self.efa_interfaces)
        return capacity

    def overhead(self) -> dict[str, dict[str, str]]:
        millicores = 0.0
        for core in range(self.vcpus):
            millicores += 1000 * (
                0.06 if core == 0 else 0.01 if core == 1 else 0.005 if core < 4 else 0.0025
            )
        return {
            "kubeReserved": {
                "cpu": f"{int(millicores)}m",
                "memory": f"{11 * self.max_pods + 255}Mi",
                "ephemeral-storage": "1Gi",
            },
            "systemReserved": {},
            "evictionThreshold": {"memory": "100Mi", "ephemeral-storage": "8Gi"},
        }


def _max_pods(item: dict) -> int:
    network = item.get("NetworkInfo") or {}
    enis = int(network.get("MaximumNetworkInterfaces") or 1)
    per_eni = int(network.get("Ipv4AddressesPerInterface") or 2)
    pods = enis * (per_eni - 1) + 2
    return min(pods, 110 if item["VCpuInfo"]["DefaultVCpus"] < 30 else 250)


def types_from_ec2(ec2: Any) -> list[InstanceType]:
    """Every instance type EC2 (moto) knows, with the zones of the region that offer it."""
    zones: dict[str, set[str]] = {}
    for page in ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone"
    ):
        for offer in page["InstanceTypeOfferings"]:
            zones.setdefault(offer["InstanceType"], set()).add(offer["Location"])
    types = []
    for page in ec2.get_paginator("describe_instance_types").paginate():
        for item in page["InstanceTypes"]:
            gpus = (item.get("GpuInfo") or {}).get("Gpus") or []
            first = gpus[0] if gpus else {}
            network = item.get("NetworkInfo") or {}
            arches = item["ProcessorInfo"]["SupportedArchitectures"]
            types.append(
                InstanceType(
                    name=item["InstanceType"],
                    arch="arm64" if "arm64" in arches else "amd64",
                    vcpus=item["VCpuInfo"]["DefaultVCpus"],
                    memory_mib=item["MemoryInfo"]["SizeInMiB"],
                    gpu_name=first.get("Name"),
                    gpu_manufacturer=first.get("Manufacturer"),
                    gpus=sum(g.get("Count", 0) for g in gpus),
                    gpu_memory_mib=(first.get("MemoryInfo") or {}).get("SizeInMiB", 0),
                    efa_interfaces=(
                        (network.get("EfaInfo") or {}).get("MaximumEfaInterfaces", 0)
                        if network.get("EfaSupported")
                        else 0
                    ),
                    max_pods=_max_pods(item),
                    zones=frozenset(zones.get(item["InstanceType"], ())),
                )
            )
    return types


def prices(region: str) -> dict[str, float]:
    """On-demand $/hour by type: the bundled table (toe/prices.py, its one reader), then the
    rehearsal's stand-ins for types the table lacks (rehearsal/prices.yaml says what each is)."""
    from toe.prices import load_prices

    found = dict(load_prices(region).instance_hourly)
    extra = yaml.safe_load(REHEARSAL_PRICES.read_text())["regions"].get(region, {})
    for name, row in (extra.get("instance_hourly") or {}).items():
        found.setdefault(name, float(row["price"]))
    return found


def catalogue(types: list[InstanceType], zones: set[str], price: dict[str, float]) -> dict:
    """The cloud provider's instance types: offered where EC2 offers them in the NodeClass's
    zones, priced; unpriced or unoffered types are left out."""
    offered = []
    for it in sorted(types, key=lambda t: t.name):
        where = sorted(it.zones & zones)
        if it.name not in price or not where:
            continue
        offered.append(
            {
                "name": it.name,
                "labels": it.labels(),
                "capacity": it.capacity(),
                "overhead": it.overhead(),
                "offerings": [
                    {"zone": z, "capacityType": "on-demand", "price": price[it.name]} for z in where
                ],
            }
        )
    # Auto Mode's own labels, registered with Karpenter so requirements on them select types
    # (kubernetes.io/arch and os are Karpenter's already).
    well_known = sorted(
        {k for t in offered for k in t["labels"] if k.startswith("eks.amazonaws.com/")}
    )
    return {"wellKnownLabels": well_known, "types": offered}


@dataclass
class Karpenter:
    """One cluster's Karpenter process."""

    process: subprocess.Popen
    log: Path
    health_port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start(
    binary: Path,
    directory: Path,
    cluster: str,
    kubeconfig: Path,
    catalogue_doc: dict,
    region: str,
    ec2_endpoint: str,
    ports: tuple[int, int],
) -> Karpenter:
    """Start Karpenter for a cluster and wait until its health probe answers."""
    directory.mkdir(parents=True, exist_ok=True)
    types_file = directory / "instance-types.json"
    types_file.write_text(json.dumps(catalogue_doc, indent=1))
    log = directory / "karpenter.log"
    metrics, health = ports
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "KUBECONFIG": str(kubeconfig),
        "TOE_CLUSTER_NAME": cluster,
        "TOE_INSTANCE_TYPES": str(types_file),
        "AWS_ENDPOINT_URL": ec2_endpoint,
        "AWS_REGION": region,
    }
    process = subprocess.Popen(
        [
            str(binary),
            "--disable-leader-election",
            f"--metrics-port={metrics}",
            f"--health-probe-port={health}",
            "--log-level=debug",
        ],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    found = Karpenter(process, log, health)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"karpenter for {cluster} exited {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2) as r:
                if r.status == 200:
                    return found
        except (OSError, ssl.SSLError):
            time.sleep(0.3)
    found.stop()
    raise RuntimeError(f"karpenter for {cluster} was not ready in 90 s; see {log}")
