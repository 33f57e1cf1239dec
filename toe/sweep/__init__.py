"""Sweep: find and delete what an attendee's cluster left behind that Pulumi never saw (Auto
Mode's instances, load balancers, ENIs, volumes, security groups, subnet tags), by the tags the
controllers that made them write; never anything the stack or someone else owns.
"""

from __future__ import annotations

import time  # the retries sleep through toe.sweep.time (tests pace them)

from toe.sweep import model
from toe.sweep.delete import delete_leftovers
from toe.sweep.find import caller_identity, cluster_status, find_leftovers
from toe.sweep.model import *  # noqa: F403 (the model's public names are the package's)

__all__ = [
    *model.__all__,
    "caller_identity",
    "cluster_status",
    "delete_leftovers",
    "find_leftovers",
    "time",
]
