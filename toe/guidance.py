"""One wording for the failures every operator tool meets: no credentials, an endpoint that does
not answer, a missing kubeconfig, an unknown stack, and AWS's own error text."""

from __future__ import annotations

import os
from pathlib import Path

from core.aws_errors import NO_CREDENTIALS, aws_error

__all__ = ["NO_CREDENTIALS", "aws_error", "missing_kubeconfig", "unknown_stack", "unreachable"]


def unreachable(what: str, err: BaseException | str) -> str:
    detail = err if isinstance(err, str) else aws_error(err)
    return (
        f"cannot reach {what}: {detail}; check the network (VPN, proxy, the endpoint's "
        "public access CIDRs) and the region"
    )


def missing_kubeconfig(path: str | Path) -> str:
    return (
        f"kubeconfig {path} does not exist: write it with `pulumi stack output kubeconfig "
        f"--show-secrets > {path}`, or use --stack NAME / --cluster NAME"
    )


def unknown_stack(stack: str, project_dir: Path) -> str:
    path = project_dir / f"Pulumi.{stack}.yaml"
    if path.is_symlink():
        return (
            f"stack {stack!r}: {path.name} is a symbolic link to {os.readlink(path)}, which does "
            "not exist; point it at the stack file, or remove the link and create the stack with "
            f"`python -m toe attendees add {stack}`"
        )
    known = sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml")
    )
    return (
        f"no stack {stack!r}: there is no Pulumi.{stack}.yaml in {project_dir} (stacks: "
        f"{', '.join(known) or 'none'}); create it with `python -m toe attendees add {stack}`"
    )
