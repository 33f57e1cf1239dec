"""IAM principal ARNs: which user or role an IAM or STS ARN names (one parser for every tool)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """The IAM user or role behind an ARN: `arn:aws:iam::1:role/path/Name`, or the role of an STS
    session `arn:aws:sts::1:assumed-role/Name/session` (whose ARN drops the role's path)."""

    partition: str
    account: str
    kind: str  # user | role
    name: str
    path: str | None  # None when the ARN does not say (an STS session)

    @property
    def identity(self) -> tuple[str, str, str]:
        """What tells two ARNs of one principal apart from others: paths are not part of it."""
        return self.account, self.kind, self.name

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:{self.kind}{self.path or '/'}{self.name}"


def parse_principal(arn: str) -> Principal | None:
    """The principal of an IAM user or role ARN, or of an STS assumed-role session; None for
    anything else (the root user, federated users, other services)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    partition, service, account, resource = parts[1], parts[2], parts[4], parts[5]
    kind, _, rest = resource.partition("/")
    if service == "sts" and kind == "assumed-role" and rest:
        return Principal(partition, account, "role", rest.split("/", 1)[0], None)
    # GetCallerIdentity names an IAM user `arn:aws:iam::...:user/x`; moto's says `sts` there.
    if service in ("iam", "sts") and kind in ("user", "role") and rest:
        path, _, name = rest.rpartition("/")
        return Principal(partition, account, kind, name, f"/{path}/" if path else "/")
    return None
