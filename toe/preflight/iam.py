"""IAM: whether the caller may do what `pulumi up` does (SimulatePrincipalPolicy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.iam import parse_principal
from toe.preflight.clients import bodies_data
from toe.preflight.verdicts import FAIL, PASS, UNCHECKED, WARN, Check

# What `pulumi up` does with the caller's identity: the cluster and its roles, node groups,
# access entries and add-ons, security groups and launch templates, subnet tags, nodes.
IAM_ACTIONS = (
    "eks:CreateCluster",
    "eks:DescribeCluster",
    "eks:TagResource",
    "eks:CreateNodegroup",
    "eks:CreateAccessEntry",
    "eks:AssociateAccessPolicy",
    "eks:CreateAddon",
    "iam:CreateRole",
    "iam:AttachRolePolicy",
    "iam:PassRole",
    "iam:CreateOpenIDConnectProvider",
    "ec2:CreateSecurityGroup",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateTags",
    "ec2:RunInstances",
    "ec2:DescribeSubnets",
)


def principal_arn(caller_arn: str, iam_client=None) -> str | None:
    """The IAM ARN to simulate for an STS caller ARN; None when it cannot be simulated."""
    principal = parse_principal(caller_arn)
    if principal is None:
        return None
    if principal.path is None and iam_client is not None:
        try:  # the role's path is part of its ARN and absent from the session ARN
            return iam_client.get_role(RoleName=principal.name)["Role"]["Arn"]
        except Exception:
            pass
    return principal.arn


def simulate_caller(iam_client, caller_arn: str, actions: Sequence[str] = IAM_ACTIONS) -> Check:
    """IAM SimulatePrincipalPolicy of the actions `pulumi up` needs, for the calling identity."""

    title = "IAM permissions of the caller"
    if caller_arn.endswith(":root"):
        return Check(
            "iam",
            title,
            WARN,
            "the caller is the account root user: everything is allowed, but use an IAM role",
            (caller_arn,),
            {"caller": caller_arn},
        )
    arn = principal_arn(caller_arn, iam_client)
    if arn is None:
        return Check(
            "iam",
            title,
            WARN,
            f"could not simulate: {caller_arn} is not an IAM user or role",
            (),
            {"caller": caller_arn},
        )
    decisions: dict[str, str] = {}
    try:
        kwargs: dict[str, Any] = {"PolicySourceArn": arn, "ActionNames": list(actions)}
        while True:
            page = iam_client.simulate_principal_policy(**kwargs)
            for result in page.get("EvaluationResults", []):
                decisions[result["EvalActionName"]] = result["EvalDecision"]
            if not page.get("IsTruncated"):
                break
            kwargs["Marker"] = page["Marker"]
    except Exception as err:  # ClientError, BotoCoreError, ResponseParserError on a 500 ...
        from toe.guidance import aws_error

        return Check(
            "iam",
            title,
            UNCHECKED,
            f"could not check: {aws_error(err, 'IAM')} (simulating {arn} needs "
            "iam:SimulatePrincipalPolicy)",
            (),
            {"caller": caller_arn, "principal": arn, **bodies_data(err)},
        )
    denied = [a for a in actions if decisions.get(a) != "allowed"]
    grouped: dict[str, list[str]] = {}
    for action in actions:
        grouped.setdefault(decisions.get(action, "not evaluated"), []).append(action)
    lines = tuple(f"{decision}: {', '.join(names)}" for decision, names in grouped.items())
    data = {"caller": caller_arn, "principal": arn, "decisions": decisions}
    if denied:
        return Check(
            "iam",
            title,
            FAIL,
            f"{arn} may not {', '.join(denied)}",
            lines,
            data,
        )
    return Check(
        "iam",
        title,
        PASS,
        f"{arn} may perform all {len(actions)} key actions (identity policies; SCPs and "
        "resource policies can still deny)",
        lines,
        data,
    )
