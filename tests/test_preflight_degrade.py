"""Preflight degrades, never crashes: a check AWS will not answer says "could not check" in AWS's
words, and the others still run. Failures come from botocore itself: Stubber errors on moto's EC2
client, and loopback HTTP servers that answer with a truncated 500 (ResponseParserError) or with
an HTML error page, as a proxy in front of AWS does."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from test_preflight import TODAY, account, clients, the_command_checks  # noqa: F401 - the module fixture

from tests.conftest import ROOT
from tests.fakes.error_page import FIRST_TEXT, PAGE, client_at, error_page_server
from toe import preflight
from toe.cli import main


@pytest.fixture(scope="module")
def broken_aws():
    """An endpoint that answers every call with HTTP 500 and XML cut off mid-element."""
    truncated = "<ErrorResponse><Error><Code>Internal"
    with error_page_server(truncated, content_type="text/xml", lifetime=3600) as url:
        yield url


def refusing(account, operation: str, code: str, message: str, **options):  # noqa: F811
    """`preflight.run` with moto's EC2 answering `operation` with AWS's error; the rest work."""
    from botocore.exceptions import ClientError

    def refuse(**_kwargs):
        raise ClientError({"Error": {"Code": code, "Message": message}}, operation)

    ec2 = account.client("ec2")
    ec2.meta.events.register(f"before-call.ec2.{operation}", refuse)
    return preflight.run("dev", clients=replace(clients(account), ec2=ec2), today=TODAY, **options)


def test_iam_answering_a_truncated_500_is_could_not_check(account, broken_aws):  # noqa: F811
    iam = client_at(broken_aws, "iam", region="us-east-1")
    report = preflight.run("dev", clients=replace(clients(account), iam=iam), today=TODAY)
    check = report.check("iam")
    assert check.status == "unchecked"
    assert check.summary.startswith("could not check: ResponseParserError: Unable to parse")
    assert report.check("network").status == "pass"  # the rest ran
    assert report.exit_code == 2


def test_describe_vpcs_denied_is_could_not_check(account):  # noqa: F811
    why = "You are not authorized to perform this operation."
    report = refusing(account, "DescribeVpcs", "UnauthorizedOperation", why)
    check = report.check("network")
    assert check.status == "unchecked"
    assert "UnauthorizedOperation: You are not authorized" in check.summary
    assert check.summary.startswith("could not check:")
    assert report.check("iam").status == "pass"
    assert report.exit_code == 2


def test_throttled_offerings_are_could_not_check(account):  # noqa: F811
    why = "Request limit exceeded."
    report = refusing(account, "DescribeInstanceTypeOfferings", "RequestLimitExceeded", why)
    for check_id in ("node-groups", "gpu-types"):
        check = report.check(check_id)
        assert check.status == "unchecked"
        assert check.summary == "could not check: RequestLimitExceeded: Request limit exceeded."
    assert report.exit_code == 2


def test_a_failing_check_still_wins_over_could_not_check(account):  # noqa: F811
    report = refusing(
        account, "DescribeVpcs", "Throttling", "Rate exceeded", overrides={"gpuMaxGpus": 0}
    )
    assert report.check("config").status == "fail"
    assert report.exit_code == 1


def test_the_command_exits_2_and_prints_could_not_check(account, broken_aws, capsys, monkeypatch):  # noqa: F811
    iam = client_at(broken_aws, "iam", region="us-east-1")
    the_command_checks(monkeypatch, lambda: replace(clients(account), iam=iam))
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


# --- an HTML error page instead of AWS's answer (a proxy, a load balancer) ---------------------


def html_quotas_report(account, url):  # noqa: F811
    return preflight.run(
        "dev",
        clients=replace(clients(account), quotas=client_at(url, "service-quotas")),
        today=TODAY,
    )


def test_quotas_answering_an_html_page_say_the_error_once_on_one_line(account):  # noqa: F811
    with error_page_server() as url:
        report = html_quotas_report(account, url)
    check = report.check("quotas")
    assert check.status == "unchecked" and report.exit_code == 2
    error = f"HTTP 500 from Service Quotas GetServiceQuota: {FIRST_TEXT}"
    assert check.summary == f"G/VT, P, Standard: could not check: {error}"
    assert not any("<" in line or error in line for line in check.evidence)
    assert check.evidence[0].startswith("UNCHECKED Running On-Demand G and VT instances (")
    assert check.evidence[0].endswith(": not read") and len(check.evidence) == 2
    assert check.data["responseBodies"] == [PAGE]  # whole, once: --json and --verbose
    assert {r["verdict"] for r in check.data["quotas"]} == {f"could not check: {error}"}


def test_the_table_quotes_an_html_page_once_and_verbose_prints_it(account, capsys, monkeypatch):  # noqa: F811
    with error_page_server() as url:
        report = html_quotas_report(account, url)
    monkeypatch.setattr(preflight, "run", lambda stack, region=None, project_dir=ROOT: report)
    assert main(["preflight", "--stack", "dev"]) == 2
    out = capsys.readouterr().out
    assert out.count("HTTP 500 from Service") == 1
    assert "[bold]could not[/bold]" in out  # text, not markup
    assert "<" not in out and "Diagnostic line" not in out and "never shown" not in out
    assert "--verbose prints the whole response" in out

    assert main(["preflight", "--stack", "dev", "--verbose"]) == 2
    out = capsys.readouterr().out
    assert "<!DOCTYPE html>" in out and "Diagnostic line 19" in out

    assert main(["preflight", "--stack", "dev", "--json"]) == 2
    quotas = next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["id"] == "quotas")
    assert quotas["data"]["responseBodies"] == [PAGE]
    assert "\n" not in quotas["summary"]


def test_ec2_answering_an_html_page_is_could_not_check_not_a_traceback(account):  # noqa: F811
    with error_page_server() as url:
        report = preflight.run(
            "dev", clients=replace(clients(account), ec2=client_at(url, "ec2")), today=TODAY
        )
    config = report.check("config")
    assert config.status == "unchecked" and report.exit_code == 2
    assert "EC2 DescribeInstanceTypes failed: ResponseParserError: Unable to parse" in (
        config.summary
    )
    assert config.summary.endswith(FIRST_TEXT) and "\n" not in config.summary


def test_sts_answering_an_html_page_is_one_line_and_json_keeps_the_page(
    account,  # noqa: F811
    capsys,
    monkeypatch,
):
    with error_page_server(status=502) as url:
        sts = client_at(url, "sts")
        the_command_checks(monkeypatch, lambda: replace(clients(account), sts=sts))
        assert main(["preflight", "--stack", "dev"]) == 2
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("preflight: COULD NOT CHECK stack dev: the credentials do not")
        assert out[0].endswith(FIRST_TEXT) and len(out) == 2  # and the --verbose hint
        assert main(["preflight", "--stack", "dev", "--json"]) == 2
        document = json.loads(capsys.readouterr().out)
        assert document["responseBodies"] == [PAGE] and "\n" not in document["reason"]
