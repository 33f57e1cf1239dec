"""Preflight degrades, never crashes: a check AWS will not answer says "could not check" in AWS's
words, and the others still run. Failures come from botocore itself: Stubber errors on moto's EC2
client, and a loopback HTTP server that answers IAM with a truncated 500 (ResponseParserError)."""

from __future__ import annotations

import http.server
import threading
from dataclasses import replace

import boto3
import pytest
from botocore.config import Config
from test_preflight import TODAY, account, clients  # noqa: F401 - the module fixture

from toe import preflight
from toe.cli import main


@pytest.fixture(scope="module")
def broken_aws():
    """An endpoint that answers every call with HTTP 500 and XML cut off mid-element."""
    body = b"<ErrorResponse><Error><Code>Internal"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(500)
            self.send_header("content-type", "text/xml")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def failing(client, operation: str, code: str, message: str):
    """`client` (moto's), with one operation answering AWS's error; the rest still work."""
    from botocore.exceptions import ClientError

    def refuse(**_kwargs):
        raise ClientError({"Error": {"Code": code, "Message": message}}, operation)

    client.meta.events.register(
        f"before-call.{client.meta.service_model.service_name}.{operation}", refuse
    )
    return client


def test_iam_answering_a_truncated_500_is_could_not_check(account, broken_aws):  # noqa: F811
    iam = boto3.client(
        "iam",
        endpoint_url=broken_aws,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    report = preflight.run("dev", clients=replace(clients(account), iam=iam), today=TODAY)
    check = report.check("iam")
    assert check.status == "unchecked"
    assert check.summary.startswith("could not check: ResponseParserError: Unable to parse")
    assert report.check("network").status == "pass"  # the rest ran
    assert report.exit_code == 2


def test_describe_vpcs_denied_is_could_not_check(account):  # noqa: F811
    ec2 = failing(
        account.client("ec2"),
        "DescribeVpcs",
        "UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    )
    report = preflight.run("dev", clients=replace(clients(account), ec2=ec2), today=TODAY)
    check = report.check("network")
    assert check.status == "unchecked"
    assert "UnauthorizedOperation: You are not authorized" in check.summary
    assert check.summary.startswith("could not check:")
    assert report.check("iam").status == "pass"
    assert report.exit_code == 2


def test_throttled_offerings_are_could_not_check(account):  # noqa: F811
    ec2 = failing(
        account.client("ec2"),
        "DescribeInstanceTypeOfferings",
        "RequestLimitExceeded",
        "Request limit exceeded.",
    )
    report = preflight.run("dev", clients=replace(clients(account), ec2=ec2), today=TODAY)
    for check_id in ("node-groups", "gpu-types"):
        check = report.check(check_id)
        assert check.status == "unchecked"
        assert check.summary == "could not check: RequestLimitExceeded: Request limit exceeded."
    assert report.exit_code == 2


def test_a_failing_check_still_wins_over_could_not_check(account):  # noqa: F811
    ec2 = failing(account.client("ec2"), "DescribeVpcs", "Throttling", "Rate exceeded")
    report = preflight.run(
        "dev",
        clients=replace(clients(account), ec2=ec2),
        today=TODAY,
        overrides={"gpuMaxGpus": 0},
    )
    assert report.check("config").status == "fail"
    assert report.exit_code == 1


def test_the_command_exits_2_and_prints_could_not_check(account, broken_aws, capsys, monkeypatch):  # noqa: F811
    iam = boto3.client(
        "iam",
        endpoint_url=broken_aws,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    real = preflight.run
    monkeypatch.setattr(
        preflight,
        "run",
        lambda stack, region=None, project_dir=None: real(
            stack,
            region=region,
            clients=replace(clients(account), iam=iam),
            today=TODAY,
            project_dir=project_dir,
        ),
    )
    assert main(["preflight", "--stack", "dev"]) == 2
    out = capsys.readouterr().out
    assert "COULD NOT CHECK" in out and "ResponseParserError" in out


def test_missing_credentials_and_unknown_stacks_get_the_shared_guidance(capsys, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["preflight", "--stack", "dev"]) == 2
    assert "no AWS credentials found" in capsys.readouterr().out
    assert main(["preflight", "--stack", "nosuch"]) == 2
    out = capsys.readouterr().out
    assert "no stack 'nosuch': there is no Pulumi.nosuch.yaml" in out
    assert "python -m toe attendees add nosuch" in out


def test_a_vpc_name_that_looks_like_markup_prints_as_it_is(account, capsys):  # noqa: F811
    from toe.commands.preflight import render

    report = preflight.run(
        "dev", clients=clients(account), today=TODAY, overrides={"vpcName": "[/x]"}
    )
    render(report)  # the console the command uses
    assert "no VPC carries Name='[/x]'" in capsys.readouterr().out
