"""What travels on the wire: API errors with their real codes and statuses, JSON, timestamps."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import OrchestratorError

JSON_CONTENT_TYPE = "application/json;charset=utf-8"
HTML_CONTENT_TYPE = "text/html"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One documented API error: its code, HTTP status and the service's message."""

    code: str
    status: int
    message: str


SIGNATURE_DOES_NOT_MATCH = ErrorSpec(
    "SignatureDoesNotMatch", 400, "Specified signature is not matched with our calculation."
)
ACCESS_KEY_NOT_FOUND = ErrorSpec(
    "InvalidAccessKeyId.NotFound", 404, "Specified access key is not found."
)
MISSING_PARAMETER = ErrorSpec(
    "MissingParameter",
    400,
    "The input parameter {} that is mandatory for processing this request is not supplied.",
)
INVALID_PARAMETER = ErrorSpec("InvalidParameter", 400, "The specified parameter {} is not valid.")
TIMESTAMP_EXPIRED = ErrorSpec(
    "InvalidTimeStamp.Expired", 400, "Specified time stamp or date value is expired."
)
TIMESTAMP_FORMAT = ErrorSpec(
    "InvalidTimeStamp.Format", 400, "Specified time stamp or date value is not well formatted."
)
NONCE_USED = ErrorSpec("SignatureNonceUsed", 400, "Specified signature nonce was used already.")
INCOMPLETE_SIGNATURE = ErrorSpec(
    "IncompleteSignature", 400, "The request signature does not conform to Aliyun standards."
)
API_NOT_FOUND = ErrorSpec("InvalidApi.NotFound", 404, "Specified api is not found, please check.")
INVALID_VERSION = ErrorSpec("InvalidVersion", 400, "Specified parameter Version is not valid.")
VIDEO_NOT_FOUND = ErrorSpec("InvalidVideo.NotFound", 404, "The video does not exist.")
THROTTLED = ErrorSpec("Throttling.User", 400, "Request was denied due to user flow control.")
INTERNAL_ERROR = ErrorSpec(
    "InternalError",
    500,
    "The request processing has failed due to some unknown error, exception or failure.",
)
SERVICE_UNAVAILABLE = ErrorSpec(
    "ServiceUnAvailable", 503, "The request has failed due to a temporary failure of the server."
)

# What a gateway in front of the service answers when its upstream fails: not JSON at all.
BAD_GATEWAY_STATUS = 502
BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class ApiError(OrchestratorError):
    """An answer the emulated API gives instead of a result; becomes the error body.

    `param` fills the message of the parameter errors; `reason` adds why, for the caller.
    """

    def __init__(
        self, spec: ErrorSpec, param: str | None = None, *, reason: str | None = None
    ) -> None:
        message = spec.message.format(f'"{param}"') if param is not None else spec.message
        self.code = spec.code
        self.status = spec.status
        self.message = f"{message} {reason}" if reason else message
        super().__init__(f"{self.code}: {self.message}")


def new_request_id() -> str:
    """The service's request id format: an upper-case UUID."""
    return str(uuid.uuid4()).upper()


def error_body(error: ApiError, *, request_id: str, host: str) -> dict[str, str]:
    """The JSON error document every failing call of the API returns."""
    return {
        "RequestId": request_id,
        "HostId": host,
        "Code": error.code,
        "Message": error.message,
        "Recommend": (
            f"https://api.aliyun.com/troubleshoot?q={error.code}&product=vod&requestId={request_id}"
        ),
    }


def dump_json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def format_time(unix_time: float) -> str:
    """`yyyy-MM-ddTHH:mm:ssZ` in UTC, as every time field of the API."""
    return time.strftime(TIME_FORMAT, time.gmtime(unix_time))


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One RPC request as received: what signature checks and operations need, nothing more.

    `headers` must look names up case-insensitively (aiohttp's CIMultiDictProxy does); the
    emulator always asks for lower-case names.
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""
