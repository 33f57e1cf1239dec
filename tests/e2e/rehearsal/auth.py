"""EKS authentication for the local API servers: a TokenReview webhook for `k8s-aws-v1.` tokens.

It does what EKS's authenticator does (aws-iam-authenticator, pkg/token/token.go Verify): decode
the token into its presigned STS GetCallerIdentity URL, require `Action=GetCallerIdentity`, an
unexpired signature and `x-k8s-aws-id` among the signed headers, send the request with that
header set to the cluster's name, and map the ARN STS answers to the cluster's access entries:
an entry with AmazonEKSClusterAdminPolicy is cluster admin (`system:masters`), its
`kubernetesGroups` are its groups, and a principal without an entry is not authenticated.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable

from rehearsal.aws import CLUSTER_ADMIN_POLICY, iam_principal
from rehearsal.loopback import json_server

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
MAX_TOKEN_AGE = dt.timedelta(minutes=15)  # the authenticator's presign window


class Rejected(Exception):
    """Why a token does not authenticate anyone."""


def decode(token: str) -> urllib.parse.SplitResult:
    if not token.startswith(TOKEN_PREFIX):
        raise Rejected("token is not a k8s-aws-v1 token")
    encoded = token[len(TOKEN_PREFIX) :]
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as err:
        raise Rejected(f"token does not decode: {err}") from None
    return urllib.parse.urlsplit(url)


def check_url(parts: urllib.parse.SplitResult, sts_host: str, now: dt.datetime) -> None:
    if parts.netloc != sts_host:
        raise Rejected(f"token is for {parts.netloc}, not the STS endpoint {sts_host}")
    query = {k.lower(): v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
    if query.get("action") != "GetCallerIdentity":
        raise Rejected("token's request is not GetCallerIdentity")
    signed = query.get("x-amz-signedheaders", "").split(";")
    if CLUSTER_ID_HEADER not in signed:
        raise Rejected(f"{CLUSTER_ID_HEADER} is not a signed header")
    try:
        signed_at = dt.datetime.strptime(query["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=dt.UTC
        )
    except (KeyError, ValueError):
        raise Rejected("token has no valid X-Amz-Date") from None
    if now - signed_at > MAX_TOKEN_AGE:
        raise Rejected("token has expired")


def caller_arn(url: str, cluster: str) -> str:
    request = urllib.request.Request(
        url, headers={CLUSTER_ID_HEADER: cluster, "Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read()
    try:
        document = json.loads(body)
        return document["GetCallerIdentityResponse"]["GetCallerIdentityResult"]["Arn"]
    except (ValueError, KeyError):
        root = ET.fromstring(body)
        arn = next((e.text for e in root.iter() if e.tag.endswith("Arn")), None)
        if not arn:
            raise Rejected("STS gave no ARN") from None
        return arn


AccessEntries = Callable[[str], "dict[str, dict] | None"]  # cluster -> principal -> entry


def identity(cluster: str, arn: str, entries: AccessEntries) -> dict:
    principal = iam_principal(arn)
    known = entries(cluster) or {}
    entry = known.get(principal)
    if entry is None:
        raise Rejected(f"{principal} has no access entry on {cluster}")
    groups = list(entry.get("kubernetesGroups") or [])
    admin = any(
        p.get("policyArn") == CLUSTER_ADMIN_POLICY
        and (p.get("accessScope") or {}).get("type") == "cluster"
        for p in entry.get("policies", {}).values()
    )
    if admin:
        groups.append("system:masters")
    return {"username": entry.get("username") or principal, "uid": principal, "groups": groups}


class Authenticator:
    """The webhook server: POST /token/<cluster> with a TokenReview."""

    def __init__(self, sts_host: str, entries: AccessEntries) -> None:
        self.sts_host = sts_host
        self.entries = entries
        self.rejections: list[str] = []
        self.server = json_server("POST", self._token_review)

    def _token_review(self, path: str, review: dict) -> dict:
        cluster = urllib.parse.urlsplit(path).path.rsplit("/", 1)[-1]
        return {
            "apiVersion": review.get("apiVersion", "authentication.k8s.io/v1"),
            "kind": "TokenReview",
            "status": self.review(cluster, (review.get("spec") or {}).get("token", "")),
        }

    def url(self, cluster: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/token/{cluster}"

    def review(self, cluster: str, token: str) -> dict:
        try:
            parts = decode(token)
            check_url(parts, self.sts_host, dt.datetime.now(dt.UTC))
            user = identity(cluster, caller_arn(parts.geturl(), cluster), self.entries)
        except (Rejected, OSError) as err:
            self.rejections.append(f"{cluster}: {err}")
            return {"authenticated": False, "error": str(err)}
        return {"authenticated": True, "user": user}

    def stop(self) -> None:
        self.server.shutdown()
