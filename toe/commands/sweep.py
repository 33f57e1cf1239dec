"""`python -m toe sweep`: list, and with --delete remove, what a cluster left outside Pulumi."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from toe.terminal import add_project_dir, add_region

NAME = "sweep"
HELP = (
    "List the AWS resources tied to a cluster that Pulumi does not manage (instances, load "
    "balancers, target groups, ENIs, volumes, security groups, subnet tags); --delete removes them."
)

EXIT_CLEAN = 0
EXIT_LEFTOVERS = 1
EXIT_UNCHECKED = 2

# Shape of the --json output (a JSON Schema, draft 2020-12); the tests validate against it.
LEFTOVER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "id", "reason", "hourly_usd", "region", "extra"],
    "properties": {
        "kind": {
            "enum": [
                "instance",
                "load-balancer",
                "target-group",
                "network-interface",
                "volume",
                "security-group",
                "subnet-tag",
            ]
        },
        "id": {"type": "string", "minLength": 1},
        "reason": {"type": "string", "minLength": 1},
        "hourly_usd": {"type": ["number", "null"], "minimum": 0},
        "region": {"type": "string"},
        "extra": {"type": "object"},
        "error": {"type": "string"},
    },
}
OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": [
        "cluster",
        "region",
        "vpc_id",
        "mode",
        "cluster_status",
        "leftovers",
        "total_hourly_usd",
        "deleted",
        "failed",
        "exit_code",
    ],
    "properties": {
        "cluster": {"type": "string"},
        "region": {"type": "string"},
        "vpc_id": {"type": ["string", "null"]},
        "mode": {"enum": ["dry-run", "delete", "refused"]},
        "cluster_status": {"type": ["string", "null"]},
        "leftovers": {"type": "array", "items": LEFTOVER_SCHEMA},
        "total_hourly_usd": {"type": "number", "minimum": 0},
        "deleted": {"type": "array", "items": LEFTOVER_SCHEMA},
        "failed": {
            "type": "array",
            "items": {**LEFTOVER_SCHEMA, "required": [*LEFTOVER_SCHEMA["required"], "error"]},
        },
        "exit_code": {"enum": [0, 1, 2]},
        "error": {"type": "string"},
        # Whose resources were looked at: a clean sweep of another account proves nothing.
        "account": {"type": ["string", "null"]},
        "caller": {"type": ["string", "null"]},
    },
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--cluster", help="EKS cluster name, e.g. toe-dev (with --region)")
    target.add_argument(
        "--stack",
        metavar="NAME",
        help="the stack's cluster, region, profile and role, from its stack file in --dir (its "
        "outputs are gone after destroy)",
    )
    add_region(parser, "AWS region, e.g. ap-northeast-2 (default with --stack: its aws:region)")
    add_project_dir(parser)
    parser.add_argument(
        "--vpc-id", default=None, help="only look in this VPC (volumes have no VPC)"
    )
    parser.add_argument(
        "--delete",
        action="store_true",
        help="delete what is found (default: dry run, nothing is changed)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --delete: delete even though the EKS cluster still exists",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--profile",
        default=None,
        help="AWS named profile (default: the stack's with --stack, else the usual chain)",
    )
    parser.add_argument(
        "--attempts",
        type=int,
        default=8,
        help="delete attempts per resource on DependencyViolation / in use (backoff 2 s doubling "
        "to 30 s; default 8)",
    )


def _money(kind: str, value: float | None) -> str:
    from toe.sweep import FREE_KINDS

    if kind in FREE_KINDS:
        return "-"
    return "?" if value is None else f"{value:.4f}"


def _details(extra: dict[str, Any]) -> str:
    shown = {key: value for key, value in extra.items() if key != "vpc" and value not in ("", None)}
    return " ".join(f"{key}={value}" for key, value in shown.items())


def _print_table(console: Any, title: str, rows: list[Any], with_error: bool = False) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("kind", no_wrap=True)
    # Identifiers are never wrapped: copying an ARN out of the table is the point.
    ids = [(row.leftover if with_error else row).id for row in rows]
    table.add_column("id", no_wrap=True, min_width=max(map(len, ids), default=2))
    table.add_column("why it matched", overflow="fold")
    table.add_column("est. $/h", justify="right", no_wrap=True)
    table.add_column("error" if with_error else "details", overflow="fold")
    for row in rows:
        item = row.leftover if with_error else row
        last = row.error if with_error else _details(dict(item.extra))
        table.add_row(item.kind, item.id, item.reason, _money(item.kind, item.hourly_usd), last)
    console.print(table)


def _status_line(cluster: str, status: str) -> str:
    if status == "UNKNOWN":
        return (
            f"could not ask EKS whether cluster {cluster} still exists (eks:DescribeCluster "
            "denied or unreachable); make sure `pulumi destroy` has finished."
        )
    return (
        f"EKS cluster {cluster} still exists (status {status}): its nodes, load balancers and "
        "security groups are still in use. Run `pulumi destroy` first, then sweep."
    )


def _identity(session: Any, region: str) -> tuple[str | None, str | None]:
    """The account and caller the sweep asked as (STS); unknown rather than no verdict."""
    try:
        me = session.client("sts", region_name=region).get_caller_identity()
    except Exception:  # the sweep itself answered: only the label is missing
        return None, None
    return me.get("Account"), me.get("Arn")


def _session(args: argparse.Namespace) -> Any:
    """--stack: the cluster, region and session the stack's own config gives (its outputs are
    gone once it is destroyed); `args` takes the cluster and region."""
    from core import eks_token
    from core.config import aws_access
    from toe import guidance
    from toe.attendees import cluster_name_for
    from toe.stackfiles import resolve_dir, stack_config

    project = resolve_dir(args.dir)
    if not (project / f"Pulumi.{args.stack}.yaml").is_file():
        raise ValueError(guidance.unknown_stack(args.stack, project))
    values = stack_config(args.stack, project)  # StackFileError: a ValueError, said as such
    args.region = args.region or values.get("aws:region")
    if not args.region:
        raise ValueError(f"stack {args.stack} sets no aws:region: give --region")
    args.cluster = cluster_name_for(args.stack, values)
    access = aws_access(values, args.region, stack=args.stack)
    if args.profile:
        access = dataclasses.replace(access, profile=args.profile)
    return eks_token.session_for_access(access)


def run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from toe import sweep
    from toe.terminal import console as make_console

    console = make_console()
    document: dict[str, Any] = {
        "cluster": args.cluster,
        "region": args.region,
        "vpc_id": args.vpc_id,
        "mode": "delete" if args.delete else "dry-run",
        "cluster_status": None,
        "leftovers": [],
        "total_hourly_usd": 0.0,
        "deleted": [],
        "failed": [],
        "exit_code": EXIT_UNCHECKED,
    }

    def finish(code: int) -> int:
        document["exit_code"] = code
        if args.json:
            print(json.dumps(document, indent=2, sort_keys=True))
        return code

    if args.cluster and not args.region:
        print("sweep: --region is required with --cluster", file=sys.stderr)
        return EXIT_UNCHECKED
    try:
        session = _session(args) if args.stack else None
        document.update(cluster=args.cluster, region=args.region)
        sweep.validate_cluster_name(args.cluster)
        if session is None:
            session = boto3.Session(region_name=args.region, profile_name=args.profile)
        leftovers = sweep.find_leftovers(session, args.cluster, args.vpc_id)
    except (ValueError, sweep.SweepCheckError, BotoCoreError, ClientError) as err:
        what = f"cluster {args.cluster} in {args.region}" if args.cluster else f"stack {args.stack}"
        document.update(cluster=args.cluster or "", region=args.region or "", error=str(err))
        print(f"sweep: could not check {what}: {err}", file=sys.stderr)
        return finish(EXIT_UNCHECKED)

    status = sweep.cluster_status(session, args.cluster)
    total = sweep.total_hourly(leftovers)
    account, caller = _identity(session, args.region)
    document.update(
        account=account,
        caller=caller,
        cluster_status=status,
        leftovers=[item.to_dict() for item in leftovers],
        total_hourly_usd=total,
    )
    if not args.json and status is not None:
        console.print(_status_line(args.cluster, status), markup=False)
    if not args.json:
        if leftovers:
            unknown = sum(1 for item in leftovers if item.hourly_usd is None)
            _print_table(console, f"Leftovers of {args.cluster} in {args.region}", leftovers)
            console.print(
                f"{len(leftovers)} leftover(s), est. ${total:.2f}/h (${total * 24:.2f}/day) "
                f"on-demand list price{f', {unknown} without a price (?)' if unknown else ''}; "
                "prices: toe/data/prices.yaml",
                markup=False,
            )
        else:
            where = f"{args.region}, account {account or 'unknown'}"
            console.print(f"Clean: nothing tied to {args.cluster} in {where}.", markup=False)

    if not leftovers:
        return finish(EXIT_CLEAN)
    if not args.delete:
        if not args.json:
            console.print("Dry run: nothing was deleted. Re-run with --delete to remove them.")
        return finish(EXIT_LEFTOVERS)
    if status is not None and not args.force:
        document["mode"] = "refused"
        print(
            f"sweep: not deleting: {_status_line(args.cluster, status)} Pass --force to delete "
            "anyway.",
            file=sys.stderr,
        )
        return finish(EXIT_LEFTOVERS)

    if not args.json:
        console.print(
            "Deleting: instances (then waiting for them to terminate), load balancers, target "
            "groups, network interfaces, volumes, security groups, subnet tags...",
            markup=False,
        )
    report = sweep.delete_leftovers(
        session, leftovers, retry=sweep.RetryPolicy(attempts=max(1, args.attempts))
    )
    document.update(
        deleted=[item.to_dict() for item in report.deleted],
        failed=[failure.to_dict() for failure in report.failed],
    )
    if not args.json:
        console.print(f"Deleted {len(report.deleted)} of {len(leftovers)}.", markup=False)
        if report.failed:
            _print_table(console, "Not deleted", list(report.failed), with_error=True)
            console.print(
                "Something still depends on these. Re-run this command in a few minutes; if "
                "it persists, find the dependent in the EC2 console (for a security group: "
                "network interfaces using it, or rules in other groups that refer to it).",
                markup=False,
            )
    return finish(EXIT_CLEAN if report.ok else EXIT_LEFTOVERS)
