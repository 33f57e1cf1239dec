"""Command-line front end: discovers the sub-commands in `toe.commands` and dispatches to them.

Each module in `toe/commands/` defines `NAME`, `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Heavy imports (boto3, pulumi, moto) belong inside `run`, so `--help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from toe import commands


def _command_modules() -> list:
    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__))
    return [importlib.import_module(f"{commands.__name__}.{name}") for name in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m toe",
        description="Operate the training-on-eks workshop stacks.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _command_modules():
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from toe.terminal import quiet_broken_pipe

    args = build_parser().parse_args(argv)
    try:
        code = int(args._run(args))
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_broken_pipe()
        return 0
    return code
