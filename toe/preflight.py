"""Preflight: read-only checks that an AWS account can take a workshop stack, before `pulumi up`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from core import account_checks as ac
from core import instance_types as it
from core.eks_versions import (
    EKS_VERSIONS,
    HOURS_PER_MONTH,
    TABLE_NAME,
    EksTable,
    VersionDates,
    load_eks_table,
)
from core.iam import parse_principal
from core.problems import ConfigError, Problem, set_command
from toe.stackfiles import stack_config

PASS, WARN, UNCHECKED, FAIL = "pass", "warn", "unchecked", "fail"
_RANK = {PASS: 0, WARN: 1, UNCHECKED: 2, FAIL: 3}
EXIT_PASS, EXIT_FAIL, EXIT_UNCHECKED = 0, 1, 2
# Registries that limit anonymous pulls: Docker Hub allows 10 an hour per IPv4 address (FACTS.md,
# "Workshop-scale facts"); attendees behind one NAT share one address.
DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# Standard support ending this close to today is worth a warning: the workshop may run later.
SOON_DAYS = 30

GPU_TITLE = "GPU types the NodePool can launch"
QUOTAS_TITLE = "EC2 on-demand vCPU quotas"
# What `pulumi up` does with the caller's identity: the cluster and its roles, node groups,
# access entries and add-ons, security groups and launch templates, subnet tags, nodes.
IAM_ACTIONS = (
    "eks:CreateCluster",
    "eks:DescribeCluster",
    "eks:TagResource",
    "eks:CreateNodegroup",
    "eks:CreateAccessEntry",
    "eks:AssociateAccessPolicy",
    "eks:CreateAddon",
    "iam:CreateRole",
    "iam:AttachRolePolicy",
    "iam:PassRole",
    "iam:CreateOpenIDConnectProvider",
    "ec2:CreateSecurityGroup",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateTags",
    "ec2:RunInstances",
    "ec2:DescribeSubnets",
)


@dataclass(frozen=True)
class Check:
    """One check's verdict with the evidence behind it (lines for people, data for --json)."""

    id: str
    title: str
    status: str
    summary: str
    evidence: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "data": _jsonable(self.data),
        }


class Verdicts:
    """The overall status, exit code and look-up of a report's `checks` (one stack or a fleet)."""

    checks: tuple[Check, ...]

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=_RANK.__getitem__, default=PASS)

    @property
    def exit_code(self) -> int:
        """0 pass (warnings included), 1 a check failed, 2 a check could not be run."""
        return {FAIL: EXIT_FAIL, UNCHECKED: EXIT_UNCHECKED}.get(self.status, EXIT_PASS)

    def check(self, check_id: str) -> Check:
        return next(c for c in self.checks if c.id == check_id)


@dataclass(frozen=True)
class Report(Verdicts):
    stack: str
    region: str
    account: str
    caller: str
    checks: tuple[Check, ...]
    gpu_types: tuple[it.InstanceFacts, ...] = ()

    def to_json(self) -> dict:
        return {
            "stack": self.stack,
            "region": self.region,
            "account": self.account,
            "caller": self.caller,
            "status": self.status,
            "exitCode": self.exit_code,
            "checks": [c.to_json() for c in self.checks],
            "gpuTypes": [gpu_row(f) for f in self.gpu_types],
        }


class CouldNotCheck(Exception):
    """The account could not be asked at all (no or bad credentials, no endpoint)."""


@dataclass(frozen=True)
class Clients:
    """The boto3 clients the checks use; tests pass their own (moto, Stubber)."""

    ec2: Any
    quotas: Any
    iam: Any
    sts: Any
    eks: Any = None

    @classmethod
    def from_session(cls, session, region: str) -> Clients:
        from botocore.config import Config

        # Bounded: a check that cannot get an answer says so instead of hanging.
        config = Config(
            connect_timeout=5, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"}
        )
        return cls(
            **{
                name: session.client(service, region_name=region, config=config)
                for name, service in (
                    ("ec2", "ec2"),
                    ("quotas", "service-quotas"),
                    ("iam", "iam"),
                    ("sts", "sts"),
                    ("eks", "eks"),
                )
            }
        )


def gpu_row(f: it.InstanceFacts) -> dict:
    return {
        "instanceType": f.instance_type,
        "gpuModel": " ".join(part for part in (f.gpu_manufacturer, f.gpu_name) if part),
        "gpuCount": f.gpu_count,
        "gpuMemoryGiB": round(f.gpu_memory_mib / 1024, 1),
        "vcpus": f.vcpus,
        "memoryGiB": round(f.memory_mib / 1024, 1),
        "efa": f.efa_supported,
    }


# ---------------------------------------------------------------------------- entry point


def run(
    stack: str = "dev",
    *,
    region: str | None = None,
    clients: Clients | None = None,
    today: date | None = None,
    project_dir: Path | None = None,
    eks_table: Path = EKS_VERSIONS,
    overrides: Mapping[str, Any] | None = None,
) -> Report:
    """Run every check against the account the credentials reach; raise CouldNotCheck if none.

    `overrides` change stack configuration values as `pulumi config set` would (short keys).
    """
    from toe import guidance
    from toe.stackfiles import StackFileError, resolve_dir

    project_dir = resolve_dir(project_dir)
    if not (project_dir / f"Pulumi.{stack}.yaml").exists():
        raise CouldNotCheck(guidance.unknown_stack(stack, project_dir))
    try:
        region = region or stack_config(stack, project_dir).get("aws:region")
    except StackFileError as err:
        raise CouldNotCheck(str(err)) from None
    if not region:
        raise CouldNotCheck(f"no region: stack {stack!r} sets no aws:region and --region is absent")
    clients, identity = connect(region, clients)
    today = today or datetime.now(UTC).date()
    overrides = {**(overrides or {}), "aws:region": region}
    checker = Checker(stack, region, clients, identity, today, project_dir, eks_table, overrides)
    checks = checker.all()
    return Report(
        stack=stack,
        region=region,
        account=identity.get("Account", ""),
        caller=identity.get("Arn", ""),
        checks=tuple(checks[0]),
        gpu_types=tuple(checks[1]),
    )


def connect(region: str, clients: Clients | None = None) -> tuple[Clients, Mapping[str, str]]:
    """The clients (from the ambient credentials unless given) and who they are; CouldNotCheck
    when there are no credentials or they do not work: then nothing else can be asked either."""
    from toe import guidance

    if clients is None:
        import boto3

        session = boto3.Session(region_name=region)
        if session.get_credentials() is None:
            raise CouldNotCheck(guidance.NO_CREDENTIALS)
        clients = Clients.from_session(session, region)
    try:
        identity = clients.sts.get_caller_identity()
    except Exception as err:
        why = guidance.aws_error(err, "STS")
        raise CouldNotCheck(f"the credentials do not work: {why}") from err
    return clients, identity


def guarded(check_id: str, title: str, run, *args, **kwargs) -> Any:
    """Run one check; a failure to ask AWS becomes "could not check: <AWS's words>" (one line;
    an answer that was not AWS's error document is kept whole in the data, for --verbose)."""
    from toe.guidance import aws_error

    try:
        return run(*args, **kwargs)
    except Exception as err:  # degrade, never crash: the other checks still run
        summary = f"could not check: {aws_error(err)}"
        return Check(check_id, title, UNCHECKED, summary, (), bodies_data(err))


def bodies_data(*errors: BaseException | str | None) -> dict[str, Any]:
    """`{"responseBodies": [...]}` with each distinct whole answer of `errors` (exceptions, or
    bodies already taken from them) that was not AWS's error document; {} when there is none."""
    from core.aws_errors import response_body

    bodies: list[str] = []
    for err in errors:
        body = response_body(err) if isinstance(err, BaseException) else err
        if body is not None and body not in bodies:
            bodies.append(body)
    return {"responseBodies": bodies} if bodies else {}


class Checker:
    """Runs the checks in order; each reads what the earlier ones found."""

    def __init__(
        self, stack, region, clients, identity, today, project_dir, eks_table, overrides
    ) -> None:
        self.overrides = overrides
        self.stack = stack
        self.region = region
        self.clients = clients
        self.identity = identity
        self.today = today
        self.project_dir = project_dir
        self.eks_table = eks_table
        self.api = ac.Boto3AccountApi(clients.ec2, clients.quotas)
        self.lookup = cache(it.boto3_lookup(clients.ec2))

    guard = staticmethod(guarded)

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
        title = "Check images"
        images = {"gpuCheckImage": cfg.checks.gpu_image, "efaCheckImage": cfg.checks.efa_image}
        lines = [
            f"{key}: {image} (registry {registry_host(image)})" for key, image in images.items()
        ]
        hub = [key for key, image in images.items() if registry_host(image) in DOCKER_HUB_HOSTS]
        if hub:
            return Check(
                "images",
                title,
                WARN,
                f"{', '.join(hub)} pulls from Docker Hub, which allows 10 anonymous pulls an hour "
                "per IPv4 address: attendees behind one NAT hit it and their Jobs wait out "
                "their deadline in ImagePullBackOff; use nvcr.io/nvidia/cuda (or ECR)",
                tuple(lines),
                {"images": images, "dockerHub": hub},
            )
        return Check(
            "images",
            title,
            PASS,
            "no check image pulls from Docker Hub",
            tuple(lines),
            {"images": images},
        )

    # 1 ------------------------------------------------------------------------------------
    def network(self, cfg):
        from core.network_lookup import Boto3NetworkApi, find_network

        title = "VPC and subnets"
        facts, problems = find_network(
            Boto3NetworkApi(self.clients.ec2),
            stack=cfg.stack,
            region=cfg.region,
            vpc_name=cfg.vpc_name,
            private_pattern=cfg.private_subnet_pattern,
            public_pattern=cfg.public_subnet_pattern,
        )
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
            status = FAIL if checks.efa_required else max(status, WARN, key=_RANK.__getitem__)
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
        status = max((r["status"] for r in rows), key=_RANK.__getitem__)
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


def registry_host(image: str) -> str:
    """The registry an image reference pulls from (`nvidia/cuda:x` is Docker Hub's docker.io)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


# ---------------------------------------------------------------------------- quotas


def quota_row(
    code: str,
    value: float | None,
    error: str | None,
    source: str,
    *,
    pool,
    launchable: Sequence[it.InstanceFacts],
    efa_type: Any,
    efa_required: bool,
    node_need: Mapping[str, tuple[int, int]],
    blocked: Sequence[Problem],
    gpu_known: bool = True,
    distributed: Any = None,
) -> dict:
    """One quota's verdict: GPU quotas against the pool and the Jobs, standard against groups."""
    desired, maximum = node_need.get(code, (0, 0))
    row = {"code": code, "name": ac.QUOTA_NAMES[code], "value": value, "source": source}

    def verdict(status: str, text: str) -> dict:
        return {**row, "status": status, "verdict": text}

    if value is None:
        return verdict(UNCHECKED, f"could not check: {error or 'unknown error'}")
    if code == ac.QUOTA_STANDARD:
        if value < desired:
            return verdict(
                FAIL,
                f"{value:g} vCPUs < {desired} the node groups need at their desired size",
            )
        if value < maximum:
            return verdict(
                WARN, f"{value:g} vCPUs covers the desired {desired} but not the maximum {maximum}"
            )
        return verdict(PASS, f"{value:g} vCPUs ≥ {desired} for the node groups (desired)")

    kind = "G and VT" if code == ac.QUOTA_G_VT else "P"
    if not gpu_known:
        return verdict(WARN, f"{value:g} vCPUs; not compared: the GPU types need the network")
    if "on-demand" not in pool.capacity_types:
        return verdict(WARN, "the pool launches no on-demand nodes; spot quotas are not checked")
    mine = [f for f in launchable if f.has_nvidia_gpu and ac.quota_code(f.instance_type) == code]
    if not mine:
        return verdict(PASS, f"{value:g} vCPUs; not used (the pool launches no {kind} type here)")
    smallest = min(mine, key=lambda f: (f.vcpus, f.instance_type))
    need = desired + smallest.vcpus
    if distributed is not None and distributed.enabled:
        # Its two nodes run beside the GPU check's: the efaInstanceType with EFA, else (about)
        # the smallest type the pool admits.
        node = efa_type if distributed.efa and efa_type is not None else smallest
        if ac.quota_code(node.instance_type) == code:
            extra = 2 * node.vcpus
            if value < need + extra:
                return verdict(
                    FAIL if distributed.required else WARN,
                    f"{value:g} vCPUs < {need + extra} for the GPU check's node and the "
                    f"distributed check's two {node.instance_type} ({node.vcpus} vCPUs each): "
                    "its second pod would stay pending",
                )
    if value < need:
        here = [p for p in blocked if p.key == f"quota {code}"] or blocked
        if blocked:
            return verdict(FAIL, here[0].message)
        return verdict(
            WARN,
            f"{value:g} vCPUs < {need} for the smallest {kind} type {smallest.instance_type}; "
            "the pool can only use the other category",
        )
    efa_here = efa_type is not None and ac.quota_code(efa_type.instance_type) == code
    if efa_here and value < desired + efa_type.vcpus:
        return verdict(
            FAIL if efa_required else WARN,
            f"{value:g} vCPUs < {efa_type.vcpus} for efaInstanceType "
            f"{efa_type.instance_type}: the EFA check cannot start",
        )
    if value < pool.max_cpu:
        return verdict(
            WARN,
            f"{value:g} vCPUs fits {smallest.instance_type} ({smallest.vcpus}) but is below "
            f"gpuMaxCpu {pool.max_cpu}: the pool stops at the quota before its own limit",
        )
    return verdict(PASS, f"{value:g} vCPUs ≥ gpuMaxCpu {pool.max_cpu}")


def said_once(rows: Sequence[Mapping[str, Any]], name) -> str:
    """The rows' verdicts, each distinct one once with the quotas it is about: three quotas that
    one error kept from being read make one sentence."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row["verdict"], []).append(name(row))
    return "; ".join(f"{', '.join(names)}: {verdict}" for verdict, names in groups.items())


def quota_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One evidence line per quota (and its fix); one for all the quotas an error kept from
    being read (the summary quotes the error)."""
    lines: list[str] = []
    unread: dict[str, list[str]] = {}
    for row in rows:
        if row["status"] == UNCHECKED:
            unread.setdefault(row["verdict"], []).append(f"{row['name']} ({row['code']})")
            continue
        lines.append(f"{row['status'].upper()} {row['name']} ({row['code']}): {row['verdict']}")
        if "fix" in row:
            lines.append(f"fix: {row['fix']}")
    lines += [f"UNCHECKED {', '.join(names)}: not read" for names in unread.values()]
    return lines


def _node_group_vcpus(groups, lookup) -> dict[str, tuple[int, int]]:
    """Per quota code: (desired, maximum) vCPUs of the managed node groups."""
    need: dict[str, tuple[int, int]] = {}
    for group in groups:
        facts = lookup(group.instance_type)
        code = ac.quota_code(group.instance_type)
        if facts is None or code is None:
            continue
        desired, maximum = need.get(code, (0, 0))
        need[code] = (
            desired + group.desired_size * facts.vcpus,
            maximum + group.max_size * facts.vcpus,
        )
    return need


def _short(code: str) -> str:
    return {ac.QUOTA_G_VT: "G/VT", ac.QUOTA_P: "P", ac.QUOTA_STANDARD: "Standard"}[code]


def _value(value: float | None) -> str:
    return "unreadable" if value is None else f"{value:g} vCPUs"


# ---------------------------------------------------------------------------- EKS version


def _describe_cluster_version(eks_client, version: str) -> tuple[VersionDates | None, str]:
    """The dates EKS DescribeClusterVersions gives, or None when the call is not answered."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        found = eks_client.describe_cluster_versions(clusterVersions=[version])
    except (ClientError, BotoCoreError):
        return None, ""
    for item in found.get("clusterVersions", []):
        std, ext = item.get("endOfStandardSupportDate"), item.get("endOfExtendedSupportDate")
        if item.get("clusterVersion") == version and std and ext:
            return VersionDates(version, _day(std), _day(ext), _day(item.get("releaseDate"))), (
                "EKS DescribeClusterVersions"
            )
    return None, ""


def _day(value) -> date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value


def eks_support(
    version: str,
    today: date,
    table: EksTable,
    answer: VersionDates | None = None,
    source: str = "",
) -> Check:
    """Standard support passes; extended support warns with its price; past it fails."""
    title = "EKS version support"
    dates = answer or table.versions.get(version)
    source = source if answer else f"{TABLE_NAME} ({table.source})"
    if dates is None:
        return Check(
            "eks-version",
            title,
            WARN,
            f"{version} is not in the version calendar table; check {table.source}",
            (f"known: {', '.join(table.versions)}",),
            {"version": version, "source": source},
        )
    extra = table.extended_extra_per_hour
    data = {
        "version": version,
        "endOfStandardSupport": dates.end_of_standard.isoformat(),
        "endOfExtendedSupport": dates.end_of_extended.isoformat(),
        "today": today.isoformat(),
        "standardPricePerHour": table.standard_price,
        "extendedPricePerHour": table.extended_price,
        "source": source,
    }
    evidence = (
        f"standard support until {dates.end_of_standard}, extended until "
        f"{dates.end_of_extended} (source: {source})",
        f"control plane ${table.standard_price:.2f}/h standard, ${table.extended_price:.2f}/h "
        "extended, per cluster",
    )
    phase = dates.phase(today)
    if phase == "ended":
        data["phase"] = "unsupported"
        return Check(
            "eks-version",
            title,
            FAIL,
            f"{version} left extended support on {dates.end_of_extended}: EKS creates no "
            f"such cluster; {set_command('kubernetesVersion', table.newest(today))}",
            evidence,
            data,
        )
    if phase == "extended":
        data["phase"] = "extended"
        month = table.extended_extra_per_month
        return Check(
            "eks-version",
            title,
            WARN,
            f"{version} is in extended support since {dates.end_of_standard} (until "
            f"{dates.end_of_extended}): control plane ${table.extended_price:.2f}/h instead of "
            f"${table.standard_price:.2f}/h, +${extra:.2f}/h (≈ ${month:,.0f} per "
            f"{HOURS_PER_MONTH}-hour month) per attendee cluster",
            evidence,
            data,
        )
    data["phase"] = "standard"
    left = (dates.end_of_standard - today).days
    if left <= SOON_DAYS:
        return Check(
            "eks-version",
            title,
            WARN,
            f"{version} leaves standard support in {left} days ({dates.end_of_standard}); "
            f"then ${table.extended_price:.2f}/h instead of ${table.standard_price:.2f}/h",
            evidence,
            data,
        )
    return Check(
        "eks-version",
        title,
        PASS,
        f"{version} in standard support until {dates.end_of_standard} ({left} days)",
        evidence,
        data,
    )


# ---------------------------------------------------------------------------- IAM


def principal_arn(caller_arn: str, iam_client=None) -> str | None:
    """The IAM ARN to simulate for an STS caller ARN; None when it cannot be simulated."""
    principal = parse_principal(caller_arn)
    if principal is None:
        return None
    if principal.path is None and iam_client is not None:
        try:  # the role's path is part of its ARN and absent from the session ARN
            return iam_client.get_role(RoleName=principal.name)["Role"]["Arn"]
        except Exception:
            pass
    return principal.arn


def simulate_caller(iam_client, caller_arn: str, actions: Sequence[str] = IAM_ACTIONS) -> Check:
    """IAM SimulatePrincipalPolicy of the actions `pulumi up` needs, for the calling identity."""

    title = "IAM permissions of the caller"
    if caller_arn.endswith(":root"):
        return Check(
            "iam",
            title,
            WARN,
            "the caller is the account root user: everything is allowed, but use an IAM role",
            (caller_arn,),
            {"caller": caller_arn},
        )
    arn = principal_arn(caller_arn, iam_client)
    if arn is None:
        return Check(
            "iam",
            title,
            WARN,
            f"could not simulate: {caller_arn} is not an IAM user or role",
            (),
            {"caller": caller_arn},
        )
    decisions: dict[str, str] = {}
    try:
        kwargs: dict[str, Any] = {"PolicySourceArn": arn, "ActionNames": list(actions)}
        while True:
            page = iam_client.simulate_principal_policy(**kwargs)
            for result in page.get("EvaluationResults", []):
                decisions[result["EvalActionName"]] = result["EvalDecision"]
            if not page.get("IsTruncated"):
                break
            kwargs["Marker"] = page["Marker"]
    except Exception as err:  # ClientError, BotoCoreError, ResponseParserError on a 500 ...
        from toe.guidance import aws_error

        return Check(
            "iam",
            title,
            UNCHECKED,
            f"could not check: {aws_error(err, 'IAM')} (simulating {arn} needs "
            "iam:SimulatePrincipalPolicy)",
            (),
            {"caller": caller_arn, "principal": arn, **bodies_data(err)},
        )
    denied = [a for a in actions if decisions.get(a) != "allowed"]
    grouped: dict[str, list[str]] = {}
    for action in actions:
        grouped.setdefault(decisions.get(action, "not evaluated"), []).append(action)
    lines = tuple(f"{decision}: {', '.join(names)}" for decision, names in grouped.items())
    data = {"caller": caller_arn, "principal": arn, "decisions": decisions}
    if denied:
        return Check(
            "iam",
            title,
            FAIL,
            f"{arn} may not {', '.join(denied)}",
            lines,
            data,
        )
    return Check(
        "iam",
        title,
        PASS,
        f"{arn} may perform all {len(actions)} key actions (identity policies; SCPs and "
        "resource policies can still deny)",
        lines,
        data,
    )


# ---------------------------------------------------------------------------- helpers


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


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value
