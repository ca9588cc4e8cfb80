"""Structured logs: one JSON object per line (or a console line), and never a secret.

Every record, from structlog or from the standard library (aiohttp, asyncio), goes through one
handler. Its last step before rendering is the redaction, so no secret reaches the output
whatever a caller passes:

- a value under a key whose name says secret (`access_key_secret`, `SecurityToken`,
  `Authorization`, `password`, ...), at any depth of dicts and lists, becomes "[redacted]";
- inside any text (messages, exception text, the `str` of any object) the value of a secret
  `name=value` / `name: value` pair (`auth_key=`, `Signature=`, `x-acs-security-token:`, an
  `Authorization: ACS3-HMAC-SHA256 ...` header, ...) becomes "[redacted]";
- the exact secret strings given to `register_secret` become "[redacted]" wherever they appear.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TextIO, TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from orchestrator.errors import ConfigError

REDACTED = "[redacted]"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


# A name says secret when it ends with one of these words (`access_key_secret`, `SecurityToken`,
# `x-acs-security-token`, `x-oss-signature`) or is one of the fixed names: the CDN's `auth_key`
# and OSS's `OSSAccessKeyId`, which the spec treats as signing material.
_SECRET_NAME = (
    r"[\w-]*(?:secret|token|password|passwd|signature|authorization)"
    r"|auth_key|api_key|private_key|ossaccesskeyid|x-oss-credential"
)
_SECRET_KEY = re.compile(rf"(?:{_SECRET_NAME})", re.IGNORECASE)

# `name=value` / `name: value` / `'name': 'value'` inside text. The name must start a word so
# that `SignatureNonce=` or `x-acs-signature-nonce:` stay readable. A value never starts with
# `<` (an enum's repr, as in `signature=<SignatureVersion.V3: 'v3'>`, is not a secret) and
# stops at the delimiters of URLs, reprs and header lists, except that an HTTP authorization
# scheme (`ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`) is taken whole.
_SECRET_PAIR = re.compile(
    rf"(?<![\w-])(?P<name>{_SECRET_NAME})(?P<sep>['\"]?\s*[:=]\s*['\"]?)"
    rf"(?!{re.escape(REDACTED)})"
    r"(?P<value>(?:ACS3-HMAC-SHA256|Bearer|Basic)\s+[^\s'\"]+|[^\s'\"&<>#,;)\]}]+)",
    re.IGNORECASE,
)

# Query parameters that carry a signature, a token or the signing bookkeeping of a signed URL
# (CDN type A `auth_key`; OSS V1 and V4 signed URLs). None of them is useful without the rest.
_SIGNING_URL_PARAMS = frozenset(
    {
        "auth_key",
        "signature",
        "securitytoken",
        "security-token",
        "ossaccesskeyid",
        "expires",
        "x-oss-signature",
        "x-oss-signature-version",
        "x-oss-credential",
        "x-oss-date",
        "x-oss-expires",
        "x-oss-security-token",
        "x-oss-additional-headers",
    }
)

# Nested containers deeper than this are rendered as text (then redacted as text): it bounds
# the work per record and ends self-referencing structures.
_MAX_DEPTH = 16

_LEADING_KEYS = ("timestamp", "level", "event", "logger")

# Our handler on the root logger, found again by name when logging is configured again.
_HANDLER_NAME = "orchestrator"


class _Redactor:
    """Replaces secrets in an event dict; holds the registered secret strings."""

    def __init__(self) -> None:
        self._secrets: frozenset[str] = frozenset()
        self._exact: re.Pattern[str] | None = None

    def register(self, value: str) -> None:
        if not value:
            return
        # A secret also travels percent-encoded inside URLs (STS tokens contain `/`, `+`, `=`).
        self._secrets |= {value, quote(value, safe="")}
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._exact = re.compile("|".join(re.escape(secret) for secret in ordered))

    def text(self, text: str) -> str:
        if self._exact is not None:
            text = self._exact.sub(REDACTED, text)
        return _SECRET_PAIR.sub(lambda match: f"{match['name']}{match['sep']}{REDACTED}", text)

    def value(self, value: object, depth: int = 0) -> object:
        """A JSON-ready copy of `value` with every secret replaced."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.text(str(value))
        if depth < _MAX_DEPTH:
            if isinstance(value, Mapping):
                return self.mapping(value, depth)
            if isinstance(value, list | tuple | set | frozenset):
                return [self.value(item, depth + 1) for item in value]
        if isinstance(value, datetime | date):
            return value.isoformat()
        try:
            text = str(value)
        except Exception:
            # A failing __str__ must not fail the record: the handler would then print the
            # raw, unredacted event to stderr.
            return f"<unprintable {type(value).__name__}>"
        return self.text(text)

    def mapping(self, mapping: Mapping[Any, object], depth: int = 0) -> dict[str, object]:
        return {
            self.text(str(key)): REDACTED
            if _SECRET_KEY.fullmatch(str(key))
            else self.value(item, depth + 1)
            for key, item in mapping.items()
        }

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        return self.mapping(event_dict)


_REDACTOR = _Redactor()


def register_secret(value: str) -> None:
    """Redact this exact string (and its percent-encoded form) from every later log line."""
    _REDACTOR.register(value)


def redact_text(text: str) -> str:
    """`text` with registered secrets and secret `name=value` pairs replaced by "[redacted]"."""
    return _REDACTOR.text(text)


def redact_url(url: str) -> str:
    """`url` without its signing query parameters (`auth_key`, `Signature`, ...) or password.

    The rest of the URL is kept byte for byte. Text that does not parse as a URL is redacted
    as text instead.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    kept = [
        pair
        for pair in parts.query.split("&")
        if pair and unquote(pair.partition("=")[0]).lower() not in _SIGNING_URL_PARAMS
    ]
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(kept)))


def configure_logging(
    *, level: str = "info", fmt: str = "json", stream: TextIO | None = None
) -> None:
    """Send every log record, structlog's and the standard library's, to `stream` (stdout).

    Called once by the CLI at start-up; calling it again replaces the previous configuration.
    Raises ConfigError for an unknown level or format.
    """
    log_level = _choice(LogLevel, level, "log.level")
    log_format = _choice(LogFormat, fmt, "log.format")
    out = sys.stdout if stream is None else stream
    level_number = logging.getLevelNamesMapping()[log_level.upper()]

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
        # Not cached: loggers made at import time must follow a later configuration.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.name = _HANDLER_NAME
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # Exceptions become text here so that the redaction sees them.
                structlog.processors.format_exc_info,
                _REDACTOR,
                _renderer(log_format, out),
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.name == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_number)


def get_logger(name: str) -> FilteringBoundLogger:
    """A structlog logger whose records carry `logger=name`."""
    logger: FilteringBoundLogger = structlog.get_logger(name)
    return logger


def _render_json(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
    # The fixed keys first so that a person reading the stream finds them in the same place.
    head = {key: event_dict.pop(key) for key in _LEADING_KEYS if key in event_dict}
    return json.dumps({**head, **event_dict}, default=str)


def _renderer(log_format: LogFormat, out: TextIO) -> Processor:
    if log_format is LogFormat.JSON:
        return _render_json
    isatty = getattr(out, "isatty", None)
    return structlog.dev.ConsoleRenderer(colors=bool(isatty and isatty()))


_Choice = TypeVar("_Choice", bound=StrEnum)


def _choice(kind: type[_Choice], value: str, key: str) -> _Choice:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in kind)
        raise ConfigError(key, f"expected one of {choices}, got {value!r}") from None
