"""The `aws` provider plugin of the rehearsal: pulumi-aws's resources and functions that this
stack and pulumi-eks use, carried out with boto3 against the world's moto (AWS_ENDPOINT_URL).

Shapes follow pulumi-aws 7 (the Python SDK's input and output names, camelCase on the wire):
functions answer as `toe.offline.harness.AwsAnswers` does (one definition of what each returns);
resources return their inputs plus what AWS computes (ids, ARNs, endpoints), as the bridged
provider's state does. A property whose change AWS cannot apply in place replaces the resource,
as the upstream Terraform resource marks it ForceNew.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from pulumi.runtime.proto import provider_pb2
from rehearsal.providers.base import (
    ProviderError,
    Servicer,
    guarded,
    has_unknowns,
    serve,
    to_dict,
    to_struct,
)

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))


def _boto():
    import boto3

    return boto3.session.Session()


def assume_roles(roles, region: str) -> None:
    """Run as the last of `assumeRoles`, each assumed from the one before: terraform-provider-aws
    hands every assume_role block to aws-sdk-go-base (internal/provider/sdkv2/provider.go). The
    plugin's calls read the ambient credentials, so the assumed ones replace them."""
    import json
    import os

    if isinstance(roles, str):
        roles = json.loads(roles)
    for role in roles or ():
        if not role.get("roleArn"):
            continue
        creds = (
            _boto()
            .client("sts", region_name=region)
            .assume_role(
                RoleArn=role["roleArn"],
                RoleSessionName=role.get("sessionName") or "aws-go-sdk",
            )["Credentials"]
        )
        os.environ["AWS_ACCESS_KEY_ID"] = creds["AccessKeyId"]
        os.environ["AWS_SECRET_ACCESS_KEY"] = creds["SecretAccessKey"]
        os.environ["AWS_SESSION_TOKEN"] = creds["SessionToken"]


def _error(err: Exception) -> str:
    from core.aws_errors import aws_error

    return aws_error(err)


def autoname(urn: str) -> str:
    """pulumi-aws's auto-name: the resource's logical name plus seven random hex digits."""
    return f"{urn.rsplit('::', 1)[-1]}-{secrets.token_hex(4)[:7]}"


def _tags(tags: dict | None) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


class Resource:
    """One resource type: check/diff/create/update/delete on plain dicts (the engine's view)."""

    autonamed = False
    replace_on: tuple[str, ...] = ()  # properties AWS cannot change in place

    def check(self, urn: str, olds: dict, news: dict) -> dict:
        if self.autonamed and not news.get("name"):
            news["name"] = olds.get("name") or autoname(urn)
        return news

    def diff(self, olds: dict, news: dict) -> tuple[list[str], list[str]]:
        keys = sorted({*olds, *news} - {"__defaults"})
        outputs = set(self.outputs(olds))
        changed = [k for k in keys if k not in outputs and olds.get(k) != news.get(k)]
        return changed, [k for k in changed if k in self.replace_on or not self.updatable(k)]

    def updatable(self, key: str) -> bool:
        return key in ("tags",)

    def outputs(self, state: dict) -> list[str]:
        return []

    def create(self, urn: str, inputs: dict) -> tuple[str, dict]:
        raise NotImplementedError

    def update(self, id_: str, olds: dict, news: dict) -> dict:
        return {**olds, **news}

    def delete(self, id_: str, props: dict) -> None:
        raise NotImplementedError


class Tag(Resource):
    """aws.ec2.Tag: one tag on a resource it does not manage."""

    replace_on = ("resourceId", "key")

    def updatable(self, key):
        return key == "value"

    def create(self, urn, inputs):
        ec2 = _boto().client("ec2")
        ec2.create_tags(
            Resources=[inputs["resourceId"]],
            Tags=[{"Key": inputs["key"], "Value": inputs["value"]}],
        )
        return f"{inputs['resourceId']},{inputs['key']}", dict(inputs)

    def update(self, id_, olds, news):
        self.create("", news)
        return dict(news)

    def delete(self, id_, props):
        _boto().client("ec2").delete_tags(
            Resources=[props["resourceId"]], Tags=[{"Key": props["key"]}]
        )


class Role(Resource):
    autonamed = True
    replace_on = ("name", "path")

    def updatable(self, key):
        return key in ("tags", "assumeRolePolicy", "description")

    def outputs(self, state):
        return ["arn", "uniqueId", "createDate", "tagsAll", "id"]

    def create(self, urn, inputs):
        iam = _boto().client("iam")
        role = iam.create_role(
            RoleName=inputs["name"],
            AssumeRolePolicyDocument=inputs["assumeRolePolicy"],
            Description=inputs.get("description", ""),
            Tags=_tags(inputs.get("tags")),
        )["Role"]
        return inputs["name"], {
            **inputs,
            "arn": role["Arn"],
            "uniqueId": role["RoleId"],
            "createDate": role["CreateDate"].isoformat(),
            "tagsAll": inputs.get("tags") or {},
            "path": "/",
            "maxSessionDuration": 3600,
        }

    def update(self, id_, olds, news):
        iam = _boto().client("iam")
        if olds.get("assumeRolePolicy") != news.get("assumeRolePolicy"):
            iam.update_assume_role_policy(RoleName=id_, PolicyDocument=news["assumeRolePolicy"])
        return {**olds, **news}

    def delete(self, id_, props):
        iam = _boto().client("iam")
        # As the upstream resource does: it refuses while policies are attached (DeleteConflict);
        # the attachments are separate resources the engine deletes first.
        iam.delete_role(RoleName=id_)


class RolePolicyAttachment(Resource):
    replace_on = ("role", "policyArn")

    def create(self, urn, inputs):
        _boto().client("iam").attach_role_policy(
            RoleName=inputs["role"], PolicyArn=inputs["policyArn"]
        )
        return f"{inputs['role']}-{secrets.token_hex(10)}", dict(inputs)

    def delete(self, id_, props):
        _boto().client("iam").detach_role_policy(
            RoleName=props["role"], PolicyArn=props["policyArn"]
        )


def _wait(describe, ready, what: str, timeout: float = 300.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = describe()
        if ready(found):
            return found
        if time.monotonic() > deadline:
            raise ProviderError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


class EksCluster(Resource):
    """aws.eks.Cluster: CreateCluster, then wait for ACTIVE as the upstream resource does."""

    replace_on = (
        "name",
        "roleArn",
        "encryptionConfig",
        "kubernetesNetworkConfig",
        "bootstrapSelfManagedAddons",
    )

    def outputs(self, state):
        return [
            "arn",
            "endpoint",
            "certificateAuthority",
            "certificateAuthorities",
            "identities",
            "status",
            "platformVersion",
            "clusterId",
            "createdAt",
            "tagsAll",
            "id",
        ]

    def updatable(self, key):
        return key in ("tags", "vpcConfig", "accessConfig", "version")

    def create(self, urn, inputs):
        eks = _boto().client("eks")
        vpc = inputs.get("vpcConfig") or {}
        params: dict[str, Any] = {
            "name": inputs["name"],
            "roleArn": inputs["roleArn"],
            "resourcesVpcConfig": {
                "subnetIds": vpc.get("subnetIds") or [],
                "securityGroupIds": vpc.get("securityGroupIds") or [],
                "endpointPublicAccess": vpc.get("endpointPublicAccess", True),
                "endpointPrivateAccess": vpc.get("endpointPrivateAccess", False),
                **(
                    {"publicAccessCidrs": vpc["publicAccessCidrs"]}
                    if vpc.get("publicAccessCidrs")
                    else {}
                ),
            },
            "tags": inputs.get("tags") or {},
        }
        for key in (
            "version",
            "accessConfig",
            "computeConfig",
            "storageConfig",
            "kubernetesNetworkConfig",
            "bootstrapSelfManagedAddons",
        ):
            if inputs.get(key) is not None:
                params[key] = inputs[key]
        try:
            eks.create_cluster(**params)
        except Exception as err:
            raise ProviderError(f"creating EKS Cluster ({inputs['name']}): {_error(err)}") from None
        cluster = _wait(
            lambda: eks.describe_cluster(name=inputs["name"])["cluster"],
            lambda c: c["status"] in ("ACTIVE", "FAILED"),
            f"EKS Cluster ({inputs['name']}) to be ACTIVE",
        )
        if cluster["status"] != "ACTIVE":
            raise ProviderError(f"EKS Cluster ({inputs['name']}) is {cluster['status']}")
        return inputs["name"], self._state(inputs, cluster)

    @staticmethod
    def _state(inputs: dict, cluster: dict) -> dict:
        vpc = cluster.get("resourcesVpcConfig") or {}
        return {
            **inputs,
            "arn": cluster["arn"],
            "endpoint": cluster["endpoint"],
            "certificateAuthority": {"data": cluster["certificateAuthority"]["data"]},
            "certificateAuthorities": [{"data": cluster["certificateAuthority"]["data"]}],
            "identities": [
                {
                    "oidcs": [
                        {"issuer": cluster.get("identity", {}).get("oidc", {}).get("issuer", "")}
                    ]
                }
            ],
            "status": cluster["status"],
            "platformVersion": cluster.get("platformVersion", ""),
            "version": cluster.get("version", inputs.get("version")),
            "clusterId": cluster["arn"].rsplit("/", 1)[-1],
            "createdAt": str(cluster.get("createdAt", "")),
            "vpcConfig": {
                **(inputs.get("vpcConfig") or {}),
                "clusterSecurityGroupId": vpc.get("clusterSecurityGroupId", "sg-0eks0cluster0000"),
                "vpcId": vpc.get("vpcId", ""),
            },
            "tagsAll": inputs.get("tags") or {},
        }

    def update(self, id_, olds, news):
        return {**olds, **news}

    def delete(self, id_, props):
        eks = _boto().client("eks")
        try:
            eks.delete_cluster(name=id_)
        except eks.exceptions.ResourceNotFoundException:
            return
        _wait(
            lambda: [c for c in eks.list_clusters()["clusters"] if c == id_],
            lambda found: not found,
            f"EKS Cluster ({id_}) to go",
        )


class Addon(Resource):
    replace_on = ("clusterName", "addonName")

    def updatable(self, key):
        return key in (
            "tags",
            "addonVersion",
            "configurationValues",
            "resolveConflictsOnUpdate",
            "preserve",
            "serviceAccountRoleArn",
        )

    def outputs(self, state):
        return ["arn", "createdAt", "modifiedAt", "tagsAll", "id"]

    def create(self, urn, inputs):
        eks = _boto().client("eks")
        params = {"clusterName": inputs["clusterName"], "addonName": inputs["addonName"]}
        for key in ("addonVersion", "configurationValues", "serviceAccountRoleArn", "tags"):
            if inputs.get(key):
                params[key] = inputs[key]
        addon = eks.create_addon(**params)["addon"]
        return f"{inputs['clusterName']}:{inputs['addonName']}", {
            **inputs,
            "arn": addon["addonArn"],
            "addonVersion": addon["addonVersion"],
            "createdAt": str(addon["createdAt"]),
            "modifiedAt": str(addon["modifiedAt"]),
            "tagsAll": inputs.get("tags") or {},
        }

    def update(self, id_, olds, news):
        cluster, name = id_.split(":", 1)
        if olds.get("addonVersion") != news.get("addonVersion") or olds.get(
            "configurationValues"
        ) != news.get("configurationValues"):
            params = {"clusterName": cluster, "addonName": name}
            for key in ("addonVersion", "configurationValues"):
                if news.get(key):
                    params[key] = news[key]
            _boto().client("eks").update_addon(**params)
        return {**olds, **news}

    def delete(self, id_, props):
        cluster, name = id_.split(":", 1)
        eks = _boto().client("eks")
        with contextlib.suppress(eks.exceptions.ResourceNotFoundException):
            eks.delete_addon(clusterName=cluster, addonName=name)


class AccessEntry(Resource):
    replace_on = ("clusterName", "principalArn", "type")

    def updatable(self, key):
        return key in ("tags", "kubernetesGroups", "userName")

    def outputs(self, state):
        return ["accessEntryArn", "createdAt", "modifiedAt", "tagsAll", "id"]

    def create(self, urn, inputs):
        eks = _boto().client("eks")
        params = {"clusterName": inputs["clusterName"], "principalArn": inputs["principalArn"]}
        if inputs.get("kubernetesGroups"):
            params["kubernetesGroups"] = inputs["kubernetesGroups"]
        if inputs.get("type"):
            params["type"] = inputs["type"]
        if inputs.get("userName"):
            params["username"] = inputs["userName"]
        try:
            entry = eks.create_access_entry(**params)["accessEntry"]
        except Exception as err:
            raise ProviderError(
                f"creating EKS Access Entry ({inputs['clusterName']}:{inputs['principalArn']}): "
                f"{_error(err)}"
            ) from None
        return f"{inputs['clusterName']}:{inputs['principalArn']}", {
            **inputs,
            "accessEntryArn": entry["accessEntryArn"],
            "type": entry["type"],
            "userName": entry["username"],
            "kubernetesGroups": entry["kubernetesGroups"],
            "createdAt": str(entry["createdAt"]),
            "modifiedAt": str(entry["modifiedAt"]),
            "tagsAll": inputs.get("tags") or {},
        }

    def delete(self, id_, props):
        eks = _boto().client("eks")
        with contextlib.suppress(eks.exceptions.ResourceNotFoundException):
            eks.delete_access_entry(
                clusterName=props["clusterName"], principalArn=props["principalArn"]
            )


class AccessPolicyAssociation(Resource):
    replace_on = ("clusterName", "principalArn", "policyArn", "accessScope")

    def outputs(self, state):
        return ["associatedAt", "modifiedAt", "id"]

    def create(self, urn, inputs):
        eks = _boto().client("eks")
        scope = inputs.get("accessScope") or {"type": "cluster"}
        answer = eks.associate_access_policy(
            clusterName=inputs["clusterName"],
            principalArn=inputs["principalArn"],
            policyArn=inputs["policyArn"],
            accessScope=scope,
        )["associatedAccessPolicy"]
        return f"{inputs['clusterName']}#{inputs['principalArn']}#{inputs['policyArn']}", {
            **inputs,
            "associatedAt": str(answer["associatedAt"]),
            "modifiedAt": str(answer["modifiedAt"]),
        }

    def delete(self, id_, props):
        eks = _boto().client("eks")
        with contextlib.suppress(eks.exceptions.ResourceNotFoundException):
            eks.disassociate_access_policy(
                clusterName=props["clusterName"],
                principalArn=props["principalArn"],
                policyArn=props["policyArn"],
            )


def _launch_template_data(inputs: dict) -> dict:
    data: dict[str, Any] = {}
    metadata = inputs.get("metadataOptions")
    if metadata:
        data["MetadataOptions"] = {
            "HttpTokens": metadata.get("httpTokens", "optional"),
            "HttpPutResponseHopLimit": int(metadata.get("httpPutResponseHopLimit", 1)),
            "HttpEndpoint": metadata.get("httpEndpoint", "enabled"),
        }
    mappings = []
    for mapping in inputs.get("blockDeviceMappings") or []:
        ebs = mapping.get("ebs") or {}
        mappings.append(
            {
                "DeviceName": mapping["deviceName"],
                "Ebs": {
                    k[0].upper() + k[1:]: (int(v) if k == "volumeSize" else v)
                    for k, v in ebs.items()
                },
            }
        )
    if mappings:
        data["BlockDeviceMappings"] = mappings
    return data


class LaunchTemplate(Resource):
    autonamed = True
    replace_on = ("name",)

    def updatable(self, key):
        return True  # a change makes a new version, as the upstream resource does

    def outputs(self, state):
        return ["arn", "latestVersion", "defaultVersion", "tagsAll", "id"]

    def create(self, urn, inputs):
        ec2 = _boto().client("ec2")
        template = ec2.create_launch_template(
            LaunchTemplateName=inputs["name"], LaunchTemplateData=_launch_template_data(inputs)
        )["LaunchTemplate"]
        id_ = template["LaunchTemplateId"]
        return id_, {
            **inputs,
            "arn": f"arn:aws:ec2:ap-northeast-2:123456789012:launch-template/{id_}",
            "latestVersion": int(template["LatestVersionNumber"]),
            "defaultVersion": int(template["DefaultVersionNumber"]),
            "tagsAll": inputs.get("tags") or {},
        }

    def update(self, id_, olds, news):
        ec2 = _boto().client("ec2")
        version = ec2.create_launch_template_version(
            LaunchTemplateId=id_, LaunchTemplateData=_launch_template_data(news)
        )["LaunchTemplateVersion"]
        return {**olds, **news, "latestVersion": int(version["VersionNumber"])}

    def delete(self, id_, props):
        _boto().client("ec2").delete_launch_template(LaunchTemplateId=id_)


class NodeGroup(Resource):
    replace_on = (
        "clusterName",
        "nodeGroupName",
        "nodeRoleArn",
        "subnetIds",
        "amiType",
        "capacityType",
        "diskSize",
        "instanceTypes",
    )

    def updatable(self, key):
        return key in ("tags", "scalingConfig", "labels", "taints", "launchTemplate", "version")

    def outputs(self, state):
        return ["arn", "status", "resources", "tagsAll", "id"]

    def create(self, urn, inputs):
        eks = _boto().client("eks")
        scaling = inputs.get("scalingConfig") or {}
        params: dict[str, Any] = {
            "clusterName": inputs["clusterName"],
            "nodegroupName": inputs["nodeGroupName"],
            "nodeRole": inputs["nodeRoleArn"],
            "subnets": inputs["subnetIds"],
            "scalingConfig": {k: int(v) for k, v in scaling.items()},
            "instanceTypes": inputs.get("instanceTypes") or [],
            "amiType": inputs.get("amiType", "AL2023_x86_64_STANDARD"),
            "capacityType": inputs.get("capacityType", "ON_DEMAND"),
            "labels": inputs.get("labels") or {},
            "tags": inputs.get("tags") or {},
        }
        if inputs.get("taints"):
            params["taints"] = inputs["taints"]
        if inputs.get("launchTemplate"):
            template = inputs["launchTemplate"]
            params["launchTemplate"] = {"id": template["id"], "version": str(template["version"])}
        if inputs.get("version"):
            params["version"] = inputs["version"]
        try:
            group = eks.create_nodegroup(**params)["nodegroup"]
        except Exception as err:
            raise ProviderError(
                f"creating EKS Node Group ({inputs['clusterName']}:{inputs['nodeGroupName']}): "
                f"{_error(err)}"
            ) from None
        return f"{inputs['clusterName']}:{inputs['nodeGroupName']}", {
            **inputs,
            "arn": group["nodegroupArn"],
            "status": group["status"],
            "resources": [
                {
                    "autoscalingGroups": [
                        {"name": g["name"]}
                        for g in (group.get("resources") or {}).get("autoScalingGroups", [])
                    ]
                }
            ],
            "tagsAll": inputs.get("tags") or {},
        }

    def update(self, id_, olds, news):
        cluster, name = id_.split(":", 1)
        if olds.get("scalingConfig") != news.get("scalingConfig"):
            _boto().client("eks").update_nodegroup_config(
                clusterName=cluster,
                nodegroupName=name,
                scalingConfig={k: int(v) for k, v in news["scalingConfig"].items()},
            )
        return {**olds, **news}

    def delete(self, id_, props):
        cluster, name = id_.split(":", 1)
        eks = _boto().client("eks")
        with contextlib.suppress(eks.exceptions.ResourceNotFoundException):
            eks.delete_nodegroup(clusterName=cluster, nodegroupName=name)


RESOURCES: dict[str, Resource] = {
    "aws:ec2/tag:Tag": Tag(),
    "aws:iam/role:Role": Role(),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": RolePolicyAttachment(),
    "aws:eks/cluster:Cluster": EksCluster(),
    "aws:eks/addon:Addon": Addon(),
    "aws:eks/accessEntry:AccessEntry": AccessEntry(),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": AccessPolicyAssociation(),
    "aws:ec2/launchTemplate:LaunchTemplate": LaunchTemplate(),
    "aws:eks/nodeGroup:NodeGroup": NodeGroup(),
}


class Functions:
    """Provider functions: the harness's answers (one definition of their shapes) over moto."""

    def __init__(self, region: str) -> None:
        from toe.offline.harness import AwsAnswers

        self.region = region
        self.answers = AwsAnswers(region)
        self.table = {
            "aws:ec2/getVpcs:getVpcs": self.answers.get_vpcs,
            "aws:ec2/getVpc:getVpc": self.answers.get_vpc,
            "aws:ec2/getSubnets:getSubnets": self.answers.get_subnets,
            "aws:ec2/getSubnet:getSubnet": self.answers.get_subnet,
            "aws:ec2/getInstanceType:getInstanceType": self.answers.get_instance_type,
            "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": (
                self.answers.get_instance_type_offerings
            ),
            "aws:servicequotas/getServiceQuota:getServiceQuota": self.service_quota,
            "aws:index/getCallerIdentity:getCallerIdentity": self.caller_identity,
            "aws:index/getPartition:getPartition": self.partition,
            "aws:index/getRegion:getRegion": self.get_region,
            "aws:eks/getAddonVersion:getAddonVersion": self.addon_version,
        }

    def service_quota(self, args: dict) -> dict:
        quotas = _boto().client("service-quotas", region_name=self.region)
        try:
            quota = quotas.get_service_quota(
                ServiceCode=args["serviceCode"], QuotaCode=args["quotaCode"]
            )["Quota"]
        except Exception as err:
            raise ProviderError(
                f"reading Service Quota ({args.get('serviceCode')}/{args.get('quotaCode')}): "
                f"{_error(err)}"
            ) from None
        return {
            "id": f"{quota['ServiceCode']}/{quota['QuotaCode']}",
            "arn": quota["QuotaArn"],
            "quotaCode": quota["QuotaCode"],
            "quotaName": quota["QuotaName"],
            "serviceCode": quota["ServiceCode"],
            "serviceName": quota["ServiceName"],
            "value": quota["Value"],
            "defaultValue": quota["Value"],
            "adjustable": quota["Adjustable"],
            "globalQuota": quota["GlobalQuota"],
            "usageMetrics": [],
        }

    def caller_identity(self, _args: dict) -> dict:
        me = _boto().client("sts", region_name=self.region).get_caller_identity()
        return {
            "id": me["Account"],
            "accountId": me["Account"],
            "arn": me["Arn"],
            "userId": me["UserId"],
        }

    def partition(self, _args: dict) -> dict:
        return {
            "id": "aws",
            "partition": "aws",
            "dnsSuffix": "amazonaws.com",
            "reverseDnsPrefix": "com.amazonaws",
        }

    def get_region(self, _args: dict) -> dict:
        return {
            "id": self.region,
            "name": self.region,
            "region": self.region,
            "endpoint": f"ec2.{self.region}.amazonaws.com",
            "description": "",
        }

    def addon_version(self, args: dict) -> dict:
        answer = (
            _boto()
            .client("eks", region_name=self.region)
            .describe_addon_versions(
                addonName=args["addonName"], kubernetesVersion=args["kubernetesVersion"]
            )
        )
        version = answer["addons"][0]["addonVersions"][0]["addonVersion"]
        return {
            "id": args["addonName"],
            "addonName": args["addonName"],
            "kubernetesVersion": args["kubernetesVersion"],
            "mostRecent": bool(args.get("mostRecent")),
            "version": version,
        }


class AwsProvider(Servicer):
    name = "aws"
    version = "7.51.1"

    def Configure(self, request, context):
        answer = super().Configure(request, context)
        args = to_dict(request.args)
        self.region = args.get("region") or self.config.get("aws:config:region") or "ap-northeast-2"
        import os

        os.environ["AWS_DEFAULT_REGION"] = self.region
        assume_roles(args.get("assumeRoles"), self.region)
        self.functions = Functions(self.region)
        return answer

    @guarded
    def Invoke(self, request, context):
        function = self.functions.table.get(request.tok)
        if function is None:
            raise ProviderError(f"{request.tok} is not implemented by the rehearsal's aws plugin")
        try:
            result = function(to_dict(request.args))
        except ProviderError:
            raise
        except Exception as err:
            details = getattr(err, "details", None)
            text = details() if callable(details) else _error(err)
            raise ProviderError(f"invoking {request.tok}: {text}") from None
        return provider_pb2.InvokeResponse(**{"return": to_struct(result)})

    def _resource(self, urn: str) -> Resource:
        token = urn.split("::")[-2].rsplit("$", 1)[-1]
        resource = RESOURCES.get(token)
        if resource is None:
            raise ProviderError(f"{token} is not implemented by the rehearsal's aws plugin")
        return resource

    @guarded
    def Check(self, request, context):
        news = self._resource(request.urn).check(
            request.urn, to_dict(request.olds), to_dict(request.news)
        )
        return provider_pb2.CheckResponse(inputs=to_struct(news))

    @guarded
    def Diff(self, request, context):
        olds, news = to_dict(request.old_inputs) or to_dict(request.olds), to_dict(request.news)
        changed, replaces = self._resource(request.urn).diff(olds, news)
        kind = (
            provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE
        )
        return provider_pb2.DiffResponse(
            changes=kind, diffs=changed, replaces=replaces, deleteBeforeReplace=bool(replaces)
        )

    @guarded
    def Create(self, request, context):
        inputs = to_dict(request.properties)
        if request.preview or has_unknowns(inputs):
            return provider_pb2.CreateResponse(id="", properties=to_struct(inputs))
        id_, state = self._resource(request.urn).create(request.urn, inputs)
        return provider_pb2.CreateResponse(id=id_, properties=to_struct(state))

    @guarded
    def Read(self, request, context):
        return provider_pb2.ReadResponse(
            id=request.id, properties=request.properties, inputs=request.inputs
        )

    @guarded
    def Update(self, request, context):
        if request.preview:
            return provider_pb2.UpdateResponse(properties=request.news)
        state = self._resource(request.urn).update(
            request.id, to_dict(request.olds), to_dict(request.news)
        )
        return provider_pb2.UpdateResponse(properties=to_struct(state))

    @guarded
    def Delete(self, request, context):
        from google.protobuf import empty_pb2

        try:
            self._resource(request.urn).delete(request.id, to_dict(request.properties))
        except ProviderError:
            raise
        except Exception as err:
            raise ProviderError(f"deleting {request.id}: {_error(err)}") from None
        return empty_pb2.Empty()


if __name__ == "__main__":
    serve(AwsProvider())
