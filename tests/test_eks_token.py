"""EKS tokens from boto3 (presigned STS GetCallerIdentity) and the CoreV1Api built from them."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from kubernetes.client import CoreV1Api
from moto import mock_aws

from core import eks_token

REGION = "ap-northeast-2"
PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


@pytest.fixture
def session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region_name="us-east-1",
    )


def _decode(token: str) -> str:
    assert token.startswith("k8s-aws-v1.")
    body = token.removeprefix("k8s-aws-v1.")
    assert "=" not in body and "+" not in body and "/" not in body  # base64url, unpadded
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def test_token_is_a_presigned_get_caller_identity_with_the_cluster_header_signed(
    session: boto3.session.Session,
) -> None:
    url = urlsplit(_decode(eks_token.get_token("toe-dev", REGION, session)))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (url.scheme, url.netloc, url.path) == ("https", f"sts.{REGION}.amazonaws.com", "/")
    assert query["Action"] == "GetCallerIdentity"
    assert query["Version"] == "2011-06-15"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-SignedHeaders"].split(";") == ["host", "x-k8s-aws-id"]
    assert query["X-Amz-Credential"].startswith("AKIAIOSFODNN7EXAMPLE/")
    assert query["X-Amz-Credential"].endswith(f"/{REGION}/sts/aws4_request")
    assert "x-k8s-aws-id" not in url.query.split("X-Amz-SignedHeaders")[0]  # a header, not a param


def test_signature_covers_the_cluster_name(session: boto3.session.Session) -> None:
    def signature(cluster: str) -> str:
        url = eks_token.presigned_url(cluster, REGION, session)
        return parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]

    # Same credentials, same second: only the signed x-k8s-aws-id header differs.
    assert signature("toe-alice") != signature("toe-bob")


def test_token_with_credentials_from_the_environment_under_moto() -> None:
    with mock_aws():
        token = eks_token.get_token("toe-dev", REGION)
        identity = boto3.client("sts", region_name=REGION).get_caller_identity()
    assert identity["Account"]  # moto's credentials are the ones that signed
    assert "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id" in _decode(token)


def test_core_v1_api_from_endpoint_ca_and_token() -> None:
    ca = base64.b64encode(PEM.encode()).decode()
    api = eks_token.core_v1_api(
        "https://ABC.gr7.ap-northeast-2.eks.amazonaws.com", ca, "k8s-aws-v1.x"
    )
    assert isinstance(api, CoreV1Api)
    configuration = api.api_client.configuration
    assert configuration.host == "https://ABC.gr7.ap-northeast-2.eks.amazonaws.com"
    assert configuration.ca_cert_data == PEM
    assert configuration.auth_settings()["BearerToken"]["value"] == "Bearer k8s-aws-v1.x"
    assert configuration.verify_ssl is True


def test_sessions_reach_aws_as_the_provider_does(monkeypatch, tmp_path):
    """aws:profile picks the profile; aws:assumeRoles makes the session the assumed role."""
    import boto3
    from moto import mock_aws

    from core import eks_token

    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[workshop]\naws_access_key_id = AKIAWORKSHOP\naws_secret_access_key = secret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        plain = eks_token.session_for("ap-northeast-2", profile="workshop")
        assert plain.get_credentials().access_key == "AKIAWORKSHOP"
        assert plain.region_name == "ap-northeast-2"
        role = "arn:aws:iam::123456789012:role/Deployer"
        assumed = eks_token.session_for(
            "ap-northeast-2", profile="workshop", roles=[{"roleArn": role, "sessionName": "toe"}]
        )
        arn = assumed.client("sts").get_caller_identity()["Arn"]
        assert arn == "arn:aws:sts::123456789012:assumed-role/Deployer/toe"
        # Role chaining: the session is the last role's, as `pulumi up` runs as it.
        chained = eks_token.session_for(
            "ap-northeast-2",
            roles=[{"roleArn": role}, {"roleArn": "arn:aws:iam::210987654321:role/Trainer"}],
        )
        arn = chained.client("sts").get_caller_identity()["Arn"]
        assert arn == "arn:aws:sts::210987654321:assumed-role/Trainer/training-on-eks"
        assert boto3  # the module the helper builds its sessions from


def test_every_field_a_trust_policy_may_demand_is_sent_to_sts():
    """The STS parameters of one `aws:assumeRoles` entry, checked against botocore's model."""
    import botocore.session

    from core import eks_token

    role = {
        "roleArn": "arn:aws:iam::123456789012:role/Deployer",
        "externalId": "workshop-2026",
        "policy": '{"Version": "2012-10-17", "Statement": []}',
        "policyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "sourceIdentity": "instructor",
        "tags": {"team": "ml"},
        "transitiveTagKeys": ["team"],
        "duration": "30m",
    }
    params = eks_token.assume_role_params(role)
    model = botocore.session.get_session().get_service_model("sts")
    shape = model.operation_model("AssumeRole").input_shape
    assert set(params) <= set(shape.members)
    assert params["PolicyArns"] == [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]
    assert params["Tags"] == [{"Key": "team", "Value": "ml"}]
    assert params["RoleSessionName"] == "training-on-eks"
    assert "DurationSeconds" not in params
