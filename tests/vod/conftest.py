"""Shared doubles for the VOD client tests: a fake clock, a mocked API, a client factory."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from orchestrator.vod import Credentials, RetryPolicy, VodClient

ENDPOINT = "https://vod.cn-shanghai.aliyuncs.com"
API = re.compile(r"^https://vod\.cn-shanghai\.aliyuncs\.com/\?")
KEY_ID = "AKID-test"
SECRET = "s3cret-value-never-logged"
TOKEN = "sts-token-never-logged"
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # still yield, so that concurrent tasks interleave


class CompatResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds responses without the `stream_writer` aiohttp 3.14 requires."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


class VodMock(aioresponses):
    """aioresponses with the compatible response class as the default."""

    def add(self, url: Any, method: str = "GET", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", CompatResponse)
        super().add(url, method, *args, **kwargs)

    def sent(self) -> list[tuple[URL, dict[str, Any]]]:
        """Every request made, as (URL as aioresponses normalised it, keyword arguments)."""
        return [(url, call.kwargs) for (_, url), calls in self.requests.items() for call in calls]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api() -> Iterator[VodMock]:
    mock = VodMock()
    with mock:
        yield mock


MakeClient = Callable[..., VodClient]


@pytest.fixture
async def make_client(clock: FakeClock) -> AsyncIterator[MakeClient]:
    """Build clients on the fake clock with instant sleeps, numbered nonces and a fixed date."""
    made: list[VodClient] = []
    nonces = (f"nonce-{n}" for n in itertools.count(1))

    def make(**overrides: Any) -> VodClient:
        options: dict[str, Any] = {
            "credentials": Credentials(KEY_ID, SECRET, security_token=TOKEN),
            "retry": RetryPolicy(max_attempts=4, initial_s=0.5, max_s=4.0, budget_s=30.0),
            "clock": clock,
            "sleep": clock.sleep,
            "rng": random.Random(7),
            "nonce_factory": lambda: next(nonces),
            "wall_clock": lambda: NOW,
        }
        options.update(overrides)
        client = VodClient(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()
