"""One wording for the failures every operator tool meets: no credentials, an endpoint that does
not answer, a missing kubeconfig, an unknown stack, and AWS's own error text."""

from __future__ import annotations

from pathlib import Path

from components.aws_errors import NO_CREDENTIALS, aws_error

__all__ = [
    "NO_CREDENTIALS",
    "aws_error",
    "kubeconfig_is_a_folder",
    "missing_kubeconfig",
    "unknown_stack",
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
    known = sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml")
    )
    return (
        f"no stack {stack!r}: there is no Pulumi.{stack}.yaml in {project_dir} (stacks: "
        f"{', '.join(known) or 'none'}); create it with `python -m toe attendees add {stack}`"
    )
