"""Node groups component: the worker IAM role and one EKS managed node group per config entry."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from components.cluster import Cluster
from core import wellknown as wk
from core.config import NodeGroupSpec
from core.network_lookup import SubnetFacts

ASSUME_EC2 = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


@dataclass(frozen=True)
class NodeGroupsArgs:
    cluster: Cluster
    groups: tuple[NodeGroupSpec, ...]
    subnets: tuple[SubnetFacts, ...]  # the private subnets: the nodes get no public address


class NodeGroups(pulumi.ComponentResource):
    """Private managed node groups with an explicit AMI type and IMDSv2 required."""

    names: pulumi.Output[list[str]]
    role_arn: pulumi.Output[str]
    summary: pulumi.Output[list[dict]]

    def __init__(
        self, name: str, args: NodeGroupsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("training-on-eks:nodes:NodeGroups", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-role", assume_role_policy=ASSUME_EC2, opts=child)
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-role-{arn.rsplit('/', 1)[-1]}",
                role=role.name,
                policy_arn=arn,
                opts=child,
            )
            for arn in wk.NODE_ROLE_POLICIES
        ]
        for group in args.groups:
            eks.ManagedNodeGroup(
                f"{name}-{group.name}",
                cluster=args.cluster.eks,
                node_group_name=group.name,
                node_role=role,
                instance_types=[group.instance_type],
                # Always explicit: without it EKS defaults to x86 (FACTS.md, "pulumi-eks 4.x").
                ami_type=group.ami_type,
                capacity_type=group.capacity_type,
                disk_size=group.disk_size,
                subnet_ids=[s.id for s in args.subnets],
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=group.min_size,
                    desired_size=group.desired_size,
                    max_size=group.max_size,
                ),
                labels={
                    wk.LABEL_NODE_GROUP: group.name,
                    "training-on-eks/arch": group.arch,
                    **dict(group.labels),
                },
                taints=[
                    aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=t.eks_effect)
                    for t in group.taints
                ]
                or None,
                enable_imd_sv2=True,
                tags={"training-on-eks/cluster": args.cluster.cluster_name},
                opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
            )
        self.names = pulumi.Output.from_input([g.name for g in args.groups])
        self.role_arn = role.arn
        self.summary = pulumi.Output.from_input([summary(g) for g in args.groups])
        self.register_outputs(
            {"names": self.names, "role_arn": self.role_arn, "summary": self.summary}
        )


def summary(group: NodeGroupSpec) -> dict:
    """One node group as the `nodeGroups` stack output shows it."""
    return {
        "name": group.name,
        "instanceType": group.instance_type,
        "amiType": group.ami_type,
        "arch": group.arch,
        "minSize": group.min_size,
        "desiredSize": group.desired_size,
        "maxSize": group.max_size,
    }
