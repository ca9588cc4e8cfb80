"""VodClient failures: every error class, retries, the limiter feedback, stats and safe logs."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from structlog.testing import capture_logs

from orchestrator.vod import RetryPolicy, VodError, errors
from orchestrator.vod.limiter import RECOVERY_FRACTION
from tests.vod.conftest import API, SECRET, TOKEN, FakeClock, MakeClient, VodMock

THROTTLED = {"RequestId": "RT", "Code": "Throttling.User", "Message": "user flow control"}
EMPTY_IMAGES = {"RequestId": "OK", "AIImageInfoList": []}


def _fail(api: VodMock, status: int, payload: dict[str, Any], **options: Any) -> None:
    api.post(API, status=status, payload=payload, **options)


def _ok(api: VodMock) -> None:
    api.post(API, payload=EMPTY_IMAGES)


async def _call(client: Any) -> Any:
    return await client.list_ai_image_info("v1")


async def test_throttled_call_slows_the_limiter_and_is_retried(
    make_client: MakeClient, api: VodMock
) -> None:
    """Throttling.User (400) is retried; the action's rate halves and the stats count it."""
    _fail(api, 400, THROTTLED)
    _ok(api)
    client = make_client()
    result = await _call(client)
    assert result.request_id == "OK"
    assert client.rate("ListAIImageInfo") == pytest.approx(50.0 / 2 + 50.0 * RECOVERY_FRACTION)
    stats = client.stats
    assert (stats.throttled, stats.retries) == (1, 1)
    assert dict(stats.errors) == {"Throttling.User": 1}
    assert dict(stats.calls) == {"ListAIImageInfo": 2}


async def test_retry_after_header_holds_the_retry(
    make_client: MakeClient, api: VodMock, clock: FakeClock
) -> None:
    """x-acs-retry-after (ms) on a throttled answer delays the retry by at least that long."""
    _fail(api, 400, THROTTLED, headers={"x-acs-retry-after": "2500"})
    _ok(api)
    client = make_client()
    started = clock.now
    await _call(client)
    assert clock.now - started >= 2.5
    assert max(clock.sleeps) >= 2.5


async def test_each_attempt_is_signed_afresh(make_client: MakeClient, api: VodMock) -> None:
    """A retried call uses a new nonce, so SignatureNonceUsed cannot repeat itself."""
    _fail(api, 400, {"Code": "SignatureNonceUsed", "Message": "nonce used"})
    _ok(api)
    await _call(make_client())
    nonces = [kwargs["headers"]["x-acs-signature-nonce"] for _, kwargs in api.sent()]
    assert nonces == ["nonce-1", "nonce-2"]


@pytest.mark.parametrize(
    ("status", "payload", "body"),
    [
        (500, {"Code": "InternalError", "Message": "oops"}, None),
        (503, {"Code": "ServiceUnAvailable", "Message": "busy"}, None),
        (502, None, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
        (200, None, '{"RequestId": "x", "AIImageInfoList": [{"Jo'),
    ],
)
async def test_transient_answers_are_retried(
    make_client: MakeClient,
    api: VodMock,
    status: int,
    payload: dict[str, Any] | None,
    body: str | None,
) -> None:
    """5xx errors, an HTML 502 and a truncated JSON 200 are retried and then succeed."""
    if payload is not None:
        _fail(api, status, payload)
    else:
        api.post(API, status=status, body=body or "", content_type="text/html")
    _ok(api)
    client = make_client()
    assert (await _call(client)).request_id == "OK"
    assert client.stats.retries == 1


@pytest.mark.parametrize(
    "exception",
    [
        TimeoutError(),
        aiohttp.ServerTimeoutError("read timeout"),
        aiohttp.ClientConnectionResetError("Connection reset by peer"),
        aiohttp.ServerDisconnectedError(),
        ConnectionResetError(104, "Connection reset by peer"),
        aiohttp.ClientPayloadError("Response payload is not completed"),
    ],
)
async def test_transport_failures_become_retryable_vod_errors(
    make_client: MakeClient, api: VodMock, exception: Exception
) -> None:
    """Timeouts and broken connections are translated into retryable VodErrors, then retried."""
    api.post(API, exception=exception)
    _ok(api)
    client = make_client()
    await _call(client)
    (code,) = client.stats.errors
    assert code in (errors.TRANSPORT_TIMEOUT, errors.CONNECTION_ERROR)
    assert client.stats.retries == 1


async def test_persistent_timeouts_raise_after_max_attempts(
    make_client: MakeClient, api: VodMock
) -> None:
    """Timing out on every attempt raises Transport.Timeout after max_attempts tries."""
    api.post(API, exception=TimeoutError(), repeat=True)
    client = make_client(retry=RetryPolicy(max_attempts=3, initial_s=0.1, max_s=1.0))
    with pytest.raises(VodError) as caught:
        await _call(client)
    assert caught.value.code == errors.TRANSPORT_TIMEOUT
    assert caught.value.retryable
    assert len(api.sent()) == 3


async def test_a_reset_connection_names_the_cause(make_client: MakeClient, api: VodMock) -> None:
    """The connection error keeps the exception's type and text for the operator."""
    api.post(API, exception=aiohttp.ClientConnectionResetError("Connection reset by peer"))
    client = make_client(retry=RetryPolicy(max_attempts=1))
    with pytest.raises(VodError) as caught:
        await _call(client)
    assert caught.value.code == errors.CONNECTION_ERROR
    assert caught.value.message == "ClientConnectionResetError: Connection reset by peer"


async def test_a_certificate_failure_is_not_retried(make_client: MakeClient, api: VodMock) -> None:
    """A TLS certificate error is permanent: one attempt, Transport.TlsError."""
    key = ConnectionKey("vod.cn-shanghai.aliyuncs.com", 443, True, True, None, None, None)
    api.post(
        API,
        exception=aiohttp.ClientConnectorCertificateError(
            key, ssl.SSLCertVerificationError("certificate verify failed")
        ),
    )
    with pytest.raises(VodError) as caught:
        await _call(make_client())
    assert caught.value.code == errors.TLS_ERROR
    assert not caught.value.retryable
    assert len(api.sent()) == 1


async def test_permanent_404_is_raised_at_once(make_client: MakeClient, api: VodMock) -> None:
    """InvalidVideo.NotFound (404) is not retried and keeps the API's code and request id."""
    _fail(api, 404, {"RequestId": "R404", "Code": "InvalidVideo.NotFound", "Message": "gone"})
    client = make_client()
    with pytest.raises(VodError) as caught:
        await _call(client)
    err = caught.value
    assert (err.code, err.http_status, err.request_id, err.retryable) == (
        "InvalidVideo.NotFound",
        404,
        "R404",
        False,
    )
    assert len(api.sent()) == 1
    assert client.stats.retries == 0


async def test_malformed_success_body_is_not_retried(make_client: MakeClient, api: VodMock) -> None:
    """A 200 of the wrong shape raises Response.Malformed after a single attempt."""
    api.post(API, payload={"RequestId": "RM", "Unexpected": True})
    client = make_client()
    with pytest.raises(VodError) as caught:
        await _call(client)
    assert caught.value.code == errors.MALFORMED_RESPONSE
    assert caught.value.request_id == "RM"
    assert len(api.sent()) == 1
    assert dict(client.stats.errors) == {errors.MALFORMED_RESPONSE: 1}


async def test_retry_budget_stops_a_long_retry_after(
    make_client: MakeClient, api: VodMock, clock: FakeClock
) -> None:
    """A retry-after beyond the budget ends the call at once with the throttling error."""
    _fail(api, 400, THROTTLED, headers={"x-acs-retry-after": "45000"})
    client = make_client(retry=RetryPolicy(budget_s=30.0))
    with pytest.raises(VodError) as caught:
        await _call(client)
    assert caught.value.retry_after == 45.0
    assert clock.sleeps == []
    assert len(api.sent()) == 1


async def test_attempts_are_bounded_by_the_remaining_budget(
    make_client: MakeClient, api: VodMock
) -> None:
    """Each attempt's total timeout is what is left of the budget, never more."""
    _fail(api, 503, {"Code": "ServiceUnavailable", "Message": "busy"})
    _ok(api)
    await _call(make_client(retry=RetryPolicy(budget_s=20.0)))
    totals = [kwargs["timeout"].total for _, kwargs in api.sent()]
    assert totals[0] == 20.0
    assert 0 < totals[1] < 20.0
    assert {kwargs["timeout"].sock_connect for _, kwargs in api.sent()} == {5.0}


async def test_retry_is_logged_before_the_sleep(
    make_client: MakeClient, api: VodMock, clock: FakeClock
) -> None:
    """The client's vod.retry line is written before it starts sleeping."""
    _fail(api, 503, {"Code": "ServiceUnavailable", "Message": "busy"})
    _ok(api)
    events_at_sleep: list[list[str]] = []
    with capture_logs() as logs:

        async def sleep(seconds: float) -> None:
            events_at_sleep.append([entry["event"] for entry in logs])
            await clock.sleep(seconds)

        await _call(make_client(sleep=sleep))
    (seen,) = events_at_sleep
    assert seen[-1] == "vod.retry"
    retry = next(entry for entry in logs if entry["event"] == "vod.retry")
    assert (retry["action"], retry["attempt"], retry["code"], retry["http_status"]) == (
        "ListAIImageInfo",
        1,
        "ServiceUnavailable",
        503,
    )


async def test_calls_are_logged_without_secrets(make_client: MakeClient, api: VodMock) -> None:
    """vod.call lines carry action, status, duration and request id; no secret reaches any log."""
    echo = (
        "server string to sign is: POST&%2F&AccessKeyId%3DAK%26SecurityToken%3D"
        + TOKEN
        + " url http://cdn.example/i.gif?auth_key=1700000000-0-0-deadbeef"
    )
    _fail(api, 400, THROTTLED, headers={"x-acs-retry-after": "100"})
    _fail(api, 400, {"Code": "SignatureDoesNotMatch", "Message": echo})
    _ok(api)
    client = make_client(signature="v1")
    with capture_logs() as logs, pytest.raises(VodError) as caught:
        await _call(client)
    _ok(api)
    with capture_logs() as more:
        await _call(client)
    calls = [entry for entry in logs + more if entry["event"] == "vod.call"]
    assert [entry["http_status"] for entry in calls] == [400, 400, 200]
    assert calls[-1]["request_id"] == "OK"
    assert all(entry["log_level"] == "debug" and "duration_ms" in entry for entry in calls)
    text = repr(logs + more) + str(caught.value)
    for secret in (SECRET, TOKEN, "deadbeef", "Signature="):
        assert secret not in text
