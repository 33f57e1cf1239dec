"""`python -m toe attendees add|list`: one Pulumi stack file per workshop attendee."""

from __future__ import annotations

import argparse
import json

from toe.terminal import add_project_dir

NAME = "attendees"
HELP = "Generate attendee stack files (Pulumi.<name>.yaml) from the dev stack, or list them."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = actions.add_parser(
        "add",
        help="write Pulumi.<name>.yaml for each attendee from the source stack's file",
        description="Write Pulumi.<name>.yaml for each attendee, copying the source stack's "
        "overrides except clusterName (derived from each stack's name) and runId (each stack "
        "starts from the default).",
    )
    add.add_argument("names", nargs="*", metavar="NAME", help="attendee stack names")
    add.add_argument("--count", type=int, help="generate N numbered names instead (PREFIX01 ...)")
    add.add_argument("--prefix", default="attendee", help="prefix for --count (default: attendee)")
    add.add_argument("--start", type=int, default=1, help="first number for --count (default: 1)")
    add.add_argument(
        "--from",
        dest="source",
        default="dev",
        metavar="STACK",
        help="stack whose file is copied (default: dev)",
    )
    add.add_argument(
        "--shared-vpc",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="attendees share the workshop VPC, so only one stack manages the "
        "kubernetes.io/role/elb and internal-elb subnet tags (default: on)",
    )
    add.add_argument(
        "--role-tags-owner",
        default="dev",
        metavar="STACK",
        help="with --shared-vpc, the one stack that manages the subnet role tags (default: dev)",
    )
    add.add_argument("--force", action="store_true", help="overwrite existing stack files")

    listing = actions.add_parser("list", help="show the stack files and what each stack gets")
    listing.add_argument("--json", action="store_true", help="print the stack files as JSON")
    for action in (add, listing):
        add_project_dir(action)


def run(args: argparse.Namespace) -> int:
    from rich.text import Text

    from toe import attendees
    from toe.stackfiles import resolve_dir
    from toe.terminal import console as make_console
    from toe.terminal import styled

    args.dir = resolve_dir(args.dir)
    console = make_console(soft_wrap=True)
    err = make_console(stderr=True, soft_wrap=True)
    try:
        if args.action == "add":
            return _add(args, console)
        return _list(args, console)
    except attendees.AttendeeError as error:
        for line in str(error).splitlines():
            err.print(Text.assemble(styled("error:", "red"), " ", line))
        return 2


def _add(args: argparse.Namespace, console) -> int:
    from toe import attendees

    if args.count is not None and args.names:
        raise attendees.AttendeeError("give attendee NAMEs or --count, not both")
    names = (
        attendees.numbered_names(args.count, args.prefix, args.start)
        if args.count is not None
        else list(args.names)
    )
    planned = attendees.plan_attendees(
        args.dir,
        names,
        source_stack=args.source,
        shared_vpc=args.shared_vpc,
        role_tags_owner=args.role_tags_owner,
        force=args.force,
    )
    for path in attendees.write_planned(planned):
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
    skipped = sorted({key for item in planned for key in item.skipped})
    if skipped:
        console.print(
            f"not copied (per stack or encrypted): {', '.join(skipped)}; set encrypted values "
            "per stack with `pulumi config set --secret KEY VALUE --stack NAME`",
            highlight=False,
            soft_wrap=True,
        )
    if args.shared_vpc and args.role_tags_owner not in names:
        owner = attendees.stack_file_path(args.dir, args.role_tags_owner)
        if not owner.is_file():
            console.print(
                f"note: the role-tag owner {args.role_tags_owner!r} has no stack file ({owner}); "
                "no stack manages the shared subnet role tags yet",
                highlight=False,
                soft_wrap=True,
            )
        elif not attendees.manages_role_tags(attendees.load_stack_document(owner)):
            console.print(
                f"note: {owner.name} sets {attendees.ROLE_TAGS_KEY}: false, so no stack manages "
                "the shared subnet role tags; set it to true there or pick another "
                "--role-tags-owner",
                highlight=False,
                soft_wrap=True,
            )
    return 0


def _list(args: argparse.Namespace, console) -> int:
    from rich.table import Table

    from toe import attendees

    stacks = attendees.list_stack_files(args.dir)
    if args.json:
        rows = [
            {
                "name": s.name,
                "file": s.path.name,
                "clusterName": s.cluster_name,
                "region": s.region,
                "managesRoleTags": s.manages_role_tags,
                "generated": s.generated,
            }
            for s in stacks
        ]
        print(json.dumps(rows, indent=2))
        return 0
    project_region = attendees.project_region(args.dir)
    table = Table(title=f"Stack files in {args.dir.resolve()}")
    for column in ("stack", "cluster", "region", "role tags", "generated"):
        table.add_column(column)
    for s in stacks:
        table.add_row(
            s.name,
            s.cluster_name,
            s.region or (f"{project_region} (Pulumi.yaml)" if project_region else "not set"),
            "manages" if s.manages_role_tags else "-",
            "yes" if s.generated else "-",
        )
    console.print(table)
    return 0
