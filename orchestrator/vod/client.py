"""The async VOD API client: one session, signed requests, rate limits, retries, typed results.

Every call goes through one path: wait for the action's rate limiter, sign (V3 headers or V1
query, fresh nonce and timestamp per attempt), `POST /` with every parameter in the query and an
empty body (as the official SDK does), translate whatever goes wrong into `VodError`, and feed
the outcome back to the limiter. `call_with_retry` repeats transient failures.

The pure parts (endpoint resolution, ID lists, and in `errors` the reading of an answer) are
module functions so that they are tested without a socket.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType, TracebackType
from typing import Any, Literal, Self, TypeVar

import aiohttp
import structlog
from yarl import URL

from orchestrator.vod import models
from orchestrator.vod.errors import (
    CONNECTION_ERROR,
    TLS_ERROR,
    TRANSPORT_TIMEOUT,
    VodError,
    read_response,
)
from orchestrator.vod.limiter import RateLimiter
from orchestrator.vod.models import Action
from orchestrator.vod.retry import RetryPolicy, call_with_retry
from orchestrator.vod.signing import Credentials, canonical_query, sign_v1, sign_v3

T = TypeVar("T")

_log = structlog.get_logger("orchestrator.vod")

# Calls per second per action. The published account-wide limits are 30/s for operations that
# start AI processing, 100/s for queries of media and AI jobs and 10/s for GetImageInfos; the
# defaults stay well below because every other client of the account draws on the same limits.
DEFAULT_RATES: Mapping[str, float] = MappingProxyType(
    {
        Action.SUBMIT_AI_IMAGE_JOB: 20.0,
        Action.LIST_AI_JOB: 50.0,
        Action.GET_AI_IMAGE_JOBS: 50.0,
        Action.LIST_AI_IMAGE_INFO: 50.0,
        Action.GET_IMAGE_INFOS: 5.0,
    }
)
MAX_JOB_IDS = 10  # ListAIJob and GetAIImageJobs accept at most 10 IDs per call
MAX_IMAGE_IDS = 20  # GetImageInfos accepts at most 20 IDs per call
MAX_USER_DATA_BYTES = 512  # SubmitAIImageJob rejects a longer UserData
OUTPUT_TYPES = frozenset({"oss", "cdn"})
_USER_AGENT = "vod-orchestrator"
# The SDK maps cn-hangzhou, which has no VOD host of its own, to the Shanghai endpoint.
_REGION_HOST_ALIASES = {"cn-hangzhou": "cn-shanghai"}
_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+")


# --- Pure helpers ---------------------------------------------------------------------------


def resolve_endpoint(region: str, endpoint: str = "") -> URL:
    """The base URL: the region's public https host, or `endpoint` (`scheme://host[:port]`)."""
    if not endpoint:
        if not _REGION.fullmatch(region):
            raise ValueError(f"not a region id: {region!r}")
        return URL(f"https://vod.{_REGION_HOST_ALIASES.get(region, region)}.aliyuncs.com")
    url = URL(endpoint)
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise ValueError(f"endpoint must be an http(s) URL with a host, got {endpoint!r}")
    if url.path not in ("", "/") or url.raw_query_string or url.raw_fragment or url.raw_user:
        raise ValueError(f"endpoint must be scheme://host[:port] only, got {endpoint!r}")
    return URL.build(scheme=url.scheme, authority=url.raw_authority, encoded=True)


def join_ids(ids: Sequence[str], *, limit: int, what: str) -> tuple[str, int]:
    """The comma-joined, de-duplicated `ids` and their count; ValueError on a bad list."""
    if isinstance(ids, str):
        raise TypeError(f"{what}s must be a sequence of IDs, not one string")
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise ValueError(f"at least one {what} is required")
    if len(unique) > limit:
        raise ValueError(f"at most {limit} {what}s per call, got {len(unique)}")
    for ident in unique:
        if not isinstance(ident, str) or not ident.strip():
            raise ValueError(f"a {what} must be a non-empty string, got {ident!r}")
        if "," in ident:
            raise ValueError(f"a {what} cannot contain a comma: {ident!r}")
    return ",".join(unique), len(unique)


def _required(value: str, name: str) -> str:
    if not value or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value


# --- Statistics -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientStats:
    """A snapshot of the client's counters since it was created.

    `calls` counts requests sent (every attempt) per action; `errors` counts failed attempts by
    code; `status_ids` / `status_calls` are the IDs asked about in, and the number of,
    ListAIJob and GetAIImageJobs calls: their ratio shows how full the poller's batches are.
    """

    calls: Mapping[str, int]
    throttled: int
    retries: int
    errors: Mapping[str, int]
    status_ids: int
    status_calls: int

    @property
    def ids_per_status_call(self) -> float | None:
        return self.status_ids / self.status_calls if self.status_calls else None


class _Counters:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.throttled = 0
        self.retries = 0
        self.status_ids = 0
        self.status_calls = 0

    def snapshot(self) -> ClientStats:
        return ClientStats(
            calls=MappingProxyType(dict(self.calls)),
            throttled=self.throttled,
            retries=self.retries,
            errors=MappingProxyType(dict(self.errors)),
            status_ids=self.status_ids,
            status_calls=self.status_calls,
        )


# --- The client -------------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_nonce() -> str:
    return uuid.uuid4().hex


class VodClient:
    """Typed, rate-limited, retrying access to the VOD operations the orchestrator needs.

    Use as `async with VodClient(...) as vod:` or call `aclose()`. A `session` passed in is
    shared, not owned: the client never closes it. TLS certificates are always verified.
    """

    def __init__(
        self,
        *,
        credentials: Credentials,
        region: str = "cn-shanghai",
        endpoint: str = "",
        signature: Literal["v3", "v1"] = "v3",
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 10.0,
        rates: Mapping[str, float] | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing it is safe
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        nonce_factory: Callable[[], str] = _new_nonce,
        wall_clock: Callable[[], datetime] = _utc_now,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if signature not in ("v3", "v1"):
            raise ValueError(f"signature must be 'v3' or 'v1', got {signature!r}")
        if not (connect_timeout_s > 0 and read_timeout_s > 0):
            raise ValueError("connect_timeout_s and read_timeout_s must be positive")
        unknown = set(rates or {}) - set(DEFAULT_RATES)
        if unknown:
            raise ValueError(f"rates for unknown actions: {sorted(unknown)}")
        self._credentials = credentials
        self._base = resolve_endpoint(region, endpoint)
        self._signature = signature
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._retry = retry
        self._clock = clock
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._nonce = nonce_factory
        self._wall_clock = wall_clock
        self._limiters = {
            action: RateLimiter(rate, clock=clock, sleep=sleep)
            for action, rate in {**DEFAULT_RATES, **(rates or {})}.items()
        }
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._counters = _Counters()

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if the client made it; later calls raise RuntimeError."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()

    @property
    def endpoint(self) -> str:
        return str(self._base)

    @property
    def stats(self) -> ClientStats:
        return self._counters.snapshot()

    def rate(self, action: str) -> float:
        """The current (possibly throttled) rate of `action`, in calls per second."""
        return self._limiters[action].rate

    # --- Operations ---------------------------------------------------------------------------

    async def submit_ai_image_job(
        self,
        *,
        video_id: str,
        template_id: str,
        user_data: str | None = None,
        pipeline_id: str | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> models.SubmitAIImageJobResult:
        """Start an image AI job; `user_data` must be a JSON string of at most 512 bytes.

        `on_send` runs each time a request is about to leave, once the rate limiter let it go:
        the moment after which the job may exist (the caller records that durably).
        """
        params = {
            "VideoId": _required(video_id, "video_id"),
            "AITemplateId": _required(template_id, "template_id"),
        }
        if user_data is not None:
            if len(user_data.encode()) > MAX_USER_DATA_BYTES:
                raise ValueError(f"user_data exceeds {MAX_USER_DATA_BYTES} bytes")
            try:
                json.loads(user_data)
            except ValueError:
                raise ValueError("user_data must be a JSON string") from None
            params["UserData"] = user_data
        if pipeline_id is not None:
            params["AIPipelineId"] = _required(pipeline_id, "pipeline_id")
        return await self._call(
            Action.SUBMIT_AI_IMAGE_JOB, params, models.parse_submit_ai_image_job, on_send=on_send
        )

    async def list_ai_job(self, job_ids: Sequence[str]) -> models.ListAIJobResult:
        """Status of up to 10 jobs (duplicates are asked once)."""
        joined = self._join_status_ids(job_ids)
        return await self._call(Action.LIST_AI_JOB, {"JobIds": joined}, models.parse_list_ai_job)

    async def get_ai_image_jobs(self, job_ids: Sequence[str]) -> models.GetAIImageJobsResult:
        """Status and raw results of up to 10 image AI jobs (duplicates are asked once)."""
        joined = self._join_status_ids(job_ids)
        return await self._call(
            Action.GET_AI_IMAGE_JOBS, {"JobIds": joined}, models.parse_get_ai_image_jobs
        )

    async def list_ai_image_info(self, video_id: str) -> models.ListAIImageInfoResult:
        """Every AI image of a video, from all its jobs (see `ListAIImageInfoResult.for_job`)."""
        return await self._call(
            Action.LIST_AI_IMAGE_INFO,
            {"VideoId": _required(video_id, "video_id")},
            models.parse_list_ai_image_info,
        )

    async def get_image_infos(
        self,
        image_ids: Sequence[str],
        *,
        auth_timeout: int | None = None,
        output_type: str | None = None,
    ) -> models.GetImageInfosResult:
        """Basic information of up to 20 images; `output_type` is `oss` or `cdn`."""
        joined, _ = join_ids(image_ids, limit=MAX_IMAGE_IDS, what="image id")
        params = {"ImageIds": joined}
        if auth_timeout is not None:
            if isinstance(auth_timeout, bool) or auth_timeout < 1:
                raise ValueError(f"auth_timeout must be a positive integer, got {auth_timeout!r}")
            params["AuthTimeout"] = str(auth_timeout)
        if output_type is not None:
            if output_type not in OUTPUT_TYPES:
                raise ValueError(f"output_type must be one of {sorted(OUTPUT_TYPES)}")
            params["OutputType"] = output_type
        return await self._call(Action.GET_IMAGE_INFOS, params, models.parse_get_image_infos)

    def _join_status_ids(self, job_ids: Sequence[str]) -> str:
        joined, count = join_ids(job_ids, limit=MAX_JOB_IDS, what="job id")
        self._counters.status_ids += count
        self._counters.status_calls += 1
        return joined

    # --- The one request path -----------------------------------------------------------------

    async def _call(
        self,
        action: Action,
        params: Mapping[str, str],
        parse: Callable[[Any], T],
        *,
        on_send: Callable[[], None] | None = None,
    ) -> T:
        session = self._ensure_session()
        name = action.value  # plain text in logs, stats and headers

        async def attempt(remaining_s: float) -> T:
            return await self._attempt(session, name, params, parse, remaining_s, on_send)

        def count_retry(_: VodError) -> None:
            self._counters.retries += 1

        return await call_with_retry(
            attempt,
            action=name,
            policy=self._retry,
            clock=self._clock,
            sleep=self._sleep,
            rng=self._rng,
            on_retry=count_retry,
        )

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        action: str,
        params: Mapping[str, str],
        parse: Callable[[Any], T],
        remaining_s: float,
        on_send: Callable[[], None] | None,
    ) -> T:
        limiter = self._limiters[action]
        deadline = self._clock() + remaining_s
        granted_at = await limiter.acquire()
        started = self._clock()
        if started >= deadline:
            raise VodError(
                action=action,
                code=TRANSPORT_TIMEOUT,
                message="retry budget spent waiting for the rate limiter",
            )
        if on_send is not None:
            on_send()
        self._counters.calls[action] += 1
        status: int | None = None
        body: Any = None
        try:
            status, body = await self._send(session, action, params, timeout_s=deadline - started)
            result = parse(body)
        except VodError as error:
            self._counters.errors[error.code] += 1
            if error.throttled:
                self._counters.throttled += 1
                limiter.throttled(granted_at, error.retry_after)
                _log.info(
                    "vod.throttled",
                    action=action,
                    rate=round(limiter.rate, 3),
                    retry_after_s=error.retry_after,
                )
            http_status = error.http_status if error.http_status is not None else status
            self._log_call(action, started, http_status, error.request_id, error.code)
            raise
        limiter.succeeded()
        request_id = body.get("RequestId") if isinstance(body, Mapping) else None
        self._log_call(action, started, status, request_id, None)
        return result

    def _log_call(
        self,
        action: str,
        started: float,
        http_status: int | None,
        request_id: object,
        code: str | None,
    ) -> None:
        _log.debug(
            "vod.call",
            action=action,
            http_status=http_status,
            duration_ms=round((self._clock() - started) * 1000, 1),
            request_id=request_id,
            code=code,
        )

    async def _send(
        self,
        session: aiohttp.ClientSession,
        action: str,
        params: Mapping[str, str],
        *,
        timeout_s: float,
    ) -> tuple[int, Any]:
        """One signed POST; every foreign exception becomes a VodError here and nowhere else."""
        url, headers = self._signed(action, params)
        timeout = aiohttp.ClientTimeout(
            total=timeout_s, sock_connect=self._connect_timeout_s, sock_read=self._read_timeout_s
        )
        try:
            async with session.post(
                url, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                body = await response.read()
                return response.status, read_response(
                    action, response.status, response.headers, body
                )
        except TimeoutError:
            raise VodError(
                action=action, code=TRANSPORT_TIMEOUT, message="no answer within the timeout"
            ) from None
        except aiohttp.ClientSSLError as exc:
            raise VodError(action=action, code=TLS_ERROR, message=_describe(exc)) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise VodError(action=action, code=CONNECTION_ERROR, message=_describe(exc)) from None

    def _signed(self, action: str, params: Mapping[str, str]) -> tuple[URL, dict[str, str]]:
        now, nonce = self._wall_clock(), self._nonce()
        headers = {"User-Agent": _USER_AGENT}
        if self._signature == "v1":
            query = sign_v1(
                action, params, credentials=self._credentials, method="POST", now=now, nonce=nonce
            )
        else:
            query = dict(params)
            headers |= sign_v3(
                action,
                params,
                credentials=self._credentials,
                host=self._base.raw_authority,
                method="POST",
                now=now,
                nonce=nonce,
            )
        # Encoded by us, exactly as signed: yarl's own quoting would turn spaces into `+`.
        return URL(f"{self._base}/?{canonical_query(query)}", encoded=True), headers

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("VodClient is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session


def _describe(exc: BaseException) -> str:
    """The exception's type and text: aiohttp puts the host there, never the request's query."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
