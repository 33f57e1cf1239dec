"""Validation report for a live cluster without `pulumi up`: find the check Jobs, read them out."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import readout
from core import wellknown as wk
from core.results import ERROR, PASSED, UNAVAILABLE, EfaResult, GpuResult

DEFAULT_REGION = "ap-northeast-2"
# Exit status of `python -m toe report`.
EXIT_OK = 0
EXIT_CHECKS_NOT_PASSED = 1
EXIT_UNREACHABLE = 2  # could not connect: credentials, endpoint, kubeconfig, stack
EXIT_USAGE = EXIT_UNREACHABLE
UNREACHABLE = "Kubernetes API unreachable"


class ReportError(Exception):
    """The report could not start (no pulumi CLI, no such stack, cluster not found, ...)."""


@dataclass(frozen=True)
class Clients:
    """The two Kubernetes APIs the report reads: pods/nodes/events and Jobs."""

    core: Any
    batch: Any
    # The stack's `validation` output when the report was given --stack: what `pulumi up` read.
    recorded: Mapping[str, Any] | None = None


def find_job(batch: Any, namespace: str, name: str) -> str | None:
    """The newest Job labelled `app.kubernetes.io/name=<name>`, else the newest named `<name>*`."""
    selector = f"{wk.LABEL_APP_NAME}={name}"
    jobs = batch.list_namespaced_job(namespace, label_selector=selector, **readout.bounded()).items
    if not jobs:
        everything = batch.list_namespaced_job(namespace, **readout.bounded()).items or []
        jobs = [j for j in everything if j.metadata.name.startswith(name)]
    if not jobs:
        return None
    return readout.newest(jobs).metadata.name


def build_report(
    clients: Clients,
    namespace: str = wk.VALIDATION_NAMESPACE,
    gpu_job: str = wk.GPU_CHECK,
    efa_job: str = wk.EFA_CHECK,
) -> dict[str, Any]:
    """`{"gpu": ..., "efa": ...}` as the `validation` stack output has it; never raises."""
    try:
        gpu_name = find_job(clients.batch, namespace, gpu_job)
        efa_name = find_job(clients.batch, namespace, efa_job)
    except Exception as exc:
        reason = f"{UNREACHABLE}: {readout.describe_exception(exc)}"
        return {
            "gpu": readout.gpu_dict(GpuResult(ERROR, reason), readout.PodFacts(gpu_job)),
            "efa": readout.efa_dict(EfaResult(ERROR, reason), readout.PodFacts(efa_job)),
        }
    if gpu_name is None:
        reason = (
            f"no Job labelled {wk.LABEL_APP_NAME}={gpu_job} in namespace {namespace} "
            "(has `pulumi up` run on this cluster?)"
        )
        gpu = readout.gpu_dict(GpuResult(ERROR, reason), readout.PodFacts(gpu_job))
    else:
        gpu = readout.read_gpu(clients.core, namespace, gpu_name)
    # Without an EFA Job the stack did not ask for EFA; with one, its message says whether it did.
    efa = readout.read_efa(clients.core, namespace, efa_name, requested=efa_name is not None)
    return {"gpu": gpu, "efa": efa}


def exit_status(validation: Mapping[str, Any]) -> int:
    """0 when the GPU check passed and EFA passed or is unavailable; 2 when the API could not be
    reached; 1 otherwise."""
    if any(str(check.get("reason", "")).startswith(UNREACHABLE) for check in validation.values()):
        return EXIT_UNREACHABLE
    gpu_ok = validation["gpu"]["status"] == PASSED
    efa_ok = validation["efa"]["status"] in (PASSED, UNAVAILABLE)
    return EXIT_OK if gpu_ok and efa_ok else EXIT_CHECKS_NOT_PASSED


def render(validation: Mapping[str, Any], as_json: bool = False) -> str:
    """The summary lines (as in the `validationSummary` output), or the whole result as JSON."""
    if as_json:
        return json.dumps(validation, indent=2, sort_keys=True)
    return "\n".join(readout.summary_lines(validation))


Runner = Callable[..., subprocess.CompletedProcess]


def stack_outputs(stack: str, runner: Runner = subprocess.run) -> dict[str, Any]:
    """`pulumi stack output --json --stack <stack>`; ReportError without the CLI or stack."""
    command = ["pulumi", "stack", "output", "--json", "--stack", stack]
    try:
        proc = runner(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ReportError(
            "the pulumi CLI is not on PATH: install it (https://www.pulumi.com/docs/install/) or "
            "use --cluster NAME --region REGION, or --kubeconfig PATH"
        ) from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip().splitlines()
        last = detail[-1] if detail else ""
        if "no stack named" in last:
            from toe import guidance

            raise ReportError(f"{guidance.unknown_stack(stack, Path.cwd())} ({last.strip()})")
        raise ReportError(f"`{' '.join(command)}` exited {proc.returncode}: {last}")
    try:
        outputs = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise ReportError(f"`{' '.join(command)}` printed no JSON: {exc}") from None
    missing = [k for k in ("clusterName", "region") if not outputs.get(k)]
    if missing:
        raise ReportError(f"stack {stack} has no {' or '.join(missing)} output: run `pulumi up`")
    return outputs


def clients_for_cluster(cluster: str, region: str, session: Any = None) -> Clients:
    """Clients for an EKS cluster from `eks:DescribeCluster` and a boto3-built token."""
    from kubernetes import client

    from core import eks_token

    try:
        api = eks_token.cluster_api_client(cluster, region, session)
    except eks_token.ClusterUnreachable as exc:
        raise ReportError(str(exc)) from None
    return Clients(client.CoreV1Api(api), client.BatchV1Api(api))


def stack_session(stack: str, region: str, project_dir: Path | None = None) -> Any:
    """A boto3 session that reaches AWS as the stack's aws provider does (its profile and role:
    EKS made that identity the cluster's admin); the ambient one without the stack's file."""
    from core import eks_token
    from toe.stackfiles import stack_access

    try:
        return eks_token.session_for_access(stack_access(stack, region, project_dir))
    except Exception as exc:  # a profile that is not there, a role it may not assume
        raise ReportError(
            f"cannot reach AWS as stack {stack} does: {readout.describe_exception(exc)}"
        ) from None


def clients_for_kubeconfig(path: str, context: str | None = None) -> Clients:
    """Clients from a kubeconfig file (the stack's one runs `aws eks get-token`)."""
    from kubernetes import client, config

    from core import eks_token

    read_kubeconfig(path)
    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=path, context=context, client_configuration=configuration
        )
    except (OSError, config.ConfigException, TypeError, ValueError, KeyError) as exc:
        raise ReportError(f"cannot use kubeconfig {path}: {exc}") from None
    configuration.retries = eks_token.retries()
    api = client.ApiClient(configuration)
    return Clients(client.CoreV1Api(api), client.BatchV1Api(api))


# What `pulumi stack output` prints for a secret output without --show-secrets.
POD_GONE = "has no pods"


def with_recorded(
    live: Mapping[str, Any], recorded: Mapping[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """The live report, where a check's pod is gone taking the result `pulumi up` recorded for the
    same Job (the stack's `validation` output), and a note for each one taken. An empty GPU node
    is consolidated minutes after its checks end, and Kubernetes' pod garbage collector then
    deletes the pods bound to it (PodGC, orphaned pods): their results live on in the output."""
    merged, notes = dict(live), []
    for key, check in live.items():
        kept = (recorded or {}).get(key)
        if (
            isinstance(kept, Mapping)
            and check.get("status") == ERROR
            and POD_GONE in str(check.get("reason", ""))
            and kept.get("jobName") == check.get("jobName")
        ):
            merged[key] = dict(kept)
            notes.append(
                f"{key}: read from the stack's validation output, recorded by pulumi up: the "
                f"pod of job {check.get('jobName')} is gone (its node was consolidated)"
            )
    return merged, notes


MASKED_SECRET = "[secret]"
_KUBECONFIG_LISTS = ("clusters", "contexts", "users")


def read_kubeconfig(path: str) -> dict[str, Any]:
    """The kubeconfig at `path` as a mapping; ReportError saying what the file is otherwise (a
    folder, not YAML, the masked `[secret]` of `pulumi stack output`, some other document)."""
    import yaml

    from toe import guidance

    file = Path(path)
    if file.is_dir():
        raise ReportError(guidance.kubeconfig_is_a_folder(path))
    if not file.is_file():
        raise ReportError(guidance.missing_kubeconfig(path))
    # Not a kubeconfig: the stack's goes into a file of its own, never over this one.
    write = guidance.write_kubeconfig(file.parent / "kubeconfig.yaml", pass_it=True)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ReportError(f"kubeconfig {path} is not text (not UTF-8): {write}") from None
    except OSError as exc:
        raise ReportError(f"kubeconfig {path} cannot be read ({exc.strerror})") from None
    if text.strip().strip('"') == MASKED_SECRET:  # also `pulumi stack output --json`
        raise ReportError(
            f"kubeconfig {path} holds only {MASKED_SECRET}, the masked value `pulumi stack "
            f"output kubeconfig` prints without --show-secrets: {guidance.write_kubeconfig(path)}"
        )
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or "invalid YAML").split())
        raise ReportError(f"kubeconfig {path} is not YAML{where}: {problem}; {write}") from None
    lists = isinstance(document, dict) and all(
        isinstance(document.get(key) or [], list) for key in _KUBECONFIG_LISTS
    )
    if not lists or not any(document.get(key) for key in _KUBECONFIG_LISTS):
        if document is None:
            what = "the file is empty"
        elif isinstance(document, dict):
            what = "a YAML mapping without clusters, contexts and users lists"
        else:
            kind = "list" if isinstance(document, list) else "scalar"
            what = f"a YAML {kind}, not a mapping with clusters, contexts and users"
        raise ReportError(f"kubeconfig {path} is not a kubeconfig ({what}): {write}")
    return document


def connect(
    *,
    cluster: str | None = None,
    region: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    stack: str | None = None,
    runner: Runner = subprocess.run,
    project_dir: Path | None = None,
) -> Clients:
    """Clients from whichever of --cluster/--region, --kubeconfig or --stack was given (its
    stack file in `project_dir`, this checkout unless given)."""
    if kubeconfig:
        return clients_for_kubeconfig(kubeconfig, context)
    if stack:
        outputs = stack_outputs(stack, runner)
        session = stack_session(stack, outputs["region"], project_dir)
        clients = clients_for_cluster(outputs["clusterName"], outputs["region"], session)
        return dataclasses.replace(clients, recorded=outputs.get("validation"))
    if cluster:
        return clients_for_cluster(cluster, region or DEFAULT_REGION)
    raise ReportError("give --cluster NAME [--region R], --kubeconfig PATH or --stack NAME")
