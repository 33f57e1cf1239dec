"""What pulumi-eks hands back that the offline stand-ins imitate: the kubeconfig of a cluster."""

from __future__ import annotations

import json
from typing import Any

# pulumi-eks's kubeconfig (nodejs/eks/cluster.ts, generateKubeconfig): one cluster `kubernetes`,
# a user `aws` whose exec plugin runs `aws eks get-token` with the region first, the profile
# when the provider has one, and KUBERNETES_EXEC_INFO set.
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


def kubeconfig(
    endpoint: str, ca_data: str, region: str, cluster: str, profile: str | None = None
) -> dict[str, Any]:
    """The kubeconfig pulumi-eks generates for a cluster."""
    args = ["--region", region, "eks", "get-token", "--cluster-name", cluster, "--output", "json"]
    if profile:
        args += ["--profile", profile]
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
