"""The per-stack checks: network, node groups, GPU types, quotas, images, EKS, IAM."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core import account_checks as ac
from core import instance_types as it
from core.eks_versions import (
    load_eks_table,
)
from core.problems import ConfigError, Problem, set_command
from toe.preflight.clients import AccountChecker, bodies_data
from toe.preflight.eks import _describe_cluster_version, eks_support
from toe.preflight.iam import simulate_caller
from toe.preflight.images import images_check, stack_images
from toe.preflight.quotas import (
    QUOTAS_TITLE,
    _node_group_vcpus,
    _short,
    _value,
    quota_lines,
    quota_row,
    said_once,
)
from toe.preflight.verdicts import FAIL, PASS, STATUS_RANK, UNCHECKED, WARN, Check

GPU_TITLE = "GPU types the NodePool can launch"


class Checker(AccountChecker):
    """Runs the checks in order; each reads what the earlier ones found."""

    def __init__(
        self, stack, region, clients, identity, today, project_dir, eks_table, overrides
    ) -> None:
        super().__init__(region, clients, project_dir)
        self.overrides = overrides
        self.stack = stack
        self.identity = identity
        self.today = today
        self.eks_table = eks_table

    def all(self) -> tuple[list[Check], list[it.InstanceFacts]]:
        from toe.stackfiles import StackFileError, read_config

        try:
            cfg = read_config(self.stack, self.lookup, self.project_dir, overrides=self.overrides)
        except StackFileError as err:
            bad = Check("config", "Stack configuration", FAIL, str(err))
            return [bad, self.guard("iam", "IAM permissions of the caller", self.iam)], []
        except ConfigError as err:
            bad = _problem_check("config", "Stack configuration", err.problems)
            return [bad, self.guard("iam", "IAM permissions of the caller", self.iam)], []
        checks = []
        network = self.guard("network", "VPC and subnets", self.network, cfg)
        network, facts = network if isinstance(network, tuple) else (network, None)
        checks.append(network)
        launchable: list[it.InstanceFacts] = []
        if facts is None:
            skipped = "not checked: the stack's network could not be resolved"
            checks.append(Check("node-groups", "Node-group instance types", WARN, skipped))
            checks.append(Check("gpu-types", "GPU types the NodePool can launch", WARN, skipped))
            checks.append(
                self.guard("quotas", QUOTAS_TITLE, self.quotas, cfg, [], [], gpu_known=False)
            )
        else:
            try:
                offered = self.api.offerings(facts.private_azs)
            except Exception as err:
                from toe.guidance import aws_error

                why, data = f"could not check: {aws_error(err, 'EC2')}", bodies_data(err)
                checks.append(
                    Check("node-groups", "Node-group instance types", UNCHECKED, why, (), data)
                )
                checks.append(Check("gpu-types", GPU_TITLE, UNCHECKED, why, (), data))
                checks.append(
                    self.guard("quotas", QUOTAS_TITLE, self.quotas, cfg, [], [], gpu_known=False)
                )
            else:
                checks.append(
                    self.guard(
                        "node-groups",
                        "Node-group instance types",
                        self.node_groups,
                        cfg,
                        facts.private_azs,
                        offered,
                    )
                )
                gpu = self.guard("gpu-types", GPU_TITLE, self.gpu_types, cfg, offered)
                gpu_check, launchable, candidates = gpu if isinstance(gpu, tuple) else (gpu, [], [])
                checks.append(gpu_check)
                checks.append(
                    self.guard("quotas", QUOTAS_TITLE, self.quotas, cfg, launchable, candidates)
                )
        checks.append(self.images(cfg))
        checks.append(
            self.guard(
                "eks-version", "EKS version support", self.eks_version, cfg.kubernetes_version
            )
        )
        checks.append(self.guard("iam", "IAM permissions of the caller", self.iam))
        return checks, launchable

    # 7 ------------------------------------------------------------------------------------
    def images(self, cfg) -> Check:
        entries = [(key, image, ()) for key, image in stack_images(cfg)]
        return images_check(entries, self.clients.registries, stack=self.stack)

    # 1 ------------------------------------------------------------------------------------
    def network(self, cfg):
        title = "VPC and subnets"
        facts, problems = self.find_network(cfg)
        if facts is None:
            return _problem_check("network", title, problems), None
        vpc = facts.vpc
        lines = [f"VPC {vpc.id} ({vpc.name}, {vpc.cidr})"]
        lines += [f"private {s.id} {s.name} {s.az} {s.cidr}" for s in facts.private]
        lines += [f"public {s.id} {s.name} {s.az} {s.cidr}" for s in facts.public]
        public = (
            f"{len(facts.public)} public"
            if facts.public
            else "no public subnets (internal-only load balancers)"
        )
        summary = (
            f"{vpc.id}: {len(facts.private)} private subnets in "
            f"{', '.join(facts.private_azs)}; {public}"
        )
        data = {
            "vpc": {"id": vpc.id, "name": vpc.name, "cidr": vpc.cidr},
            "private": [_subnet(s) for s in facts.private],
            "public": [_subnet(s) for s in facts.public],
            "privateAzs": list(facts.private_azs),
        }
        return Check("network", title, PASS, summary, tuple(lines), data), facts

    # 2 ------------------------------------------------------------------------------------
    def node_groups(self, cfg, azs: Sequence[str], offered) -> Check:
        title = "Node-group instance types"
        problems = ac.node_group_offering_problems(cfg.node_groups, offered, azs, cfg.region)
        lines, rows = [], []
        for index, group in enumerate(cfg.node_groups):
            facts = self.lookup(group.instance_type)
            arch = facts.kubernetes_arch if facts else "unknown"
            ami_arch = it.ami_arch(group.ami_type)
            zones = sorted(offered.get(group.instance_type, frozenset()))
            lines.append(
                f"{group.name}: {group.instance_type} {arch}, AMI {group.ami_type} "
                f"({ami_arch or 'custom'}), offered in {', '.join(zones) or 'no private zone'}"
            )
            rows.append(
                {
                    "name": group.name,
                    "instanceType": group.instance_type,
                    "arch": arch,
                    "amiType": group.ami_type,
                    "amiArch": ami_arch,
                    "offeredIn": zones,
                }
            )
            if ami_arch not in (None, arch):
                problems.append(
                    Problem(
                        f"nodeGroups[{index}].amiType",
                        f"{group.ami_type} is for {ami_arch} but {group.instance_type} is {arch}",
                        set_command(f"nodeGroups[{index}].amiType", it.derive_ami_type(facts)),
                    )
                )
        if problems:
            return _problem_check("node-groups", title, problems, lines, {"groups": rows})
        summary = (
            f"{', '.join(f'{g.instance_type} ({g.arch})' for g in cfg.node_groups)} offered in "
            f"every private zone ({', '.join(azs)}); AMI types match"
        )
        return Check("node-groups", title, PASS, summary, tuple(lines), {"groups": rows})

    # 3 ------------------------------------------------------------------------------------
    def gpu_types(self, cfg, offered):
        title = GPU_TITLE
        pool, checks = cfg.gpu_pool, cfg.checks
        candidates = ac.gpu_candidates(pool, offered)
        described = self.api.describe(candidates)
        launchable = sorted(
            (f for f in described.values() if it.pool_can_launch(pool, f)),
            key=lambda f: (it.family(f.instance_type), it.size_rank(f.instance_type)),
        )
        efa = [f for f in launchable if f.efa_supported and f.has_nvidia_gpu]
        data = {
            "candidates": len(candidates),
            "launchable": [f.instance_type for f in launchable],
            "efaCapable": [f.instance_type for f in efa],
            "query": _cli_query(cfg.region, pool),
        }
        # The types themselves are the report's GPU table; here only how to ask the same.
        lines = [f"same question from the CLI: {data['query']}"]
        blocked = ac.gpu_capacity_problems(pool, cfg.region, candidates, described.get, {})
        if blocked:
            return _problem_check("gpu-types", title, blocked, lines, data), launchable, candidates
        status, notes = PASS, []
        names = {f.instance_type for f in launchable}
        if checks.efa_instance_type and checks.efa_instance_type not in names:
            status = FAIL if checks.efa_required else WARN
            notes.append(
                f"efaInstanceType {checks.efa_instance_type} is not one the pool can launch in "
                "the private subnets' zones: the EFA check's pod cannot be scheduled"
            )
        if not efa:
            status = FAIL if checks.efa_required else max(status, WARN, key=STATUS_RANK.__getitem__)
            notes.append(
                "no EFA-capable GPU type: the EFA check will report EFA unavailable"
                + (" and efaRequired fails `pulumi up`" if checks.efa_required else "")
            )
        summary = (
            f"{len(launchable)} GPU types launchable in {', '.join(sorted(_zones(offered)))} "
            f"({sum(f.has_nvidia_gpu for f in launchable)} NVIDIA), {len(efa)} EFA-capable"
            + (f": {', '.join(f.instance_type for f in efa[:6])}" if efa else "")
            + ("…" if len(efa) > 6 else "")
        )
        if notes:
            summary = "; ".join(notes) + f" ({summary})"
        check = Check("gpu-types", title, status, summary, tuple(lines), data)
        return check, launchable, candidates

    # 4 ------------------------------------------------------------------------------------
    def quotas(
        self, cfg, launchable: Sequence[it.InstanceFacts], candidates, *, gpu_known: bool = True
    ) -> Check:
        codes = (*ac.GPU_QUOTAS, ac.QUOTA_STANDARD)
        values = {code: self.api.quota(code) for code in codes}
        node_need = _node_group_vcpus(cfg.node_groups, self.lookup)
        described = {f.instance_type: f for f in launchable}
        blocked = [
            p
            for p in ac.gpu_capacity_problems(
                cfg.gpu_pool, cfg.region, candidates, described.get, values
            )
            if p.key.startswith("quota ")
        ]
        rows = [
            quota_row(
                code,
                values[code],
                self.api.errors.get(code),
                self.api.sources.get(code, ""),
                pool=cfg.gpu_pool,
                launchable=launchable,
                efa_type=self.lookup(cfg.checks.efa_instance_type)
                if cfg.checks.efa_instance_type
                else None,
                efa_required=cfg.checks.efa_required,
                node_need=node_need,
                blocked=blocked,
                gpu_known=gpu_known,
                distributed=cfg.checks.distributed,
            )
            for code in codes
        ]
        status = max((r["status"] for r in rows), key=STATUS_RANK.__getitem__)
        lines = quota_lines(rows)
        lines.append(
            "quotas limit running vCPUs in the region: instances already running count against them"
        )
        lines += [f"fix: {p.fix}" for p in blocked]
        summary = "; ".join(
            f"{_short(r['code'])} {_value(r['value'])}" + ("" if r["status"] == PASS else " ⚠")
            for r in rows
        )
        failing = [r for r in rows if r["status"] != PASS]
        if failing:
            summary = said_once(failing, lambda r: _short(r["code"]))
        data = {"quotas": rows, **bodies_data(*(self.api.bodies.get(code) for code in codes))}
        return Check("quotas", QUOTAS_TITLE, status, summary, tuple(lines), data)

    # 5 ------------------------------------------------------------------------------------
    def eks_version(self, version: str) -> Check:
        answer, source = None, ""
        if self.clients.eks is not None and hasattr(self.clients.eks, "describe_cluster_versions"):
            answer, source = _describe_cluster_version(self.clients.eks, version)
        return eks_support(version, self.today, load_eks_table(self.eks_table), answer, source)

    # 6 ------------------------------------------------------------------------------------
    def iam(self) -> Check:
        return simulate_caller(self.clients.iam, self.identity.get("Arn", ""))


def _problem_check(
    check_id: str,
    title: str,
    problems: Sequence[Problem],
    lines: Sequence[str] = (),
    data: Mapping[str, Any] | None = None,
) -> Check:
    """A failed check whose summary is the program's own problem text (same words as preview)."""
    evidence = (*lines, *(f"fix: {p.fix}" for p in problems))
    body = dict(data or {})
    body["problems"] = [{"key": p.key, "message": p.message, "fix": p.fix} for p in problems]
    if problems and all(p.unchecked for p in problems):
        summary = "could not check: " + "; ".join(p.message for p in problems)
        return Check(check_id, title, UNCHECKED, summary, evidence, body)
    summary = "; ".join(f"{p.key}: {p.message}" for p in problems)
    return Check(check_id, title, FAIL, summary, evidence, body)


def _subnet(s) -> dict:
    return {"id": s.id, "name": s.name, "az": s.az, "cidr": s.cidr}


def _zones(offered: Mapping[str, frozenset[str]]) -> set[str]:
    return {z for zones in offered.values() for z in zones}


def _cli_query(region: str, pool) -> str:
    return (
        f"aws ec2 describe-instance-types --region {region} --filters "
        f"Name=instance-type,Values={','.join(ac.gpu_patterns(pool))} "
        "Name=processor-info.supported-architecture,Values=x86_64 "
        "--query 'InstanceTypes[?GpuInfo].[InstanceType,GpuInfo.Gpus[0].Name,"
        "GpuInfo.Gpus[0].Count,GpuInfo.Gpus[0].MemoryInfo.SizeInMiB,VCpuInfo.DefaultVCpus,"
        "NetworkInfo.EfaSupported]' --output table"
    )
