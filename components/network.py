"""Network component: tags the looked-up subnets for load balancers and for this cluster."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import wellknown as wk
from components.network_lookup import NetworkFacts


@dataclass(frozen=True)
class NetworkArgs:
    facts: NetworkFacts
    cluster_name: str
    manage_role_tags: bool


class Network(pulumi.ComponentResource):
    """Subnet tags, one `aws.ec2.Tag` per subnet per key: the subnets themselves are not managed."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("training-on-eks:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster_key = wk.cluster_tag_key(args.cluster_name)
        roles = (
            (args.facts.public, wk.TAG_ROLE_ELB),
            (args.facts.private, wk.TAG_ROLE_INTERNAL_ELB),
        )
        for subnets, role_key in roles:
            for subnet in subnets:
                aws.ec2.Tag(
                    f"{name}-{subnet.id}-cluster",
                    resource_id=subnet.id,
                    key=cluster_key,
                    value=wk.TAG_CLUSTER_SHARED,
                    opts=child,
                )
                if args.manage_role_tags:
                    aws.ec2.Tag(
                        f"{name}-{subnet.id}-role",
                        resource_id=subnet.id,
                        key=role_key,
                        value="1",
                        opts=child,
                    )
        self.vpc_id = pulumi.Output.from_input(args.facts.vpc.id)
        self.private_subnet_ids = pulumi.Output.from_input([s.id for s in args.facts.private])
        self.public_subnet_ids = pulumi.Output.from_input([s.id for s in args.facts.public])
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
            }
        )
