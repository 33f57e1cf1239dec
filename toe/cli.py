"""Command-line front end: discovers the sub-commands in `toe.commands` and dispatches to them.

Each module in `toe/commands/` defines `NAME`, `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Heavy imports (boto3, pulumi, moto) belong inside `run`, so `--help` is fast.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from toe import commands

# The cyclic collector's thresholds for a run of toe (see tune_gc): the ones mypy uses
# (mypy/build.py: "Run gc less frequently, as otherwise we can spend a large fraction of
# cpu in gc").
GC_THRESHOLDS = (200_000, 30, 30)


def tune_gc() -> None:
    """Collect less often. A command is one short process that builds a large, long-lived heap
    (the Pulumi SDK's classes, botocore's and moto's models) and frees it all at exit; with
    CPython's default thresholds (700, 10, 10) the collector traced that heap again and again, a
    third of `synth`'s wall time (bench/synth_bench.py). Memory use stays the same (about 300 MB
    for `synth`). The test suite builds the same heap and uses the same settings."""
    gc.set_threshold(*GC_THRESHOLDS)


def _command_modules() -> list:
    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__))
    return [importlib.import_module(f"{commands.__name__}.{name}") for name in names]


def build_parser() -> argparse.ArgumentParser:
    # As it was started: the `toe` command, or `python -m toe` (argv[0] is then __main__.py).
    prog = "toe" if os.path.basename(sys.argv[0]) == "toe" else "python -m toe"
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Operate the training-on-eks workshop stacks.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _command_modules():
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def run() -> None:
    """The `toe` command (pyproject.toml's console script) and `python -m toe`."""
    tune_gc()  # before the command's imports, which build most of the heap
    code = main()
    # The process ends now: freeze the heap so the interpreter's last collection skips it (about
    # 1 s for `synth`; https://docs.python.org/3/library/gc.html#gc.freeze).
    gc.freeze()
    raise SystemExit(code)


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
