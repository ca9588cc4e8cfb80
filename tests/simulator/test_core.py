"""EmulatorCore without a socket: the order of checks, throttling, faults, counters."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from orchestrator.errors import ConfigError
from orchestrator.simulator import EmulatorConfig, EmulatorCore, FaultConfig
from orchestrator.simulator.wire import HTML_CONTENT_TYPE
from orchestrator.vod.signing import v1_signature
from tests.simulator.helpers import DEMO, FakeClock, RecordingSleep, signed_call

SUBMIT = {"VideoId": "v", "AITemplateId": "t", "UserData": '{"Extend":{"request_id":"r1"}}'}


def _core(clock: FakeClock, sleep: RecordingSleep | None = None, **changes: Any) -> EmulatorCore:
    return EmulatorCore(EmulatorConfig(**changes), clock=clock, sleep=sleep or RecordingSleep())


async def _send(
    core: EmulatorCore, clock: FakeClock, action: str, params: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    reply = await core.handle(signed_call(action, params, now=clock()))
    assert not reply.drop
    return reply.status, json.loads(reply.body), dict(reply.headers)


async def test_a_good_call_answers_json_with_a_request_id() -> None:
    """A verified call answers 200 with its document and a fresh RequestId."""
    clock = FakeClock()
    core = _core(clock)
    status, body, _ = await _send(core, clock, "SubmitAIImageJob", SUBMIT)
    assert status == 200
    assert set(body) == {"RequestId", "JobId"}
    assert len(body["RequestId"]) == 36


async def test_errors_have_the_documented_body() -> None:
    """An error answer holds exactly RequestId, HostId, Code, Message and Recommend."""
    clock = FakeClock()
    status, body, _ = await _send(_core(clock), clock, "DeleteVideo", {"VideoId": "v"})
    assert status == 404
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["Code"] == "InvalidApi.NotFound"
    assert body["HostId"] == "127.0.0.1:9000"
    assert body["RequestId"] in body["Recommend"]


async def test_another_api_version_is_refused() -> None:
    """Only version 2017-03-21 is served."""
    clock = FakeClock()
    call = signed_call("ListAIJob", {"JobIds": "a"}, now=clock(), scheme="v1")
    query = {k: v for k, v in call.query.items() if k != "Signature"}
    query["Version"] = "2020-01-01"
    query["Signature"] = v1_signature(query, method="POST", secret=DEMO.access_key_secret)
    reply = await _core(clock).handle(replace(call, query=query))
    assert (reply.status, json.loads(reply.body)["Code"]) == (400, "InvalidVersion")


async def test_throttling_answers_throttling_user_and_creates_nothing() -> None:
    """Over the limit a submit is HTTP 400 Throttling.User with x-acs-retry-after; no job."""
    clock = FakeClock()
    core = _core(clock, qps={"SubmitAIImageJob": 2}, retry_after_ms=250)
    for _ in range(2):
        assert (await _send(core, clock, "SubmitAIImageJob", SUBMIT))[0] == 200
    status, body, headers = await _send(core, clock, "SubmitAIImageJob", SUBMIT)
    assert status == 400
    assert body["Code"] == "Throttling.User"
    assert body["Message"] == "Request was denied due to user flow control."
    assert headers == {"x-acs-retry-after": "250"}
    assert len(core.state.book) == 2
    stats = core.stats()
    assert stats["throttled"] == {"SubmitAIImageJob": 1}
    assert stats["calls"] == {"SubmitAIImageJob": 3}
    clock.advance(0.5)
    assert (await _send(core, clock, "SubmitAIImageJob", SUBMIT))[0] == 200


async def test_throttling_without_retry_after_sends_no_header() -> None:
    """x-acs-retry-after is optional and off by default."""
    clock = FakeClock()
    core = _core(clock, qps={"GetImageInfos": 1})
    await _send(core, clock, "GetImageInfos", {"ImageIds": "a"})
    status, body, headers = await _send(core, clock, "GetImageInfos", {"ImageIds": "a"})
    assert (status, body["Code"], headers) == (400, "Throttling.User", {})


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("internal_error", 500, "InternalError"), ("unavailable", 503, "ServiceUnAvailable")],
)
async def test_error_faults_strike_before_the_operation(fault: str, status: int, code: str) -> None:
    """500 InternalError and 503 ServiceUnAvailable leave no job behind."""
    clock = FakeClock()
    core = _core(clock, faults=FaultConfig(**{fault: 1.0}))
    answer_status, body, _ = await _send(core, clock, "SubmitAIImageJob", SUBMIT)
    assert (answer_status, body["Code"]) == (status, code)
    assert len(core.state.book) == 0
    assert core.stats()["faults"] == {fault: 1}


async def test_bad_gateway_is_an_html_page() -> None:
    """A 502 comes with an HTML body, as a gateway sends it, and creates no job."""
    clock = FakeClock()
    core = _core(clock, faults=FaultConfig(bad_gateway=1.0))
    reply = await core.handle(signed_call("SubmitAIImageJob", SUBMIT, now=clock()))
    assert reply.status == 502
    assert reply.content_type == HTML_CONTENT_TYPE
    assert reply.body.startswith(b"<html>")
    assert len(core.state.book) == 0


async def test_a_dropped_submit_has_created_its_job() -> None:
    """The connection drops after the operation: the job exists though nobody heard of it."""
    clock = FakeClock()
    core = _core(clock, faults=FaultConfig(drop_connection=1.0))
    reply = await core.handle(signed_call("SubmitAIImageJob", SUBMIT, now=clock()))
    assert reply.drop
    assert len(core.state.book) == 1
    assert core.submissions_by_request_id() == {"r1": 1}
    assert core.stats()["faults"] == {"drop_connection": 1}


async def test_a_malformed_success_body_follows_a_real_operation() -> None:
    """Malformed answers are 200s that are cut short or lack the expected fields; jobs exist."""
    clock = FakeClock()
    core = _core(clock, faults=FaultConfig(malformed_body=1.0))
    flavours = set()
    for _ in range(20):
        reply = await core.handle(signed_call("SubmitAIImageJob", SUBMIT, now=clock()))
        assert reply.status == 200
        try:
            document = json.loads(reply.body)
        except ValueError:
            flavours.add("truncated")
        else:
            assert "JobId" not in document
            flavours.add("wrong shape")
    assert flavours == {"truncated", "wrong shape"}
    assert len(core.state.book) == 20


async def test_an_operation_error_is_not_dressed_as_malformed() -> None:
    """A malformed-body fault only garbles successes: a real error answer stays intact."""
    clock = FakeClock()
    core = _core(clock, faults=FaultConfig(malformed_body=1.0))
    status, body, _ = await _send(core, clock, "ListAIJob", {"JobIds": ",".join("abcdefghijk")})
    assert (status, body["Code"]) == (400, "InvalidParameter")


async def test_latency_is_slept_before_the_operation() -> None:
    """The configured latency goes through the injected sleep, once per call."""
    clock = FakeClock()
    sleep = RecordingSleep()
    core = _core(clock, sleep, faults=FaultConfig(latency_s=0.05))
    await _send(core, clock, "ListAIJob", {"JobIds": "a"})
    await _send(core, clock, "ListAIJob", {"JobIds": "a"})
    assert sleep.calls == [0.05, 0.05]


async def test_signature_errors_are_counted_by_code() -> None:
    """Rejected calls appear in the error counters, not in the calls per action."""
    clock = FakeClock()
    core = _core(clock)
    call = signed_call("ListAIJob", {"JobIds": "a"}, now=clock() - 1000)
    reply = await core.handle(call)
    assert json.loads(reply.body)["Code"] == "InvalidTimeStamp.Expired"
    stats = core.stats()
    assert stats["errors"] == {"InvalidTimeStamp.Expired": 1}
    assert stats["calls"] == {}


async def test_ids_per_call_are_counted_for_batch_actions() -> None:
    """Sum, count, max and a histogram of the IDs each status call carried."""
    clock = FakeClock()
    core = _core(clock)
    for ids in ("a", "a,b,c", "a,b,c", "x"):
        await _send(core, clock, "ListAIJob", {"JobIds": ids})
    ids_stats = core.stats()["ids_per_call"]["ListAIJob"]
    assert ids_stats == {
        "sum": 8,
        "count": 4,
        "max": 3,
        "mean": 2.0,
        "histogram": {"1": 2, "3": 2},
    }


async def test_faults_and_limits_change_at_run_time() -> None:
    """set_faults and set_qps take effect on the next call; bad settings are refused."""
    clock = FakeClock()
    core = _core(clock)
    core.set_faults(unavailable=1.0)
    assert (await _send(core, clock, "ListAIJob", {"JobIds": "a"}))[0] == 503
    core.set_faults(unavailable=0.0)
    core.set_qps("ListAIJob", 1)
    assert (await _send(core, clock, "ListAIJob", {"JobIds": "a"}))[0] == 200
    assert (await _send(core, clock, "ListAIJob", {"JobIds": "a"}))[0] == 400
    with pytest.raises(ConfigError):
        core.set_faults(unavailable=2.0)
    with pytest.raises(ConfigError):
        core.set_faults(no_such_fault=0.1)


async def test_jobs_listing_tracks_status_and_times() -> None:
    """jobs() shows each job's request id, status and completion once it is done."""
    clock = FakeClock()
    core = _core(clock, duration_sigma=0, duration_median_s=60, time_scale=60)
    await _send(core, clock, "SubmitAIImageJob", SUBMIT)
    [job] = core.jobs()
    assert (job["request_id"], job["status"], job["completed_at"]) == ("r1", "init", None)
    assert job["completes_at"] == pytest.approx(clock() + 1)
    clock.advance(1)
    [job] = core.jobs()
    assert (job["status"], job["code"]) == ("success", "0")
    assert job["completed_at"] == job["completes_at"]
    stats = core.stats()
    assert stats["jobs"]["success"] == 1
    assert stats["submissions"] == {"total": 1, "request_ids": 1, "duplicated_request_ids": 0}
