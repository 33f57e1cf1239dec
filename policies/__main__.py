"""Entry point the Pulumi CLI runs for `--policy-pack policies`: registers and serves the pack."""

from __future__ import annotations

import sys
from pathlib import Path

# The CLI runs this file with policies/ as the program directory: make `rules` importable, and the
# repository root too, for the kernel (`core`) the rules share with the stack.
HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import rules  # noqa: E402
from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

PolicyPack(
    name=rules.PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=rules.POLICIES,
)
