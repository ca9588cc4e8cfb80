"""The one error type of the VOD boundary and the single place that decides what a retry can fix.

`VodError` carries the API's own `Code` when there is one, or one of the codes below that this
package synthesises for failures the API never named (a timeout, a reset connection, a body that
is not what the API promises). `classify` maps (code, HTTP status) to `retryable`/`throttled`;
nothing else in the project makes that decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from orchestrator.errors import OrchestratorError

# --- Codes synthesised by this package (the API never sends these) -----------------------------

# The attempt did not finish within the connect or read timeout.
TRANSPORT_TIMEOUT = "Transport.Timeout"
# The connection could not be made, or broke (refused, reset, closed mid-body).
CONNECTION_ERROR = "Transport.ConnectionError"
# TLS failed (certificate or handshake): a wrong certificate will not fix itself on a retry.
TLS_ERROR = "Transport.TlsError"
# An error status whose body is not the API's JSON error object, such as a gateway's HTML 502
# page; whether a retry helps follows from the HTTP status alone.
UNRECOGNISED_ERROR_BODY = "Response.UnrecognisedErrorBody"
# A success status whose body is not valid JSON (truncated or garbled in transit): retryable.
INVALID_JSON = "Response.InvalidJson"
# A success body that is valid JSON but not of the documented shape: asking again returns the
# same shape, so it is not retryable.
MALFORMED_RESPONSE = "Response.Malformed"

# --- The reference's tables ----------------------------------------------------------------------

_RETRYABLE_CODES = frozenset(
    {
        "ServiceUnavailable",
        "ServiceUnAvailable",  # VOD's own spelling, with a capital A
        "InternalError",
        "UnknownError",
        "SystemBusy",
        # The client makes a fresh nonce for every attempt, so the cause is gone on a retry.
        "SignatureNonceUsed",
        TRANSPORT_TIMEOUT,
        CONNECTION_ERROR,
        INVALID_JSON,
    }
)
# Codes that a retry cannot fix whatever HTTP status accompanies them.
_PERMANENT_CODES = frozenset(
    {
        # The local clock is off by more than 15 minutes: every new timestamp is wrong too.
        "InvalidTimeStamp.Expired",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        TLS_ERROR,
        MALFORMED_RESPONSE,
    }
)
_PERMANENT_PREFIXES = ("Invalid", "Missing", "Forbidden", "OperationDenied")
_RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
# A gateway in front of the API may answer 429 rather than the API's 400 Throttling.User.
_TOO_MANY_REQUESTS = 429


@dataclass(frozen=True, slots=True)
class Classification:
    """Whether the same call may succeed later, and whether the cause is flow control."""

    retryable: bool
    throttled: bool


def classify(code: str, http_status: int | None) -> Classification:
    """Decide retryability from the error code first and the HTTP status second.

    A code the reference names wins over the status (an `InvalidVideo.NotFound` stays permanent
    even behind a 503); an unknown code is retryable exactly when the status is a transient 5xx.
    """
    if code.startswith("Throttling") or http_status == _TOO_MANY_REQUESTS:
        return Classification(retryable=True, throttled=True)
    if code in _RETRYABLE_CODES:
        return Classification(retryable=True, throttled=False)
    if code in _PERMANENT_CODES or code.startswith(_PERMANENT_PREFIXES):
        return Classification(retryable=False, throttled=False)
    return Classification(retryable=http_status in _RETRYABLE_STATUSES, throttled=False)


# --- Keeping secrets out of messages -------------------------------------------------------------

# Longest message kept: enough for any API message, short enough for a log line.
MAX_MESSAGE_CHARS = 300
# A URL's query can hold a signature, a token or an `auth_key`: keep only scheme, host and path.
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]*)[?#](?!<redacted>)[^\s\"'<>]*", re.IGNORECASE)
# Secret-bearing parameters or headers as they appear in an echoed string-to-sign or canonical
# request (`SecurityToken=..`, `SecurityToken%3D..`, `x-acs-security-token:..`).
_SECRET_PARAM = re.compile(
    r"(auth_key|signature|securitytoken|x-acs-security-token|accesskeysecret)"
    r"(=|%3D|%253D|:)(?!<redacted>)[^&\s\"'<>,]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` without URL queries or secret-bearing parameters, cut to `MAX_MESSAGE_CHARS`."""
    text = _URL_QUERY.sub(r"\1?<redacted>", text)
    text = _SECRET_PARAM.sub(r"\1\2<redacted>", text)
    if len(text) > MAX_MESSAGE_CHARS:
        return text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


class VodError(OrchestratorError):
    """A VOD API call failed; `retryable` says whether the same call may succeed later.

    `retry_after` (seconds) is the server's own hint, when it gave one. The message is redacted
    on the way in, so `str(err)`, `repr` of its attributes and logs built from them are safe.
    """

    def __init__(
        self,
        *,
        action: str,
        code: str,
        message: str,
        http_status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.action = action
        self.code = code
        self.message = redact(message)
        self.http_status = http_status
        self.request_id = request_id
        self.retry_after = retry_after
        verdict = classify(code, http_status)
        self.retryable = verdict.retryable
        self.throttled = verdict.throttled
        super().__init__(self._summary())

    def _summary(self) -> str:
        where = f"{self.action}: " if self.action else ""
        status = f" (HTTP {self.http_status})" if self.http_status is not None else ""
        request = f" [request {self.request_id}]" if self.request_id else ""
        return f"{where}{self.code}{status}: {self.message}{request}"

    def __reduce__(self) -> tuple[Any, ...]:
        # The keyword-only __init__ defeats Exception's default (positional) pickling and copying.
        fields: dict[str, Any] = {
            "action": self.action,
            "code": self.code,
            "message": self.message,
            "http_status": self.http_status,
            "request_id": self.request_id,
            "retry_after": self.retry_after,
        }
        return (partial(VodError, **fields), ())


# --- Reading an HTTP answer ----------------------------------------------------------------------

# A hint longer than this is more likely a broken header than a real request to wait: cap it so
# that one answer cannot freeze every caller of an action.
MAX_RETRY_AFTER_S = 60.0
# The excerpt of a non-JSON error body kept in the message: enough for "502 Bad Gateway".
_EXCERPT_CHARS = 120


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`x-acs-retry-after` (milliseconds) in seconds, capped; None when absent or unreadable."""
    raw = headers.get("x-acs-retry-after")
    if raw is None:
        return None
    try:
        millis = float(raw)
    except ValueError:
        return None
    if not millis > 0:  # also rejects NaN
        return None
    return min(millis / 1000, MAX_RETRY_AFTER_S)


def read_response(action: str, status: int, headers: Mapping[str, str], body: bytes) -> Any:
    """The decoded JSON of a success; a `VodError` for anything else.

    `headers` is looked up with lower-case names (aiohttp's headers are case-insensitive).
    """
    retry_after = retry_after_seconds(headers)
    try:
        decoded: Any = json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        decoded = None
        is_json = False
    else:
        is_json = True
    if 200 <= status < 300:
        if not is_json:
            raise VodError(
                action=action,
                code=INVALID_JSON,
                message=f"success body is not valid JSON ({len(body)} bytes)",
                http_status=status,
                retry_after=retry_after,
            )
        return decoded
    if isinstance(decoded, Mapping) and isinstance(decoded.get("Code"), str):
        request_id = decoded.get("RequestId")
        raise VodError(
            action=action,
            code=decoded["Code"],
            message=str(decoded.get("Message") or ""),
            http_status=status,
            request_id=request_id if isinstance(request_id, str) else None,
            retry_after=retry_after,
        )
    raise VodError(
        action=action,
        code=UNRECOGNISED_ERROR_BODY,
        message=_excerpt(body) or "empty body",
        http_status=status,
        retry_after=retry_after,
    )


def _excerpt(body: bytes) -> str:
    text = re.sub(r"<[^>]*>", " ", body[: _EXCERPT_CHARS * 8].decode("utf-8", "replace"))
    return " ".join(text.split())[:_EXCERPT_CHARS]
