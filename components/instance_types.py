"""EC2 instance-type facts (architecture, GPUs, EFA) and the EKS AMI type derived from them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import botocore.session

INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")


@dataclass(frozen=True)
class InstanceFacts:
    """What EC2 says about one instance type (DescribeInstanceTypes)."""

    instance_type: str
    architectures: tuple[str, ...]
    gpu_manufacturer: str | None = None
    gpu_count: int = 0
    efa_supported: bool = False
    vcpus: int = 0
    memory_mib: int = 0

    @property
    def is_arm(self) -> bool:
        return "arm64" in self.architectures

    @property
    def kubernetes_arch(self) -> str:
        """The `kubernetes.io/arch` label value of nodes of this type."""
        return "arm64" if self.is_arm else "amd64"

    @property
    def has_nvidia_gpu(self) -> bool:
        return self.gpu_count > 0 and (self.gpu_manufacturer or "").upper() == "NVIDIA"


# Looks an instance type up; returns None when EC2 does not know it.
InstanceLookup = Callable[[str], "InstanceFacts | None"]


@cache
def eks_enum(shape: str) -> tuple[str, ...]:
    """An enum of the EKS API model shipped with botocore (e.g. `AMITypes`, `TaintEffect`)."""
    model = botocore.session.get_session().get_service_model("eks")
    return tuple(model.shape_for(shape).enum)


def derive_ami_type(facts: InstanceFacts) -> str:
    """The Amazon Linux 2023 AMI type for an instance type: ARM or x86, NVIDIA variant for GPUs.

    AL2 AMIs end at Kubernetes 1.32 (FACTS.md, "EKS and node groups"), so only AL2023 is derived.
    """
    arch = "ARM_64" if facts.is_arm else "x86_64"
    flavour = "NVIDIA" if facts.has_nvidia_gpu else "STANDARD"
    return f"AL2023_{arch}_{flavour}"


def ami_arch(ami_type: str) -> str | None:
    """`arm64`, `amd64` or None (CUSTOM) for an EKS AMI type."""
    if "ARM_64" in ami_type:
        return "arm64"
    if "x86_64" in ami_type:
        return "amd64"
    return None


def is_al2(ami_type: str) -> bool:
    return ami_type.startswith("AL2_")


def facts_from_describe(item: dict) -> InstanceFacts:
    """InstanceFacts from one `InstanceTypes[]` item of EC2 DescribeInstanceTypes (boto3 shape)."""
    gpus = (item.get("GpuInfo") or {}).get("Gpus") or []
    return InstanceFacts(
        instance_type=item["InstanceType"],
        architectures=tuple((item.get("ProcessorInfo") or {}).get("SupportedArchitectures", [])),
        gpu_manufacturer=gpus[0].get("Manufacturer") if gpus else None,
        gpu_count=sum(int(g.get("Count", 0)) for g in gpus),
        efa_supported=bool((item.get("NetworkInfo") or {}).get("EfaSupported", False)),
        vcpus=int((item.get("VCpuInfo") or {}).get("DefaultVCpus", 0)),
        memory_mib=int((item.get("MemoryInfo") or {}).get("SizeInMiB", 0)),
    )


def boto3_lookup(ec2_client) -> InstanceLookup:
    """An InstanceLookup answered by EC2 DescribeInstanceTypes through a boto3 client."""

    def lookup(instance_type: str) -> InstanceFacts | None:
        try:
            found = ec2_client.describe_instance_types(InstanceTypes=[instance_type])
        except ec2_client.exceptions.ClientError:
            return None
        items = found.get("InstanceTypes", [])
        return facts_from_describe(items[0]) if items else None

    return lookup


def pulumi_lookup() -> InstanceLookup:
    """An InstanceLookup answered by the `aws:ec2/getInstanceType` provider function."""
    import pulumi_aws as aws

    def lookup(instance_type: str) -> InstanceFacts | None:
        try:
            found = aws.ec2.get_instance_type(instance_type=instance_type)
        except Exception:  # the engine reports an unknown type as a failed invoke
            return None
        gpus = list(found.gpuses or [])
        return InstanceFacts(
            instance_type=found.instance_type,
            architectures=tuple(found.supported_architectures or ()),
            gpu_manufacturer=gpus[0].manufacturer if gpus else None,
            gpu_count=sum(int(g.count or 0) for g in gpus),
            efa_supported=bool(found.efa_supported),
            vcpus=int(found.default_vcpus or 0),
            memory_mib=int(found.memory_size or 0),
        )

    return lookup
