"""The emulator over a real socket: flows, faults on the wire, introspection, reproducibility."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace

import aiohttp
import pytest

from orchestrator.simulator import (
    EmulatorConfig,
    EmulatorStartError,
    RunningEmulator,
    library_image_ids,
    serve,
)
from orchestrator.vod.signing import Credentials
from tests.simulator.helpers import DEMO, Caller, FakeClock, Scheme, Start

# Every job takes 60 simulated seconds, one real second.
FAST = EmulatorConfig(duration_sigma=0.0, duration_median_s=60.0, time_scale=60.0)


@pytest.mark.parametrize(("scheme", "method"), [("v3", "POST"), ("v1", "GET"), ("v1", "POST")])
async def test_submit_poll_list_and_look_up_over_http(
    start: Start,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    scheme: Scheme,
    method: str,
) -> None:
    """The whole flow works over the socket with either signature and either method."""
    async with start(FAST) as emu:
        caller = Caller(session, emu, clock)
        kw = {"scheme": scheme, "method": method}
        submitted = await caller.ok(
            "SubmitAIImageJob",
            {"VideoId": "v 1", "AITemplateId": "t+1", "UserData": '{"Extend":{"a":"b c"}}'},
            **kw,
        )
        job_id = submitted["JobId"]
        polled = await caller.ok("ListAIJob", {"JobIds": job_id}, **kw)
        assert polled["AIJobList"]["AIJob"][0]["Status"] == "init"
        clock.advance(1.0)
        polled = await caller.ok("ListAIJob", {"JobIds": job_id}, **kw)
        assert polled["AIJobList"]["AIJob"][0]["Status"] == "success"
        images = await caller.ok("ListAIImageInfo", {"VideoId": "v 1"}, **kw)
        assert {image["JobId"] for image in images["AIImageInfoList"]} == {job_id}
        image_ids = ",".join(library_image_ids(0, 2))
        infos = await caller.ok("GetImageInfos", {"ImageIds": image_ids}, **kw)
        assert len(infos["ImageInfo"]) == 2
        [job] = emu.jobs()
        assert (job["video_id"], job["template_id"]) == ("v 1", "t+1")


async def test_errors_travel_as_json_with_their_status(caller: Caller) -> None:
    """A wrong secret is a 400 JSON error with the documented fields."""
    answer = await caller.call(
        "ListAIJob", {"JobIds": "a"}, credentials=Credentials(DEMO.access_key_id, "wrong")
    )
    assert answer.status == 400
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json()["Code"] == "SignatureDoesNotMatch"


async def test_an_unknown_action_is_not_found(caller: Caller) -> None:
    """An Action the emulator does not implement is InvalidApi.NotFound (404)."""
    answer = await caller.call("DeleteVideo", {"VideoIds": "v"})
    assert (answer.status, answer.json()["Code"]) == (404, "InvalidApi.NotFound")


async def test_throttling_over_http_carries_retry_after(
    start: Start, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """The throttled answer is HTTP 400 Throttling.User with x-acs-retry-after in ms."""
    async with start(EmulatorConfig(qps={"ListAIJob": 1}, retry_after_ms=1500)) as emu:
        caller = Caller(session, emu, clock)
        await caller.ok("ListAIJob", {"JobIds": "a"})
        answer = await caller.call("ListAIJob", {"JobIds": "a"})
        assert (answer.status, answer.json()["Code"]) == (400, "Throttling.User")
        assert answer.headers["x-acs-retry-after"] == "1500"


async def test_a_dropped_connection_gets_no_answer_but_the_job_exists(
    emu: RunningEmulator, caller: Caller
) -> None:
    """With drops on, the client sees the connection close; the submit still made a job."""
    emu.set_faults(drop_connection=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await caller.call(
            "SubmitAIImageJob",
            {"VideoId": "v", "AITemplateId": "t", "UserData": '{"Extend":{"request_id":"r"}}'},
        )
    emu.set_faults(drop_connection=0.0)
    status, listing = await caller.admin("jobs")
    assert status == 200
    assert [job["request_id"] for job in listing["jobs"]] == ["r"]


async def test_bad_gateway_arrives_as_html(emu: RunningEmulator, caller: Caller) -> None:
    """A 502 fault is an HTML page with a text/html content type."""
    emu.set_faults(bad_gateway=1.0)
    answer = await caller.call("ListAIJob", {"JobIds": "a"})
    assert answer.status == 502
    assert answer.headers["Content-Type"].startswith("text/html")
    assert b"502 Bad Gateway" in answer.body


async def test_a_malformed_body_arrives_as_a_broken_200(
    emu: RunningEmulator, caller: Caller
) -> None:
    """A malformed success is a 200 whose body does not parse or lacks the expected lists."""
    emu.set_faults(malformed_body=1.0)
    for _ in range(6):
        answer = await caller.call("ListAIJob", {"JobIds": "a"})
        assert answer.status == 200
        try:
            document = answer.json()
        except ValueError:
            continue
        assert "AIJobList" not in document


async def test_the_visibility_lag_hides_new_jobs(
    start: Start, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Right after submission the ID is in NonExistAIJobIds; after the lag it is listed."""
    async with start(EmulatorConfig(visibility_lag_s=30, time_scale=60)) as emu:
        caller = Caller(session, emu, clock)
        job_id = (await caller.ok("SubmitAIImageJob", {"VideoId": "v", "AITemplateId": "t"}))[
            "JobId"
        ]
        early = await caller.ok("ListAIJob", {"JobIds": job_id})
        assert early["NonExistAIJobIds"]["String"] == [job_id]
        clock.advance(0.5)
        later = await caller.ok("ListAIJob", {"JobIds": job_id})
        assert [job["JobId"] for job in later["AIJobList"]["AIJob"]] == [job_id]


async def test_introspection_pages_report_calls_and_submissions(caller: Caller) -> None:
    """/_emulator/ shows calls, IDs per call, jobs by state and duplicate submissions."""
    user_data = '{"Extend":{"request_id":"same"}}'
    for _ in range(2):
        await caller.ok(
            "SubmitAIImageJob", {"VideoId": "v", "AITemplateId": "t", "UserData": user_data}
        )
    await caller.ok("ListAIJob", {"JobIds": "a,b"})
    status, stats = await caller.admin("stats")
    assert status == 200
    assert stats["calls"] == {"SubmitAIImageJob": 2, "ListAIJob": 1}
    assert stats["ids_per_call"]["ListAIJob"]["histogram"] == {"2": 1}
    assert stats["jobs"]["init"] == 2
    assert stats["submissions"]["duplicated_request_ids"] == 1
    _, submissions = await caller.admin("submissions")
    assert submissions["by_request_id"] == {"same": 2}
    assert [s["user_data"] for s in submissions["submissions"]] == [user_data, user_data]
    _, images = await caller.admin("images")
    assert images["image_ids"] == library_image_ids(0, 100)


async def test_faults_and_limits_can_be_changed_over_http(
    emu: RunningEmulator, caller: Caller
) -> None:
    """POST /_emulator/faults and /_emulator/qps change the running emulator; bad input is 400."""
    status, faults = await caller.admin("faults", {"unavailable": 1.0})
    assert (status, faults["unavailable"]) == (200, 1.0)
    assert (await caller.call("ListAIJob", {"JobIds": "a"})).status == 503
    await caller.admin("faults", {"unavailable": 0})
    status, limits = await caller.admin("qps", {"ListAIJob": None, "GetImageInfos": 1})
    assert status == 200
    assert (limits["ListAIJob"], limits["GetImageInfos"]) == (None, 1.0)
    for body in ({"unavailable": 3}, {"nope": 1}, [1, 2], {"internal_error": "high"}):
        assert (await caller.admin("faults", body))[0] == 400
    for body in ({"NoSuchAction": 1}, {"ListAIJob": "fast"}, {"ListAIJob": 5, "Bad": 1}):
        assert (await caller.admin("qps", body))[0] == 400
    assert emu.stats()["qps"]["ListAIJob"] is None  # the refused updates changed nothing


async def test_only_the_root_path_serves_the_api(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    """Any other path is a plain 404."""
    async with session.get(f"{emu.endpoint}/v1/other") as response:
        assert response.status == 404


async def test_a_busy_port_is_a_clear_error(emu: RunningEmulator) -> None:
    """Listening where another server listens raises EmulatorStartError."""
    with pytest.raises(EmulatorStartError, match="cannot listen"):
        async with serve(EmulatorConfig(), port=emu.port):
            pass


async def test_seeded_runs_agree_however_concurrent_the_calls(
    start: Start, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Two runs of one seed, submissions sent concurrently in shuffled orders, give equal jobs."""
    config = replace(FAST, seed=42, fail_rate=0.4)
    requests = [
        {
            "VideoId": f"v{i % 4}",
            "AITemplateId": "t",
            "UserData": json.dumps({"Extend": {"request_id": f"r{i}"}}),
        }
        for i in range(24)
    ]

    async def run(order_seed: int) -> dict[str, tuple[str, str, str | None, float]]:
        async with start(config) as emu:
            caller = Caller(session, emu, clock)
            shuffled = list(requests)
            random.Random(order_seed).shuffle(shuffled)
            await asyncio.gather(*(caller.ok("SubmitAIImageJob", r) for r in shuffled))
            clock.advance(10)
            return {
                job["request_id"]: (
                    job["job_id"],
                    job["status"],
                    job["code"],
                    job["completes_at"] - job["submitted_at"],
                )
                for job in emu.jobs()
            }

    first, second = await run(1), await run(2)
    assert first == second
    assert {status for _, status, _, _ in first.values()} == {"success", "fail"}
