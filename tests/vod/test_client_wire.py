"""VodClient against a real loopback HTTP server: the exact bytes on the wire verify as signed."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer as LoopbackServer

from orchestrator.vod import Credentials, VodClient, signing

TRICKY = "vid é/*~+ &=%20 中"


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes
    peer_port: int


def _decode_query(raw: str) -> dict[str, str]:
    """Percent-decode the query as the API does (RFC 3986: `+` is a plus, not a space)."""
    pairs = (item.partition("=") for item in raw.split("&") if item)
    return {unquote(name): unquote(value) for name, _, value in pairs}


@pytest.fixture
async def server() -> AsyncIterator[tuple[LoopbackServer, list[Seen]]]:
    seen: list[Seen] = []

    async def handle(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        seen.append(
            Seen(
                method=request.method,
                path=request.path,
                raw_query=request.raw_path.partition("?")[2],
                headers={name.lower(): value for name, value in request.headers.items()},
                body=await request.read(),
                peer_port=peer[1] if peer else -1,
            )
        )
        return web.json_response({"RequestId": "W", "AIImageInfoList": []})

    app = web.Application()
    app.router.add_route("*", "/", handle)
    test_server = LoopbackServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server, seen
    await test_server.close()


def _client(test_server: LoopbackServer, **options: Any) -> VodClient:
    return VodClient(
        credentials=Credentials("wire-id", "wire-secret", security_token="wire-token"),
        endpoint=str(test_server.make_url("")).rstrip("/"),
        rng=random.Random(1),
        **options,
    )


async def test_v3_request_on_the_wire_verifies(server: tuple[LoopbackServer, list[Seen]]) -> None:
    """POST / with an empty body; the raw query decodes to the parameters and the V3 signature
    recomputed from what the server received matches."""
    test_server, seen = server
    async with _client(test_server) as client:
        await client.list_ai_image_info(TRICKY)
    (request,) = seen
    assert (request.method, request.path, request.body) == ("POST", "/", b"")
    query = _decode_query(request.raw_query)
    assert query == {"VideoId": TRICKY}
    assert request.raw_query == signing.canonical_query(query)
    assert request.headers["host"] == f"127.0.0.1:{test_server.port}"
    auth = signing.parse_v3_authorization(request.headers["authorization"])
    assert auth is not None
    canonical = signing.v3_canonical_request(
        method=request.method,
        path=request.path,
        query=query,
        headers=request.headers,
        signed_headers=auth.signed_headers,
        payload_hash=signing.EMPTY_PAYLOAD_SHA256,
    )
    assert signing.v3_signature(canonical, secret="wire-secret") == auth.signature


async def test_v1_request_on_the_wire_verifies(server: tuple[LoopbackServer, list[Seen]]) -> None:
    """The V1 Signature recomputed from the decoded wire query matches."""
    test_server, seen = server
    async with _client(test_server, signature="v1") as client:
        await client.list_ai_image_info(TRICKY)
    (request,) = seen
    query = _decode_query(request.raw_query)
    signature = query.pop("Signature")
    assert query["VideoId"] == TRICKY
    assert query["SecurityToken"] == "wire-token"
    assert signing.v1_signature(query, method="POST", secret="wire-secret") == signature
    assert "authorization" not in request.headers


async def test_one_connection_serves_every_call(server: tuple[LoopbackServer, list[Seen]]) -> None:
    """Calls reuse the client's session and its kept-alive connection."""
    test_server, seen = server
    async with _client(test_server) as client:
        for _ in range(3):
            await client.list_ai_image_info("v")
    assert len({request.peer_port for request in seen}) == 1
    assert len({request.headers["x-acs-signature-nonce"] for request in seen}) == 3
