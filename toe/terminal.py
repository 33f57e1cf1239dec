"""Terminal output for the CLI: text from users and AWS is data, never rich markup.

Every console prints with markup off, so a security group named `k8s-[/x]-sg` or a stack called
`[/x]` prints as it is; the few styles the tools use come from `styled()`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text


def console(*, stderr: bool = False, **options: Any) -> Console:
    """A rich Console that never reads markup from what it prints. Without a terminal (logs, CI,
    pipes) lines are not folded at 80 columns: identifiers stay whole."""
    if not (sys.stderr if stderr else sys.stdout).isatty():
        options.setdefault("width", 200)
    return Console(stderr=stderr, markup=False, highlight=False, **options)


def styled(text: object, style: str) -> Text:
    return Text(str(text), style=style)


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def project_folder(text: str) -> Path:
    """argparse type for --dir: a folder that exists (the project's, with Pulumi.yaml and the
    stack files), from whatever the current folder is."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(
            f"{text}: no such folder; give the project folder, the one with Pulumi.yaml"
        )
    if not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} is a file, not a folder; give the project folder, the one with Pulumi.yaml"
        )
    return path


def add_project_dir(parser: argparse.ArgumentParser, *aliases: str, dest: str = "dir") -> None:
    """--dir, the project folder every command reads and writes the stack files in: this
    checkout unless given (toe.stackfiles.resolve_dir reads None as it)."""
    parser.add_argument(
        *aliases,
        "--dir",
        dest=dest,
        type=project_folder,
        default=None,
        help="project directory, with Pulumi.yaml and the stack files (default: this checkout)",
    )


def add_report_arguments(parser: argparse.ArgumentParser, *, quoting: str) -> None:
    """--dir, --json and --verbose, as the commands that ask AWS take them; `quoting` says where
    one line of each answer that was not AWS's error document shows (e.g. "the table quotes")."""
    add_project_dir(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print whole answers that were not AWS's error document (an HTML error page); "
        f"{quoting} one line of each",
    )


def aws_region(text: str) -> str:
    """argparse type for --region: a region botocore knows (the config reader's own rule)."""
    from core.config import valid_regions
    from core.config.intent import region

    regions = valid_regions()
    if text in regions:
        return text
    near = region(text, regions)
    raise argparse.ArgumentTypeError(
        f"{text!r} is not an AWS region (botocore's endpoint data)"
        + (f"; did you mean {near}?" if near else "; e.g. ap-northeast-2")
    )


def add_region(parser: argparse.ArgumentParser, help: str, *, required: bool = False) -> None:
    """--region, taken only when it names a region AWS has."""
    parser.add_argument("--region", type=aws_region, required=required, default=None, help=help)


def eks_cluster_name(text: str) -> str:
    """argparse type for --cluster: a name EKS takes (the config reader's own rule)."""
    from core.config.model import CLUSTER_NAME_RE, cleaned_cluster_name

    if CLUSTER_NAME_RE.fullmatch(text):
        return text
    like = cleaned_cluster_name(text)
    raise argparse.ArgumentTypeError(
        f"{text!r} is not an EKS cluster name (1-100 letters, digits, '-' or '_', starting with "
        "a letter or digit)" + (f"; did you mean {like}?" if like else "")
    )


def positive_seconds(text: str) -> float:
    """argparse type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def quiet_broken_pipe() -> None:
    """After the reader of stdout went away (`| head`): no traceback, no error at exit
    (Python docs, signal module, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


# A command whose program (or its configuration) failed, as synth and cost report it.
EXIT_PROGRAM_ERROR = 1


def money(value: float | None) -> str:
    """US dollars as the cost and synth commands print them; `?` for a price nobody knows."""
    if value is None:
        return "?"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"
