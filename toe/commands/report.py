"""`python -m toe report`: the GPU/EFA validation results of a live cluster, without `pulumi up`."""

from __future__ import annotations

import argparse
import sys

from core import wellknown as wk
from toe.terminal import add_project_dir, add_region, eks_cluster_name, positive_seconds

NAME = "report"
HELP = (
    "Print the GPU and EFA validation results of a running cluster (exit 0: GPU passed and EFA "
    "passed or unavailable; 1: a check did not pass; 2: could not connect)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--cluster",
        metavar="NAME",
        type=eks_cluster_name,
        help="EKS cluster name (boto3 credentials)",
    )
    target.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file to use instead")
    target.add_argument(
        "--stack", metavar="NAME", help="read clusterName/region from this stack's outputs"
    )
    add_region(parser, "AWS region of --cluster (default ap-northeast-2)")
    add_project_dir(parser)  # with --stack: whose stack file says how to reach AWS
    parser.add_argument("--context", default=None, help="kubeconfig context (with --kubeconfig)")
    parser.add_argument(
        "--namespace", default=wk.VALIDATION_NAMESPACE, help="namespace of the validation Jobs"
    )
    parser.add_argument(
        "--gpu-job", default=wk.GPU_CHECK, help=f"{wk.LABEL_APP_NAME} of the GPU check Job"
    )
    parser.add_argument(
        "--efa-job", default=wk.EFA_CHECK, help=f"{wk.LABEL_APP_NAME} of the EFA check Job"
    )
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=30.0,
        help="seconds to wait for each Kubernetes API answer (default: 30)",
    )


def run(args: argparse.Namespace) -> int:
    from components import readout
    from toe import report

    readout.set_request_timeout(args.timeout)
    try:
        clients = report.connect(
            cluster=args.cluster,
            region=args.region,
            kubeconfig=args.kubeconfig,
            context=args.context,
            stack=args.stack,
            project_dir=args.dir,
        )
    except report.ReportError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return report.EXIT_USAGE
    validation = report.build_report(clients, args.namespace, args.gpu_job, args.efa_job)
    validation, notes = report.with_recorded(validation, clients.recorded)
    print(report.render(validation, as_json=args.json))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return report.exit_status(validation)
