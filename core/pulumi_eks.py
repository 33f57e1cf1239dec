"""What pulumi-eks hands back that the offline stand-ins imitate: the kubeconfig of a cluster."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# pulumi-eks's kubeconfig (nodejs/eks/cluster/cluster.ts, generateKubeconfig): one cluster
# `kubernetes`, a user `aws` whose exec plugin runs `aws eks get-token` with the region first,
# then `--role` and `--profile` from the credential options, and KUBERNETES_EXEC_INFO set.
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


def credential_options(
    given: Mapping[str, Any] | None, aws_profile: str | None, env: Mapping[str, str]
) -> dict[str, Any]:
    """The credential options the kubeconfig is made with (cluster.ts, createCluster): the
    Cluster's `providerCredentialOpts` when given, else AWS_PROFILE, else `aws:profile`. An
    `aws:assumeRoles` entry is never taken from the provider: only the options carry a role."""
    if given:
        return dict(given)
    profile = env.get("AWS_PROFILE") or aws_profile
    return {"profileName": profile} if profile else {}


def kubeconfig(
    endpoint: str,
    ca_data: str,
    region: str,
    cluster: str,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The kubeconfig pulumi-eks generates for a cluster with these credential options
    (roleArn, profileName)."""
    options = options or {}
    args = ["--region", region, "eks", "get-token", "--cluster-name", cluster, "--output", "json"]
    if options.get("roleArn"):
        args += ["--role", options["roleArn"]]
    if options.get("profileName"):
        args += ["--profile", options["profileName"]]
    return {
        "apiVersion": "v1",
        "clusters": [
            {
                "cluster": {"server": endpoint, "certificate-authority-data": ca_data},
                "name": "kubernetes",
            }
        ],
        "contexts": [{"context": {"cluster": "kubernetes", "user": "aws"}, "name": "aws"}],
        "current-context": "aws",
        "kind": "Config",
        "users": [
            {
                "name": "aws",
                "user": {
                    "exec": {
                        "apiVersion": EXEC_API_VERSION,
                        "command": "aws",
                        "args": args,
                        "env": [
                            {
                                "name": "KUBERNETES_EXEC_INFO",
                                "value": json.dumps({"apiVersion": EXEC_API_VERSION}),
                            }
                        ],
                    }
                },
            }
        ],
    }
