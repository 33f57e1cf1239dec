"""Pulumi's mocks for an offline run: what each resource's state becomes, how dynamic
providers and hooks are checked as the engine checks them, and the monitor that records it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from typing import Any

from core import pulumi_eks
from core import wellknown as wk
from toe.offline.account import (
    SimulatedCluster,
)
from toe.offline.answers import AwsAnswers, _make_invoke_error
from toe.offline.program import ACCOUNT_ID, Registration, unwrap_secret


def fake_kubeconfig(cluster_name: str, region: str, options: dict | None = None) -> dict:
    """pulumi-eks's kubeconfig for a cluster at the endpoint EKS would give it."""
    digest = hashlib.sha256(f"{region}/{cluster_name}".encode()).hexdigest()[:32].upper()
    server = f"https://{digest}.gr7.{region}.eks.amazonaws.com"
    ca_data = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
    return pulumi_eks.kubeconfig(server, ca_data, region, cluster_name, options)


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
            "eks:index:Cluster/getKubeconfig": self.get_kubeconfig,
        }
        self.clusters: dict[str, tuple[str, dict]] = {}  # component name: EKS name, options

    def get_kubeconfig(self, args: dict) -> dict:
        """Cluster.getKubeconfig (cluster.ts): the kubeconfig with the profile, for the given
        options; unknown at preview, as the cluster's endpoint is."""
        from pulumi.runtime import rpc

        if self.preview:
            return {"result": rpc.UNKNOWN}
        name, _ = self.clusters[str(args["__self__"]).rsplit("::", 1)[-1]]
        options = {k: args.get(k) for k in ("profileName", "roleArn")}
        return {"result": json.dumps(fake_kubeconfig(name, self.aws.region, options))}

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
        elif args.typ == "eks:index:Cluster":
            name = inputs.get("name") or args.name
            self.clusters[args.name] = (name, inputs.get("providerCredentialOpts") or {})
            if not self.preview:
                # The output leaves the profile out (cluster.ts, genKubeconfig(false)).
                options = {**self.clusters[args.name][1], "profileName": None}
                kubeconfig = fake_kubeconfig(name, self.aws.region, options)
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
    from pulumi.runtime.proto import provider_pb2, resource_pb2
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
            if "__self__" in request.args.fields:  # a method's resource: its URN
                ref = request.args.fields["__self__"]
                fields = ref.struct_value.fields
                args["__self__"] = (
                    fields["urn"].string_value if "urn" in fields else ref.string_value
                )
            call_args = mocks.MockCallArgs(token=request.tok, args=args, provider="")
            ret = self.mocks.call(call_args)
            ret_proto = _sync_await(rpc.serialize_properties(ret, {}))
            # A method's result is made from its resource (getKubeconfig: from the cluster).
            owner = args.get("__self__")
            deps = provider_pb2.CallResponse.ReturnDependencies(urns=[owner] if owner else [])
            return provider_pb2.CallResponse(
                **{"return": ret_proto}, returnDependencies={k: deps for k in ret}
            )

    return HarnessMonitor
