"""`python -m toe fleet preview|up|destroy`: drive every attendee stack, a few at a time."""

from __future__ import annotations

import argparse
from pathlib import Path

from toe.terminal import add_project_dir, positive_int

NAME = "fleet"
HELP = "Preview, deploy or destroy many stacks in parallel with live progress and per-stack logs."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("operation", choices=("preview", "up", "destroy"))
    parser.add_argument(
        "--stacks",
        nargs="+",
        metavar="STACK",
        help="stacks to drive (default: every Pulumi.<stack>.yaml in --work-dir)",
    )
    parser.add_argument(
        "--parallel",
        type=positive_int,
        default=4,
        help="stacks run at the same time, at least 1 (default: 4)",
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=Path("build/fleet-logs"),
        help="one log file per stack, <stack>.<operation>.log (default: build/fleet-logs)",
    )
    add_project_dir(parser, "--work-dir", dest="work_dir")
    parser.add_argument(
        "--secrets-provider",
        help="for stacks created here, e.g. awskms://alias/toe-workshop "
        "(default: the backend's, a passphrase from PULUMI_CONFIG_PASSPHRASE)",
    )
    parser.add_argument(
        "--pulumi-root",
        type=Path,
        help="directory holding bin/pulumi (default: pulumi on PATH)",
    )
    parser.add_argument(
        "--no-sweep",
        dest="sweep",
        action="store_false",
        help="destroy: skip the teardown sweep for leftovers",
    )
    parser.add_argument("--yes", action="store_true", help="destroy: confirm deleting the stacks")


def run(args: argparse.Namespace) -> int:
    from rich.live import Live

    from toe import fleet
    from toe.stackfiles import resolve_dir
    from toe.terminal import console as make_console

    console = make_console()
    err = make_console(stderr=True, soft_wrap=True)
    work_dir = resolve_dir(args.work_dir).resolve()
    if args.operation == "destroy" and not args.yes:
        err.print("error: fleet destroy deletes every selected stack's resources; add --yes")
        return 2
    try:
        stacks = fleet.select_stacks(work_dir, args.stacks, args.operation)
    except ValueError as error:
        for line in str(error).splitlines():
            err.print(f"error: {line}", highlight=False, soft_wrap=True)
        return 2
    if not stacks:
        err.print(f"error: no Pulumi.<stack>.yaml files in {work_dir}")
        return 2
    options = fleet.FleetOptions(
        work_dir=work_dir,
        log_dir=args.log_dir.resolve(),
        parallel=args.parallel,
        pulumi_root=args.pulumi_root,
        secrets_provider=args.secrets_provider,
        sweep=args.sweep,
    )
    problem = fleet.pulumi_root_problem(args.pulumi_root)
    if problem:
        err.print(f"error: {problem}", highlight=False, soft_wrap=True)
        return 2
    try:
        command = fleet.pulumi_command(args.pulumi_root)
    except FileNotFoundError:
        err.print(
            "error: the pulumi CLI is not installed here; install it "
            "(https://www.pulumi.com/docs/iac/download-install/) or pass --pulumi-root"
        )
        return 2
    problem = fleet.toolchain_problem(work_dir)
    if problem:
        err.print(f"error: {problem}", highlight=False, soft_wrap=True)
        return 2

    console.print(
        f"fleet {args.operation}: {len(stacks)} stacks, {args.parallel} at a time, "
        f"logs in {options.log_dir}",
        highlight=False,
        soft_wrap=True,
    )
    if console.is_terminal:
        progress = fleet.FleetProgress(stacks)
        with Live(get_renderable=progress.table, console=console, refresh_per_second=4):
            results = fleet.run_fleet(args.operation, stacks, options, progress, command)
    else:

        def report(result: fleet.StackResult) -> None:
            console.print(
                f"{result.stack}: {result.result} ({result.log_path})",
                highlight=False,
                soft_wrap=True,
            )

        progress = fleet.FleetProgress(stacks, on_finish=report)
        results = fleet.run_fleet(args.operation, stacks, options, progress, command)
    console.print(fleet.summary_table(results, args.operation))
    if args.operation != "destroy":
        _print_cost(console, stacks, work_dir)
    return 0 if all(result.ok for result in results) else 1


def _print_cost(console, stacks, work_dir) -> None:
    """What the fleet costs per attendee and in all, per hour (`python -m toe cost` itemises)."""
    from toe import cost
    from toe.preflight import CouldNotCheck
    from toe.terminal import money

    try:
        report = cost.run(stacks, project_dir=work_dir)
    except CouldNotCheck as err:
        console.print(f"cost: could not price the fleet: {err}", highlight=False, soft_wrap=True)
        return
    first = report.stacks[0]
    console.print(
        f"cost: {money(first.per_hour)} an hour per attendee (+{money(first.once)} per run of "
        f"the checks), {money(report.per_hour)} an hour for {len(report.stacks)} stacks; "
        "`python -m toe cost --fleet` itemises it",
        highlight=False,
        soft_wrap=True,
    )
