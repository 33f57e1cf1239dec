"""EC2 instance types: their facts, their names read like Karpenter, AMI types, GPU pool fit."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import botocore.session

from core.aws_errors import aws_error, call_failed, unparsable

if TYPE_CHECKING:
    from core.config import GpuPoolSpec

INSTANCE_TYPE_RE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9]+")  # fullmatch

# Karpenter's reading of an instance type name (karpenter-provider-aws, instancetype.go):
# category = the leading letters, generation = the digits after them, family = before the dot.
# `gr6.4xlarge` is category `gr`, `p6-b300.48xlarge` category `p`, `u-6tb1.metal` category `u`.
INSTANCE_NAME_RE = re.compile(r"([a-z]+)(-[0-9]+tb)?([0-9]+)[a-z0-9-]*\.([a-z0-9-]+)")

# The first Kubernetes 1.x minor version without Amazon Linux 2 AMIs: EKS releases AL2 AMIs up to
# 1.32 only (FACTS.md, "EKS and node groups").
FIRST_MINOR_WITHOUT_AL2 = 33


@dataclass(frozen=True)
class InstanceFacts:
    """What EC2 says about one instance type (DescribeInstanceTypes), GPUs and EFA included."""

    instance_type: str
    architectures: tuple[str, ...]
    gpu_manufacturer: str | None = None
    gpu_count: int = 0
    efa_supported: bool = False
    vcpus: int = 0
    memory_mib: int = 0
    gpu_name: str | None = None
    gpu_memory_mib: int = 0  # per GPU
    max_enis: int = 0  # network interfaces an instance of this type can have
    ipv4_per_eni: int = 0  # private IPv4 addresses per network interface

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


# Looks an instance type up; returns None when EC2 does not know it, and raises LookupFailed when
# EC2 could not be asked (access denied, throttling, no network): that is not a bad type.
InstanceLookup = Callable[[str], "InstanceFacts | None"]

# EC2's answer for a type it does not have (DescribeInstanceTypes: InvalidInstanceType); the
# aws provider quotes it in its invoke error ("api error InvalidInstanceType: ...").
NOT_FOUND_CODE = "InvalidInstanceType"


class LookupFailed(Exception):
    """EC2 could not be asked about an instance type; the message quotes AWS's error."""


# ---------------------------------------------------------------------------- names


def category(instance_type: str) -> str:
    """Karpenter's `instance-category` of a type (`g4dn.xlarge` -> `g`); '' when unparsable."""
    match = INSTANCE_NAME_RE.fullmatch(instance_type)
    return match.group(1) if match else ""


@cache
def known_instance_types() -> frozenset[str]:
    """Every instance type EC2 has in some region: the `InstanceType` enum of botocore's EC2
    model. A name in it is what its writer meant, whether this region offers it or not."""
    model = botocore.session.get_session().get_service_model("ec2")
    return frozenset(model.shape_for("InstanceType").enum)


@cache
def known_families() -> frozenset[str]:
    """Every instance family EC2 has (of `known_instance_types`)."""
    return frozenset(family(name) for name in known_instance_types())


def category_and_generation(family_name: str) -> tuple[str, str] | None:
    """Karpenter's `instance-category` and `instance-generation` of a family (`p4d` -> p, 4)."""
    match = INSTANCE_NAME_RE.fullmatch(f"{family_name}.xlarge")
    return match.group(1, 3) if match else None


def family(instance_type: str) -> str:
    """Karpenter's `instance-family` of a type (`g4dn.xlarge` -> `g4dn`)."""
    return instance_type.split(".", 1)[0]


_SIZE_ORDER = {"nano": 0.1, "micro": 0.2, "small": 0.3, "medium": 0.4, "large": 0.5, "xlarge": 1}


def size_rank(instance_type: str) -> tuple[float, str]:
    """Sort key putting smaller sizes first (`xlarge` < `2xlarge` < `48xlarge` < `metal`).

    Only an ordering hint that lets the in-program check stop early; results never rely on it.
    """
    size = instance_type.split(".", 1)[-1]
    if size in _SIZE_ORDER:
        rank = _SIZE_ORDER[size]
    elif size.endswith("xlarge") and size[: -len("xlarge")].isdigit():
        rank = float(size[: -len("xlarge")])
    else:
        rank = 1000.0  # metal and other odd sizes
    return rank, instance_type


# ---------------------------------------------------------------------------- AMI types


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


# ---------------------------------------------------------------------------- GPU pool fit


def pool_admits(pool: GpuPoolSpec, instance_type: str) -> bool:
    """Whether the NodePool's category/family requirements admit this type (by name)."""
    if category(instance_type) not in pool.instance_categories:
        return False
    return not pool.instance_families or family(instance_type) in pool.instance_families


def within_limits(pool: GpuPoolSpec, facts: InstanceFacts) -> bool:
    """Whether one node of this type fits the NodePool's limits.

    Karpenter drops instance types larger than what is left of a NodePool's limits
    (kubernetes-sigs/karpenter, scheduler `filterByRemainingResources`), so with the default
    limits (4 GPUs, 96 vCPUs) an 8-GPU p5.48xlarge is never launched.
    """
    return (
        facts.gpu_count <= pool.max_gpus
        and facts.vcpus <= pool.max_cpu
        and facts.memory_mib <= pool.max_memory_gi * 1024
    )


def pool_can_launch(pool: GpuPoolSpec, facts: InstanceFacts) -> bool:
    """The NodePool's requirements on the type's facts: amd64, a GPU, within the limits."""
    return (
        pool_admits(pool, facts.instance_type)
        and facts.kubernetes_arch == "amd64"
        and facts.gpu_count > 0
        and within_limits(pool, facts)
    )


# ---------------------------------------------------------------------------- look-ups


def facts_from_describe(item: Mapping) -> InstanceFacts:
    """InstanceFacts from one `InstanceTypes[]` item of EC2 DescribeInstanceTypes (boto3 shape)."""
    gpus = (item.get("GpuInfo") or {}).get("Gpus") or []
    first = gpus[0] if gpus else None
    return InstanceFacts(
        instance_type=item["InstanceType"],
        architectures=tuple((item.get("ProcessorInfo") or {}).get("SupportedArchitectures", [])),
        gpu_manufacturer=first.get("Manufacturer") if first else None,
        gpu_count=sum(int(g.get("Count", 0)) for g in gpus),
        efa_supported=bool((item.get("NetworkInfo") or {}).get("EfaSupported", False)),
        vcpus=int((item.get("VCpuInfo") or {}).get("DefaultVCpus", 0)),
        memory_mib=int((item.get("MemoryInfo") or {}).get("SizeInMiB", 0)),
        gpu_name=first.get("Name") if first else None,
        gpu_memory_mib=int((first.get("MemoryInfo") or {}).get("SizeInMiB", 0)) if first else 0,
        max_enis=int((item.get("NetworkInfo") or {}).get("MaximumNetworkInterfaces", 0)),
        ipv4_per_eni=int((item.get("NetworkInfo") or {}).get("Ipv4AddressesPerInterface", 0)),
    )


def facts_from_invoke(found: Any) -> InstanceFacts:
    """InstanceFacts from the result of the `aws:ec2/getInstanceType` provider function."""
    gpus = list(found.gpuses or [])
    first = gpus[0] if gpus else None
    return InstanceFacts(
        instance_type=found.instance_type,
        architectures=tuple(found.supported_architectures or ()),
        gpu_manufacturer=first.manufacturer if first else None,
        gpu_count=sum(int(g.count or 0) for g in gpus),
        efa_supported=bool(found.efa_supported),
        vcpus=int(found.default_vcpus or 0),
        memory_mib=int(found.memory_size or 0),
        gpu_name=first.name if first else None,
        gpu_memory_mib=int(first.memory_size or 0) if first else 0,
        max_enis=int(found.maximum_network_interfaces or 0),
        ipv4_per_eni=int(found.maximum_ipv4_addresses_per_interface or 0),
    )


def boto3_lookup(ec2_client) -> InstanceLookup:
    """An InstanceLookup answered by EC2 DescribeInstanceTypes through a boto3 client."""
    from botocore.exceptions import BotoCoreError, ClientError

    def lookup(instance_type: str) -> InstanceFacts | None:
        try:
            found = ec2_client.describe_instance_types(InstanceTypes=[instance_type])
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == NOT_FOUND_CODE:
                return None
            raise LookupFailed(call_failed(err, "EC2")) from None
        except BotoCoreError as err:
            raise LookupFailed(f"EC2 DescribeInstanceTypes failed: {err}") from None
        except unparsable() as err:
            raise LookupFailed(f"EC2 DescribeInstanceTypes failed: {aws_error(err)}") from None
        items = found.get("InstanceTypes", [])
        return facts_from_describe(items[0]) if items else None

    return lookup


def _invoke_error_text(err: Exception) -> str:
    details = getattr(err, "details", None)
    text = details() if callable(details) else str(err)
    return " ".join(str(text).split())


def pulumi_lookup() -> InstanceLookup:
    """An InstanceLookup answered by the `aws:ec2/getInstanceType` provider function."""
    import pulumi_aws as aws

    def lookup(instance_type: str) -> InstanceFacts | None:
        try:
            found = aws.ec2.get_instance_type(instance_type=instance_type)
        except Exception as err:  # the engine reports a failed invoke as an exception
            text = _invoke_error_text(err)
            if NOT_FOUND_CODE in text:
                return None
            raise LookupFailed(f"the aws provider's getInstanceType failed: {text}") from None
        return facts_from_invoke(found)

    return lookup


def pulumi_catalog() -> Callable[[], list[str] | None]:
    """Every instance type offered in the region, from `aws:ec2/getInstanceTypeOfferings`."""
    import pulumi_aws as aws

    def catalog() -> list[str] | None:
        try:
            found = aws.ec2.get_instance_type_offerings(location_type="region")
        except Exception:  # only for "did you mean": without it, no suggestion
            return None
        return sorted(set(found.instance_types or []))

    return catalog
