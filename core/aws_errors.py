"""AWS's own words for a failed call, shared by the program and the operator tools."""

from __future__ import annotations

NO_CREDENTIALS = (
    "no AWS credentials found (environment, shared files, SSO or instance role): set "
    "AWS_PROFILE, or run `aws configure` or `aws sso login`"
)


def aws_error(err: BaseException) -> str:
    """`Code: Message` for a service error, the guidance for missing credentials, else the
    client's own text, on one line."""
    response = getattr(err, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    from botocore.exceptions import NoCredentialsError

    if isinstance(err, NoCredentialsError):
        return NO_CREDENTIALS
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
