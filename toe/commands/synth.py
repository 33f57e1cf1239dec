"""`python -m toe synth`: render the stack offline (plan, manifests, diagram, policy verdicts)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from toe.terminal import EXIT_PROGRAM_ERROR, add_project_dir, money

NAME = "synth"
HELP = (
    "Render the stack offline, without AWS credentials or the Pulumi CLI: plan.json, Kubernetes "
    "manifests, a Mermaid diagram and the policy verdicts."
)
EXIT_MANDATORY_VIOLATION = 2
_VALUE_WIDTH = 90


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="dev", help="stack name: Pulumi.<stack>.yaml (dev)")
    parser.add_argument(
        "--account",
        type=Path,
        default=None,
        help="simulated account file (default: toe/accounts/workshop.yaml)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: build/synth/<stack>)"
    )
    parser.add_argument(
        "--preview",
        action="store_true",
        help="render as `pulumi preview` sees it: values known only after up show as <computed>",
    )
    add_project_dir(parser, dest="project_dir")
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="print the modelled `pulumi up` critical path from the dependency graph",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=_setting,
        help="override a configuration value for this run, as `pulumi config set KEY VALUE` "
        "would (e.g. --set distributedCheck=true); the stack file is not changed",
    )


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def _value_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 3] + "..."


def _component_of(resource: dict, by_urn: dict[str, dict]) -> str:
    names = []
    parent = by_urn.get(resource["parent"])
    while parent is not None:
        names.append(parent["name"])
        parent = by_urn.get(parent["parent"])
    return "/".join(reversed(names)) or "(stack)"


def _print_verdicts(console, result) -> None:
    from rich.table import Table
    from rich.text import Text

    from toe.offline.synth import Masker, verdict_record

    if not result.verdicts:
        console.print("Policy verdicts: no violations.", markup=False)
        return
    table = Table(title="Policy verdicts")
    for column in ("Enforcement", "Policy", "Resource", "Message"):
        table.add_column(column, overflow="fold")
    masker = Masker.for_run(result.run)
    records = [verdict_record(v, masker) for v in result.verdicts]
    for r in sorted(records, key=lambda v: (v["enforcement"] != "mandatory", v["policy"])):
        columns = ("enforcement", "policy", "resourceName", "message")
        table.add_row(*(Text(str(r[k])) for k in columns))
    console.print(table)


def print_summary(console, result) -> None:
    """Resources by component, the stack outputs and the policy verdicts."""
    from rich.table import Table
    from rich.text import Text

    plan = result.plan
    by_urn = {r["urn"]: r for r in plan["resources"]}
    parents = {r["parent"] for r in plan["resources"]}
    table = Table(title=f"{plan['project']} / {plan['stack']}: resources by component")
    for column in ("Component", "Resource", "Type", "Waits for"):
        table.add_column(column, overflow="fold")
    rows = [
        (_component_of(r, by_urn), r["name"], r["type"], r)
        for r in plan["resources"]
        if r["custom"] or r["urn"] not in parents  # components show as the first column
    ]
    for component, name, type_, r in sorted(rows, key=lambda row: (row[0], row[1])):
        waits = sorted(by_urn[d]["name"] for d in r["dependencies"] if d in by_urn)
        table.add_row(Text(component), Text(name), Text(type_), Text("\n".join(waits)))
    console.print(table)

    outputs = Table(title="Stack outputs")
    outputs.add_column("Output")
    outputs.add_column("Value", overflow="fold")
    for key, value in plan["outputs"].items():
        outputs.add_row(Text(key), Text(_value_text(value)))
    console.print(outputs)

    if result.verdicts is None:
        console.print(
            "Policy verdicts: the policy pack (policies/rules.py) is not in this checkout; "
            "none evaluated.",
            markup=False,
        )
    elif result.verdicts_text is not None:
        console.print("Policy verdicts:", markup=False)
        console.print(result.verdicts_text, markup=False, soft_wrap=True)
    else:
        _print_verdicts(console, result)
    priced = result.run.after
    if isinstance(priced, str):
        console.print(f"Cost: {priced}", markup=False)
    elif priced is not None:
        bill = priced.stacks[0]
        console.print(
            f"Cost per attendee: {money(bill.per_hour)} an hour, plus {money(bill.once)} per run "
            f"of the checks' GPU nodes (bundled prices; `python -m toe cost` itemises it)",
            markup=False,
        )
    manifests = len(result.manifests)
    console.print(
        f"Wrote {len(plan['resources'])} resources to {result.out_dir / 'plan.json'}, "
        f"{manifests} manifests to {result.out_dir / 'manifests'}, "
        f"diagram {result.out_dir / 'graph.mmd'}",
        markup=False,
    )


def run(args: argparse.Namespace) -> int:
    from toe.offline.account import AccountError
    from toe.offline.harness import ProgramError
    from toe.offline.synth import SynthError, synth
    from toe.stackfiles import StackFileError
    from toe.terminal import console as make_console

    console = make_console()
    errors = make_console(stderr=True, soft_wrap=True)
    try:
        extra = {"project_dir": args.project_dir} if args.project_dir else {}
        if args.settings:
            extra["config"] = dict(args.settings)
        result = synth(
            args.stack, account=args.account, out_dir=args.out, preview=args.preview, **extra
        )
    except (AccountError, SynthError, StackFileError) as err:
        errors.print(f"synth: {err}", markup=False)
        return EXIT_PROGRAM_ERROR
    except ProgramError as err:
        errors.print(f"synth: the program failed for stack {args.stack!r}:", markup=False)
        errors.print(err.message, markup=False)
        return EXIT_PROGRAM_ERROR

    print_summary(console, result)
    if args.timeline:
        from toe.offline import timeline

        console.print()
        text = timeline.render(timeline.build(result.plan))
        console.print(text, markup=False, soft_wrap=True)
    if result.mandatory_violations:
        errors.print(
            f"synth: {len(result.mandatory_violations)} mandatory policy violation(s)", markup=False
        )
        return EXIT_MANDATORY_VIOLATION
    return 0
