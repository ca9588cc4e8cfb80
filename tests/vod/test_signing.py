"""Signature V1 and V3 against the documented test vectors."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from orchestrator.vod import signing
from orchestrator.vod.signing import Credentials


def test_v1_reproduces_vod_documentation_example() -> None:
    """The VOD documentation's GetVideoPlayAuth example signs to its published value."""
    params = {
        "AccessKeyId": "testAccessKeyId",
        "Action": "GetVideoPlayAuth",
        "Format": "JSON",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "8f8a035d-6496-4268-afd4-67c22837e38d",
        "SignatureVersion": "1.0",
        "Timestamp": "2017-10-10T12:02:54Z",
        "Version": "2017-03-21",
        "VideoId": "5aed81b74ba84920be578cdfe004af4b",
    }
    assert (
        signing.v1_signature(params, method="GET", secret="testAccessKeySecret")
        == "Ibgh7y8Vp47LBuAsf5Xhi1SvDss="
    )


def test_v1_reproduces_generic_rpc_example_for_get_and_post() -> None:
    """The generic ECS DescribeRegions example signs to the published GET and POST values."""
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert signing.v1_signature(params, method="GET", secret="testsecret") == (
        "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    )
    assert signing.v1_signature(params, method="POST", secret="testsecret") == (
        "MxbnVAM4w6sft9xjVpe/GCKueuk="
    )


def test_canonical_query_encodes_reserved_characters() -> None:
    """Space, slash, star and plus are percent-encoded while tilde and dash stay literal."""
    assert signing.canonical_query({"test": " ~/*-+"}) == "test=%20~%2F%2A-%2B"


def test_v3_reproduces_official_documentation_example() -> None:
    """The documented RunInstances example hashes and signs to its published values."""
    headers = {
        "host": "ecs.cn-shanghai.aliyuncs.com",
        "x-acs-action": "RunInstances",
        "x-acs-version": "2014-05-26",
        "x-acs-date": "2023-10-26T10:22:32Z",
        "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
        "x-acs-content-sha256": signing.EMPTY_PAYLOAD_SHA256,
    }
    canonical = signing.v3_canonical_request(
        method="POST",
        path="/",
        query={
            "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            "RegionId": "cn-shanghai",
        },
        headers=headers,
        signed_headers=signing.v3_signed_header_names(headers),
        payload_hash=signing.EMPTY_PAYLOAD_SHA256,
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    )
    assert signing.v3_signature(canonical, secret="YourAccessKeySecret") == (
        "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    )


def test_sign_v3_authorization_round_trips_through_parser() -> None:
    """A header produced by sign_v3 parses back into its key id, signed headers and signature."""
    creds = Credentials("id", "secret", security_token="tok")
    headers = signing.sign_v3(
        "ListAIJob",
        {"JobIds": "a,b"},
        credentials=creds,
        host="vod.cn-shanghai.aliyuncs.com",
        method="POST",
        now=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        nonce="n1",
    )
    parsed = signing.parse_v3_authorization(headers["Authorization"])
    assert parsed is not None
    assert parsed.access_key_id == "id"
    assert "x-acs-security-token" in parsed.signed_headers
    assert headers["x-acs-date"] == "2024-01-02T03:04:05Z"
    canonical = signing.v3_canonical_request(
        method="POST",
        path="/",
        query={"JobIds": "a,b"},
        headers=headers,
        signed_headers=parsed.signed_headers,
        payload_hash=headers["x-acs-content-sha256"],
    )
    assert signing.v3_signature(canonical, secret="secret") == parsed.signature


def test_parse_v3_authorization_rejects_incomplete_values() -> None:
    """A header missing a part or of another algorithm parses to None."""
    assert signing.parse_v3_authorization("ACS3-HMAC-SHA256 Credential=a,Signature=b") is None
    assert signing.parse_v3_authorization("Basic abc") is None


def test_credentials_repr_hides_secret_and_token() -> None:
    """Neither the secret nor the token appear in the repr of Credentials."""
    text = repr(Credentials("AKID", "s3cr3t", security_token="t0k3n"))
    assert "AKID" in text
    assert "s3cr3t" not in text
    assert "t0k3n" not in text


def test_sign_v1_refuses_operation_parameters_named_like_common_ones() -> None:
    """An operation parameter that would overwrite a common one (Signature) is refused."""
    with pytest.raises(ValueError, match="Signature"):
        signing.sign_v1(
            "ListAIJob",
            {"Signature": "x"},
            credentials=Credentials("id", "secret"),
            method="POST",
            now=datetime(2024, 1, 1, tzinfo=UTC),
            nonce="n",
        )
