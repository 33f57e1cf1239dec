"""Network component: tags the looked-up subnets for load balancers and for this cluster."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from core import wellknown as wk
from core.config import StackConfig
from core.network_lookup import NetworkFacts, SubnetFacts


@dataclass(frozen=True)
class NetworkArgs:
    facts: NetworkFacts
    config: StackConfig


def role_tag_plan(
    subnet: SubnetFacts, role_key: str, stack: str, manage: bool
) -> tuple[bool, str | None]:
    """Whether this stack tags the subnet with `role_key`, and a note when it leaves it alone.

    A role tag that was there before the stack (set by whoever built the VPC, or by another stack)
    is never managed: an `aws.ec2.Tag` would adopt it and delete it on destroy. The stack marks
    the subnets whose role tags it created (`training-on-eks/role-tags=<stack>`), so the next `up`
    sees its own tags as its own.
    """
    if not manage:
        return False, None
    owner = subnet.tags.get(wk.TAG_ROLE_TAGS_OWNER)
    if owner == stack:
        return True, None
    if owner is not None:
        return False, f"{role_key} on {subnet.id} ({subnet.name}) is managed by stack {owner}"
    if role_key in subnet.tags:
        return False, (
            f"{role_key}={subnet.tags[role_key]} was already on {subnet.id} ({subnet.name}) "
            "before this stack: left as it is, not managed"
        )
    return True, None


class Network(pulumi.ComponentResource):
    """Subnet tags, one `aws.ec2.Tag` per subnet per key: the subnets themselves are not managed."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    notes: pulumi.Output[str]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("training-on-eks:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg, facts = args.config, args.facts
        cluster_key = wk.cluster_tag_key(cfg.cluster_name)
        notes = [_layout(facts)]
        roles = ((facts.public, wk.TAG_ROLE_ELB), (facts.private, wk.TAG_ROLE_INTERNAL_ELB))
        for subnets, role_key in roles:
            for subnet in subnets:
                aws.ec2.Tag(
                    f"{name}-{subnet.id}-cluster",
                    resource_id=subnet.id,
                    key=cluster_key,
                    value=wk.TAG_CLUSTER_SHARED,
                    opts=child,
                )
                manage, note = role_tag_plan(
                    subnet, role_key, cfg.stack, cfg.manage_subnet_role_tags
                )
                if note:
                    notes.append(note)
                if not manage:
                    continue
                owner = aws.ec2.Tag(
                    f"{name}-{subnet.id}-role-owner",
                    resource_id=subnet.id,
                    key=wk.TAG_ROLE_TAGS_OWNER,
                    value=cfg.stack,
                    opts=child,
                )
                # The mark first: a role tag without it would look pre-existing to the next up.
                aws.ec2.Tag(
                    f"{name}-{subnet.id}-role",
                    resource_id=subnet.id,
                    key=role_key,
                    value="1",
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[owner]),
                )
        self.vpc_id = pulumi.Output.from_input(facts.vpc.id)
        self.private_subnet_ids = pulumi.Output.from_input([s.id for s in facts.private])
        self.public_subnet_ids = pulumi.Output.from_input([s.id for s in facts.public])
        self.notes = pulumi.Output.from_input("; ".join(notes))
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
                "notes": self.notes,
            }
        )


def _layout(facts: NetworkFacts) -> str:
    if not facts.public:
        return "internal-only: no public subnets matched, so no internet-facing load balancers"
    return (
        f"{len(facts.public)} public and {len(facts.private)} private subnets in "
        f"{', '.join(facts.private_azs)}"
    )
