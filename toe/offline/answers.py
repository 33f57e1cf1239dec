"""The simulated account's answers to the program's AWS look-ups (pulumi-aws functions), from
moto: the same answers the rehearsal's aws plugin gives.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

from toe.offline.account import (
    DEFAULT_QUOTAS,
)
from toe.offline.program import ACCOUNT_ID


class InvokeError(Exception):
    """A failed provider function, shaped like the engine's gRPC error so programs can catch it."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self._details = details

    def code(self):
        import grpc

        return grpc.StatusCode.UNKNOWN

    def details(self) -> str:
        return self._details


def _make_invoke_error(details: str) -> Exception:
    import grpc

    class _RpcInvokeError(InvokeError, grpc.RpcError):
        pass

    return _RpcInvokeError(details)


def _tags(tags: list[dict] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def _filters(args: Mapping[str, Any]) -> list[dict]:
    return [{"Name": f["name"], "Values": list(f["values"])} for f in args.get("filters") or []]


_CLIENT_LOCK = threading.Lock()


@functools.cache
def _session():
    """One boto3 session for all runs: its loaded API models are reused (a new one costs ~0.3 s)."""
    import boto3

    return boto3.Session()


class AwsAnswers:
    """Provider functions answered by boto3 against the active moto mock."""

    def __init__(self, region: str, quotas: Mapping[str, float] | None = None) -> None:
        self.region = region
        self._local = threading.local()
        # Service Quotas is not simulated by moto: values come from the account file.
        self.quotas = dict(DEFAULT_QUOTAS if quotas is None else quotas)

    @property
    def ec2(self):
        if not hasattr(self._local, "ec2"):
            with _CLIENT_LOCK:  # botocore sessions do not create clients thread-safely
                self._local.ec2 = _session().client("ec2", region_name=self.region)
        return self._local.ec2

    def get_vpcs(self, args: Mapping) -> dict:
        vpcs = self.ec2.describe_vpcs(Filters=_filters(args))["Vpcs"]
        return {"id": self.region, "ids": sorted(v["VpcId"] for v in vpcs), "filters": []}

    def get_vpc(self, args: Mapping) -> dict:
        vpc = self.ec2.describe_vpcs(VpcIds=[args["id"]])["Vpcs"][0]
        return {
            "id": vpc["VpcId"],
            "cidrBlock": vpc["CidrBlock"],
            "tags": _tags(vpc.get("Tags")),
            "arn": f"arn:aws:ec2:{self.region}:{ACCOUNT_ID}:vpc/{vpc['VpcId']}",
            "state": vpc.get("State", "available"),
        }

    def get_subnets(self, args: Mapping) -> dict:
        subnets = self.ec2.describe_subnets(Filters=_filters(args))["Subnets"]
        return {"id": self.region, "ids": sorted(s["SubnetId"] for s in subnets)}

    def get_subnet(self, args: Mapping) -> dict:
        s = self.ec2.describe_subnets(SubnetIds=[args["id"]])["Subnets"][0]
        return {
            "id": s["SubnetId"],
            "vpcId": s["VpcId"],
            "availabilityZone": s["AvailabilityZone"],
            "cidrBlock": s["CidrBlock"],
            "tags": _tags(s.get("Tags")),
        }

    def get_instance_type(self, args: Mapping) -> dict:
        name = args["instanceType"]
        try:
            item = self.ec2.describe_instance_types(InstanceTypes=[name])["InstanceTypes"][0]
        except Exception as err:
            raise _make_invoke_error(
                f"invoking aws:ec2/getInstanceType:getInstanceType: reading EC2 Instance Type "
                f"({name}): {err}"
            ) from None
        gpus = (item.get("GpuInfo") or {}).get("Gpus") or []
        return {
            "id": name,
            "instanceType": name,
            "supportedArchitectures": item["ProcessorInfo"]["SupportedArchitectures"],
            "defaultVcpus": item["VCpuInfo"]["DefaultVCpus"],
            "memorySize": item["MemoryInfo"]["SizeInMiB"],
            "efaSupported": bool(item.get("NetworkInfo", {}).get("EfaSupported", False)),
            "gpuses": [
                {
                    "count": g.get("Count", 0),
                    "manufacturer": g.get("Manufacturer", ""),
                    "name": g.get("Name", ""),
                    "memorySize": (g.get("MemoryInfo") or {}).get("SizeInMiB", 0),
                }
                for g in gpus
            ],
        }

    def get_instance_type_offerings(self, args: Mapping) -> dict:
        location_type = args.get("locationType") or "region"
        pages = self.ec2.get_paginator("describe_instance_type_offerings").paginate(
            LocationType=location_type, Filters=_filters(args)
        )
        offers = [o for page in pages for o in page["InstanceTypeOfferings"]]
        return {
            "id": self.region,
            "instanceTypes": [o["InstanceType"] for o in offers],
            "locations": [o["Location"] for o in offers],
            "locationTypes": [o["LocationType"] for o in offers],
            "locationType": location_type,
            "filters": [],
        }

    def get_service_quota(self, args: Mapping) -> dict:
        code, service = args.get("quotaCode"), args.get("serviceCode")
        if service != "ec2" or code not in self.quotas:
            raise _make_invoke_error(
                f"invoking aws:servicequotas/getServiceQuota:getServiceQuota: reading Service "
                f"Quota ({service}/{code}): NoSuchResourceException: the offline account has "
                "no such quota"
            )
        return {
            "id": f"{service}/{code}",
            "arn": f"arn:aws:servicequotas:{self.region}:{ACCOUNT_ID}:{service}/{code}",
            "quotaCode": code,
            "serviceCode": service,
            "serviceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
            "quotaName": code,
            "value": self.quotas[code],
            "defaultValue": self.quotas[code],
            "adjustable": True,
            "globalQuota": False,
            "usageMetrics": [],
        }

    def caller_identity(self, _args: Mapping) -> dict:
        return {
            "id": ACCOUNT_ID,
            "accountId": ACCOUNT_ID,
            "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/workshop-instructor",
            "userId": "AIDAWORKSHOPINSTRUCTOR",
        }

    def apply_tag(self, inputs: Mapping) -> None:
        self.ec2.create_tags(
            Resources=[inputs["resourceId"]],
            Tags=[{"Key": inputs["key"], "Value": inputs["value"]}],
        )

    def subnet_tags(self) -> dict[str, dict[str, str]]:
        return {s["SubnetId"]: _tags(s.get("Tags")) for s in self.ec2.describe_subnets()["Subnets"]}
