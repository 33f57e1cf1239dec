"""How the account rules ask AWS: over boto3 (preflight) or the aws provider's functions (up)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.account_checks import QUOTA_NAMES, SERVICE_CODE
from core.aws_errors import asking, aws_error, call_failed, response_body
from core.instance_types import (
    NOT_FOUND_CODE,
    InstanceFacts,
    LookupFailed,
    facts_from_describe,
    pulumi_lookup,
)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Boto3AccountApi:
    """AccountApi over boto3 EC2 and Service Quotas clients; `errors` keeps why a quota failed
    (one line), `bodies` the whole answer when it was not AWS's error document."""

    def __init__(self, ec2_client, quotas_client) -> None:
        self._ec2 = ec2_client
        self._quotas = quotas_client
        self.errors: dict[str, str] = {}
        self.bodies: dict[str, str] = {}
        self.sources: dict[str, str] = {}

    def offerings(self, azs: Sequence[str]) -> dict[str, frozenset[str]]:
        if not azs:
            return {}
        found: dict[str, set[str]] = {}
        pages = self._ec2.get_paginator("describe_instance_type_offerings").paginate(
            LocationType="availability-zone",
            Filters=[{"Name": "location", "Values": list(azs)}],
        )
        for page in pages:
            for offer in page["InstanceTypeOfferings"]:
                found.setdefault(offer["InstanceType"], set()).add(offer["Location"])
        return {name: frozenset(zones) for name, zones in found.items()}

    def describe(self, instance_types: Sequence[str]) -> dict[str, InstanceFacts]:
        """Facts of the named types; raises LookupFailed when EC2 cannot be asked."""
        result: dict[str, InstanceFacts] = {}
        for chunk in _chunks(sorted(set(instance_types)), 100):  # the API's limit per call
            try:
                items = self._ec2.describe_instance_types(InstanceTypes=list(chunk))
            except self._ec2.exceptions.ClientError as err:
                if err.response.get("Error", {}).get("Code") != NOT_FOUND_CODE:
                    raise LookupFailed(call_failed(err, "EC2")) from None
                items = {"InstanceTypes": []}
                for name in chunk:  # one unknown name fails the batch: ask one by one
                    try:
                        one = self._ec2.describe_instance_types(InstanceTypes=[name])
                    except self._ec2.exceptions.ClientError:
                        continue
                    items["InstanceTypes"] += one["InstanceTypes"]
            for item in items["InstanceTypes"]:
                result[item["InstanceType"]] = facts_from_describe(item)
        return result

    def quota(self, code: str) -> float | None:
        """The applied value; the AWS default when none was ever applied (NoSuchResource)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            value, self.sources[code] = service_quota(self._quotas, SERVICE_CODE, code)
        except ClientError as err:
            self.errors[code] = aws_error(err)
            body = response_body(err)
            if body is not None:
                self.bodies[code] = body
            return None
        except BotoCoreError as err:
            self.errors[code] = str(err)
            return None
        return value


def service_quota(quotas_client, service: str, code: str) -> tuple[float, str]:
    """A quota's applied value, else AWS's default when none was ever applied
    (NoSuchResourceException), with which it is ("applied", "AWS default"); raises the client's
    error when neither can be read."""
    with asking("Service Quotas"):
        try:
            value = quotas_client.get_service_quota(ServiceCode=service, QuotaCode=code)
            source = "applied"
        except quotas_client.exceptions.NoSuchResourceException:
            value = quotas_client.get_aws_default_service_quota(ServiceCode=service, QuotaCode=code)
            source = "AWS default"
    return float(value["Quota"]["Value"]), source


class PulumiAccountApi:
    """AccountApi over the AWS provider's functions (plain invokes: values known at preview)."""

    def offerings(self, azs: Sequence[str]) -> dict[str, frozenset[str]] | None:
        import pulumi
        import pulumi_aws as aws

        if not azs:
            return {}
        try:
            found = aws.ec2.get_instance_type_offerings(
                location_type="availability-zone",
                filters=[
                    aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="location", values=list(azs))
                ],
            )
        except Exception as err:  # access denied, throttled: do not block on what is unknown
            pulumi.log.warn(
                f"could not check the instance types offered in {', '.join(azs)}: {err}"
            )
            return None
        zones: dict[str, set[str]] = {}
        for name, zone in zip(found.instance_types or [], found.locations or [], strict=False):
            zones.setdefault(name, set()).add(zone)
        return {name: frozenset(z) for name, z in zones.items()}

    def describe(self, instance_types: Sequence[str]) -> dict[str, InstanceFacts]:
        import pulumi

        lookup = pulumi_lookup()
        found: dict[str, InstanceFacts] = {}
        for name in instance_types:
            try:
                facts = lookup(name)
            except LookupFailed as err:
                pulumi.log.warn(f"could not describe {name}: {err}")
                continue
            if facts is not None:
                found[name] = facts
        return found

    def quota(self, code: str) -> float | None:
        import pulumi
        import pulumi_aws as aws

        try:
            found = aws.servicequotas.get_service_quota(service_code=SERVICE_CODE, quota_code=code)
        except Exception as err:  # no servicequotas:GetServiceQuota: do not block on it
            pulumi.log.warn(f"could not read EC2 quota {code} ({QUOTA_NAMES.get(code, '')}): {err}")
            return None
        return float(found.value) if found.value is not None else None
