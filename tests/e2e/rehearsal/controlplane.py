"""A real Kubernetes control plane per EKS cluster: kube-apiserver, kube-controller-manager and
kube-scheduler, built from k8s.io/kubernetes, on one shared etcd (a key prefix per cluster).

What EKS gives a new Auto Mode cluster is set up as EKS does: token authentication through a
webhook (EKS's authenticator checks `k8s-aws-v1.` tokens with STS), the ExtendedResourceToleration
admission plugin (FACTS.md, "EKS and node groups"), Karpenter's NodePool and NodeClaim CRDs (from
the Karpenter module the rehearsal's controller is built from) and an EKS NodeClass CRD with its
`default` object, Ready, with the cluster's node subnets in its status, and the built-in NodePools
named in the cluster's compute config (EKS user guide, "Review built-in node pools").
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rehearsal import pki
from rehearsal.tools import Tools

SERVICE_CIDR = "10.100.0.0/16"  # EKS's default service range when none is given
# EKS Auto Mode's NodeClass kind, served by EKS (not a public CRD file): its shape here keeps the
# fields this project reads (spec, status conditions) and preserves the rest.
NODECLASS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "nodeclasses.eks.amazonaws.com"},
    "spec": {
        "group": "eks.amazonaws.com",
        "names": {
            "kind": "NodeClass",
            "listKind": "NodeClassList",
            "plural": "nodeclasses",
            "singular": "nodeclass",
        },
        "scope": "Cluster",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
                "subresources": {"status": {}},
            }
        ],
    },
}
# The built-in pools' requirements (EKS user guide, "Review built-in node pools"): general-purpose
# runs amd64 only; system takes both architectures and is tainted CriticalAddonsOnly.
BUILTIN_POOL_ARCHES = {"general-purpose": ["amd64"], "system": ["amd64", "arm64"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kubeconfig(server: str, ca: Path, cert: Path, key: Path, name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {"name": name, "user": {"client-certificate": str(cert), "client-key": str(key)}}
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


class Etcd:
    """One etcd for every cluster of the world."""

    def __init__(self, tools: Tools, directory: Path) -> None:
        self.port = free_port()
        peer = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.log = (directory / "etcd.log").open("w")
        self.process = subprocess.Popen(
            [
                str(tools.etcd),
                "--data-dir",
                str(directory / "data"),
                "--listen-client-urls",
                f"http://127.0.0.1:{self.port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{self.port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{peer}",
                "--quota-backend-bytes",
                str(2 * 1024**3),
                "--unsafe-no-fsync",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if json.load(answer).get("health") == "true":
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"etcd did not become healthy; see {self.log.name}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


@dataclass
class ControlPlane:
    """One cluster's control plane processes and what a kubeconfig needs to reach them."""

    name: str
    directory: Path
    port: int
    ca_pem: bytes
    admin: pki.Pair
    ca_path: Path
    kubeconfigs: dict[str, Path]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_data(self) -> str:
        """certificateAuthority.data as EKS gives it: base64 of the PEM."""
        return base64.b64encode(self.ca_pem).decode()

    def admin_client(self):
        """A kubernetes ApiClient as cluster admin (client certificate, system:masters)."""
        from kubernetes import client

        configuration = client.Configuration(host=self.endpoint)
        configuration.ssl_ca_cert = str(self.ca_path)
        configuration.cert_file = str(self.admin.cert)
        configuration.key_file = str(self.admin.key)
        return client.ApiClient(configuration)

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


def start(
    tools: Tools,
    etcd: Etcd,
    directory: Path,
    name: str,
    webhook_url: str,
    node_pools: list[str],
    crds: list[dict],
    subnets: dict[str, str],
) -> ControlPlane:
    """Start and bootstrap a control plane for EKS cluster `name`; returns once it is ready."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = pki.Authority(directory / "pki", name)
    port = free_port()
    serving = ca.issue(
        "apiserver",
        "kube-apiserver",
        hosts=(
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "10.100.0.1",
        ),
        server=True,
    )
    admin = ca.issue("admin", "rehearsal-admin", org="system:masters")
    manager = ca.issue("controller-manager", "system:kube-controller-manager")
    scheduler = ca.issue("scheduler", "system:kube-scheduler")
    sa = pki.service_account_keys(directory / "pki")
    server = f"https://127.0.0.1:{port}"
    webhook = directory / "webhook.kubeconfig"
    webhook.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "eks-authenticator", "cluster": {"server": webhook_url}}],
                "users": [{"name": "apiserver", "user": {}}],
                "contexts": [
                    {
                        "name": "webhook",
                        "context": {"cluster": "eks-authenticator", "user": "apiserver"},
                    }
                ],
                "current-context": "webhook",
            }
        )
    )
    kubeconfigs = {}
    for who, pair in (
        ("controller-manager", manager),
        ("scheduler", scheduler),
        ("karpenter", admin),  # Auto Mode's Karpenter runs with EKS's own rights
    ):
        path = directory / f"{who}.kubeconfig"
        path.write_text(yaml.safe_dump(_kubeconfig(server, ca.cert_path, pair.cert, pair.key, who)))
        kubeconfigs[who] = path
    plane = ControlPlane(name, directory, port, ca.pem, admin, ca.cert_path, kubeconfigs)
    logs = directory / "logs"
    logs.mkdir(exist_ok=True)

    def run(what: str, argv: list[str]) -> None:
        out = (logs / f"{what}.log").open("w")
        plane.processes[what] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    run(
        "kube-apiserver",
        [
            str(tools.kube_apiserver),
            f"--etcd-servers={etcd.url}",
            f"--etcd-prefix=/registry/{name}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={ca.cert_path}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa.cert}",
            f"--service-account-signing-key-file={sa.key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            f"--authentication-token-webhook-config-file={webhook}",
            "--authentication-token-webhook-cache-ttl=10s",
            "--enable-admission-plugins=NodeRestriction,ExtendedResourceToleration",
            "--allow-privileged=true",
            "--profiling=false",
            f"--cert-dir={directory / 'pki'}",
        ],
    )
    _wait_ready(plane)
    run(
        "kube-controller-manager",
        [
            str(tools.kube_controller_manager),
            f"--kubeconfig={kubeconfigs['controller-manager']}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            f"--service-account-private-key-file={sa.key}",
            f"--root-ca-file={ca.cert_path}",
            f"--cluster-name={name}",
            "--use-service-account-credentials=true",
            "--concurrent-job-syncs=5",
        ],
    )
    run(
        "kube-scheduler",
        [
            str(tools.kube_scheduler),
            f"--kubeconfig={kubeconfigs['scheduler']}",
            f"--authentication-kubeconfig={kubeconfigs['scheduler']}",
            f"--authorization-kubeconfig={kubeconfigs['scheduler']}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
        ],
    )
    _bootstrap(plane, node_pools, crds, subnets)
    return plane


def _wait_ready(plane: ControlPlane, timeout: float = 90.0) -> None:
    context = ssl.create_default_context(cafile=str(plane.ca_path))
    context.load_cert_chain(str(plane.admin.cert), str(plane.admin.key))
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        process = plane.processes["kube-apiserver"]
        if process.poll() is not None:
            raise RuntimeError(
                f"kube-apiserver for {plane.name} exited {process.returncode}; see "
                f"{plane.directory / 'logs' / 'kube-apiserver.log'}"
            )
        try:
            with urllib.request.urlopen(
                f"{plane.endpoint}/readyz", context=context, timeout=3
            ) as r:
                if r.status == 200:
                    return
        except OSError as err:
            last = err
        time.sleep(0.3)
    raise RuntimeError(f"kube-apiserver for {plane.name} was not ready in {timeout} s: {last}")


def _bootstrap(
    plane: ControlPlane, node_pools: list[str], crds: list[dict], subnets: dict[str, str]
) -> None:
    """What an Auto Mode cluster has before the first `kubectl`: its CRDs and built-in objects."""
    from kubernetes import client

    api = plane.admin_client()
    extensions = client.ApiextensionsV1Api(api)
    for crd in (*crds, NODECLASS_CRD):
        extensions.create_custom_resource_definition(crd)
    deadline = time.monotonic() + 60
    for crd in (*crds, NODECLASS_CRD):
        while True:
            status = extensions.read_custom_resource_definition(crd["metadata"]["name"]).status
            if any(c.type == "Established" and c.status == "True" for c in status.conditions or []):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD {crd['metadata']['name']} not established")
            time.sleep(0.2)
    custom = client.CustomObjectsApi(api)
    if node_pools:  # the default NodeClass exists while a built-in pool is enabled (FACTS.md)
        custom.create_cluster_custom_object(
            "eks.amazonaws.com",
            "v1",
            "nodeclasses",
            {
                "apiVersion": "eks.amazonaws.com/v1",
                "kind": "NodeClass",
                "metadata": {"name": "default"},
                "spec": {"role": "rehearsal-auto-mode-node-role"},
            },
        )
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        custom.patch_cluster_custom_object_status(
            "eks.amazonaws.com",
            "v1",
            "nodeclasses",
            "default",
            {
                "status": {
                    "subnets": [{"id": i, "zone": z} for z, i in sorted(subnets.items())],
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "Ready",
                            "message": "",
                            "observedGeneration": 1,
                            "lastTransitionTime": now,
                        }
                    ],
                }
            },
        )
    for pool in node_pools:
        custom.create_cluster_custom_object(
            "karpenter.sh",
            "v1",
            "nodepools",
            {
                "apiVersion": "karpenter.sh/v1",
                "kind": "NodePool",
                "metadata": {"name": pool, "labels": {"app.kubernetes.io/managed-by": "eks"}},
                "spec": {
                    "template": {
                        "spec": {
                            "nodeClassRef": {
                                "group": "eks.amazonaws.com",
                                "kind": "NodeClass",
                                "name": "default",
                            },
                            "requirements": [
                                {
                                    "key": "eks.amazonaws.com/instance-category",
                                    "operator": "In",
                                    "values": ["c", "m", "r"],
                                },
                                {
                                    "key": "eks.amazonaws.com/instance-generation",
                                    "operator": "Gt",
                                    "values": ["4"],
                                },
                                {
                                    "key": "kubernetes.io/arch",
                                    "operator": "In",
                                    "values": BUILTIN_POOL_ARCHES.get(pool, ["amd64"]),
                                },
                                {
                                    "key": "kubernetes.io/os",
                                    "operator": "In",
                                    "values": ["linux"],
                                },
                                {
                                    "key": "karpenter.sh/capacity-type",
                                    "operator": "In",
                                    "values": ["on-demand"],
                                },
                            ],
                            **(
                                {
                                    "taints": [
                                        {
                                            "key": "CriticalAddonsOnly",
                                            "effect": "NoSchedule",
                                        }
                                    ]
                                }
                                if pool == "system"
                                else {}
                            ),
                        }
                    },
                    "disruption": {
                        "consolidationPolicy": "WhenEmptyOrUnderutilized",
                        "consolidateAfter": "30s",
                    },
                },
            },
        )
