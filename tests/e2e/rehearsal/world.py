"""The rehearsal world in one process: moto on loopback, and for each EKS cluster created in it a
control plane, Karpenter (Auto Mode's node provisioning, for real) and the kubelet stand-in of its
nodes; EKS authentication.

`python -m rehearsal.world --dir D --account A --fixtures F` prints one JSON line when ready
(`{"moto": url, "status": url}`) and serves until it is sent SIGTERM. GET <status> returns the
clusters, their nodes, what happened to them (history), the instance types Karpenter was offered,
and what the authenticator refused, for tests to inspect.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import yaml
from rehearsal import aws, controlplane, karpenter
from rehearsal.auth import Authenticator
from rehearsal.kubelet import Kubelet
from rehearsal.loopback import json_server
from rehearsal.tools import Tools


class World:
    def __init__(self, directory: Path, account_file: Path, fixtures: Path) -> None:
        # The project, for toe.offline.account.
        sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
        from toe.offline.account import create_in_moto, load_account

        self.directory = directory
        self.fixtures = fixtures
        self.tools = Tools.find()
        # moto loads AWS's managed IAM policies only when asked; the stack attaches several.
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        account = load_account(account_file)
        self.region = account.region
        self.moto = aws.Moto(account.quotas)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(key, None)
        os.environ.update(self.moto.client_environment(self.region))
        import boto3

        self.session = boto3.session.Session(region_name=self.region)
        create_in_moto(account, self.session)
        self.ec2 = self.session.client("ec2")
        self.types = karpenter.types_from_ec2(self.ec2)
        self.gpu_names = {t.name: t.gpu_name for t in self.types}
        self.prices = karpenter.prices(self.region)
        self.etcd = controlplane.Etcd(self.tools, directory / "etcd")
        self.crds = [yaml.safe_load(p.read_text()) for p in self.tools.karpenter_crds]
        self.planes: dict[str, controlplane.ControlPlane] = {}
        self.karpenters: dict[str, karpenter.Karpenter] = {}
        self.kubelets: dict[str, Kubelet] = {}
        self.offered: dict[str, dict] = {}
        self.errors: list[str] = []
        self.ended: dict[str, list[dict]] = {}
        self.lock = threading.Lock()
        self.authenticator = Authenticator(f"127.0.0.1:{self.moto.port}", self.access_entries)
        aws.HOOKS.on_cluster_created = self.cluster_created
        aws.HOOKS.on_cluster_deleted = self.cluster_deleted
        self.status_server = json_server("GET", lambda _path, _body: self.status())

    def access_entries(self, cluster: str) -> dict | None:
        from moto.eks.models import eks_backends

        for backend in eks_backends["123456789012"].values():
            found = backend.clusters.get(cluster)
            if found is not None:
                return getattr(found, "access_entries", {})
        return None

    def cluster_created(self, _account: str, _region: str, cluster) -> None:
        threading.Thread(target=self._bring_up, args=(cluster,), daemon=True).start()

    def _bring_up(self, cluster) -> None:
        try:
            pools = list((cluster.compute_config or {}).get("nodePools") or [])
            subnets = self._node_subnets(cluster)
            directory = self.directory / "clusters" / cluster.name
            plane = controlplane.start(
                self.tools,
                self.etcd,
                directory,
                cluster.name,
                self.authenticator.url(cluster.name),
                pools,
                self.crds,
                subnets,
            )
            offered = karpenter.catalogue(self.types, set(subnets), self.prices)
            provisioner = karpenter.start(
                self.tools.karpenter,
                self.directory / "karpenter" / cluster.name,
                cluster.name,
                plane.kubeconfigs["karpenter"],
                offered,
                self.region,
                self.moto.url,
                (controlplane.free_port(), controlplane.free_port()),
            )
            kubelet = Kubelet(cluster.name, plane, self.gpu_names, self.fixtures)
            kubelet.start()
            with self.lock:
                self.planes[cluster.name] = plane
                self.karpenters[cluster.name] = provisioner
                self.kubelets[cluster.name] = kubelet
                self.offered[cluster.name] = offered
            cluster.endpoint = plane.endpoint
            cluster.certificate_authority = {"data": plane.ca_data}
            cluster.status = "ACTIVE"
        except Exception as err:  # EKS reports a cluster it cannot create as FAILED
            self.errors.append(f"{cluster.name}: {err}")
            cluster.status = "FAILED"

    def _node_subnets(self, cluster) -> dict[str, str]:
        """Zone -> subnet for Auto Mode nodes: the cluster's private subnets (those tagged for
        internal load balancers when the stack tagged them, else all of the cluster's)."""
        ids = list((cluster.resources_vpc_config or {}).get("subnetIds") or [])
        if not ids:
            return {}
        subnets = self.ec2.describe_subnets(SubnetIds=ids)["Subnets"]
        private = [s for s in subnets if not s.get("MapPublicIpOnLaunch")]
        named = [
            s
            for s in private
            if "priv" in {t["Key"]: t["Value"] for t in s.get("Tags", [])}.get("Name", "")
        ]
        chosen = named or private or subnets
        return {
            s["AvailabilityZone"]: s["SubnetId"]
            for s in sorted(chosen, key=lambda s: s["SubnetId"])
        }

    def cluster_deleted(self, _account: str, name: str) -> None:
        with self.lock:
            provisioner = self.karpenters.pop(name, None)
            kubelet = self.kubelets.pop(name, None)
            plane = self.planes.pop(name, None)
        if provisioner is not None:
            provisioner.stop()
        if kubelet is not None:
            kubelet.stop()
            self.ended[name] = kubelet.history
        if plane is not None:
            plane.stop()
        self._terminate_auto_mode_instances(name)

    def _terminate_auto_mode_instances(self, cluster: str) -> None:
        """Deleting an Auto Mode cluster terminates the instances Auto Mode launched for it (EKS
        user guide, "Delete a cluster"); recorded, since a clean destroy leaves none to end."""
        found = self.ec2.describe_instances(
            Filters=[
                {"Name": "tag:eks:eks-cluster-name", "Values": [cluster]},
                {"Name": "tag-key", "Values": ["karpenter.sh/nodepool"]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ]
        )["Reservations"]
        ids = [i["InstanceId"] for r in found for i in r["Instances"]]
        if ids:
            self.ec2.terminate_instances(InstanceIds=ids)
            self.errors.append(f"{cluster}: deleted with Auto Mode instances running: {ids}")

    def status(self) -> dict:
        with self.lock:
            return {
                "clusters": {
                    name: {
                        "endpoint": plane.endpoint,
                        "nodes": {
                            n.name: {
                                "pool": n.pool,
                                "instanceType": n.instance_type,
                                "zone": n.zone,
                                "efa": n.efa,
                            }
                            for n in list(self.kubelets[name].nodes.values())
                        },
                        "history": list(self.kubelets[name].history),
                        "offered": self.offered[name],
                        "karpenterLog": str(self.karpenters[name].log),
                    }
                    for name, plane in self.planes.items()
                },
                # The history of clusters deleted since (their kubelets' records).
                "ended": {name: list(h) for name, h in self.ended.items()},
                "rejections": list(self.authenticator.rejections),
                "errors": list(self.errors),
            }

    def stop(self) -> None:
        for name in list(self.planes):
            self.cluster_deleted("", name)
        self.etcd.stop()
        self.authenticator.stop()
        self.moto.stop()
        self.status_server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.world")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--account", type=Path, required=True)
    parser.add_argument("--fixtures", type=Path, required=True)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    world = World(args.dir, args.account, args.fixtures)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(
        json.dumps(
            {
                "moto": world.moto.url,
                "status": f"http://127.0.0.1:{world.status_server.server_port}",
            }
        ),
        flush=True,
    )
    while not stop.is_set():
        time.sleep(0.2)
    world.stop()


if __name__ == "__main__":
    main()
