"""Logs: the JSON and console shapes, and that no secret reaches the output."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog

from orchestrator.errors import ConfigError
from orchestrator.logs import (
    REDACTED,
    configure_logging,
    get_logger,
    redact_text,
    redact_url,
    register_secret,
)
from orchestrator.settings import EventsSettings, Settings
from orchestrator.vod.signing import Credentials


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Undo configure_logging after each test, so other tests see the logging they expect."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in root.handlers[:]:
        if isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter):
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def unique_secret() -> str:
    # Registered secrets stay registered for the process: unique values keep tests independent.
    return f"secret-{uuid.uuid4().hex}"


# --- shape -------------------------------------------------------------------------------------


def test_json_line_shape() -> None:
    """A record is one JSON object with an ISO-8601 UTC timestamp, level, dotted event and keys."""
    stream = io.StringIO()
    configure_logging(stream=stream)

    get_logger("orchestrator.poller").info("job.submitted", request_id="r-1", job_id="j-1")

    (line,) = json_lines(stream)
    assert list(line)[:4] == ["timestamp", "level", "event", "logger"]
    assert line["level"] == "info"
    assert line["event"] == "job.submitted"
    assert line["logger"] == "orchestrator.poller"
    assert (line["request_id"], line["job_id"]) == ("r-1", "j-1")
    assert line["timestamp"].endswith("Z")
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() is not None
    assert stamp.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_one_object_per_line_and_non_json_values_as_text() -> None:
    """Each record is exactly one line, and values JSON cannot hold are written as text."""
    stream = io.StringIO()
    configure_logging(stream=stream)
    log = get_logger("t")

    log.info("a.first", note="line\nbreak", when=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    log.warning("a.second", ids={"x", "y"} - {"y"}, obj=object())

    assert stream.getvalue().count("\n") == 2
    first, second = json_lines(stream)
    assert first["note"] == "line\nbreak"
    assert first["when"] == "2024-01-02T03:04:05+00:00"
    assert second["ids"] == ["x"]
    assert second["obj"].startswith("<object object")


def test_level_filters_records() -> None:
    """Records below the configured level are not written."""
    stream = io.StringIO()
    configure_logging(level="warning", stream=stream)
    log = get_logger("t")

    log.debug("x.debug")
    log.info("x.info")
    log.warning("x.warning")
    log.error("x.error")

    assert [line["event"] for line in json_lines(stream)] == ["x.warning", "x.error"]
    assert [line["level"] for line in json_lines(stream)] == ["warning", "error"]


def test_context_variables_are_merged() -> None:
    """Keys bound with structlog.contextvars appear on every record of the context."""
    stream = io.StringIO()
    configure_logging(stream=stream)
    structlog.contextvars.bind_contextvars(request_id="r-7")

    get_logger("t").info("job.polled", polls=2)

    (line,) = json_lines(stream)
    assert (line["request_id"], line["polls"]) == ("r-7", 2)


def test_exception_is_formatted_into_the_record() -> None:
    """log.exception writes the traceback as text under `exception`."""
    stream = io.StringIO()
    configure_logging(stream=stream)

    try:
        raise ValueError("bad shape")
    except ValueError:
        get_logger("t").exception("vod.parse_failed")

    (line,) = json_lines(stream)
    assert line["level"] == "error"
    assert "Traceback" in line["exception"]
    assert "ValueError: bad shape" in line["exception"]


def test_standard_library_records_share_the_format() -> None:
    """Records from stdlib loggers (aiohttp, asyncio) come out as the same JSON, redacted."""
    stream = io.StringIO()
    configure_logging(stream=stream)

    logging.getLogger("aiohttp.access").info("POST /?Action=ListAIJob&Signature=c2lnbmF0dXJl")

    (line,) = json_lines(stream)
    assert line["logger"] == "aiohttp.access"
    assert line["level"] == "info"
    assert line["event"] == f"POST /?Action=ListAIJob&Signature={REDACTED}"
    assert "c2lnbmF0dXJl" not in stream.getvalue()


def test_configuring_again_replaces_the_output() -> None:
    """A second configure_logging call redirects records instead of duplicating them."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(stream=second)

    get_logger("t").info("x.once")

    assert first.getvalue() == ""
    assert len(json_lines(second)) == 1


def test_console_format() -> None:
    """Console mode writes a readable uncoloured line with the event and its keys."""
    stream = io.StringIO()
    configure_logging(fmt="console", stream=stream)

    get_logger("t").info("job.submitted", request_id="r-1")

    text = stream.getvalue()
    assert "job.submitted" in text
    assert "request_id=r-1" in text
    assert "info" in text
    assert "\x1b[" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_console_format_redacts_exceptions() -> None:
    """In console mode the traceback text is redacted too."""
    stream = io.StringIO()
    configure_logging(fmt="console", stream=stream)
    secret = unique_secret()
    register_secret(secret)

    try:
        raise RuntimeError(f"login failed with {secret}")
    except RuntimeError:
        get_logger("t").exception("x.failed", token="tok-123")

    text = stream.getvalue()
    assert "RuntimeError: login failed with [redacted]" in text
    assert secret not in text
    assert "tok-123" not in text


@pytest.mark.parametrize(("level", "fmt"), [("verbose", "json"), ("info", "xml")])
def test_unknown_level_or_format_is_a_config_error(level: str, fmt: str) -> None:
    """An unknown level or format raises ConfigError naming the log key."""
    with pytest.raises(ConfigError) as caught:
        configure_logging(level=level, fmt=fmt, stream=io.StringIO())
    assert caught.value.key in ("log.level", "log.format")


# --- redaction through the whole pipeline -------------------------------------------------------


def test_logged_settings_show_no_secret() -> None:
    """Logging the Settings object writes none of its secrets, even unregistered."""
    stream = io.StringIO()
    configure_logging(stream=stream)
    settings = Settings(
        events=EventsSettings(webhook_secret="hook-secret-value"),
        credentials=Credentials(
            access_key_id="LTAI-visible", access_key_secret="ak-secret-value", security_token="sts"
        ),
    )

    get_logger("t").info("orchestrator.started", settings=settings)

    text = stream.getvalue()
    assert "LTAI-visible" in text
    assert "signature=<SignatureVersion.V3: 'v3'>" in json_lines(stream)[0]["settings"]
    for secret in ("hook-secret-value", "ak-secret-value", "security_token='sts'"):
        assert secret not in text


def test_signed_url_loses_its_auth_key() -> None:
    """A signed image URL is logged without the value of its auth_key."""
    stream = io.StringIO()
    configure_logging(stream=stream)
    url = "https://cdn.example.com/ai/1.gif?auth_key=1700000000-0-0-0123456789abcdef&w=1"

    get_logger("t").info("job.succeeded", file_url=url, message=f"fetched {url}")

    (line,) = json_lines(stream)
    expected = f"https://cdn.example.com/ai/1.gif?auth_key={REDACTED}&w=1"
    assert line["file_url"] == expected
    assert line["message"] == f"fetched {expected}"
    assert "0123456789abcdef" not in stream.getvalue()


def test_secret_keys_are_redacted_at_any_depth() -> None:
    """Values under secret-named keys are hidden in nested dicts and lists, case-insensitively."""
    stream = io.StringIO()
    configure_logging(stream=stream)

    get_logger("t").info(
        "vod.request",
        access_key_secret="v-akscrt",
        request={
            "headers": {
                "Authorization": "ACS3-HMAC-SHA256 Credential=AK,Signature=v-sig",
                "x-acs-security-token": "v-hdrtok",
                "x-acs-signature-nonce": "nonce-1",
            },
            "query": [{"SecurityToken": "v-qtok"}, {"Signature": "v-qsig"}],
            "auth": {"PASSWORD": "v-pw", "Token": "v-tok", "webhook_secret": "v-whs"},
        },
    )

    (line,) = json_lines(stream)
    request = line["request"]
    assert line["access_key_secret"] == REDACTED
    assert request["headers"]["Authorization"] == REDACTED
    assert request["headers"]["x-acs-security-token"] == REDACTED
    assert request["headers"]["x-acs-signature-nonce"] == "nonce-1"
    assert request["query"] == [{"SecurityToken": REDACTED}, {"Signature": REDACTED}]
    assert request["auth"] == dict.fromkeys(("PASSWORD", "Token", "webhook_secret"), REDACTED)
    assert "v-" not in stream.getvalue()


def test_registered_secret_in_exception_message_is_hidden() -> None:
    """An exception whose message holds a registered secret is logged without it."""
    stream = io.StringIO()
    configure_logging(stream=stream)
    secret = unique_secret()
    register_secret(secret)

    try:
        raise RuntimeError(f"upstream echoed {secret} back")
    except RuntimeError as exc:
        get_logger("t").exception("vod.call_failed", error=exc, detail=str(exc))

    (line,) = json_lines(stream)
    assert line["error"] == f"upstream echoed {REDACTED} back"
    assert line["detail"] == f"upstream echoed {REDACTED} back"
    assert f"RuntimeError: upstream echoed {REDACTED} back" in line["exception"]
    assert secret not in stream.getvalue()


def test_registered_secret_is_hidden_in_object_reprs_and_percent_encoded() -> None:
    """A registered secret is hidden inside any object's text and in its URL-encoded form."""
    stream = io.StringIO()
    configure_logging(stream=stream)
    secret = unique_secret() + "/+="
    register_secret(secret)

    class Leaky:
        def __str__(self) -> str:
            return f"Leaky(key={secret!r})"

    encoded = secret.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
    get_logger("t").info("x.leak", obj=Leaky(), url=f"https://h/?other={encoded}", event_key=secret)

    text = stream.getvalue()
    assert secret not in text
    assert encoded not in text
    assert text.count(REDACTED) == 3


def test_unprintable_value_does_not_break_the_record() -> None:
    """A value whose __str__ raises is written as a placeholder and the record still goes out."""
    stream = io.StringIO()
    configure_logging(stream=stream)

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    get_logger("t").info("x.odd", obj=Broken(), token="tok-1")

    (line,) = json_lines(stream)
    assert line["obj"] == "<unprintable Broken>"
    assert line["token"] == REDACTED


# --- redact_text / redact_url ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /?auth_key=abc-1&x=2", f"GET /?auth_key={REDACTED}&x=2"),
        (
            "q=1&Signature=Ibgh7y8V%2Bp4=&SignatureNonce=n",
            f"q=1&Signature={REDACTED}&SignatureNonce=n",
        ),
        ("&SecurityToken=CAIS.tok/en", f"&SecurityToken={REDACTED}"),
        ("?OSSAccessKeyId=LTAIx&Expires=1", f"?OSSAccessKeyId={REDACTED}&Expires=1"),
        ("x-acs-security-token: CAIStok", f"x-acs-security-token: {REDACTED}"),
        (
            "Authorization: ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,"
            "Signature=06563a9e end",
            f"Authorization: {REDACTED} end",
        ),
        (
            "{'authorization': 'ACS3-HMAC-SHA256 Credential=AK,Signature=0656'}",
            f"{{'authorization': '{REDACTED}'}}",
        ),
        ('{"access_key_secret": "abc", "n": 1}', f'{{"access_key_secret": "{REDACTED}", "n": 1}}'),
        ("x-acs-signature-nonce: abc SignatureVersion=1.0", None),
        ("signature=<SignatureVersion.V3: 'v3'>", None),
        ("token_count=3 tokens=4", None),
    ],
)
def test_redact_text(text: str, expected: str | None) -> None:
    """Secret name=value pairs in text lose their value; look-alike names are left alone."""
    assert redact_text(text) == (text if expected is None else expected)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://cdn.example.com/a.gif?auth_key=1700000000-0-0-abcdef&w=10",
            "https://cdn.example.com/a.gif?w=10",
        ),
        (
            "https://b.oss-cn-shanghai.aliyuncs.com/a.png?OSSAccessKeyId=LTAI&Expires=1"
            "&Signature=c2ln%3D&security-token=CAIS",
            "https://b.oss-cn-shanghai.aliyuncs.com/a.png",
        ),
        (
            "https://b.oss.example.com/a.png?x-oss-signature-version=OSS4-HMAC-SHA256"
            "&x-oss-credential=LTAI%2F20240101&x-oss-date=20240101T000000Z&x-oss-expires=60"
            "&x-oss-signature=abc&keep=1",
            "https://b.oss.example.com/a.png?keep=1",
        ),
        ("https://user:pw@h.example.com/p?q=1#f", "https://h.example.com/p?q=1#f"),
        ("https://h.example.com/p", "https://h.example.com/p"),
        ("https://h.example.com/p?a=%20b&c", "https://h.example.com/p?a=%20b&c"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    """Signing parameters and passwords are stripped; the rest of the URL is kept as it was."""
    assert redact_url(url) == expected


def test_redact_url_falls_back_to_text_redaction() -> None:
    """Text that is not a parseable URL is still redacted as text."""
    assert redact_url("http://[::1/?auth_key=abc") == f"http://[::1/?auth_key={REDACTED}"


def test_empty_secret_is_not_registered() -> None:
    """Registering an empty string does not redact every position of every line."""
    register_secret("")
    assert redact_text("nothing secret here") == "nothing secret here"
