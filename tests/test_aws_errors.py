"""One line for a failed AWS call, from what botocore itself makes of an HTML error page served
on loopback: JSON services, query services (parsed and unparsable pages), and AWS's own errors."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from core.aws_errors import WIDTH, aws_error, body_text, call_failed, response_body
from tests.fakes.error_page import FIRST_TEXT, PAGE, TITLE, error_page_server

# A proxy's refusal as well-formed XML: botocore's query parser reads it into the response.
XHTML = (
    "<!DOCTYPE html><html><head><title>403 Forbidden</title></head>"
    "<body><h1>Forbidden</h1><p>blocked by [red]policy[/red] 12</p></body></html>"
)


def client(service: str, url: str):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


def failure(call) -> Exception:
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


def test_a_json_service_answering_an_html_page_is_one_line():
    with error_page_server() as url:
        quotas = client("service-quotas", url)
        err = failure(lambda: quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-1"))
    # botocore: Error {"Code": "500", "Message": <the whole page>}
    assert err.response["Error"] == {"Code": "500", "Message": PAGE}
    line = aws_error(err, "Service Quotas")
    assert line == f"HTTP 500 from Service Quotas GetServiceQuota: {FIRST_TEXT}"
    assert call_failed(err, "Service Quotas") == line
    assert aws_error(err) == f"HTTP 500 from GetServiceQuota: {FIRST_TEXT}"
    assert response_body(err) == PAGE


def test_a_query_service_answering_an_unparsable_page_is_one_line():
    with error_page_server(status=503) as url:
        ec2 = client("ec2", url)
        err = failure(lambda: ec2.describe_instance_types(InstanceTypes=["g5.xlarge"]))
    assert type(err).__name__ == "ResponseParserError"  # not XML: botocore cannot parse it
    line = aws_error(err, "EC2")
    assert line.startswith("ResponseParserError: Unable to parse response (")
    assert line.endswith(f"invalid XML received: {FIRST_TEXT}")
    assert "\n" not in line and "<" not in line and "never shown" not in line
    assert response_body(err) == PAGE


def test_a_query_service_answering_a_well_formed_page_names_the_status_and_the_call():
    with error_page_server(XHTML, 403) as url:
        sts = client("sts", url)
        err = failure(sts.get_caller_identity)
    # botocore: no "Error"; the page's elements are the response (the exception says "Unknown")
    assert "Error" not in err.response and err.response["head"] == {"title": "403 Forbidden"}
    assert aws_error(err, "STS") == (
        "HTTP 403 from STS GetCallerIdentity: 403 Forbidden - blocked by [red]policy[/red] 12"
    )
    assert '"title": "403 Forbidden"' in response_body(err)


def test_a_5xx_page_starting_with_html_is_the_status_and_its_reason():
    with error_page_server("<html><body>Bad Gateway</body></html>", 502) as url:
        sts = client("sts", url)
        err = failure(sts.get_caller_identity)
    # botocore: a 5xx body starting with <html> is "generic": Code "502", the reason phrase
    assert err.response["Error"] == {"Code": "502", "Message": "Bad Gateway"}
    assert aws_error(err, "STS") == "HTTP 502 from STS GetCallerIdentity: Bad Gateway"
    assert response_body(err) is None  # the line says all botocore kept


def test_aws_error_documents_keep_their_code_and_message():
    quotas = client("service-quotas", "http://127.0.0.1:9")
    with Stubber(quotas) as stub:
        stub.add_client_error("get_service_quota", "AccessDeniedException", "not\n allowed", 400)
        err = failure(lambda: quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-1"))
    assert aws_error(err, "Service Quotas") == "AccessDeniedException: not allowed"
    assert call_failed(err, "Service Quotas") == (
        "Service Quotas GetServiceQuota failed: AccessDeniedException: not allowed"
    )
    assert response_body(err) is None


def test_a_wrapped_error_still_has_its_body():
    with error_page_server() as url:
        quotas = client("service-quotas", url)
        try:
            quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-1")
        except Exception as err:
            try:
                raise RuntimeError(aws_error(err)) from None
            except RuntimeError as wrapped:
                assert response_body(wrapped) == PAGE


def test_body_text_picks_the_first_meaningful_text_and_stays_short():
    assert body_text(PAGE) == FIRST_TEXT
    assert body_text(f"<html><body><p>{'word ' * 200}</p></body></html>").endswith("...")
    assert len(body_text("x " * 500)) <= WIDTH
    assert body_text('{"kind": "Status", "message": "pods is\\nforbidden"}') == "pods is forbidden"
    assert body_text(f"<title>{TITLE}</title>".encode()) == TITLE
    assert body_text("<html><script>no()</script><div>only text</div></html>") == "only text"
