"""The account checks inside the program: `pulumi preview` stops before creating anything."""

from __future__ import annotations

import dataclasses

import pytest

from core import account_checks as ac
from toe.offline.account import load_account
from toe.offline.harness import ProgramError, run_program


def test_preview_stops_on_zero_gpu_quota_with_the_preflight_message():
    workshop = load_account()
    zero = dataclasses.replace(
        workshop, quotas={**workshop.quotas, ac.QUOTA_G_VT: 0.0, ac.QUOTA_P: 0.0}
    )
    with pytest.raises(ProgramError) as err:
        run_program(account=zero, preview=True)
    message = err.value.message
    assert message.startswith("Stack 'dev' has 1 configuration problem; nothing was created:")
    # The same text tests/test_preflight.py expects from `python -m toe preflight`.
    assert (
        "  - quota L-DB2E81BA: Running On-Demand G and VT instances (L-DB2E81BA) is 0 vCPUs in "
        "ap-northeast-2: no GPU node fits, the smallest GPU type the pool can launch "
        "(g4dn.xlarge) needs 4 vCPUs\n"
        "    fix: aws service-quotas request-service-quota-increase --region ap-northeast-2 "
        "--service-code ec2 --quota-code L-DB2E81BA --desired-value 96"
    ) in message


def test_preview_stops_on_a_node_type_missing_in_a_private_zone():
    groups = [{"name": "ng-arm", "instanceType": "m7gd.2xlarge", "minSize": 1, "desiredSize": 1}]
    groups[0]["maxSize"] = 1
    with pytest.raises(ProgramError) as err:
        run_program(config={"nodeGroups": groups}, preview=True)
    assert (
        "nodeGroups[0].instanceType: m7gd.2xlarge (node group ng-arm) is not offered in "
        "ap-northeast-2c, a zone of the private subnets (ap-northeast-2a, ap-northeast-2c) in "
        "ap-northeast-2; offered in ap-northeast-2a"
    ) in err.value.message


def test_unreadable_quotas_do_not_block_the_program():
    run = run_program(account=dataclasses.replace(load_account(), quotas={}), preview=True)
    assert run.of_type("eks:index:Cluster")


def test_skip_account_checks_turns_them_into_warnings_for_teardown(caplog):
    """`pulumi destroy --run-program -c training-on-eks:skipAccountChecks=true` can still run."""
    workshop = load_account()
    zero = dataclasses.replace(
        workshop, quotas={**workshop.quotas, ac.QUOTA_G_VT: 0.0, ac.QUOTA_P: 0.0}
    )
    with caplog.at_level("WARNING"):
        run = run_program(account=zero, config={"skipAccountChecks": True}, preview=True)
    assert run.of_type("eks:index:Cluster")
    assert "skipAccountChecks: quota L-DB2E81BA: Running On-Demand G and VT" in caplog.text
