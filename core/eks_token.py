"""EKS bearer tokens and Kubernetes API clients from boto3 alone (no aws CLI, no kubeconfig)."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

# Same scheme as aws-cli `awscli/customizations/eks/get_token.py` (FACTS.md, "Credentials"):
# a presigned STS GetCallerIdentity URL whose signature covers the `x-k8s-aws-id` header.
K8S_AWS_ID_HEADER = "x-k8s-aws-id"
TOKEN_PREFIX = "k8s-aws-v1."
URL_TIMEOUT_SECONDS = 60


def retries():
    """Connection retries for Kubernetes API clients, none after a read timed out: with the
    calls' (connect, read) timeouts, an API server that never answers ends a call in bounded
    time."""
    import urllib3

    return urllib3.util.Retry(total=2, connect=2, read=0, backoff_factor=0.5)


def _retrieve_k8s_aws_id(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if K8S_AWS_ID_HEADER in params:
        context[K8S_AWS_ID_HEADER] = params.pop(K8S_AWS_ID_HEADER)


def _inject_k8s_aws_id_header(request: Any, **_: Any) -> None:
    if K8S_AWS_ID_HEADER in request.context:
        request.headers[K8S_AWS_ID_HEADER] = request.context[K8S_AWS_ID_HEADER]


def presigned_url(cluster_name: str, region: str, session: Any = None) -> str:
    """Presigned STS GetCallerIdentity URL (60 s) with `x-k8s-aws-id: <cluster_name>` signed."""
    import boto3

    session = session or boto3.session.Session()
    sts = session.client("sts", region_name=region)
    events = sts.meta.events
    events.register("provide-client-params.sts.GetCallerIdentity", _retrieve_k8s_aws_id)
    events.register("before-sign.sts.GetCallerIdentity", _inject_k8s_aws_id_header)
    return sts.generate_presigned_url(
        "get_caller_identity",
        Params={K8S_AWS_ID_HEADER: cluster_name},
        ExpiresIn=URL_TIMEOUT_SECONDS,
        HttpMethod="GET",
    )


def get_token(cluster_name: str, region: str, session: Any = None) -> str:
    """Bearer token for the EKS cluster's API server: `k8s-aws-v1.` + base64url(URL), unpadded."""
    url = presigned_url(cluster_name, region, session)
    encoded = base64.urlsafe_b64encode(url.encode("utf-8")).decode("utf-8").rstrip("=")
    return TOKEN_PREFIX + encoded


def core_v1_api(endpoint: str, certificate_authority: str, token: str) -> Any:
    """A `kubernetes.client.CoreV1Api` for the endpoint, trusting the base64 PEM CA data."""
    from kubernetes import client

    return client.CoreV1Api(api_client(endpoint, certificate_authority, token))


def api_client(endpoint: str, certificate_authority: str, token: str) -> Any:
    """A `kubernetes.client.ApiClient` from endpoint, base64 CA data (as EKS gives it), token."""
    from kubernetes import client

    ca_data: str | bytes = base64.b64decode(certificate_authority)
    with contextlib.suppress(UnicodeDecodeError):
        ca_data = ca_data.decode("ascii")  # PEM, as EKS returns it; anything else is DER
    configuration = client.Configuration(
        host=endpoint,
        api_key={"BearerToken": token},
        api_key_prefix={"BearerToken": "Bearer"},
        ca_cert_data=ca_data,
    )
    configuration.retries = retries()
    return client.ApiClient(configuration)


def session_for(
    region: str, profile: str | None = None, roles: Sequence[Mapping[str, Any]] = ()
) -> Any:
    """A boto3 session that reaches AWS as the aws provider does: its `aws:profile`, then each
    `aws:assumeRoles` entry assumed in turn from the one before (role chaining), in its
    `aws:region`."""
    import boto3

    session = boto3.session.Session(profile_name=profile, region_name=region)
    for role in roles:
        if not role.get("roleArn"):
            continue  # the provider assumes nothing for an entry without a role
        creds = session.client("sts", region_name=region).assume_role(**assume_role_params(role))
        session = boto3.session.Session(
            aws_access_key_id=creds["Credentials"]["AccessKeyId"],
            aws_secret_access_key=creds["Credentials"]["SecretAccessKey"],
            aws_session_token=creds["Credentials"]["SessionToken"],
            region_name=region,
        )
    return session


def assume_role_params(role: Mapping[str, Any]) -> dict[str, Any]:
    """STS AssumeRole's parameters for one entry in the aws provider's field names. The session
    policy, source identity and tags go too: a trust policy may demand them. `duration` does
    not: how long the session lasts does not change who it is."""
    params: dict[str, Any] = {
        "RoleArn": role["roleArn"],
        "RoleSessionName": role.get("sessionName") or "training-on-eks",
    }
    for field, param in (
        ("externalId", "ExternalId"),
        ("policy", "Policy"),
        ("sourceIdentity", "SourceIdentity"),
        ("transitiveTagKeys", "TransitiveTagKeys"),
    ):
        if role.get(field):
            params[param] = role[field]
    if role.get("policyArns"):
        params["PolicyArns"] = [{"arn": arn} for arn in role["policyArns"]]
    if role.get("tags"):
        params["Tags"] = [{"Key": k, "Value": v} for k, v in role["tags"].items()]
    return params


def session_for_access(access: Any) -> Any:
    """`session_for` from a core.config.AwsAccess (or anything with the same fields)."""
    return session_for(access.region, access.profile, access.assume_roles)


class ClusterUnreachable(Exception):
    """EKS could not be asked for the cluster, or the cluster has no API endpoint yet."""


def cluster_api_client(cluster_name: str, region: str, session: Any = None) -> Any:
    """An `ApiClient` for an EKS cluster by name: DescribeCluster for endpoint and CA, a token."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from core.aws_errors import aws_error

    session = session or boto3.session.Session()
    try:
        described = session.client("eks", region_name=region).describe_cluster(name=cluster_name)
        token = get_token(cluster_name, region, session)
    except (BotoCoreError, ClientError) as exc:
        raise ClusterUnreachable(
            f"cannot reach EKS cluster {cluster_name} in {region}: {aws_error(exc, 'EKS')}"
        ) from None
    info = described["cluster"]
    endpoint, ca = info.get("endpoint"), (info.get("certificateAuthority") or {}).get("data")
    if not endpoint or not ca:
        raise ClusterUnreachable(
            f"cluster {cluster_name} has no endpoint yet (status {info.get('status')})"
        )
    return api_client(endpoint, ca, token)
