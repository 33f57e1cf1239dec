"""The rehearsal's judge of what Karpenter did: read from the API server, the instance types
Karpenter was offered, and the kubelet stand-in's history (rehearsal/kubelet.py).

It is an oracle: it imports nothing from the program's rules (core/, components/), so a rule the
program gets wrong cannot make it agree. Requirements are read as Kubernetes defines node
selector operators (In, NotIn, Exists, DoesNotExist, Gt, Lt: "Assign Pods to Nodes", Node
affinity) over the type's labels and offerings.
"""

from __future__ import annotations

from rehearsal.kubelet import quantity


def _admits(requirement: dict, value: str | None) -> bool:
    op, values = requirement["operator"], [str(v) for v in requirement.get("values") or []]
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if value is None:
        return False
    return float(value) > float(values[0]) if op == "Gt" else float(value) < float(values[0])


def allocatable(offered_type: dict) -> dict[str, float]:
    """Capacity less kube-reserved, system-reserved and the eviction threshold, as Karpenter
    computes an instance type's allocatable (pkg/cloudprovider/types.go, Allocatable)."""
    room = {k: quantity(v) for k, v in offered_type["capacity"].items()}
    for part in offered_type["overhead"].values():
        for key, value in part.items():
            room[key] = room.get(key, 0.0) - quantity(value)
    return room


def admitted(pool: dict, offered_type: dict) -> list[str]:
    """Why the pool's requirements and limits refuse a type (empty: it admits it) — limits read
    for one node of the type in an otherwise empty pool."""
    template = pool["spec"]["template"]["spec"]
    labels = {
        **offered_type["labels"],
        "node.kubernetes.io/instance-type": offered_type["name"],
        "karpenter.sh/nodepool": pool["metadata"]["name"],
    }
    offers = offered_type["offerings"]
    problems = []
    for requirement in template.get("requirements") or []:
        key = requirement["key"]
        if key == "topology.kubernetes.io/zone":
            ok = any(_admits(requirement, o["zone"]) for o in offers)
        elif key == "karpenter.sh/capacity-type":
            ok = any(_admits(requirement, o["capacityType"]) for o in offers)
        else:
            ok = _admits(requirement, labels.get(key))
        if not ok:
            problems.append(f"{key} {requirement['operator']} {requirement.get('values')}")
    capacity = {k: quantity(v) for k, v in offered_type["capacity"].items()}
    for key, limit in (pool["spec"].get("limits") or {}).items():
        if capacity.get(key, 0.0) > quantity(limit):
            problems.append(f"limit {key}={limit} < {offered_type['capacity'][key]}")
    return problems


def cheapest(pool: dict, offered: dict, requests: dict[str, float]) -> list[dict]:
    """The offered types the pool admits and the requests fit, cheapest first."""
    fits = [
        t
        for t in offered["types"]
        if not admitted(pool, t)
        and all(allocatable(t).get(k, 0.0) >= v for k, v in requests.items())
    ]
    return sorted(fits, key=lambda t: (min(o["price"] for o in t["offerings"]), t["name"]))


def choice_problems(pool: dict, offered: dict, requests: dict[str, float], chosen: str) -> list:
    """What is wrong with Karpenter launching `chosen` for these requests in this pool."""
    by_name = {t["name"]: t for t in offered["types"]}
    if chosen not in by_name:
        return [f"{chosen} was never offered"]
    problems = [f"{chosen}: {p}" for p in admitted(pool, by_name[chosen])]
    best = cheapest(pool, offered, requests)
    if not best:
        return [*problems, "no offered type fits"]
    price = min(o["price"] for o in by_name[chosen]["offerings"])
    floor = min(o["price"] for o in best[0]["offerings"])
    if price > floor:
        problems.append(f"{chosen} costs {price}/h; {best[0]['name']} fits at {floor}/h")
    return problems


def empty_intervals(history: list[dict], pool: str) -> list[dict]:
    """For each node of the pool that went: how long after its last pod ended it went."""
    ended: dict[str, float] = {}
    launched: dict[str, dict] = {}
    found = []
    for event in history:
        name = event.get("node")
        if event["event"] == "node-launched" and event.get("pool") == pool:
            launched[name] = event
        elif event["event"] in ("pod-exited", "pod-deleted"):
            ended[name] = event["t"]
        elif event["event"] == "node-gone" and name in launched and name in ended:
            found.append(
                {
                    "node": name,
                    "instanceType": launched[name]["instanceType"],
                    "emptyForSeconds": round(event["t"] - ended[name], 1),
                    "goneAt": event["t"],
                }
            )
    return found


def gone_at(history: list[dict], pool: str) -> dict[str, float]:
    """When each node of the pool went (node -> time)."""
    pools = {e["node"]: e.get("pool") for e in history if e["event"] == "node-launched"}
    return {
        e["node"]: e["t"]
        for e in history
        if e["event"] == "node-gone" and pools.get(e["node"]) == pool
    }
