"""The emulator's configuration: frozen, validated at construction, safe to print.

Every duration of the job lifecycle (`duration_median_s`, `visibility_lag_s`) is in *simulated*
seconds and is divided by `time_scale` to get wall-clock seconds; network behaviour (`latency_s`,
`latency_spike_s`, `retry_after_ms`) and the signature rules (`clock_skew_tolerance_s`) are real
time, since the client measures them with its own clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from orchestrator.errors import ConfigError

# The documented demo pair: what the emulator accepts when no key is configured anywhere.
# It grants nothing outside the emulator, so it may appear in docs and examples.
DEMO_ACCESS_KEY_ID = "demo-access-key-id"
DEMO_ACCESS_KEY_SECRET = "demo-access-key-secret"

ENV_ACCESS_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"

# The published per-account limits (calls/s): AI-job starts 30, media and AI-job queries 100,
# GetImageInfos 10. These are also the actions the emulator implements.
DEFAULT_QPS: Mapping[str, float | None] = MappingProxyType(
    {
        "SubmitAIImageJob": 30.0,
        "ListAIJob": 100.0,
        "GetAIImageJobs": 100.0,
        "ListAIImageInfo": 100.0,
        "GetImageInfos": 10.0,
    }
)
ACTIONS = frozenset(DEFAULT_QPS)

# The API's own tolerance for the Timestamp / x-acs-date of a signed request.
DEFAULT_CLOCK_SKEW_TOLERANCE_S = 900.0
# At thousands of calls/s a 15-minute nonce window is millions of entries; past this bound the
# oldest nonces are forgotten first (a replay that old is then accepted: fine for an emulator).
DEFAULT_MAX_REMEMBERED_NONCES = 1_000_000


def _config_key(name: str) -> str:
    return f"simulator.{name}"


def _check_rate(name: str, value: float) -> None:
    if not (0.0 <= value <= 1.0):
        raise ConfigError(_config_key(name), f"must be a probability in [0, 1], got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if not (value >= 0.0 and math.isfinite(value)):
        raise ConfigError(_config_key(name), f"must be a finite number >= 0, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if not (value > 0.0 and math.isfinite(value)):
        raise ConfigError(_config_key(name), f"must be a finite number > 0, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultConfig:
    """How often the emulated network and service misbehave; every rate is per call.

    `internal_error`, `unavailable` and `bad_gateway` are decided before the operation runs, so
    such a call changes nothing. `drop_connection` and `malformed_body` strike after it ran: a
    dropped or garbled SubmitAIImageJob has created its job, which the client never learns.
    The five rates are one draw, so their sum must not exceed 1.
    """

    internal_error: float = 0.0
    unavailable: float = 0.0
    bad_gateway: float = 0.0
    drop_connection: float = 0.0
    malformed_body: float = 0.0
    latency_s: float = 0.0
    latency_spike_rate: float = 0.0
    latency_spike_s: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "internal_error",
            "unavailable",
            "bad_gateway",
            "drop_connection",
            "malformed_body",
            "latency_spike_rate",
        ):
            _check_rate(name, getattr(self, name))
        _check_non_negative("latency_s", self.latency_s)
        _check_non_negative("latency_spike_s", self.latency_spike_s)
        if self.total_fault_rate > 1.0:
            raise ConfigError(
                _config_key("faults"), f"fault rates sum to {self.total_fault_rate:.3f}, above 1"
            )

    @property
    def total_fault_rate(self) -> float:
        return (
            self.internal_error
            + self.unavailable
            + self.bad_gateway
            + self.drop_connection
            + self.malformed_body
        )

    @property
    def is_quiet(self) -> bool:
        """True when no call can be faulted or delayed (the hot path skips every draw)."""
        return (
            self.total_fault_rate == 0.0
            and self.latency_s == 0.0
            and (self.latency_spike_rate == 0.0 or self.latency_spike_s == 0.0)
        )

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def normalise_qps(action: str, value: float | None) -> float | None:
    """A limit in calls/s, or None for unlimited (0 also means unlimited)."""
    if action not in ACTIONS:
        raise ConfigError(_config_key("qps"), f"unknown action {action!r}")
    if value is None or value == 0:
        return None
    _check_positive(f"qps.{action}", value)
    return float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorConfig:
    """Everything that shapes one emulator run; the same seed and requests give the same jobs.

    `qps` holds overrides of `DEFAULT_QPS` (None or 0: unlimited). `videos` None means every
    VideoId exists; a set makes any other VideoId answer InvalidVideo.NotFound.
    """

    seed: int = 0
    time_scale: float = 1.0
    duration_median_s: float = 30.0
    duration_sigma: float = 0.5
    fail_rate: float = 0.0
    visibility_lag_s: float = 0.0
    qps: Mapping[str, float | None] = field(default_factory=dict)
    retry_after_ms: int | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    access_keys: Mapping[str, str] = field(
        default_factory=lambda: {DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET}, repr=False
    )
    videos: frozenset[str] | None = None
    images_per_job: int = 3
    image_library_size: int = 100
    clock_skew_tolerance_s: float = DEFAULT_CLOCK_SKEW_TOLERANCE_S
    max_remembered_nonces: int = DEFAULT_MAX_REMEMBERED_NONCES

    def __post_init__(self) -> None:
        _check_positive("time_scale", self.time_scale)
        _check_positive("duration_median_s", self.duration_median_s)
        _check_non_negative("duration_sigma", self.duration_sigma)
        _check_rate("fail_rate", self.fail_rate)
        _check_non_negative("visibility_lag_s", self.visibility_lag_s)
        _check_non_negative("clock_skew_tolerance_s", self.clock_skew_tolerance_s)
        if self.retry_after_ms is not None and self.retry_after_ms <= 0:
            raise ConfigError(_config_key("retry_after_ms"), "must be a positive integer or None")
        if self.images_per_job < 0:
            raise ConfigError(_config_key("images_per_job"), "must be >= 0")
        if self.image_library_size < 0:
            raise ConfigError(_config_key("image_library_size"), "must be >= 0")
        if self.max_remembered_nonces < 1:
            raise ConfigError(_config_key("max_remembered_nonces"), "must be >= 1")
        if not self.access_keys:
            raise ConfigError(_config_key("access_keys"), "at least one key pair is needed")
        for key_id, secret in self.access_keys.items():
            if not key_id or not secret:
                raise ConfigError(_config_key("access_keys"), "key ids and secrets must be set")
        qps = {**DEFAULT_QPS}
        for action, value in self.qps.items():
            qps[action] = normalise_qps(action, value)
        # Frozen in depth: the mappings a caller passed cannot change the running emulator.
        object.__setattr__(self, "qps", MappingProxyType(qps))
        object.__setattr__(self, "access_keys", MappingProxyType(dict(self.access_keys)))
        if self.videos is not None:
            object.__setattr__(self, "videos", frozenset(self.videos))


def parse_access_key(text: str) -> tuple[str, str]:
    """Split `ID:SECRET` (the secret may itself contain colons)."""
    key_id, sep, secret = text.partition(":")
    if not sep or not key_id or not secret:
        raise ConfigError(_config_key("access_key"), "expected ID:SECRET")
    return key_id, secret


def resolve_access_keys(pairs: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """Keys from explicit `ID:SECRET` pairs, else the standard variables, else the demo pair."""
    if pairs:
        return dict(parse_access_key(pair) for pair in pairs)
    key_id = environ.get(ENV_ACCESS_KEY_ID, "")
    secret = environ.get(ENV_ACCESS_KEY_SECRET, "")
    if key_id and secret:
        return {key_id: secret}
    if key_id or secret:
        missing = ENV_ACCESS_KEY_SECRET if key_id else ENV_ACCESS_KEY_ID
        raise ConfigError(missing, "must be set together with its pair")
    return {DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET}


def fault_overrides(values: Mapping[str, Any]) -> dict[str, float]:
    """Validate the names of a partial FaultConfig update (from a test or the HTTP endpoint)."""
    known = {f.name for f in fields(FaultConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(_config_key("faults"), f"unknown fault setting(s): {', '.join(unknown)}")
    out: dict[str, float] = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(_config_key(name), f"must be a number, got {value!r}")
        out[name] = float(value)
    return out
