"""The stack's inputs, checked before anything is registered: configuration, the VPC look-up and
the account rules, with every problem reported in one error.

The look-up runs whenever the keys it needs are valid, even if others are not, so a wrong VPC
name shows up together with a typo in a node group rather than after it is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Reading, StackConfig
from core.network_lookup import NetworkApi, NetworkFacts, find_network
from core.problems import ConfigError


@dataclass(frozen=True)
class StackInputs:
    config: StackConfig
    network: NetworkFacts


def resolve(reading: Reading, stack: str, network_api: NetworkApi, account_api=None) -> StackInputs:
    """The validated config and network, or one ConfigError with every problem found.

    `account_api` (core.account_checks.AccountApi) runs the account rules once the config
    and the network are known; with `skipAccountChecks` they only warn.
    """
    problems = list(reading.problems)
    facts = None
    if reading.network is not None:
        facts, found = find_network(network_api, reading.network, stack=stack)
        problems += found
    if problems or reading.config is None or facts is None:
        raise ConfigError(stack, problems)
    if account_api is not None:
        from core.account_checks import check_account

        check_account(account_api, reading.config, facts)
    return StackInputs(reading.config, facts)
