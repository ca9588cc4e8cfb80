"""Helpers of the emulator tests: signed calls, a fake clock, an HTTP caller."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from orchestrator.simulator import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, RunningEmulator
from orchestrator.simulator.wire import Call
from orchestrator.vod.signing import Credentials, sign_v1, sign_v3

DEMO = Credentials(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET)
# A fixed instant for pure tests (2023-11-14T22:13:20Z).
T0 = 1_700_000_000.0
TEST_HOST = "127.0.0.1:9000"

Scheme = Literal["v1", "v3"]


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """An instant `sleep` that remembers what it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def signed_call(
    action: str,
    params: Mapping[str, str] | None = None,
    *,
    now: float,
    scheme: Scheme = "v3",
    method: str = "POST",
    credentials: Credentials = DEMO,
    nonce: str | None = None,
    host: str = TEST_HOST,
) -> Call:
    """A correctly signed call, as the project's client would send it."""
    params = dict(params or {})
    moment = datetime.fromtimestamp(now, UTC)
    nonce = nonce or uuid.uuid4().hex
    if scheme == "v1":
        query = sign_v1(
            action, params, credentials=credentials, method=method, now=moment, nonce=nonce
        )
        headers = CIMultiDict({"host": host})
    else:
        query = params
        headers = CIMultiDict(
            sign_v3(
                action,
                params,
                credentials=credentials,
                host=host,
                method=method,
                now=moment,
                nonce=nonce,
            )
        )
    return Call(method=method, path="/", query=query, headers=CIMultiDictProxy(headers))


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer of the emulator."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Caller:
    """Signs calls with the emulator's clock and sends them over a real socket."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        emulator: RunningEmulator,
        clock: Callable[[], float],
    ) -> None:
        self._session = session
        self._emulator = emulator
        self._clock = clock

    async def call(
        self,
        action: str,
        params: Mapping[str, str] | None = None,
        *,
        scheme: Scheme = "v3",
        method: str = "POST",
        credentials: Credentials = DEMO,
    ) -> Answer:
        host = self._emulator.endpoint.removeprefix("http://")
        call = signed_call(
            action,
            params,
            now=self._clock(),
            scheme=scheme,
            method=method,
            credentials=credentials,
            host=host,
        )
        async with self._session.request(
            method, f"{self._emulator.endpoint}/", params=call.query, headers=call.headers
        ) as response:
            return Answer(response.status, response.headers, await response.read())

    async def ok(self, action: str, params: Mapping[str, str] | None = None, **kw: Any) -> Any:
        """The JSON of a call that must succeed."""
        answer = await self.call(action, params, **kw)
        assert answer.status == 200, answer.body
        return answer.json()

    async def admin(self, path: str, body: Any = None) -> tuple[int, Any]:
        url = f"{self._emulator.endpoint}/_emulator/{path}"
        method = "GET" if body is None else "POST"
        async with self._session.request(method, url, json=body) as response:
            return response.status, await response.json()


Running = AbstractAsyncContextManager[RunningEmulator]
# The `start` fixture: start(config=None) -> an emulator serving until the context exits.
Start = Callable[..., Running]
