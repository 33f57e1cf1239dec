"""EKS Auto Mode, simulated: nodes for pending pods, consolidation, and a kubelet that runs pods.

What it copies, and from where:
- Provisioning as Karpenter does (kubernetes-sigs/karpenter, scheduling): for a pod the scheduler
  marked Unschedulable, find a NodePool whose requirements, taints and limits admit a node that
  fits the pod's requests, selectors and tolerations; launch the cheapest such type (fewest GPUs,
  vCPUs, memory) in a zone where EC2 offers it, from moto's copy of EC2's instance data.
- Nodes are labelled like Auto Mode's (FACTS.md, "EKS Auto Mode": `eks.amazonaws.com/instance-*`,
  `eks.amazonaws.com/compute-type: auto`, `karpenter.sh/nodepool`, `karpenter.sh/capacity-type`,
  zone, instance type), advertise `nvidia.com/gpu`, and `vpc.amazonaws.com/efa` only when launched
  for a pod that requested EFA (EKS user guide, "Manage EFA devices": Auto Mode configures every
  interface as EFA for such pods). Node names are instance IDs, as Auto Mode's are.
- Each node is an EC2 instance in moto, tagged `eks:eks-cluster-name`, `karpenter.sh/nodepool` and
  `kubernetes.io/cluster/<name>=owned` (the tags `toe sweep` looks for).
- `WhenEmpty` consolidation: a node without running pods goes after `consolidateAfter` (times
  scaled by `time_scale`); deleting a NodePool removes its nodes.
- The kubelet: a node's pods run their container command on this machine with the ConfigMap and
  emptyDir volumes written to a folder (mount paths in the command are mapped onto it), the
  container's env, and `nvidia-smi`/`fi_info` replaying real captures; the container's
  termination message is the file the check scripts are pointed at with TERMINATION_LOG (they
  default to /dev/termination-log, the pod's terminationMessagePath). There is no container
  runtime: the image is not pulled.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rehearsal import fakes

GPU = "nvidia.com/gpu"
EFA = "vpc.amazonaws.com/efa"
LAUNCH_SECONDS = 60  # an Auto Mode GPU node registers about a minute after launch (latencies.yaml)
TERMINATION_MESSAGE_MAX = 4096  # bytes the kubelet keeps of a termination message
DURATION = re.compile(r"([0-9]+)(h|m|s)")


def seconds(duration: str) -> float | None:
    """A Karpenter duration (`5m`, `1h30m`, `Never`) in seconds; None for Never."""
    if duration == "Never":
        return None
    return float(
        sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in DURATION.findall(duration))
    )


def quantity(text: Any) -> float:
    """A Kubernetes quantity (`250m`, `256Mi`, `4`) as a number (bytes for memory)."""
    text = str(text)
    units = {
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
        "k": 1e3,
        "M": 1e6,
        "G": 1e9,
        "m": 1e-3,
    }
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


@dataclass(frozen=True)
class InstanceType:
    name: str
    arch: str  # amd64 | arm64
    vcpus: int
    memory_mib: int
    gpu_name: str | None
    gpu_manufacturer: str | None
    gpus: int
    gpu_memory_mib: int
    efa_interfaces: int
    zones: frozenset[str]

    @property
    def category(self) -> str:
        return re.match(r"[a-z]+", self.name).group(0)

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def generation(self) -> str:
        match = re.match(r"[a-z]+(?:-[0-9]+tb)?([0-9]+)", self.name)
        return match.group(1) if match else ""

    def labels(self) -> dict[str, str]:
        """The instance's well-known labels (FACTS.md, "EKS Auto Mode")."""
        labels = {
            "kubernetes.io/arch": self.arch,
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": self.name,
            "eks.amazonaws.com/compute-type": "auto",
            "eks.amazonaws.com/instance-category": self.category,
            "eks.amazonaws.com/instance-family": self.family,
            "eks.amazonaws.com/instance-generation": self.generation,
            "eks.amazonaws.com/instance-size": self.name.split(".", 1)[1],
            "eks.amazonaws.com/instance-cpu": str(self.vcpus),
            "eks.amazonaws.com/instance-memory": str(self.memory_mib),
            "eks.amazonaws.com/instance-gpu-count": str(self.gpus),
        }
        if self.gpus:
            labels.update(
                {
                    "eks.amazonaws.com/instance-gpu-name": (self.gpu_name or "").lower(),
                    "eks.amazonaws.com/instance-gpu-manufacturer": (
                        self.gpu_manufacturer or ""
                    ).lower(),
                    "eks.amazonaws.com/instance-gpu-memory": str(self.gpu_memory_mib),
                }
            )
        return labels


def catalogue(ec2: Any) -> list[InstanceType]:
    """Every instance type moto's EC2 knows, with the zones of the region that offer it."""
    zones: dict[str, set[str]] = {}
    for page in ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone"
    ):
        for offer in page["InstanceTypeOfferings"]:
            zones.setdefault(offer["InstanceType"], set()).add(offer["Location"])
    types = []
    for page in ec2.get_paginator("describe_instance_types").paginate():
        for item in page["InstanceTypes"]:
            gpus = (item.get("GpuInfo") or {}).get("Gpus") or []
            first = gpus[0] if gpus else {}
            arches = item["ProcessorInfo"]["SupportedArchitectures"]
            types.append(
                InstanceType(
                    name=item["InstanceType"],
                    arch="arm64" if "arm64" in arches else "amd64",
                    vcpus=item["VCpuInfo"]["DefaultVCpus"],
                    memory_mib=item["MemoryInfo"]["SizeInMiB"],
                    gpu_name=first.get("Name"),
                    gpu_manufacturer=first.get("Manufacturer"),
                    gpus=sum(g.get("Count", 0) for g in gpus),
                    gpu_memory_mib=(first.get("MemoryInfo") or {}).get("SizeInMiB", 0),
                    efa_interfaces=(
                        ((item.get("NetworkInfo") or {}).get("EfaInfo") or {}).get(
                            "MaximumEfaInterfaces", 0
                        )
                        if (item.get("NetworkInfo") or {}).get("EfaSupported")
                        else 0
                    ),
                    zones=frozenset(zones.get(item["InstanceType"], ())),
                )
            )
    return types


def _matches(requirement: dict, labels: dict[str, str]) -> bool:
    key, op = requirement["key"], requirement["operator"]
    values = [str(v) for v in requirement.get("values") or []]
    value = labels.get(key)
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        if value is None:
            return False
        number, bound = float(value), float(values[0])
        return number > bound if op == "Gt" else number < bound
    return False


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    for toleration in tolerations or []:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists" and (
            not toleration.get("key") or toleration["key"] == taint["key"]
        ):
            return True
        if toleration.get("key") == taint["key"] and toleration.get("value", "") == taint.get(
            "value", ""
        ):
            return True
    return False


def pod_requests(pod: dict) -> dict[str, float]:
    total: dict[str, float] = {}
    for container in pod["spec"].get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        limits = (container.get("resources") or {}).get("limits") or {}
        for name, value in {**limits, **requests}.items():
            total[name] = total.get(name, 0.0) + quantity(value)
    return total


def _pod_affinity_ok(pod: dict, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (pod["spec"].get("nodeSelector") or {}).items()):
        return False
    required = ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    return not terms or any(
        all(_matches(r, labels) for r in term.get("matchExpressions") or []) for term in terms
    )


def _selects(term: dict, labels: dict[str, str]) -> bool:
    """A pod (anti-)affinity term's labelSelector against a pod's labels (matchLabels and
    matchExpressions In/NotIn/Exists, as the scheduler reads them)."""
    selector = term.get("labelSelector") or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(_matches(e, labels) for e in selector.get("matchExpressions") or [])


def _pod_terms(pod: dict, kind: str, topology: str) -> list[dict]:
    """The pod's required podAffinity / podAntiAffinity terms over one topology key."""
    affinity = (pod["spec"].get("affinity") or {}).get(kind) or {}
    return [
        t
        for t in affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or []
        if t.get("topologyKey") == topology
    ]


HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


@dataclass
class SimNode:
    name: str
    pool: str
    instance: InstanceType
    zone: str
    efa: int
    empty_since: float | None = None


@dataclass
class Running:
    process: subprocess.Popen
    sandbox: Path
    started: dt.datetime
    log: Any


@dataclass
class AutoMode:
    """One cluster's Auto Mode and kubelets, polling its API server."""

    cluster: str
    region: str
    plane: Any
    ec2: Any
    subnets: dict[str, str]  # zone -> private subnet id
    types: list[InstanceType]
    fixtures: Path
    time_scale: float = 0.02
    nodes: dict[str, SimNode] = field(default_factory=dict)
    running: dict[str, Running] = field(default_factory=dict)
    launching: dict[str, float] = field(default_factory=dict)  # pod uid -> launch time
    # Nodes launched but not registered yet, with the room left on them: Karpenter counts a
    # pending pod against in-flight nodes before it launches another.
    inflight: list[dict] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        from kubernetes import client

        api = self.plane.admin_client()
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.coordination = client.CoordinationV1Api(api)
        self.thread = threading.Thread(
            target=self._loop, name=f"automode-{self.cluster}", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        for run in list(self.running.values()):
            if run.process.poll() is None:
                run.process.kill()
        for node in list(self.nodes.values()):
            self._terminate(node)

    def _loop(self) -> None:
        last_heartbeat = 0.0
        while not self.stopping.is_set():
            try:
                self.reconcile()
                if time.monotonic() - last_heartbeat > 5:
                    self._heartbeat()
                    last_heartbeat = time.monotonic()
            except Exception:  # keep simulating; the log says what went wrong
                self.events.append(traceback.format_exc())
            self.stopping.wait(0.5)

    # ------------------------------------------------------------------ provisioning

    def reconcile(self) -> None:
        pools = {
            p["metadata"]["name"]: p
            for p in self.custom.list_cluster_custom_object("karpenter.sh", "v1", "nodepools")[
                "items"
            ]
        }
        serialize = self.core.api_client.sanitize_for_serialization
        pods = [serialize(p) for p in self.core.list_pod_for_all_namespaces().items]
        self._pods_now = pods
        for pod in pods:
            self._provision(pod, pools)
        for pod in pods:
            self._kubelet(pod)
        self._finish_runs()
        self._disrupt(pools, pods)

    def _unschedulable(self, pod: dict) -> bool:
        if pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            return False
        return any(
            c.get("type") == "PodScheduled"
            and c.get("status") == "False"
            and c.get("reason") == "Unschedulable"
            for c in (pod.get("status") or {}).get("conditions") or []
        )

    def _provision(self, pod: dict, pools: dict[str, dict]) -> None:
        uid = pod["metadata"]["uid"]
        if not self._unschedulable(pod):
            return
        # A pod waits for the node launched for it; if it is still pending well after that node
        # should have registered, provisioning is tried again.
        if time.monotonic() - self.launching.get(uid, -1e9) < LAUNCH_SECONDS * self.time_scale + 20:
            return
        needs = pod_requests(pod)
        labels = pod["metadata"].get("labels") or {}
        apart = _pod_terms(pod, "podAntiAffinity", HOSTNAME)
        zone = self._affine_zone(pod)
        for flight in self.inflight:
            if any(_selects(t, other) for t in apart for other in flight["pods"]):
                continue  # its anti-affinity keeps it off a node shared with those pods
            if zone is not None and flight["labels"][ZONE] != zone:
                continue
            if (
                _pod_affinity_ok(pod, flight["labels"])
                and all(flight["room"].get(k, 0.0) >= v for k, v in needs.items())
                and all(
                    _tolerates(pod["spec"].get("tolerations") or [], t) for t in flight["taints"]
                )
            ):
                for key, value in needs.items():
                    flight["room"][key] = flight["room"].get(key, 0.0) - value
                flight["pods"].append(labels)
                self.launching[uid] = time.monotonic()
                return
        choice = self.choose(pod, pools, zone)
        if choice is None:
            return
        pool, instance, zone, efa = choice
        self.launching[uid] = time.monotonic()
        template = pools[pool]["spec"]["template"]
        room = self._capacity(instance, efa)
        for key, value in needs.items():
            room[key] = room.get(key, 0.0) - value
        flight = {
            "pool": pool,
            "instance": instance,
            "efa": efa,
            "room": room,
            "pods": [labels],
            "taints": template["spec"].get("taints") or [],
            "labels": {
                **instance.labels(),
                **(template.get("metadata") or {}).get("labels", {}),
                "karpenter.sh/nodepool": pool,
                "karpenter.sh/capacity-type": "on-demand",
                "topology.kubernetes.io/zone": zone,
            },
        }
        self.inflight.append(flight)
        delay = LAUNCH_SECONDS * self.time_scale
        threading.Timer(delay, self._launch, args=(pool, instance, zone, efa, flight)).start()

    def _affine_zone(self, pod: dict) -> str | None:
        """The zone a required zone podAffinity puts the pod in: where the pods it selects run
        or are being launched (Karpenter's scheduling simulation honours pod affinity)."""
        terms = _pod_terms(pod, "podAffinity", ZONE)
        if not terms:
            return None
        for other in getattr(self, "_pods_now", []):
            node = self.nodes.get(other["spec"].get("nodeName") or "")
            if node is not None and any(
                _selects(t, other["metadata"].get("labels") or {}) for t in terms
            ):
                return node.zone
        for flight in self.inflight:
            if any(_selects(t, labels) for t in terms for labels in flight["pods"]):
                return flight["labels"][ZONE]
        return None

    def choose(self, pod: dict, pools: dict[str, dict], only_zone: str | None = None):
        """(pool, type, zone, efa interfaces) for a pod, or None when no pool admits it."""
        needs = pod_requests(pod)
        tolerations = pod["spec"].get("tolerations") or []
        options = []
        for name, pool in sorted(
            pools.items(), key=lambda kv: -int(kv[1]["spec"].get("weight", 0))
        ):
            if pool["metadata"].get("deletionTimestamp"):
                continue
            template = pool["spec"]["template"]
            taints = template["spec"].get("taints") or []
            if not all(_tolerates(tolerations, t) for t in taints):
                continue
            used = self._pool_usage(name)
            limits = pool["spec"].get("limits") or {}
            for instance in self.types:
                zones = sorted(instance.zones & set(self.subnets))
                if only_zone is not None:
                    zones = [z for z in zones if z == only_zone]
                if not zones:
                    continue
                for zone in zones:
                    labels = {
                        **instance.labels(),
                        **(template.get("metadata") or {}).get("labels", {}),
                        "karpenter.sh/nodepool": name,
                        "karpenter.sh/capacity-type": "on-demand",
                        "topology.kubernetes.io/zone": zone,
                        "topology.kubernetes.io/region": self.region,
                    }
                    requirements = template["spec"].get("requirements") or []
                    if not all(_matches(r, labels) for r in requirements):
                        continue
                    if not _pod_affinity_ok(pod, labels):
                        continue
                    efa = instance.efa_interfaces if needs.get(EFA) else 0
                    capacity = self._capacity(instance, efa)
                    if any(
                        capacity.get(k, 0.0) < v for k, v in needs.items() if k not in ("pods",)
                    ):
                        continue
                    if not self._within_limits(limits, used, capacity):
                        continue
                    rank = (instance.gpus, instance.vcpus, instance.memory_mib, instance.name, zone)
                    options.append((rank, name, instance, zone, efa))
                    break
            if options:
                break
        if not options:
            return None
        _, name, instance, zone, efa = min(options, key=lambda o: o[0])
        return name, instance, zone, efa

    def _capacity(self, instance: InstanceType, efa: int) -> dict[str, float]:
        capacity = {
            "cpu": float(instance.vcpus),
            "memory": float(instance.memory_mib) * 2**20,
            "pods": 110.0,
            "ephemeral-storage": 80.0 * 2**30,
        }
        if instance.gpus and (instance.gpu_manufacturer or "").upper() == "NVIDIA":
            capacity[GPU] = float(instance.gpus)
        if efa:
            capacity[EFA] = float(efa)
        return capacity

    def _pool_usage(self, pool: str) -> dict[str, float]:
        """What the pool's nodes, registered and in flight, count against its limits."""
        used: dict[str, float] = {}
        launched = [(n.instance, n.efa) for n in self.nodes.values() if n.pool == pool]
        launched += [(f["instance"], f["efa"]) for f in self.inflight if f["pool"] == pool]
        for instance, efa in launched:
            for key, value in self._capacity(instance, efa).items():
                used[key] = used.get(key, 0.0) + value
        return used

    @staticmethod
    def _within_limits(limits: dict, used: dict[str, float], capacity: dict[str, float]) -> bool:
        return all(
            used.get(key, 0.0) + capacity.get(key, 0.0) <= quantity(limit)
            for key, limit in limits.items()
        )

    def _launch(
        self, pool_name: str, instance: InstanceType, zone: str, efa: int, flight=None
    ) -> None:
        try:
            self._register(pool_name, instance, zone, efa)
        finally:
            if flight in self.inflight:
                self.inflight.remove(flight)

    def _register(self, pool_name: str, instance: InstanceType, zone: str, efa: int) -> None:
        if self.stopping.is_set():
            return
        try:
            pool = self.custom.get_cluster_custom_object(
                "karpenter.sh", "v1", "nodepools", pool_name
            )
        except Exception:  # deleted meanwhile: nothing to launch
            return
        reservation = self.ec2.run_instances(
            ImageId="ami-0a1b2c3d4e5f60718",
            InstanceType=instance.name,
            MinCount=1,
            MaxCount=1,
            SubnetId=self.subnets[zone],
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "Name", "Value": f"{self.cluster}/{pool_name}"},
                        {"Key": "eks:eks-cluster-name", "Value": self.cluster},
                        {"Key": "eks:kubernetes-node-pool-name", "Value": pool_name},
                        {"Key": "karpenter.sh/nodepool", "Value": pool_name},
                        {"Key": f"kubernetes.io/cluster/{self.cluster}", "Value": "owned"},
                    ],
                }
            ],
        )["Instances"][0]
        name = reservation["InstanceId"]
        template = pool["spec"]["template"]
        labels = {
            **instance.labels(),
            **(template.get("metadata") or {}).get("labels", {}),
            "karpenter.sh/nodepool": pool_name,
            "karpenter.sh/capacity-type": "on-demand",
            "topology.kubernetes.io/zone": zone,
            "topology.kubernetes.io/region": self.region,
            "kubernetes.io/hostname": name,
        }
        capacity = {k: self._quantity_text(k, v) for k, v in self._capacity(instance, efa).items()}
        now = dt.datetime.now(dt.UTC).isoformat()
        self.core.create_node(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "providerID": f"aws:///{zone}/{name}",
                    "taints": template["spec"].get("taints") or [],
                },
            }
        )
        self.nodes[name] = SimNode(name, pool_name, instance, zone, efa)
        self.core.patch_node_status(
            name,
            {
                "status": {
                    "capacity": capacity,
                    "allocatable": capacity,
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": now,
                            "lastTransitionTime": now,
                        }
                    ],
                    "addresses": [
                        {
                            "type": "InternalIP",
                            "address": reservation.get("PrivateIpAddress", "10.0.0.10"),
                        },
                        {"type": "Hostname", "address": name},
                    ],
                    "nodeInfo": {
                        "architecture": instance.arch,
                        "operatingSystem": "linux",
                        "kubeletVersion": "v1.33.13-eks",
                        "kubeProxyVersion": "",
                        "containerRuntimeVersion": "containerd://simulated",
                        "osImage": "Bottlerocket (EKS Auto Mode), simulated",
                        "kernelVersion": "",
                        "bootID": "",
                        "machineID": "",
                        "systemUUID": "",
                    },
                }
            },
        )
        self.events.append(f"launched {name} ({instance.name}, {zone}) for pool {pool_name}")

    @staticmethod
    def _quantity_text(key: str, value: float) -> str:
        if key in ("memory", "ephemeral-storage"):
            return f"{int(value // 2**20)}Mi"
        return str(int(value))

    def _heartbeat(self) -> None:
        now = dt.datetime.now(dt.UTC)
        for node in list(self.nodes.values()):
            body = {
                "metadata": {"name": node.name, "namespace": "kube-node-lease"},
                "spec": {
                    "holderIdentity": node.name,
                    "leaseDurationSeconds": 40,
                    "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                },
            }
            try:
                self.coordination.patch_namespaced_lease(node.name, "kube-node-lease", body)
            except Exception:
                with contextlib.suppress(Exception):
                    self.coordination.create_namespaced_lease("kube-node-lease", body)
            with contextlib.suppress(Exception):
                self.core.patch_node_status(
                    node.name,
                    {
                        "status": {
                            "conditions": [
                                {
                                    "type": "Ready",
                                    "status": "True",
                                    "reason": "KubeletReady",
                                    "message": "kubelet is posting ready status",
                                    "lastHeartbeatTime": now.isoformat(),
                                }
                            ]
                        }
                    },
                )

    # ------------------------------------------------------------------ disruption

    def _disrupt(self, pools: dict[str, dict], pods: list[dict]) -> None:
        active: dict[str, int] = {}
        for pod in pods:
            node = pod["spec"].get("nodeName")
            phase = (pod.get("status") or {}).get("phase")
            if node in self.nodes and phase not in ("Succeeded", "Failed"):
                active[node] = active.get(node, 0) + 1
        now = time.monotonic()
        for node in list(self.nodes.values()):
            pool = pools.get(node.pool)
            if pool is None or pool["metadata"].get("deletionTimestamp"):
                self.events.append(f"pool {node.pool} deleted: removing {node.name}")
                self._remove(node)
                continue
            if active.get(node.name):
                node.empty_since = None
                continue
            node.empty_since = node.empty_since or now
            after = seconds((pool["spec"].get("disruption") or {}).get("consolidateAfter", "0s"))
            if after is not None and now - node.empty_since >= after * self.time_scale:
                self.events.append(f"consolidated empty node {node.name}")
                self._remove(node)

    def _remove(self, node: SimNode) -> None:
        with contextlib.suppress(Exception):
            self.core.delete_node(node.name)
        self._terminate(node)

    def _terminate(self, node: SimNode) -> None:
        self.nodes.pop(node.name, None)
        with contextlib.suppress(Exception):
            self.ec2.terminate_instances(InstanceIds=[node.name])

    # ------------------------------------------------------------------ kubelet

    def _kubelet(self, pod: dict) -> None:
        node = self.nodes.get(pod["spec"].get("nodeName") or "")
        if node is None:
            return
        meta, uid = pod["metadata"], pod["metadata"]["uid"]
        if meta.get("deletionTimestamp"):
            run = self.running.pop(uid, None)
            if run is not None and run.process.poll() is None:
                run.process.kill()
            with contextlib.suppress(Exception):
                self.core.delete_namespaced_pod(
                    meta["name"], meta["namespace"], grace_period_seconds=0
                )
            return
        phase = (pod.get("status") or {}).get("phase")
        if uid in self.running or phase in ("Running", "Succeeded", "Failed"):
            return
        self._start(pod, node)

    def _start(self, pod: dict, node: SimNode) -> None:
        meta = pod["metadata"]
        container = pod["spec"]["containers"][0]
        sandbox = Path(tempfile.mkdtemp(prefix=f"pod-{meta['name']}-"))
        mounts = self._volumes(pod, container, sandbox)
        needs = pod_requests(pod)
        fakes.node_tools(
            sandbox / "bin",
            self.fixtures,
            node.instance.gpu_name,
            int(needs.get(GPU, 0)),
            int(needs.get(EFA, 0)) if node.efa else 0,
        )
        argv = [
            self._mapped(arg, mounts)
            for arg in (container.get("command") or []) + (container.get("args") or [])
        ]
        env = self._env(pod, container)
        if "MASTER_ADDR" in env:
            # Every "node" is this machine and there is no cluster DNS: rank 0 listens on
            # loopback, at a port of this Job's own.
            job = (meta.get("labels") or {}).get("batch.kubernetes.io/job-name", meta["name"])
            env["MASTER_ADDR"] = "127.0.0.1"
            env["MASTER_PORT"] = str(
                20000 + int(hashlib.sha1(job.encode()).hexdigest(), 16) % 20000
            )
        env.update(
            PATH=f"{sandbox / 'bin'}:/usr/bin:/bin",
            HOME=str(sandbox / "home"),
            HOSTNAME=meta["name"],
            TERMINATION_LOG=str(sandbox / "termination-log"),
        )
        (sandbox / "home").mkdir()
        log = (sandbox / "container.log").open("w")
        started = dt.datetime.now(dt.UTC)
        process = subprocess.Popen(argv, cwd=sandbox, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.running[meta["uid"]] = Running(process, sandbox, started, log)
        status = {
            "phase": "Running",
            "hostIP": "10.0.0.10",
            "podIP": "10.0.0.11",
            "startTime": started.isoformat(),
            "conditions": [
                {
                    "type": "Initialized",
                    "status": "True",
                    "lastTransitionTime": started.isoformat(),
                },
                {"type": "Ready", "status": "True", "lastTransitionTime": started.isoformat()},
                {
                    "type": "ContainersReady",
                    "status": "True",
                    "lastTransitionTime": started.isoformat(),
                },
            ],
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container["image"],
                    "imageID": "",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": started.isoformat()}},
                }
            ],
        }
        self.core.patch_namespaced_pod_status(meta["name"], meta["namespace"], {"status": status})
        self._pods = getattr(self, "_pods", {})
        self._pods[meta["uid"]] = (meta["name"], meta["namespace"], container)

    @staticmethod
    def _env(pod: dict, container: dict) -> dict[str, str]:
        """The container's environment as the kubelet builds it: fieldRef values from the pod
        (labels, annotations, name, node), then `$(VAR)` references to earlier variables."""
        meta = pod["metadata"]
        env: dict[str, str] = {}
        for item in container.get("env") or []:
            if "valueFrom" in item:
                path = ((item["valueFrom"].get("fieldRef") or {}).get("fieldPath")) or ""
                found = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
                if found:
                    value = (meta.get(found[1]) or {}).get(found[2], "")
                else:
                    value = {
                        "metadata.name": meta.get("name", ""),
                        "metadata.namespace": meta.get("namespace", ""),
                        "spec.nodeName": pod["spec"].get("nodeName", ""),
                    }.get(path, "")
            else:
                value = re.sub(
                    r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                    lambda m: env.get(m[1], m[0]),
                    item.get("value", ""),
                )
            env[item["name"]] = value
        return env

    def _volumes(self, pod: dict, container: dict, sandbox: Path) -> dict[str, Path]:
        by_name = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        mounts = {}
        for mount in container.get("volumeMounts") or []:
            volume = by_name[mount["name"]]
            where = sandbox / "volumes" / mount["name"]
            where.mkdir(parents=True, exist_ok=True)
            if "configMap" in volume:
                config = self.core.read_namespaced_config_map(
                    volume["configMap"]["name"], pod["metadata"]["namespace"]
                )
                for key, value in (config.data or {}).items():
                    (where / key).write_text(value)
            mounts[mount["mountPath"].rstrip("/")] = where
        return mounts

    @staticmethod
    def _mapped(arg: str, mounts: dict[str, Path]) -> str:
        for path, local in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
            if arg == path or arg.startswith(path + "/"):
                return str(local) + arg[len(path) :]
        return arg

    def _finish_runs(self) -> None:
        for uid, run in list(self.running.items()):
            code = run.process.poll()
            if code is None:
                continue
            run.log.close()
            name, namespace, container = self._pods.pop(uid)
            del self.running[uid]
            path = run.sandbox / "termination-log"
            message = (
                path.read_bytes()[:TERMINATION_MESSAGE_MAX].decode(errors="replace")
                if path.exists()
                else ""
            )
            finished = dt.datetime.now(dt.UTC)
            state = {
                "terminated": {
                    "exitCode": code,
                    "reason": "Completed" if code == 0 else "Error",
                    "message": message,
                    "startedAt": run.started.isoformat(),
                    "finishedAt": finished.isoformat(),
                }
            }
            status = {
                "phase": "Succeeded" if code == 0 else "Failed",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "PodCompleted",
                        "lastTransitionTime": finished.isoformat(),
                    },
                    {
                        "type": "ContainersReady",
                        "status": "False",
                        "reason": "PodCompleted",
                        "lastTransitionTime": finished.isoformat(),
                    },
                ],
                "containerStatuses": [
                    {
                        "name": container["name"],
                        "image": container["image"],
                        "imageID": "",
                        "ready": False,
                        "started": False,
                        "restartCount": 0,
                        "state": state,
                    }
                ],
            }
            with contextlib.suppress(Exception):
                self.core.patch_namespaced_pod_status(name, namespace, {"status": status})
            self.events.append(f"{namespace}/{name} exited {code}")
            shutil.rmtree(run.sandbox, ignore_errors=True)
