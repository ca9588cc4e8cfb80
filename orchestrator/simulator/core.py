"""The emulator without its HTTP server: one call in, one reply out.

Order of a call: signature, action and version, flow control, then the seeded fault draw.
Throttling and the faults that strike *before* (500, 503, 502) leave the state untouched; the
added latency is slept next; then the operation runs; a dropped connection or a malformed body
strikes *after* it, so a dropped SubmitAIImageJob has created a job the client never hears of.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import structlog

from orchestrator.simulator.auth import NonceCache, Verified, Verifier
from orchestrator.simulator.config import EmulatorConfig, fault_overrides
from orchestrator.simulator.limits import (
    FaultDecision,
    FaultInjector,
    FaultKind,
    MalformedKind,
    QpsLimiter,
)
from orchestrator.simulator.operations import OPERATIONS, Document, Operation, VodState, parse_ids
from orchestrator.simulator.stats import Stats
from orchestrator.simulator.wire import (
    API_NOT_FOUND,
    BAD_GATEWAY_HTML,
    BAD_GATEWAY_STATUS,
    HTML_CONTENT_TYPE,
    INTERNAL_ERROR,
    INVALID_VERSION,
    JSON_CONTENT_TYPE,
    SERVICE_UNAVAILABLE,
    THROTTLED,
    ApiError,
    Call,
    dump_json,
    error_body,
    new_request_id,
)
from orchestrator.vod.signing import API_VERSION

log = structlog.get_logger("orchestrator.simulator")

RETRY_AFTER_HEADER = "x-acs-retry-after"
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer; `drop` means close the connection without answering at all."""

    status: int
    body: bytes = b""
    content_type: str = JSON_CONTENT_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)
    drop: bool = False


DROP = Reply(0, drop=True)


class EmulatorCore:
    """State, rules and counters of one emulator run; the clock and sleep are injectable."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.state = VodState(config)
        self.counters = Stats()
        self._clock = clock
        self._sleep = sleep
        self._verifier = Verifier(
            access_keys=config.access_keys,
            skew_tolerance_s=config.clock_skew_tolerance_s,
            nonces=NonceCache(
                ttl_s=config.clock_skew_tolerance_s, capacity=config.max_remembered_nonces
            ),
        )
        self._limiter = QpsLimiter(config.qps)
        self._injector = FaultInjector(config.faults, random.Random(f"{config.seed}:faults"))
        self._throttle_headers: Mapping[str, str] = (
            {RETRY_AFTER_HEADER: str(config.retry_after_ms)}
            if config.retry_after_ms
            else _NO_HEADERS
        )

    # --- the RPC path ---------------------------------------------------------------------

    async def handle(self, call: Call) -> Reply:
        request_id = new_request_id()
        host = call.headers.get("host", "")
        now = self._clock()
        try:
            verified, operation = self._admit(call, now)
        except ApiError as error:
            return self._error(error, request_id, host)
        action = verified.action
        self.counters.calls[action] += 1
        if not self._limiter.allow(action, now):
            self.counters.throttled[action] += 1
            return self._error(ApiError(THROTTLED), request_id, host, self._throttle_headers)
        decision = self._injector.decide()
        if decision.kind is not None and decision.kind.strikes_before:
            return self._fault_before(decision.kind, request_id, host)
        if decision.delay_s:
            await self._sleep(decision.delay_s)
        try:
            document = self._run(verified, operation, self._clock())
        except ApiError as error:
            reply = self._error(error, request_id, host)
        else:
            reply = self._success({"RequestId": request_id, **document}, decision)
        if decision.kind is FaultKind.DROP_CONNECTION:
            self.counters.faults[FaultKind.DROP_CONNECTION.value] += 1
            return DROP
        return reply

    def _admit(self, call: Call, now: float) -> tuple[Verified, Operation]:
        verified = self._verifier.verify(call, now)
        operation = OPERATIONS.get(verified.action)
        if operation is None:
            raise ApiError(API_NOT_FOUND)
        if verified.version != API_VERSION:
            raise ApiError(INVALID_VERSION)
        return verified, operation

    def _run(self, verified: Verified, operation: Operation, now: float) -> Document:
        ids: tuple[str, ...] = ()
        if operation.ids_param is not None:
            ids = parse_ids(verified.params, operation.ids_param, operation.max_ids)
            self.counters.ids[verified.action].add(len(ids))
        return operation.run(self.state, verified.params, ids, now)

    def _success(self, body: Document, decision: FaultDecision) -> Reply:
        if decision.kind is FaultKind.MALFORMED_BODY:
            self.counters.faults[FaultKind.MALFORMED_BODY.value] += 1
            return Reply(200, _malformed(body, decision.malformed))
        return Reply(200, dump_json(body))

    def _error(
        self,
        error: ApiError,
        request_id: str,
        host: str,
        headers: Mapping[str, str] = _NO_HEADERS,
    ) -> Reply:
        self.counters.errors[error.code] += 1
        body = dump_json(error_body(error, request_id=request_id, host=host))
        return Reply(error.status, body, headers=headers)

    def _fault_before(self, kind: FaultKind, request_id: str, host: str) -> Reply:
        self.counters.faults[kind.value] += 1
        if kind is FaultKind.BAD_GATEWAY:
            return Reply(BAD_GATEWAY_STATUS, BAD_GATEWAY_HTML, HTML_CONTENT_TYPE)
        spec = INTERNAL_ERROR if kind is FaultKind.INTERNAL_ERROR else SERVICE_UNAVAILABLE
        return self._error(ApiError(spec), request_id, host)

    # --- run-time control and introspection -----------------------------------------------

    def set_faults(self, **changes: float) -> None:
        """Change some fault settings now, e.g. `set_faults(internal_error=0.1)`."""
        faults = replace(self._injector.faults, **fault_overrides(changes))
        self._injector.faults = faults
        log.info("simulator.faults_changed", **faults.as_dict())

    def set_qps(self, action: str, qps: float | None) -> None:
        """Change one action's limit now (None or 0: unlimited)."""
        self._limiter.set_limit(action, qps)
        log.info("simulator.qps_changed", action=action, qps=qps)

    def stats(self) -> dict[str, Any]:
        now = self._clock()
        book = self.state.book
        per_request = book.submissions_by_request_id()
        return {
            **self.counters.snapshot(),
            "jobs": book.counts_by_status(now),
            "submissions": {
                "total": len(book),
                "request_ids": len(per_request),
                "duplicated_request_ids": sum(1 for n in per_request.values() if n > 1),
            },
            "qps": self._limiter.limits,
            "fault_config": self._injector.faults.as_dict(),
        }

    def jobs(self) -> list[dict[str, Any]]:
        now = self._clock()
        return [
            {
                "job_id": job.job_id,
                "video_id": job.video_id,
                "template_id": job.template_id,
                "request_id": job.request_id,
                "status": job.status(now).value,
                "code": job.code if now >= job.completes_at else None,
                "submitted_at": job.submitted_at,
                "visible_at": job.visible_at,
                "completes_at": job.completes_at,
                "completed_at": job.completes_at if now >= job.completes_at else None,
            }
            for job in self.state.book
        ]

    def submissions(self) -> list[dict[str, Any]]:
        """Every accepted SubmitAIImageJob, in order, with the UserData it carried."""
        return [
            {
                "at": job.submitted_at,
                "job_id": job.job_id,
                "video_id": job.video_id,
                "template_id": job.template_id,
                "user_data": job.user_data,
                "request_id": job.request_id,
            }
            for job in self.state.book
        ]

    def submissions_by_request_id(self) -> dict[str, int]:
        return self.state.book.submissions_by_request_id()


def _malformed(body: dict[str, Any], kind: MalformedKind) -> bytes:
    if kind is MalformedKind.TRUNCATED:
        full = dump_json(body)
        return full[: len(full) // 2]
    # Valid JSON in which none of the expected fields is where a client looks for it.
    return dump_json({"RequestId": body["RequestId"], "Result": [body]})
