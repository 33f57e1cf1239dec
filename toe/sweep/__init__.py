"""Sweep: find and delete what an attendee's cluster left behind that Pulumi never saw (Auto
Mode's instances, load balancers, ENIs, volumes, security groups, subnet tags), by the tags the
controllers that made them write; never anything the stack or someone else owns.
"""

from __future__ import annotations

import time  # the retries sleep through toe.sweep.time (tests pace them)

from toe.sweep.delete import delete_leftovers
from toe.sweep.find import caller_identity, cluster_status, find_leftovers
from toe.sweep.model import (
    AWS_FAILURES,
    DELETE_ORDER,
    FREE_KINDS,
    GONE_CODES,
    INSTANCE,
    LOAD_BALANCER,
    NETWORK_INTERFACE,
    NO_CHARGE,
    RETRYABLE_CODES,
    RULES,
    SECURITY_GROUP,
    SUBNET_TAG,
    TARGET_GROUP,
    VOLUME,
    DeleteReport,
    Failure,
    Leftover,
    ResponseParserError,
    RetryPolicy,
    SweepCheckError,
    TagRule,
    client_config,
    total_hourly,
    validate_cluster_name,
)

__all__ = [
    "AWS_FAILURES",
    "DELETE_ORDER",
    "FREE_KINDS",
    "GONE_CODES",
    "INSTANCE",
    "LOAD_BALANCER",
    "NETWORK_INTERFACE",
    "NO_CHARGE",
    "RETRYABLE_CODES",
    "RULES",
    "SECURITY_GROUP",
    "SUBNET_TAG",
    "TARGET_GROUP",
    "VOLUME",
    "DeleteReport",
    "Failure",
    "Leftover",
    "ResponseParserError",
    "RetryPolicy",
    "SweepCheckError",
    "TagRule",
    "caller_identity",
    "client_config",
    "cluster_status",
    "delete_leftovers",
    "find_leftovers",
    "time",
    "total_hourly",
    "validate_cluster_name",
]
