"""`python -m toe preflight`: check the AWS account before `pulumi up` spends its 15 minutes."""

from __future__ import annotations

import argparse
import json

from toe.terminal import add_region, add_report_arguments

NAME = "preflight"
HELP = (
    "Read-only account checks (VPC and subnets, instance types per zone, GPU types and EFA, "
    "EC2 quotas, EKS version support, IAM permissions); exit 0 pass, 1 fail, 2 could not check."
)

STYLE = {"pass": "green", "warn": "yellow", "unchecked": "magenta", "fail": "bold red"}
LABEL = {"pass": "PASS", "warn": "WARN", "unchecked": "COULD NOT CHECK", "fail": "FAIL"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to check")
    add_region(parser, "AWS region (default: the stack's aws:region)")
    parser.add_argument(
        "--fleet",
        action="store_true",
        help="check every stack at once (quotas, subnet addresses, EKS clusters, IAM roles)",
    )
    parser.add_argument(
        "--stacks", nargs="+", metavar="STACK", help="with --fleet: these stacks (default: all)"
    )
    add_report_arguments(parser, quoting="the table quotes")


def run(args) -> int:
    from toe import preflight

    if args.stacks and not args.fleet:
        print("preflight: --stacks needs --fleet (one stack: --stack NAME)")
        return 2
    if args.fleet:
        return run_fleet(args)

    try:
        report = preflight.run(args.stack, region=args.region, project_dir=args.dir)
    except preflight.CouldNotCheck as err:
        if args.json:
            reason = {"stack": args.stack, "status": "could-not-check", "reason": str(err)}
            print(json.dumps({**reason, **preflight.bodies_data(err)}))
        else:
            print(f"preflight: COULD NOT CHECK stack {args.stack}: {err}")
            _print_bodies(err, args.verbose)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        render(report, verbose=args.verbose)
    return report.exit_code


def run_fleet(args) -> int:
    from toe import preflight
    from toe.preflight import fleet as fleet_preflight
    from toe.stackfiles import stack_names

    stacks = args.stacks or stack_names(args.dir)
    try:
        report = fleet_preflight.run(stacks, project_dir=args.dir)
    except preflight.CouldNotCheck as err:
        if args.json:
            reason = {"fleet": stacks, "status": "could-not-check", "reason": str(err)}
            print(json.dumps({**reason, **preflight.bodies_data(err)}))
        else:
            from toe.terminal import console

            console().print(f"preflight --fleet: COULD NOT CHECK: {err}", highlight=False)
            _print_bodies(err, args.verbose)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        render_checks(
            report,
            f"Fleet preflight: {len(report.stacks)} stacks, {report.region}, "
            f"account {report.account}",
            verbose=args.verbose,
        )
    return report.exit_code


def _print_bodies(err: BaseException, verbose: bool) -> None:
    """With --verbose, the whole answer behind a one-line error (as text: never markup)."""
    from toe.preflight import bodies_data

    bodies = bodies_data(err).get("responseBodies", [])
    if bodies and verbose:
        for body in bodies:
            print(f"response body:\n{body.rstrip()}")
    elif bodies:
        print("(--verbose prints the whole response)")


def evidence(check, verbose: bool = False) -> str:
    """A check's summary, its evidence lines and, with --verbose, the whole answers behind it."""
    lines = [check.summary, *(f"  {line}" for line in check.evidence)]
    bodies = check.data.get("responseBodies", [])
    if verbose:
        for body in bodies:
            lines.append("  response body:")
            lines += [f"    {line}" for line in body.rstrip().splitlines()]
    elif bodies:
        lines.append("  (--verbose prints the whole response)")
    return "\n".join(lines)


def render_checks(report, title: str, console=None, verbose: bool = False) -> None:
    """One row per check (status, summary, evidence), then the verdict line."""
    from rich.table import Table

    from toe.terminal import console as make_console
    from toe.terminal import styled

    console = console or make_console()
    table = Table(title=title, caption=f"caller {report.caller}", show_lines=True)
    table.add_column("Check")
    table.add_column("Status")
    table.add_column("Evidence", overflow="fold")
    for check in report.checks:
        table.add_row(
            check.title, styled(LABEL[check.status], STYLE[check.status]), evidence(check, verbose)
        )
    console.print(table)
    _verdict(report, console)


def _verdict(report, console) -> None:
    from rich.text import Text

    from toe.terminal import styled

    failed = [c.title for c in report.checks if c.status == "fail"]
    unchecked = [c.title for c in report.checks if c.status == "unchecked"]
    warned = [c.title for c in report.checks if c.status == "warn"]
    if failed:
        console.print(
            Text.assemble(styled("preflight: FAIL", "bold red"), f" ({', '.join(failed)})")
        )
    elif unchecked:
        console.print(
            Text.assemble(
                styled("preflight: COULD NOT CHECK", "bold magenta"), f" ({', '.join(unchecked)})"
            )
        )
    else:
        note = f" with {len(warned)} warning{'s' * (len(warned) != 1)}" if warned else ""
        which = f" ({', '.join(warned)})" if warned else ""
        console.print(Text.assemble(styled("preflight: PASS", "green"), f"{note}{which}"))


def render(report, console=None, verbose: bool = False) -> None:
    """The report as rich tables: one row per check, then the GPU types, then a verdict line."""
    from rich.table import Table

    from toe.terminal import console as make_console
    from toe.terminal import styled

    console = console or make_console()
    table = Table(
        title=f"Preflight: stack {report.stack}, {report.region}, account {report.account}",
        caption=f"caller {report.caller}",
        show_lines=True,
    )
    table.add_column("Check")
    table.add_column("Status")
    table.add_column("Evidence", overflow="fold")
    for check in report.checks:
        table.add_row(
            check.title,
            styled(LABEL[check.status], STYLE[check.status]),
            evidence(check, verbose),
            end_section=False,
        )
    console.print(table)
    if report.gpu_types:
        from toe.preflight import gpu_row

        gpus = Table(title="GPU types the NodePool can launch in the private subnets' zones")
        for column in ("Type", "GPU", "Count", "GPU memory", "vCPU", "Memory", "EFA"):
            gpus.add_column(column, justify="left" if column in ("Type", "GPU") else "right")
        for facts in report.gpu_types:
            row = gpu_row(facts)
            gpus.add_row(
                row["instanceType"],
                row["gpuModel"],
                str(row["gpuCount"]),
                f"{row['gpuMemoryGiB']:g} GiB",
                str(row["vcpus"]),
                f"{row['memoryGiB']:g} GiB",
                "yes" if row["efa"] else "-",
            )
        console.print(gpus)
    _verdict(report, console)
