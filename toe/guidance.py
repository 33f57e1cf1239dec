"""One wording for the failures every operator tool meets: no credentials, an endpoint that does
not answer, a missing kubeconfig, an unknown stack, and AWS's own error text."""

from __future__ import annotations

import difflib
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from core.aws_errors import NO_CREDENTIALS, aws_error

__all__ = [
    "NO_CREDENTIALS",
    "aws_error",
    "kubeconfig_is_a_folder",
    "missing_kubeconfig",
    "unknown_stack",
    "unknown_stacks",
    "unreachable",
    "write_kubeconfig",
]


def unreachable(what: str, err: BaseException | str) -> str:
    detail = err if isinstance(err, str) else aws_error(err)
    return (
        f"cannot reach {what}: {detail}; check the network (VPN, proxy, the endpoint's "
        "public access CIDRs) and the region"
    )


def write_kubeconfig(path: str | Path, *, pass_it: bool = False) -> str:
    """How to write the stack's kubeconfig to `path` (and pass it, when it is another file than
    the one given), or what to use instead."""
    then = f" and pass --kubeconfig {path}" if pass_it else ""
    return (
        f"write it with `pulumi stack output kubeconfig --show-secrets > {path}`{then}, or use "
        "--stack NAME / --cluster NAME"
    )


def missing_kubeconfig(path: str | Path) -> str:
    return f"kubeconfig {path} does not exist: {write_kubeconfig(path)}"


def kubeconfig_is_a_folder(path: str | Path) -> str:
    folder = Path(path)
    inside = folder / "config"  # ~/.kube/config
    if inside.is_file():
        return f"kubeconfig {path} is a folder, not a file: did you mean --kubeconfig {inside}?"
    target = folder / "kubeconfig.yaml"
    return f"kubeconfig {path} is a folder, not a file: {write_kubeconfig(target, pass_it=True)}"


def unknown_stack(stack: str, project_dir: Path) -> str:
    path = project_dir / f"Pulumi.{stack}.yaml"
    if path.is_symlink():
        return (
            f"stack {stack!r}: {path.name} is a symbolic link to {os.readlink(path)}, which does "
            "not exist; point it at the stack file, or remove the link and create the stack with "
            f"`python -m toe attendees add {stack}`"
        )
    return unknown_stacks([stack], project_dir)


def unknown_stacks(stacks: Sequence[str], project_dir: Path) -> str:
    """One message for stack names that have no stack file: the stacks there are, the nearest
    name, and the command that creates them (with --dir when the project is not the current
    folder)."""
    names = ", ".join(repr(s) for s in stacks)
    if not (project_dir / "Pulumi.yaml").is_file():
        return (
            f"no stack{'s' if len(stacks) > 1 else ''} {names}: {project_dir} is not the "
            "project folder (it has no Pulumi.yaml); give --dir the folder with Pulumi.yaml and "
            "the Pulumi.<stack>.yaml files"
        )
    known = sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml")
    )
    files = ", ".join(f"Pulumi.{s}.yaml" for s in stacks)
    there = f"there is no {files}" if len(stacks) == 1 else f"there are no {files}"
    meant = []
    for stack in stacks:
        nearest = difflib.get_close_matches(stack, known, n=1, cutoff=0.6)
        if nearest:
            meant.append(nearest[0] if len(stacks) == 1 else f"{nearest[0]} for {stack}")
    guess = f"did you mean {', '.join(meant)}? Or " if meant else ""
    here = project_dir.resolve() == Path.cwd().resolve()
    where = "" if here else f" --dir {shlex.quote(str(project_dir))}"
    create = "create it" if len(stacks) == 1 else "create them"
    return (
        f"no stack{'s' if len(stacks) > 1 else ''} {names}: {there} in {project_dir} (stacks: "
        f"{', '.join(known) or 'none'}); {guess}{create} with "
        f"`python -m toe attendees add {' '.join(shlex.quote(s) for s in stacks)}{where}`"
    )
