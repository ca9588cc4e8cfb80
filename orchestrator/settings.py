"""The daemon's configuration: a TOML file, then `ORCHESTRATOR_<SECTION>_<KEY>` overrides.

The section dataclasses are the single source of truth: the accepted tables and keys, each
key's type, its environment variable and its default all derive from their fields. Every
section validates itself when it is built, so a `Settings` object is valid however it was
made. Credentials come only from the standard Alibaba Cloud variables, never from the file.
Relative paths stay relative: they are resolved against the working directory when used.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, get_type_hints
from urllib.parse import urlsplit

from orchestrator.errors import ConfigError
from orchestrator.logs import LogFormat, LogLevel
from orchestrator.vod.client import resolve_endpoint
from orchestrator.vod.models import Action
from orchestrator.vod.signing import Credentials

ENV_PREFIX = "ORCHESTRATOR_"
ACCESS_KEY_ID_VAR = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ACCESS_KEY_SECRET_VAR = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
SECURITY_TOKEN_VAR = "ALIBABA_CLOUD_SECURITY_TOKEN"

_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_LOOPBACK_NAMES = frozenset({"localhost"})


class SignatureVersion(StrEnum):
    V3 = "v3"
    V1 = "v1"


class StatusApi(StrEnum):
    LIST_AI_JOB = "ListAIJob"
    GET_AI_IMAGE_JOBS = "GetAIImageJobs"


@dataclass(frozen=True, slots=True)
class _Rule:
    """A constraint on one value, and the words that say what it expects."""

    holds: Callable[[Any], bool]
    expected: str


_POSITIVE = _Rule(lambda v: v > 0, "a number greater than 0")
_NON_NEGATIVE = _Rule(lambda v: v >= 0, "a number >= 0")
_AT_LEAST_ONE = _Rule(lambda v: v >= 1, "a number >= 1")
_FRACTION = _Rule(lambda v: 0 <= v < 1, "a fraction >= 0 and < 1")
_FILE_PATH = _Rule(lambda p: p.name not in ("", ".", ".."), "a file path, not a directory")

# The metadata entry that holds a field's `_Rule`. A field with `repr=False` is a secret: its
# value never appears in `repr` nor in error messages.
_RULE = "rule"


@dataclass(frozen=True, slots=True)
class _Key:
    """One configuration key as the loader sees it, derived from a section's field."""

    section: str
    name: str
    type: type
    rule: _Rule | None
    secret: bool

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def env(self) -> str:
        return f"{ENV_PREFIX}{self.section}_{self.name}".upper()

    def show(self, value: object) -> str:
        if self.secret:
            return "a hidden value"
        return repr(str(value) if isinstance(value, Path) else value)


@dataclass(frozen=True, slots=True)
class _Section:
    """Validation shared by every section; `SECTION` is its TOML table name."""

    SECTION: ClassVar[str]

    def __post_init__(self) -> None:
        for key in _KEYS[type(self)].values():
            value = getattr(self, key.name)
            if key.rule is not None and not key.rule.holds(value):
                raise ConfigError(
                    key.dotted, f"expected {key.rule.expected}, got {key.show(value)}"
                )
        self._check_together()

    def _check_together(self) -> None:
        """Constraints between keys of the section; raise ConfigError naming one of them."""

    def _fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.SECTION}.{name}", problem)


def _derive_keys(section: type[_Section]) -> dict[str, _Key]:
    hints = get_type_hints(section)
    return {
        f.name: _Key(section.SECTION, f.name, hints[f.name], f.metadata.get(_RULE), not f.repr)
        for f in fields(section)
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class VodSettings(_Section):
    SECTION: ClassVar[str] = "vod"

    region: str = "cn-shanghai"
    # Empty means the region's public endpoint.
    endpoint: str = ""
    allow_insecure_http: bool = False
    signature: SignatureVersion = SignatureVersion.V3
    status_api: StatusApi = StatusApi.LIST_AI_JOB
    connect_timeout_s: float = field(default=5.0, metadata={_RULE: _POSITIVE})
    read_timeout_s: float = field(default=10.0, metadata={_RULE: _POSITIVE})

    def _check_together(self) -> None:
        # The client's own parser decides what a region and an endpoint look like, so that a
        # value accepted here is one the client accepts.
        try:
            resolve_endpoint(self.region)
        except ValueError:
            raise self._fail(
                "region", f"expected a region id like 'cn-shanghai', got {self.region!r}"
            ) from None
        if not self.endpoint:
            return
        try:
            url = resolve_endpoint(self.region, self.endpoint)
        except ValueError as exc:
            raise self._fail(
                "endpoint", f"expected an http(s) URL like 'https://host:port', or empty ({exc})"
            ) from None
        if url.scheme == "http" and not self.allow_insecure_http and not _is_loopback(url.host):
            raise self._fail(
                "endpoint",
                f"expected https (plain http only to a loopback host: 127.0.0.0/8, ::1, "
                f"localhost, unless vod.allow_insecure_http is true), got {self.endpoint!r}",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSettings(_Section):
    SECTION: ClassVar[str] = "queue"

    path: Path = field(default=Path("var/queue.jsonl"), metadata={_RULE: _FILE_PATH})
    dead_letter_path: Path = field(
        default=Path("var/dead-letter.jsonl"), metadata={_RULE: _FILE_PATH}
    )

    def _check_together(self) -> None:
        if self.dead_letter_path == self.path:
            raise self._fail("dead_letter_path", "expected a file other than queue.path")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreSettings(_Section):
    SECTION: ClassVar[str] = "store"

    path: Path = field(default=Path("var/orchestrator.db"), metadata={_RULE: _FILE_PATH})


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsSettings(_Section):
    SECTION: ClassVar[str] = "events"

    path: Path = field(default=Path("var/events.jsonl"), metadata={_RULE: _FILE_PATH})
    stdout: bool = False
    # Empty means no webhook. Hidden like a secret: webhook URLs often embed a token.
    webhook_url: str = field(default="", repr=False)
    webhook_secret: str = field(default="", repr=False)

    def _check_together(self) -> None:
        if self.webhook_url and not _is_http_url(self.webhook_url):
            raise self._fail("webhook_url", "expected an http(s) URL with a host, or empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class PollSettings(_Section):
    SECTION: ClassVar[str] = "poll"

    initial_s: float = field(default=5.0, metadata={_RULE: _POSITIVE})
    multiplier: float = field(default=1.5, metadata={_RULE: _AT_LEAST_ONE})
    max_interval_s: float = field(default=60.0, metadata={_RULE: _POSITIVE})
    # Each interval is scaled by a random factor in [1 - jitter, 1 + jitter].
    jitter: float = field(default=0.2, metadata={_RULE: _FRACTION})
    job_timeout_s: float = field(default=3600.0, metadata={_RULE: _POSITIVE})
    # How long a fresh job may be reported in NonExistAIJobIds before it counts as missing.
    nonexist_grace_s: float = field(default=30.0, metadata={_RULE: _NON_NEGATIVE})

    def _check_together(self) -> None:
        if self.max_interval_s < self.initial_s:
            raise self._fail(
                "max_interval_s",
                f"expected a number >= poll.initial_s ({self.initial_s}), "
                f"got {self.max_interval_s!r}",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitsSettings(_Section):
    SECTION: ClassVar[str] = "limits"

    submit_qps: float = field(default=20.0, metadata={_RULE: _POSITIVE})
    status_qps: float = field(default=50.0, metadata={_RULE: _POSITIVE})
    results_qps: float = field(default=50.0, metadata={_RULE: _POSITIVE})
    images_qps: float = field(default=5.0, metadata={_RULE: _POSITIVE})
    max_in_flight: int = field(default=10_000, metadata={_RULE: _AT_LEAST_ONE})
    shutdown_grace_s: float = field(default=10.0, metadata={_RULE: _POSITIVE})


@dataclass(frozen=True, slots=True, kw_only=True)
class LogSettings(_Section):
    SECTION: ClassVar[str] = "log"

    level: LogLevel = LogLevel.INFO
    format: LogFormat = LogFormat.JSON
    stats_interval_s: float = field(default=60.0, metadata={_RULE: _POSITIVE})


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the daemon is configured with; `load_settings` builds it."""

    vod: VodSettings = field(default_factory=VodSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    poll: PollSettings = field(default_factory=PollSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    log: LogSettings = field(default_factory=LogSettings)
    credentials: Credentials | None = None

    def vod_rates(self) -> dict[str, float]:
        """Calls per second allowed for each VOD action the client makes."""
        limits = self.limits
        return {
            Action.SUBMIT_AI_IMAGE_JOB: limits.submit_qps,
            # The same rate for both status calls; each action has its own limiter, and a
            # ListAIJob daemon calls GetAIImageJobs only as a rare fallback.
            Action.LIST_AI_JOB: limits.status_qps,
            Action.GET_AI_IMAGE_JOBS: limits.status_qps,
            Action.LIST_AI_IMAGE_INFO: limits.results_qps,
            Action.GET_IMAGE_INFOS: limits.images_qps,
        }

    def secret_values(self) -> tuple[str, ...]:
        """The configured secrets, for the log redaction to hide wherever they appear."""
        candidates: list[str | None] = [self.events.webhook_secret]
        if self.credentials is not None:
            candidates += [self.credentials.access_key_secret, self.credentials.security_token]
        return tuple(value for value in candidates if value)


def _section_fields() -> dict[str, type[_Section]]:
    """Settings' field name -> section class, for every field that is a section."""
    hints = get_type_hints(Settings)
    return {
        f.name: hint
        for f in fields(Settings)
        if isinstance(hint := hints[f.name], type) and issubclass(hint, _Section)
    }


_SECTIONS = _section_fields()
_KEYS = {cls: _derive_keys(cls) for cls in _SECTIONS.values()}
_KEYS_BY_ENV = {key.env: key for cls in _SECTIONS.values() for key in _KEYS[cls].values()}


def load_settings(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then the TOML file at `path` (if given), then `ORCHESTRATOR_*` variables.

    Raises ConfigError naming the offending key (`section.key`), environment variable or file.
    """
    env = os.environ if environ is None else environ
    document = {} if path is None else _read_toml(path)
    values: dict[str, dict[str, object]] = {cls.SECTION: {} for cls in _SECTIONS.values()}
    # `section.key` -> the environment variable its value came from, to name it in errors.
    from_env: dict[str, str] = {}
    for key, value in _toml_values(document):
        values[key.section][key.name] = value
    for name, text in sorted(env.items()):
        if name.startswith(ENV_PREFIX):
            env_key = _KEYS_BY_ENV.get(name)
            if env_key is None:
                raise ConfigError(name, "unknown setting" + _suggestion(name, _KEYS_BY_ENV))
            values[env_key.section][env_key.name] = _from_env(env_key, text)
            from_env[env_key.dotted] = name

    sections: dict[str, Any] = {}
    for attribute, cls in _SECTIONS.items():
        try:
            sections[attribute] = cls(**values[cls.SECTION])
        except ConfigError as err:
            if err.key not in from_env:
                raise
            raise ConfigError(from_env[err.key], err.problem) from None
    return Settings(**sections, credentials=_credentials(env))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(str(path), "configuration file not found") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the file: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"not a valid TOML file: {exc}") from None
    except ValueError as exc:  # tomllib's own limit, e.g. an integer of thousands of digits
        raise ConfigError(str(path), f"not a usable TOML file: {exc}") from None


def _toml_values(document: Mapping[str, Any]) -> Iterable[tuple[_Key, object]]:
    tables = {cls.SECTION: cls for cls in _SECTIONS.values()}
    for table, body in document.items():
        section = tables.get(table)
        if section is None:
            raise ConfigError(table, "unknown section" + _suggestion(table, tables))
        if not isinstance(body, dict):
            raise ConfigError(table, f"expected a table [{table}]")
        keys = _KEYS[section]
        for name, value in body.items():
            key = keys.get(name)
            if key is None:
                dotted = f"{table}.{name}"
                raise ConfigError(dotted, "unknown key" + _suggestion(name, keys, f"{table}."))
            yield key, _from_toml(key, value)


def _from_toml(key: _Key, value: object) -> object:
    """The field's value for a TOML value; TOML's own types must match the field's."""
    kind = key.type
    if kind in (bool, int, float):
        if kind is bool and isinstance(value, bool):
            return value
        # TOML booleans are not numbers, although Python's bool is an int.
        if not isinstance(value, bool):
            if kind is int and isinstance(value, int):
                return value
            if kind is float and isinstance(value, int | float) and _finite(value):
                return float(value)
    elif isinstance(value, str):
        return _from_str(key, key.dotted, value)
    raise ConfigError(key.dotted, f"expected {_describe(kind)}, got {key.show(value)}")


def _finite(value: int | float) -> bool:
    """Whether `value` is a finite float (an int too large for a float is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _from_env(key: _Key, text: str) -> object:
    """The field's value for an environment variable's text, parsed per the field's type."""
    kind = key.type
    try:
        if kind is bool:
            return _BOOL_WORDS[text.strip().lower()]
        if kind is int:
            return int(text)
        if kind is float:
            number = float(text)
            if not math.isfinite(number):
                raise ValueError(text)
            return number
    except (KeyError, ValueError):
        raise ConfigError(key.env, f"expected {_describe(kind)}, got {key.show(text)}") from None
    return _from_str(key, key.env, text)


def _from_str(key: _Key, label: str, text: str) -> object:
    kind = key.type
    if kind is Path:
        if not text:
            # Path("") would be ".", which names no file and would make the error obscure.
            raise ConfigError(label, "expected a file path, got an empty string")
        return Path(text)
    if issubclass(kind, StrEnum):
        try:
            return kind(text)
        except ValueError:
            raise ConfigError(label, f"expected {_describe(kind)}, got {key.show(text)}") from None
    return text


def _describe(kind: type) -> str:
    if kind is bool:
        return "true or false"
    if kind is int:
        return "an integer"
    if kind is float:
        return "a finite number"
    if issubclass(kind, StrEnum):
        return "one of " + ", ".join(repr(member.value) for member in kind)
    return "a string"


def _suggestion(name: str, known: Iterable[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {prefix + close[0]!r}?)" if close else ""


def _credentials(env: Mapping[str, str]) -> Credentials | None:
    key_id = env.get(ACCESS_KEY_ID_VAR, "")
    secret = env.get(ACCESS_KEY_SECRET_VAR, "")
    token = env.get(SECURITY_TOKEN_VAR, "")
    if key_id and not secret:
        raise ConfigError(ACCESS_KEY_SECRET_VAR, f"must be set when {ACCESS_KEY_ID_VAR} is")
    if not key_id and (secret or token):
        given = ACCESS_KEY_SECRET_VAR if secret else SECURITY_TOKEN_VAR
        raise ConfigError(ACCESS_KEY_ID_VAR, f"must be set when {given} is")
    if not key_id:
        return None
    return Credentials(access_key_id=key_id, access_key_secret=secret, security_token=token or None)


def _is_http_url(url: str) -> bool:
    """Whether `url` is an http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range or not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
