"""Offline harness: runs the real program in-process under Pulumi mocks, with AWS answered by moto.

The program (`__main__.py` with `Pulumi.yaml` and `Pulumi.<stack>.yaml`) runs unchanged. Provider
functions (`aws.ec2.get_vpcs`, `get_subnets`, `get_instance_type`, ...) are answered by moto's EC2
implementation, so tag filters and instance data are real; `aws.ec2.Tag` resources are applied to
moto, so a run leaves the subnet tags an `up` would. Everything the program registers is recorded
with its parent, provider, dependencies, inputs and outputs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import runpy
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core import pulumi_eks
from core import wellknown as wk
from toe.offline.account import (
    DEFAULT_QUOTAS,
    WORKSHOP_ACCOUNT,
    Account,
    SimulatedCluster,
    create_in_moto,
    load_account,
)
from toe.offline.moto import shared_botocore_models
from toe.stack_secrets import SecretText
from toe.stackfiles import resolve_dir, stack_config

ACCOUNT_ID = "123456789012"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270"


class Unknown:
    """A value the engine would only know after `up` (rendered as `<computed>`)."""

    def __repr__(self) -> str:
        return "<computed>"


UNKNOWN = Unknown()


@dataclass
class Registration:
    """One resource the program registered, as the engine would have seen it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    hooks: dict[str, list[str]] = field(default_factory=dict)  # e.g. after_delete: [hook names]


@dataclass
class ProgramRun:
    """What one evaluation of the program did."""

    stack: str
    project: str
    preview: bool
    resources: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    config: dict[str, str]
    subnet_tags: dict[str, dict[str, str]]
    # What `after` (run_program) returned, asked inside the same simulated account.
    after: Any = None

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}


class ProgramError(Exception):
    """The program failed; `message` is its own text (e.g. a configuration report)."""

    def __init__(self, message: str, cause: BaseException) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause


def unwrap_secret(value: Any) -> Any:
    """A secret input's plain value (inputs arrive wrapped; FACTS.md, mocks)."""
    if isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE_SIG:
        return unwrap_secret(value.get("value"))
    if isinstance(value, dict):
        return {k: unwrap_secret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secret(v) for v in value]
    return value


# ---------------------------------------------------------------------------- AWS answers


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


def fake_kubeconfig(cluster_name: str, region: str) -> dict:
    """pulumi-eks's kubeconfig for a cluster at the endpoint EKS would give it."""
    digest = hashlib.sha256(f"{region}/{cluster_name}".encode()).hexdigest()[:32].upper()
    server = f"https://{digest}.gr7.{region}.eks.amazonaws.com"
    ca_data = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
    return pulumi_eks.kubeconfig(server, ca_data, region, cluster_name)


# ---------------------------------------------------------------------------- mocks


class HarnessMocks:
    """Pulumi mocks: provider functions from moto, resource outputs shaped like the providers'."""

    def __init__(self, aws: AwsAnswers, preview: bool, cluster: SimulatedCluster | None) -> None:
        self.aws = aws
        self.preview = preview
        self.cluster = cluster
        self.calls: list[str] = []
        self._functions = {
            "aws:ec2/getVpcs:getVpcs": aws.get_vpcs,
            "aws:ec2/getVpc:getVpc": aws.get_vpc,
            "aws:ec2/getSubnets:getSubnets": aws.get_subnets,
            "aws:ec2/getSubnet:getSubnet": aws.get_subnet,
            "aws:ec2/getInstanceType:getInstanceType": aws.get_instance_type,
            "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": (
                aws.get_instance_type_offerings
            ),
            "aws:servicequotas/getServiceQuota:getServiceQuota": aws.get_service_quota,
            "aws:index/getCallerIdentity:getCallerIdentity": aws.caller_identity,
        }

    # Pulumi calls these two from its thread pool.
    def call(self, args) -> dict:
        self.calls.append(args.token)
        answer = self._functions.get(args.token)
        if answer is None:
            raise _make_invoke_error(f"{args.token} is not simulated by the offline harness")
        return answer(args.args)

    def new_resource(self, args) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        rid = f"{args.name}-id"
        state: dict[str, Any] = dict(inputs)
        if args.typ == "aws:ec2/tag:Tag":
            rid = f"{inputs['resourceId']},{inputs['key']}"
            if not self.preview:
                self.aws.apply_tag(unwrap_secret(inputs))
        elif args.typ == "eks:index:Cluster" and not self.preview:
            name = inputs.get("name") or args.name
            kubeconfig = fake_kubeconfig(name, self.aws.region)
            state.update(kubeconfig=kubeconfig, kubeconfigJson=json.dumps(kubeconfig))
        elif args.typ == "aws:iam/role:Role" and not self.preview:
            state.update(arn=f"arn:aws:iam::{ACCOUNT_ID}:role/{args.name}", name=args.name)
        elif args.typ == READOUT_TYPE and not self.preview:
            rid, state = self._readout(unwrap_secret(inputs))
        elif args.typ.startswith("kubernetes:") and self.preview:
            # At a fresh stack's preview the cluster does not exist, so the kubernetes provider is
            # not configured and the engine reports no outputs for its objects (`pulumi preview
            # --json` shows `outputs: {}`, seen in the rehearsal): their names are unknown.
            rid, state = "", {}
        elif args.typ.startswith("kubernetes:"):
            metadata = dict(inputs.get("metadata") or {})
            if not metadata.get("name"):
                suffix = hashlib.sha256(args.name.encode()).hexdigest()[:8]
                metadata["name"] = f"{args.name}-{suffix}"
            state["metadata"] = metadata
            namespace = metadata.get("namespace")
            rid = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]
        return rid, state

    def _readout(self, props: dict) -> tuple[str, dict]:
        """Run the readout's real provider against the simulated cluster's finished Jobs."""
        from components.readout import ReadoutProvider
        from toe.offline.simulated_cluster import from_account

        jobs = {
            wk.GPU_CHECK: props.get("gpuJobName", ""),
            wk.EFA_CHECK: props.get("efaJobName", ""),
            wk.DISTRIBUTED_CHECK: props.get("distributedJobName", ""),
        }
        provider = ReadoutProvider(api_factory=lambda _props: from_account(self.cluster, jobs))
        result = provider.create({k: v for k, v in props.items() if not k.startswith("__")})
        return result.id, {**props, **(result.outs or {})}


class CheckFailed(Exception):
    """A dynamic provider's `check` refused the inputs, as the engine reports it."""


def check_dynamic_inputs(request) -> None:
    """Run the dynamic provider's `check` on a registration as the engine has it run, in preview
    and in up: the inputs deserialized by `pulumi.dynamic`'s own call (`deserialize_properties(
    news, keep_unknowns=True)`), so values unknown at preview arrive as `Unknown()` objects, and
    the provider rebuilt from its `__provider` string (pulumi/dynamic/__main__.py, Check)."""
    import base64

    import dill
    from pulumi.runtime import rpc
    from pulumi.runtime._serialization import _deserialize

    news = rpc.deserialize_properties(request.object, True)
    provider = _deserialize(lambda: dill.loads(base64.b64decode(news["__provider"])))
    failures = provider.check({}, news).failures
    if failures:
        reasons = "; ".join(f"{f.property}: {f.reason}" for f in failures)
        raise CheckFailed(f"{request.name}: check failed: {reasons}")


HOOK_KINDS = (
    "before_create",
    "after_create",
    "before_update",
    "after_update",
    "before_delete",
    "after_delete",
)
READOUT_TYPE = "pulumi-python:dynamic/training-on-eks:ValidationReadout"


def _monitor_class():
    from pulumi.runtime import mocks, rpc
    from pulumi.runtime.proto import resource_pb2
    from pulumi.runtime.sync_await import _sync_await

    class HarnessMonitor(mocks.MockMonitor):
        """MockMonitor that records registrations, forwards `Call`, and turns resource
        references off (inputs then arrive as URN/ID strings; FACTS.md, mocks)."""

        def __init__(self, harness_mocks: HarnessMocks) -> None:
            super().__init__(harness_mocks)
            self.registrations: list[Registration] = []
            self._lock = threading.Lock()

        def SupportsFeature(self, request):
            supported = request.id not in ("outputValues", "resourceReferences")
            return type("SupportsFeatureResponse", (object,), {"hasSupport": supported})

        def GetDeploymentInfo(self, request):
            info = super().GetDeploymentInfo(request)
            features = [
                f
                for f in info.supportedFeatures
                if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES
            ]
            return resource_pb2.DeploymentInfo(supportedFeatures=features)

        def RegisterResource(self, request):
            if request.type == READOUT_TYPE:
                check_dynamic_inputs(request)
            response = super().RegisterResource(request)
            if request.type == "pulumi:pulumi:Stack":
                return response
            from pulumi.runtime.mocks import MockMonitor

            urn = response.urn
            reg: MockMonitor.ResourceRegistration = self.resources[urn]
            record = Registration(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                provider=request.provider,
                dependencies=sorted(request.dependencies),
                property_dependencies={
                    k: sorted(v.urns) for k, v in request.propertyDependencies.items()
                },
                inputs=rpc.deserialize_properties(request.object),
                hooks={
                    kind: list(getattr(request.hooks, kind))
                    for kind in HOOK_KINDS
                    if request.HasField("hooks") and getattr(request.hooks, kind)
                },
                outputs=dict(reg.state),
                id=reg.id or "",
            )
            with self._lock:
                self.registrations.append(record)
            return response

        def Call(self, request):
            args = rpc.deserialize_properties(request.args)
            call_args = mocks.MockCallArgs(token=request.tok, args=args, provider="")
            ret = self.mocks.call(call_args)
            ret_proto = _sync_await(rpc.serialize_properties(ret, {}))
            return resource_pb2.CallResponse(**{"return": ret_proto})

    return HarnessMonitor


# ---------------------------------------------------------------------------- running


@contextlib.contextmanager
def simulated_aws(account: Account) -> Iterator[None]:
    """moto's in-process AWS with the account created in it, and throw-away credentials."""
    from moto import mock_aws

    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=account.region,
        # moto loads thousands of public AMIs per region by default; the stack looks none up.
        MOTO_EC2_LOAD_DEFAULT_AMIS="false",
    )
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(key, None)
    try:
        with shared_botocore_models(), mock_aws():
            create_in_moto(account, _session())
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "MOTO_EC2_LOAD_DEFAULT_AMIS",
)

_RUN_LOCK = threading.Lock()


def run_program(
    stack: str = "dev",
    *,
    project_dir: Path | None = None,
    account: Account | Path | None = None,
    config: Mapping[str, Any] | None = None,
    preview: bool = False,
    after: Callable[[], Any] | None = None,
) -> ProgramRun:
    """Evaluate the program once, offline. Raises ProgramError with the program's own message.

    `after` runs once the program has, in the same simulated account (synth prices the stack).
    """
    if account is None:
        account = load_account(WORKSHOP_ACCOUNT)
    elif isinstance(account, Path):
        account = load_account(account)
    project_dir = resolve_dir(project_dir)
    cfg = stack_config(stack, project_dir, config)
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["name"]
    region = cfg.get("aws:region") or account.region
    with _RUN_LOCK, simulated_aws(account):
        answers = AwsAnswers(region, account.quotas)
        harness_mocks = HarnessMocks(answers, preview, account.cluster)
        monitor = _evaluate(project_dir, project, stack, cfg, harness_mocks, preview)
        outputs, secrets = _stack_outputs(preview)
        tags = answers.subnet_tags()
        extra = after() if after is not None else None
    return ProgramRun(
        stack=stack,
        project=project,
        preview=preview,
        resources=sorted(monitor.registrations, key=lambda r: r.urn),
        outputs=outputs,
        secret_outputs=secrets,
        config=cfg,
        subnet_tags=tags,
        after=extra,
    )


def _evaluate(project_dir, project, stack, cfg, harness_mocks, preview):
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    settings.ROOT.set(None)  # a fresh root stack, or the previous stack's name sticks in URNs
    # As the CLI hands them over: the values, and which of them came from `secure:` values.
    secret_keys = [k for k, v in cfg.items() if isinstance(v, SecretText)]
    pulumi.runtime.set_all_config(cfg, secret_keys)
    monitor = _monitor_class()(harness_mocks)
    pulumi.runtime.set_mocks(
        harness_mocks, project=project, stack=stack, preview=preview, monitor=monitor
    )
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    main = project_dir / "__main__.py"
    added = str(project_dir) not in sys.path
    if added:
        sys.path.insert(0, str(project_dir))
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(main), run_name="__main__")))
    except pulumi.RunError as err:
        raise ProgramError(str(err), err) from err
    except Exception as err:
        raise ProgramError(f"{type(err).__name__}: {err}", err) from err
    finally:
        if added:
            sys.path.remove(str(project_dir))
    return monitor


def _stack_outputs(preview: bool) -> tuple[dict[str, Any], set[str]]:
    import pulumi
    from pulumi.runtime.sync_await import _sync_await

    root = pulumi.runtime.get_root_resource()
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, value in (root.outputs if root is not None else {}).items():
        output = pulumi.Output.from_input(value)
        known = _sync_await(output.is_known())
        values[key] = _sync_await(output.future()) if known else UNKNOWN
        if _sync_await(output.is_secret()):
            secrets.add(key)
    return values, secrets
