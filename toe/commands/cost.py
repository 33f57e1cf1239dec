"""`python -m toe cost`: what the workshop costs per attendee and for the fleet."""

from __future__ import annotations

import argparse
import json
from datetime import date

from toe.terminal import EXIT_PROGRAM_ERROR, add_report_arguments, money, positive_int

NAME = "cost"
HELP = (
    "Price one attendee stack or the fleet, per hour and for the workshop: control plane, node "
    "groups, Auto Mode nodes and fee, the checks' GPU nodes, EBS; each price with its source."
)


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours") from None
    if not 0 < value <= 24 * 31:
        raise argparse.ArgumentTypeError(f"{text} hours: give more than 0 and at most 744")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--stack", help="one attendee stack (default: dev)")
    which.add_argument("--fleet", action="store_true", help="every stack (or --stacks)")
    parser.add_argument("--stacks", nargs="+", metavar="STACK", help="with --fleet: these stacks")
    parser.add_argument(
        "--hours", type=_hours, default=8.0, help="how long the clusters run (default: 8)"
    )
    parser.add_argument(
        "--check-runs",
        type=positive_int,
        default=1,
        help="times the checks run per stack (one per runId; default: 1)",
    )
    parser.add_argument(
        "--date",
        type=date.fromisoformat,
        help="workshop date, YYYY-MM-DD: decides standard or extended support (default: today)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="ask no AWS API: the simulated account's EC2 data and the bundled prices",
    )
    add_report_arguments(parser, quoting="the notes quote")


def run(args) -> int:
    from toe import cost
    from toe.preflight import CouldNotCheck
    from toe.stackfiles import stack_names
    from toe.terminal import console as make_console

    if args.stacks and not args.fleet:
        print("cost: --stacks needs --fleet (one stack: --stack NAME)")
        return 2
    stacks = (args.stacks or stack_names(args.dir)) if args.fleet else [args.stack or "dev"]
    try:
        report = cost.run(
            stacks,
            hours=args.hours,
            check_runs=args.check_runs,
            on=args.date,
            project_dir=args.dir,
            offline=True if args.offline else None,
        )
    except cost.ConfigProblems as err:
        # As `synth` reports the same stack files: every problem with its fix, exit 1.
        if args.json:
            print(json.dumps({"status": "config-problems", "stacks": err.to_json()}, indent=2))
        else:
            make_console(stderr=True, soft_wrap=True).print(f"cost: {err.render()}")
        return EXIT_PROGRAM_ERROR
    except CouldNotCheck as err:
        print(
            json.dumps({"status": "could-not-price", "reason": str(err)})
            if args.json
            else f"cost: could not price: {err}"
        )
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        render(report, verbose=args.verbose)
    return 0


def render(report, console=None, verbose: bool = False) -> None:
    from rich.table import Table

    from toe.terminal import console as make_console

    console = console or make_console()
    first = report.stacks[0]
    table = Table(
        title=f"Cost of stack {first.stack}, {report.region}, {report.on}",
        caption=f"{report.hours:g} h; GPU check nodes x {first.check_runs} run(s)",
    )
    for column in ("Item", "Quantity", "Per hour", "Per check run", "Price source"):
        table.add_column(column, overflow="fold", justify="right" if "Per" in column else "left")
    for line in first.lines:
        table.add_row(
            line.item,
            line.quantity,
            money(line.usd_per_hour) if line.usd_per_hour is not None else "",
            money(line.usd_once) if line.usd_once is not None else "",
            line.source,
        )
    console.print(table)
    console.print(
        f"per attendee: {money(first.per_hour)} an hour, {money(first.once)} for the checks' "
        f"GPU nodes: {money(first.total(report.hours))} for {report.hours:g} h",
        highlight=False,
    )
    if len(report.stacks) > 1:
        console.print(
            f"fleet of {len(report.stacks)}: {money(report.per_hour)} an hour, "
            f"{money(report.total)} for {report.hours:g} h",
            highlight=False,
        )
    for stack in report.stacks:
        if stack.unknown:
            console.print(
                f"{stack.stack}: no price for {', '.join(stack.unknown)} (left out of the totals)",
                highlight=False,
            )
    for note in report.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    for body in report.response_bodies if verbose else ():
        console.print(f"response body:\n{body.rstrip()}", highlight=False, soft_wrap=True)
    if report.response_bodies and not verbose:
        console.print("note: --verbose prints the whole response", highlight=False)
