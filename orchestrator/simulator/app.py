"""The aiohttp.web face of the emulator: the RPC endpoint `/` and the `/_emulator/` pages.

`/_emulator/` needs no signature: it is for the tests and benchmarks that drive the emulator.
  GET  /_emulator/stats        calls, IDs per call, throttled, faults, errors, jobs by state
  GET  /_emulator/jobs         every job with its times (Unix seconds) and current status
  GET  /_emulator/submissions  every accepted SubmitAIImageJob with its UserData
  GET  /_emulator/images       the IDs of the seeded image library (for GetImageInfos)
  POST /_emulator/faults       {"internal_error": 0.1, ...}: change fault settings now
  POST /_emulator/qps          {"ListAIJob": 5, "GetImageInfos": null}: change limits now
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from orchestrator.errors import ConfigError
from orchestrator.simulator.config import normalise_qps
from orchestrator.simulator.core import EmulatorCore
from orchestrator.simulator.wire import Call

ADMIN_PREFIX = "/_emulator"


class EmulatorApp:
    """Request handlers bound to one EmulatorCore."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def build(self) -> web.Application:
        app = web.Application()
        app.router.add_route("GET", "/", self.rpc)
        app.router.add_route("POST", "/", self.rpc)
        app.router.add_get(f"{ADMIN_PREFIX}/stats", self.stats)
        app.router.add_get(f"{ADMIN_PREFIX}/jobs", self.jobs)
        app.router.add_get(f"{ADMIN_PREFIX}/submissions", self.submissions)
        app.router.add_get(f"{ADMIN_PREFIX}/images", self.images)
        app.router.add_post(f"{ADMIN_PREFIX}/faults", self.set_faults)
        app.router.add_post(f"{ADMIN_PREFIX}/qps", self.set_qps)
        return app

    async def rpc(self, request: web.Request) -> web.StreamResponse:
        body = await request.read() if request.body_exists else b""
        reply = await self.core.handle(
            Call(
                method=request.method,
                path=request.path,
                query=request.query,
                headers=request.headers,
                body=body,
            )
        )
        if reply.drop:
            # No answer at all: the client sees the connection close under its request.
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        return web.Response(
            status=reply.status,
            body=reply.body,
            headers={"Content-Type": reply.content_type, **reply.headers},
        )

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.core.stats())

    async def jobs(self, request: web.Request) -> web.Response:
        return web.json_response({"jobs": self.core.jobs()})

    async def submissions(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "submissions": self.core.submissions(),
                "by_request_id": self.core.submissions_by_request_id(),
            }
        )

    async def images(self, request: web.Request) -> web.Response:
        return web.json_response({"image_ids": self.core.state.library.image_ids})

    async def set_faults(self, request: web.Request) -> web.Response:
        changes = await _json_object(request)
        try:
            self.core.set_faults(**changes)
        except ConfigError as error:
            raise _bad_request(str(error)) from None
        return web.json_response(self.core.stats()["fault_config"])

    async def set_qps(self, request: web.Request) -> web.Response:
        changes = await _json_object(request)
        try:
            # All validated before any applies: a bad entry changes nothing.
            limits = {action: _qps_value(action, qps) for action, qps in changes.items()}
        except ConfigError as error:
            raise _bad_request(str(error)) from None
        for action, qps in limits.items():
            self.core.set_qps(action, qps)
        return web.json_response(self.core.stats()["qps"])


def _qps_value(action: str, value: object) -> float | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ConfigError(f"simulator.qps.{action}", "must be a number or null")
    return normalise_qps(action, value)


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        document = await request.json()
    except ValueError:
        raise _bad_request("the body must be a JSON object") from None
    if not isinstance(document, dict):
        raise _bad_request("the body must be a JSON object")
    return document
