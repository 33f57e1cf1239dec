"""The fleet's account-wide checks: quotas, subnet addresses, GPU zones, EKS clusters and IAM
roles, each over every stack's demands at once."""

from __future__ import annotations

import math
from collections.abc import Sequence

from core import account_apis
from core import account_checks as ac
from core.aws_errors import asking
from toe.preflight.clients import AccountChecker, bodies_data
from toe.preflight.fleet_model import (
    ADDRESSES_TITLE,
    EKS_CLUSTERS_QUOTA,
    EKS_TITLE,
    GPU_ZONES_TITLE,
    QUOTA_CODES,
    QUOTAS_TITLE,
    ROLES_TITLE,
    StackDemand,
    fitting,
    running_vcpus,
)
from toe.preflight.images import images_check, stack_images
from toe.preflight.quotas import quota_lines, said_once
from toe.preflight.verdicts import FAIL, PASS, STATUS_RANK, UNCHECKED, WARN, Check


class FleetChecks(AccountChecker):
    """The checks of a fleet checker: it sets facts and the stacks' demands."""

    def images(self, demands: Sequence[StackDemand]) -> Check:
        """Every distinct check image of the fleet asked once, naming the stacks using it."""
        users: dict[tuple[str, str], list[str]] = {}
        for d in demands:
            for key, image in stack_images(d.config):
                users.setdefault((key, image), []).append(d.stack)
        entries = [(key, image, stacks) for (key, image), stacks in users.items()]
        return images_check(entries, self.clients.registries, check_id="fleet-images")

    def quotas(self, demands: Sequence[StackDemand]) -> Check:
        used = running_vcpus(self.clients.ec2, self.lookup)
        rows, status = [], PASS
        for code in QUOTA_CODES:
            need = sum(d.vcpus(code) for d in demands)
            value = self.api.quota(code)
            row = {
                "code": code,
                "name": ac.QUOTA_NAMES[code],
                "quota": value,
                "running": used.get(code, 0),
                "fleetNeeds": need,
                "source": self.api.sources.get(code, ""),
            }
            if value is None:
                row["status"] = UNCHECKED
                row["verdict"] = f"could not check: {self.api.errors.get(code, 'unknown error')}"
            else:
                free = value - row["running"]
                fit = fitting([d.vcpus(code) for d in demands], free)
                row["attendeesFit"] = fit
                if need > free:
                    wanted = math.ceil(row["running"] + need)
                    row["status"] = FAIL
                    row["verdict"] = (
                        f"the fleet needs {need} vCPUs at once, {free:g} are free "
                        f"({value:g} quota - {row['running']} running): {fit} of "
                        f"{len(demands)} attendees fit"
                    )
                    row["fix"] = (
                        "aws service-quotas request-service-quota-increase --service-code ec2 "
                        f"--quota-code {code} --desired-value {wanted} --region {self.region}"
                    )
                else:
                    row["status"] = PASS
                    row["verdict"] = (
                        f"{need} vCPUs for the fleet fit the {free:g} free "
                        f"({value:g} quota - {row['running']} running)"
                    )
            status = max(status, row["status"], key=STATUS_RANK.__getitem__)
            rows.append(row)
        lines = quota_lines(rows)
        lines.append(
            "counted at once per stack: node groups at desired size, the Auto Mode system node, "
            "the checks' GPU nodes (toe/data/fleet.yaml)"
        )
        failing = [r for r in rows if r["status"] != PASS]
        summary = (
            said_once(failing, lambda r: r["name"])
            if failing
            else "; ".join(f"{r['name']} {r['fleetNeeds']}/{r['quota']:g}" for r in rows)
        )
        data = {"quotas": rows, **bodies_data(*(self.api.bodies.get(c) for c in QUOTA_CODES))}
        return Check("fleet-quotas", QUOTAS_TITLE, status, summary, tuple(lines), data)

    def addresses(self, demands: Sequence[StackDemand]) -> Check:
        control = self.facts.control_plane_enis
        subnets = {s.id: s for d in demands for s in d.private_subnets}
        zones: dict[str, int] = {}
        unknown = []
        for subnet in subnets.values():
            if subnet.available_ips is None:
                unknown.append(subnet.id)
            zones[subnet.az] = zones.get(subnet.az, 0) + (subnet.available_ips or 0)
        if unknown:
            return Check(
                "fleet-addresses",
                ADDRESSES_TITLE,
                UNCHECKED,
                f"could not check: EC2 gave no AvailableIpAddressCount for {', '.join(unknown)}",
            )
        # Managed node groups spread their nodes evenly over the zones; Auto Mode likewise
        # spreads over the NodeClass's subnets. Each zone carries its share of every stack.
        per_stack = [d.addresses(control) for d in demands]
        need = sum(per_stack)
        available = sum(zones.values())
        zone_need = {z: math.ceil(need / len(zones)) for z in zones}
        short = {z: zone_need[z] - free for z, free in zones.items() if zone_need[z] > free}
        per_zone_fit = min(
            (math.floor(free / (max(per_stack) / len(zones))) for free in zones.values()),
            default=0,
        )
        fit = min(fitting(per_stack, available), per_zone_fit, len(demands))
        lines = [
            f"{s.id} {s.name} {s.az} {s.cidr}: {s.available_ips} free"
            for s in sorted(subnets.values(), key=lambda s: (s.az, s.id))
        ]
        lines += [
            f"{d.stack}: {d.addresses(control)} addresses at start "
            f"(at most {d.addresses_max(control)}): "
            + ", ".join(f"{n.count} x {n.instance_type} {n.addresses}" for n in d.nodes)
            + f", control plane {control}"
            for d in demands[:3]
        ]
        if len(demands) > 3:
            lines.append(f"... and {len(demands) - 3} more stacks (--json lists each)")
        lines.append(
            "per node: VPC CNI defaults hold 2 ENIs x IPv4 per ENI on managed nodes; Auto Mode "
            "nodes a /28 prefix + 1 (toe/data/fleet.yaml)"
        )
        data = {
            "zones": zones,
            "fleetNeeds": need,
            "fleetNeedsAtMost": sum(d.addresses_max(control) for d in demands),
            "perStack": dict(zip([d.stack for d in demands], per_stack, strict=True)),
            "attendeesFit": fit,
        }
        if short:
            summary = (
                f"the fleet needs {need} addresses at start, the private subnets have {available} "
                f"free ({', '.join(f'{z}: {zones[z]}' for z in sorted(zones))}): {fit} of "
                f"{len(demands)} attendees fit"
            )
            return Check("fleet-addresses", ADDRESSES_TITLE, FAIL, summary, tuple(lines), data)
        at_most = data["fleetNeedsAtMost"]
        if at_most > available:
            summary = (
                f"{need} addresses at start fit the {available} free, but the nodes can grow to "
                f"{at_most} as pods take addresses"
            )
            return Check("fleet-addresses", ADDRESSES_TITLE, WARN, summary, tuple(lines), data)
        summary = f"{need} addresses at start (at most {at_most}) fit the {available} free"
        return Check("fleet-addresses", ADDRESSES_TITLE, PASS, summary, tuple(lines), data)

    def gpu_zones(self, demands: Sequence[StackDemand]) -> Check:
        zones = sorted({s.az for d in demands for s in d.private_subnets})
        offered: dict[str, set[str]] = {}
        for d in demands:
            for name, where in d.gpu_offered.items():
                offered.setdefault(name, set()).update(where)
        per_zone = {z: sorted(n for n, where in offered.items() if z in where) for z in zones}
        lines = [f"{z}: {', '.join(names) or 'none'}" for z, names in per_zone.items()]
        data = {"zones": per_zone}
        with_gpus = [z for z, names in per_zone.items() if names]
        if not with_gpus:
            summary = "no GPU type the pools admit is offered in the private subnets' zones"
            return Check("fleet-gpu-zones", GPU_ZONES_TITLE, FAIL, summary, tuple(lines), data)
        if len(with_gpus) == 1:
            summary = (
                f"only {with_gpus[0]} offers the pools' GPU types: every attendee's GPU node "
                "lands there, and one zone's shortage stops them all"
            )
            return Check("fleet-gpu-zones", GPU_ZONES_TITLE, WARN, summary, tuple(lines), data)
        summary = f"{len(offered)} GPU types offered across {', '.join(with_gpus)}"
        return Check("fleet-gpu-zones", GPU_ZONES_TITLE, PASS, summary, tuple(lines), data)

    def eks_clusters(self, demands: Sequence[StackDemand]) -> Check:
        existing = set()
        with asking("EKS"):
            for page in self.clients.eks.get_paginator("list_clusters").paginate():
                existing.update(page["clusters"])
        quota, source = account_apis.service_quota(self.clients.quotas, "eks", EKS_CLUSTERS_QUOTA)
        names = [d.cluster_name for d in demands]
        new = [n for n in names if n not in existing]
        lines = [
            f"{len(existing)} EKS clusters in {self.region} now; {len(new)} of the fleet's "
            f"{len(names)} are new",
            f"Clusters quota ({EKS_CLUSTERS_QUOTA}): {quota:g} (Service Quotas, {source})",
        ]
        data = {"existing": len(existing), "new": len(new), "quota": quota, "source": source}
        if len(existing) + len(new) > quota:
            wanted = len(existing) + len(new)
            summary = (
                f"{len(existing)} clusters + {len(new)} new > the quota of {quota:g}: "
                f"{max(0, int(quota) - len(existing))} of {len(new)} new clusters fit"
            )
            lines.append(
                "fix: aws service-quotas request-service-quota-increase --service-code eks "
                f"--quota-code {EKS_CLUSTERS_QUOTA} --desired-value {wanted} --region {self.region}"
            )
            return Check("fleet-eks-clusters", EKS_TITLE, FAIL, summary, tuple(lines), data)
        summary = f"{len(existing)} clusters + {len(new)} new within the quota of {quota:g}"
        return Check("fleet-eks-clusters", EKS_TITLE, PASS, summary, tuple(lines), data)

    def iam_roles(self, demands: Sequence[StackDemand]) -> Check:
        with asking("IAM"):
            summary_map = self.clients.iam.get_account_summary()["SummaryMap"]
        roles, quota = summary_map.get("Roles"), summary_map.get("RolesQuota")
        if roles is None or quota is None:
            return Check(
                "fleet-iam-roles", ROLES_TITLE, UNCHECKED, "could not check: no Roles/RolesQuota"
            )
        need = self.facts.iam_roles_per_stack * len(demands)
        lines = [
            f"IAM GetAccountSummary: {roles} roles, quota {quota}",
            f"{self.facts.iam_roles_per_stack} roles per stack "
            f"({self.facts.sources['iamRolesPerStack']})",
        ]
        data = {"roles": roles, "quota": quota, "fleetNeeds": need}
        if roles + need > quota:
            fit = max(0, (quota - roles) // self.facts.iam_roles_per_stack)
            summary = f"{roles} roles + {need} for the fleet > the quota of {quota}: {fit} fit"
            return Check("fleet-iam-roles", ROLES_TITLE, FAIL, summary, tuple(lines), data)
        summary = f"{roles} roles + {need} for the fleet within the quota of {quota}"
        return Check("fleet-iam-roles", ROLES_TITLE, PASS, summary, tuple(lines), data)
