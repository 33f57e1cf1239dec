"""Read the validation Jobs' results from the cluster: a dict for the stack output, summary lines.

`read_validation(api, ...)` takes a `kubernetes.client.CoreV1Api` (or any object with the same
`list_namespaced_pod`, `read_node` and `list_namespaced_event` methods) and never raises: an
unreachable API, a pod that never scheduled or an image that never pulled each become a result
with a status and a reason. `ReadoutProvider` runs it once per `pulumi up` (never at preview) and
`ValidationReadout` exposes the outcome as the `validation` / `validationSummary` outputs.

Pulumi 3.272 pickles the provider with dill, its class by reference (pulumi/pulumi#7453), and runs
it in `python -m pulumi.dynamic` started in the program directory (pulumi/pulumi#5455): that
process imports this module, so it must stay importable from the project root and must not
create resources at import time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from components.pods import (  # noqa: F401  (re-exported)
    REQUEST_TIMEOUT,
    bounded,
    read_distributed,
    read_efa,
    read_gpu,
    read_validation,
    set_request_timeout,
)
from core import results
from core.config import AwsAccess
from core.readings import (
    PodFacts,
    describe_exception,
    distributed_dict,
    efa_dict,
    gpu_dict,
    summary_lines,
)
from core.readings import newest as newest  # re-exported for the report command
from core.results import (
    ERROR,
    PASSED,
    EfaResult,
    GpuResult,
)

INPUT_KEYS = (
    "clusterName",
    "region",
    "awsProfile",
    "assumeRoles",
    "endpoint",
    "certificateAuthority",
    "namespace",
    "gpuJobName",
    "efaJobName",
    "efaRequested",
    "efaRequired",
    "distributedJobName",
    "distributedRequired",
    "distributedTimeoutSeconds",
    "distributedEfa",
    "distributedMinBusbwGBps",
    "runId",
)


_REQUIRED_STRINGS = ("clusterName", "region", "endpoint", "certificateAuthority", "namespace")


ApiFactory = Callable[[Mapping[str, Any]], Any]


def is_unknown(value: Any) -> bool:
    """A value the engine does not know yet: `pulumi.output.Unknown()` as the dynamic host
    deserializes it, or the wire sentinel string where something skipped deserialization."""
    from pulumi.output import Unknown
    from pulumi.runtime.rpc import UNKNOWN

    return isinstance(value, Unknown) or (isinstance(value, str) and value == UNKNOWN)


# Tests (and the provider process of a test) replace this to answer with a fake API.
API_FACTORY: ApiFactory | None = None


def eks_api_factory(props: Mapping[str, Any]) -> Any:
    """CoreV1Api for the cluster in `props`, authenticated with a boto3-built EKS token from a
    session made as the aws provider makes its own (profile, assumed role, region)."""
    from core import eks_token

    session = eks_token.session_for(
        props["region"],
        props.get("awsProfile") or None,
        props.get("assumeRoles") or (),
    )
    token = eks_token.get_token(props["clusterName"], props["region"], session)
    return eks_token.core_v1_api(props["endpoint"], props["certificateAuthority"], token)


def with_assume_roles(olds: Mapping[str, Any]) -> dict[str, Any]:
    """State written before `assumeRoles` held one role in three keys: read it as the list, so
    that upgrading this program does not replace (and re-read) every stack's readout."""
    old_keys = {
        "assumeRoleArn": "roleArn",
        "assumeRoleSessionName": "sessionName",
        "assumeRoleExternalId": "externalId",
    }
    if "assumeRoles" in olds or not old_keys.keys() & olds.keys():
        return dict(olds)
    upgraded = {k: v for k, v in olds.items() if k not in old_keys}
    role = {field: olds[key] for key, field in old_keys.items() if olds.get(key)}
    upgraded["assumeRoles"] = [role] if role.get("roleArn") else []
    return upgraded


def _override(value: Any) -> float | None:
    """distributedMinBusbwGBps as the readout receives it: "" (none) or GB/s as text."""
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


class ReadoutError(Exception):
    """The readout found a result that must fail `pulumi up`: the GPU check did not pass, or EFA
    is required and did not pass."""


class ReadoutProvider(pulumi.dynamic.ResourceProvider):
    """Reads both validation Jobs once per create/update; `check` and `diff` call nothing."""

    # The provider captures no secrets; its inputs are visible in state anyway.
    serialize_as_secret_always = False

    def __init__(self, api_factory: ApiFactory | None = None) -> None:
        super().__init__()
        self._api_factory = api_factory

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        """Validate the inputs that are known; during a preview the engine hands the rest over
        as `pulumi.output.Unknown()` (the dynamic host deserializes with keep_unknowns=True;
        FACTS.md, "The engine's behaviour that mocks hide"), and those are checked at `up`."""
        failures = []
        for key in (*_REQUIRED_STRINGS, "gpuJobName"):
            if key not in news:
                failures.append(pulumi.dynamic.CheckFailure(key, f"{key} is required"))
            elif not is_unknown(news[key]) and (not isinstance(news[key], str) or not news[key]):
                failures.append(
                    pulumi.dynamic.CheckFailure(key, f"{key} must be a non-empty string")
                )
        for key in ("efaRequested", "efaRequired", "distributedRequired", "distributedEfa"):
            value = news.get(key)
            if key in news and not is_unknown(value) and not isinstance(value, bool | str):
                failures.append(pulumi.dynamic.CheckFailure(key, f"{key} must be a boolean"))
        bound = news.get("distributedMinBusbwGBps")
        if bound not in (None, "") and not is_unknown(bound) and _override(bound) is None:
            failures.append(
                pulumi.dynamic.CheckFailure(
                    "distributedMinBusbwGBps", "distributedMinBusbwGBps must be empty or GB/s"
                )
            )
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        """Any input change replaces the readout; an input not known yet (preview) may change."""
        olds = with_assume_roles(olds)
        changed = [k for k in INPUT_KEYS if is_unknown(news.get(k)) or olds.get(k) != news.get(k)]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=changed, delete_before_replace=False
        )

    def _read(self, props: Mapping[str, Any]) -> dict[str, Any]:
        factory = self._api_factory or API_FACTORY or eks_api_factory
        efa_requested = props.get("efaRequested") is True
        try:
            api = factory(props)
        except Exception as exc:
            reason = f"could not build a Kubernetes client: {describe_exception(exc)}"
            gpu = gpu_dict(GpuResult(ERROR, reason), PodFacts(props.get("gpuJobName", "")))
            efa = efa_dict(
                EfaResult(ERROR, reason, requested=efa_requested),
                PodFacts(props.get("efaJobName") or ""),
            )
            validation = {"gpu": gpu, "efa": efa}
            if props.get("distributedJobName"):
                validation["distributed"] = distributed_dict(
                    results.DistributedResult(ERROR, reason), props["distributedJobName"], []
                )
        else:
            validation = read_validation(
                api,
                props["namespace"],
                props["gpuJobName"],
                props.get("efaJobName") or None,
                efa_requested,
                props.get("distributedJobName") or None,
                float(props.get("distributedTimeoutSeconds") or 0),
                distributed_efa=props.get("distributedEfa") is True,
                min_busbw_gbps=_override(props.get("distributedMinBusbwGBps")),
            )
        summary = "\n".join(summary_lines(validation))
        gpu_status = validation["gpu"]["status"]
        if gpu_status != PASSED:
            # The check scripts report and exit 0; this is where a broken GPU node fails `up`.
            raise ReadoutError(
                f"the GPU check is {gpu_status}: {validation['gpu']['reason']}\n{summary}"
            )
        efa_status = validation["efa"]["status"]
        if props.get("efaRequired") is True and efa_status != PASSED:
            raise ReadoutError(
                f"EFA is required (efaRequired) but the EFA check is {efa_status}: "
                f"{validation['efa']['reason']}\n{summary}"
            )
        distributed = validation.get("distributed")
        if (
            distributed is not None
            and props.get("distributedRequired") is True
            and distributed["status"] != PASSED
        ):
            raise ReadoutError(
                f"the distributed check is required (distributedRequired) but is "
                f"{distributed['status']}: {distributed['reason']}\n{summary}"
            )
        return {
            **{k: props[k] for k in INPUT_KEYS if k in props},
            "validation": validation,
            "validationSummary": summary,
        }

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = self._read(props)
        run = props.get("runId") or "0"
        return pulumi.dynamic.CreateResult(
            f"{props['namespace']}/{props['gpuJobName']}/{run}", outs
        )

    def update(
        self, _id: str, _olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(self._read(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to tear down: the readout only reads."""


@dataclass(frozen=True)
class ValidationReadoutArgs:
    """Inputs of ValidationReadout; the cluster and Job names usually come from other resources."""

    cluster_name: pulumi.Input[str]
    access: AwsAccess
    endpoint: pulumi.Input[str]
    certificate_authority: pulumi.Input[str]
    namespace: pulumi.Input[str]
    gpu_job_name: pulumi.Input[str]
    efa_job_name: pulumi.Input[str] | None = None
    efa_requested: pulumi.Input[bool] = False
    efa_required: pulumi.Input[bool] = False
    distributed_job_name: pulumi.Input[str] | None = None
    distributed_required: pulumi.Input[bool] = False
    distributed_timeout_seconds: pulumi.Input[int] = 0
    distributed_efa: pulumi.Input[bool] = False  # EFA asked for: it must carry the traffic
    distributed_min_busbw_gbps: pulumi.Input[str] = ""  # "": the instance type's floor
    run_id: pulumi.Input[str] = "0"


def inputs(args: ValidationReadoutArgs) -> dict[str, Any]:
    """The resource's inputs (INPUT_KEYS): what the provider reads, and compares to replace."""
    return {
        "clusterName": args.cluster_name,
        "region": args.access.region,
        "awsProfile": args.access.profile or "",
        "assumeRoles": [
            dict(role) for role in args.access.assume_roles
        ],  # as the provider has them
        "endpoint": args.endpoint,
        "certificateAuthority": args.certificate_authority,
        "namespace": args.namespace,
        "gpuJobName": args.gpu_job_name,
        "efaJobName": args.efa_job_name if args.efa_job_name is not None else "",
        "efaRequested": args.efa_requested,
        "efaRequired": args.efa_required,
        "distributedJobName": (
            args.distributed_job_name if args.distributed_job_name is not None else ""
        ),
        "distributedRequired": args.distributed_required,
        "distributedTimeoutSeconds": args.distributed_timeout_seconds,
        "distributedEfa": args.distributed_efa,
        "distributedMinBusbwGBps": args.distributed_min_busbw_gbps,
        "runId": args.run_id,
    }


class ValidationReadout(
    pulumi.dynamic.Resource, module="training-on-eks", name="ValidationReadout"
):
    """The validation Jobs' results, read once they finished: `validation`, `validation_summary`."""

    validation: pulumi.Output[dict[str, Any]]

    def __init__(
        self,
        name: str,
        args: ValidationReadoutArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: ReadoutProvider | None = None,
    ) -> None:
        props = {**inputs(args), "validation": None, "validationSummary": None}
        super().__init__(provider or ReadoutProvider(), name, props, opts)

    @property
    def validation_summary(self) -> pulumi.Output[str]:
        """`validationSummary`: one line per check, joined by newlines."""
        # Outputs of a dynamic resource are attributes named as the engine names them.
        return self.__dict__["validationSummary"]
