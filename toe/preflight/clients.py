"""The AWS clients preflight asks, and how a check that cannot ask is reported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from core import account_apis
from core import instance_types as it
from core.config import AwsAccess
from toe.preflight.verdicts import UNCHECKED, Check, CouldNotCheck


@dataclass(frozen=True)
class Clients:
    """The boto3 clients the checks use; tests pass their own (moto, Stubber)."""

    ec2: Any
    quotas: Any
    iam: Any
    sts: Any
    eks: Any = None
    # Asks the check images' registries (toe.preflight.images.Registries); None: not asked
    # (tests, the offline simulated account), which the images check says.
    registries: Any = None

    @classmethod
    def from_session(cls, session, region: str) -> Clients:
        from botocore.config import Config

        # Bounded: a check that cannot get an answer says so instead of hanging.
        config = Config(
            connect_timeout=5, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"}
        )
        from toe.preflight.images import Registries

        return cls(
            **{
                name: session.client(service, region_name=region, config=config)
                for name, service in (
                    ("ec2", "ec2"),
                    ("quotas", "service-quotas"),
                    ("iam", "iam"),
                    ("sts", "sts"),
                    ("eks", "eks"),
                )
            },
            registries=Registries.from_session(session, config),
        )


def connect(
    region: str, clients: Clients | None = None, access: AwsAccess | None = None
) -> tuple[Clients, Mapping[str, str]]:
    """The clients (unless given: as the stack's aws provider reaches AWS, its profile and role)
    and who they are; CouldNotCheck when there are no credentials or they do not work: then
    nothing else can be asked either."""
    from core import eks_token
    from toe import guidance

    if clients is None:
        from botocore.exceptions import NoCredentialsError

        try:
            session = eks_token.session_for_access(access or AwsAccess(region))
            if session.get_credentials() is None:
                raise NoCredentialsError()
        except NoCredentialsError:
            raise CouldNotCheck(guidance.NO_CREDENTIALS) from None
        except Exception as err:  # a profile that is not there, a role it may not assume
            why = guidance.aws_error(err, "STS")
            raise CouldNotCheck(f"could not reach AWS as the stack does: {why}") from err
        clients = Clients.from_session(session, region)
    try:
        identity = clients.sts.get_caller_identity()
    except Exception as err:
        why = guidance.aws_error(err, "STS")
        raise CouldNotCheck(f"the credentials do not work: {why}") from err
    return clients, identity


def guarded(check_id: str, title: str, run, *args, **kwargs) -> Any:
    """Run one check; a failure to ask AWS becomes "could not check: <AWS's words>" (one line;
    an answer that was not AWS's error document is kept whole in the data, for --verbose)."""
    from toe.guidance import aws_error

    try:
        return run(*args, **kwargs)
    except Exception as err:  # degrade, never crash: the other checks still run
        summary = f"could not check: {aws_error(err)}"
        return Check(check_id, title, UNCHECKED, summary, (), bodies_data(err))


def bodies_data(*errors: BaseException | str | None) -> dict[str, Any]:
    """`{"responseBodies": [...]}` with each distinct whole answer of `errors` (exceptions, or
    bodies already taken from them) that was not AWS's error document; {} when there is none."""
    from core.aws_errors import response_body

    bodies: list[str] = []
    for err in errors:
        body = response_body(err) if isinstance(err, BaseException) else err
        if body is not None and body not in bodies:
            bodies.append(body)
    return {"responseBodies": bodies} if bodies else {}


class AccountChecker:
    """What a checker (one stack's or the fleet's) asks the account through: its clients, EC2
    and Service Quotas behind the account rules' API, and instance facts asked once a type."""

    guard = staticmethod(guarded)

    def __init__(self, region: str, clients: Clients, project_dir: Path) -> None:
        self.region = region
        self.clients = clients
        self.project_dir = project_dir
        self.api = account_apis.Boto3AccountApi(clients.ec2, clients.quotas)
        self.lookup = cache(it.boto3_lookup(clients.ec2))

    def find_network(self, cfg):
        """The stack's VPC and subnets by the program's look-up rules: (facts or None, problems)."""
        from core.network_lookup import Boto3NetworkApi, find_network

        return find_network(Boto3NetworkApi(self.clients.ec2), cfg.network, stack=cfg.stack)
