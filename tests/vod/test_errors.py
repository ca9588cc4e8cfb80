"""VodError: the retry classification, safe messages, and reading an HTTP answer into an error."""

from __future__ import annotations

import copy
import pickle

import pytest

from orchestrator.errors import OrchestratorError
from orchestrator.vod import errors
from orchestrator.vod.errors import VodError, classify, read_response


@pytest.mark.parametrize(
    ("code", "http_status"),
    [
        ("Throttling", 400),
        ("Throttling.User", 400),
        ("Throttling.Api", 400),
        ("SomeGatewayLimit", 429),
    ],
)
def test_flow_control_is_throttled_and_retryable(code: str, http_status: int) -> None:
    """Every Throttling* code, and a gateway's 429, is throttled and retryable."""
    assert classify(code, http_status) == errors.Classification(retryable=True, throttled=True)


@pytest.mark.parametrize(
    ("code", "http_status"),
    [
        ("ServiceUnavailable", 503),
        ("ServiceUnAvailable", 503),
        ("InternalError", 500),
        ("UnknownError", 500),
        ("SystemBusy", 400),
        ("SignatureNonceUsed", 400),
        ("SomethingNew", 500),
        ("SomethingNew", 502),
        ("SomethingNew", 503),
        ("SomethingNew", 504),
        (errors.TRANSPORT_TIMEOUT, None),
        (errors.CONNECTION_ERROR, None),
        (errors.INVALID_JSON, 200),
        (errors.UNRECOGNISED_ERROR_BODY, 502),
    ],
)
def test_transient_failures_are_retryable_but_not_throttled(
    code: str, http_status: int | None
) -> None:
    """Transient codes and 5xx statuses are retryable without being flow control."""
    assert classify(code, http_status) == errors.Classification(retryable=True, throttled=False)


@pytest.mark.parametrize(
    ("code", "http_status"),
    [
        ("InvalidTimeStamp.Expired", 400),
        ("InvalidAccessKeyId.NotFound", 404),
        ("InvalidAccessKeyId.Inactive", 400),
        ("SignatureDoesNotMatch", 400),
        ("IncompleteSignature", 400),
        ("Forbidden", 403),
        ("Forbidden.RAM", 403),
        ("InvalidSecurityToken.Expired", 400),
        ("MissingVideoId", 400),
        ("InvalidParameter", 400),
        ("OperationDenied.Suspended", 403),
        ("InvalidVideo.NotFound", 404),
        ("InvalidVideo.NotFound", 503),
        ("Forbidden.IllegalStatus", 403),
        ("SomethingNew", 400),
        (errors.UNRECOGNISED_ERROR_BODY, 404),
        (errors.MALFORMED_RESPONSE, None),
        (errors.TLS_ERROR, None),
    ],
)
def test_permanent_failures_are_not_retryable(code: str, http_status: int | None) -> None:
    """Named permanent codes stay permanent even behind a 5xx; unknown 4xx codes are permanent."""
    assert classify(code, http_status) == errors.Classification(retryable=False, throttled=False)


def test_vod_error_exposes_fields_and_derives_from_the_root() -> None:
    """A VodError carries its fields, the classification, and is an OrchestratorError."""
    err = VodError(
        action="ListAIJob",
        code="Throttling.User",
        message="Request was denied due to user flow control.",
        http_status=400,
        request_id="RID-1",
        retry_after=1.5,
    )
    assert isinstance(err, OrchestratorError)
    assert (err.action, err.code, err.http_status, err.request_id) == (
        "ListAIJob",
        "Throttling.User",
        400,
        "RID-1",
    )
    assert err.retry_after == 1.5
    assert err.retryable
    assert err.throttled
    assert str(err) == (
        "ListAIJob: Throttling.User (HTTP 400): Request was denied due to user flow control."
        " [request RID-1]"
    )


def test_message_is_redacted_and_short() -> None:
    """Signed URLs, echoed tokens and signatures never survive into the message or str()."""
    echoed = (
        "server string to sign is: POST&%2F&AccessKeyId%3DAK%26SecurityToken%3DTOPSECRET%26"
        "Signature%3DSIGVALUE; see http://x.example/a.gif?auth_key=1602745717-0-0-abc and "
        "x-acs-security-token:HEADERTOKEN " + "z" * 500
    )
    err = VodError(action="GetImageInfos", code="SignatureDoesNotMatch", message=echoed)
    for secret in ("TOPSECRET", "SIGVALUE", "1602745717-0-0-abc", "HEADERTOKEN"):
        assert secret not in str(err)
        assert secret not in err.message
    assert "http://x.example/a.gif?<redacted>" in err.message
    assert len(err.message) <= errors.MAX_MESSAGE_CHARS


def test_redaction_is_idempotent() -> None:
    """Redacting an already redacted text changes nothing, so rebuilt errors stay stable."""
    once = errors.redact("Signature=abc&auth_key=def https://h/p?q=1")
    assert errors.redact(once) == once


def test_vod_error_survives_pickle_and_copy() -> None:
    """The keyword-only error round-trips through pickle and copy with every field intact."""
    err = VodError(
        action="ListAIJob", code="InternalError", message="m", http_status=500, retry_after=2.0
    )
    for clone in (pickle.loads(pickle.dumps(err)), copy.copy(err)):
        assert isinstance(clone, VodError)
        assert (clone.code, clone.http_status, clone.retry_after, clone.retryable) == (
            "InternalError",
            500,
            2.0,
            True,
        )
        assert str(clone) == str(err)


def test_read_response_returns_json_of_a_success() -> None:
    """A 200 with a JSON object body is returned decoded."""
    assert read_response("ListAIJob", 200, {}, b'{"RequestId": "r"}') == {"RequestId": "r"}


def test_read_response_raises_the_api_error_with_retry_after() -> None:
    """A JSON error body becomes a VodError with its code, request id and retry-after in seconds."""
    body = b'{"RequestId":"R","HostId":"h","Code":"Throttling.User","Message":"flow control"}'
    with pytest.raises(VodError) as caught:
        read_response("ListAIJob", 400, {"x-acs-retry-after": "1500"}, body)
    err = caught.value
    assert (err.code, err.request_id, err.http_status, err.retry_after) == (
        "Throttling.User",
        "R",
        400,
        1.5,
    )
    assert err.throttled


def test_read_response_turns_an_html_502_into_a_retryable_error_with_an_excerpt() -> None:
    """A gateway's HTML page gives UNRECOGNISED_ERROR_BODY, retryable by status, tags stripped."""
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
    with pytest.raises(VodError) as caught:
        read_response("ListAIJob", 502, {}, page + b"x" * 5000)
    err = caught.value
    assert err.code == errors.UNRECOGNISED_ERROR_BODY
    assert err.retryable
    assert err.message.startswith("502 Bad Gateway 502 Bad Gateway")
    assert len(err.message) <= 120


def test_read_response_names_an_empty_error_body() -> None:
    """An error status with no body still yields a readable message."""
    with pytest.raises(VodError) as caught:
        read_response("ListAIJob", 503, {}, b"")
    assert caught.value.message == "empty body"
    assert caught.value.retryable


def test_read_response_treats_truncated_success_json_as_retryable() -> None:
    """A 200 whose body is cut mid-JSON is INVALID_JSON and may be retried."""
    with pytest.raises(VodError) as caught:
        read_response("ListAIJob", 200, {}, b'{"RequestId": "r", "AIJobList": {"AIJ')
    assert caught.value.code == errors.INVALID_JSON
    assert caught.value.retryable


def test_read_response_treats_undecodable_bytes_as_invalid_json() -> None:
    """Bytes that are not UTF-8 are reported as invalid JSON, not as a crash."""
    with pytest.raises(VodError) as caught:
        read_response("ListAIJob", 200, {}, b"\xff\xfe\x00")
    assert caught.value.code == errors.INVALID_JSON


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("250", 0.25), ("0", None), ("-5", None), ("soon", None), ("nan", None), ("9999999", 60.0)],
)
def test_retry_after_header_is_milliseconds_capped_and_validated(
    header: str, seconds: float | None
) -> None:
    """x-acs-retry-after is read as milliseconds, capped, and ignored when meaningless."""
    assert errors.retry_after_seconds({"x-acs-retry-after": header}) == seconds
