"""The daemon end to end against the emulator over real sockets."""

from __future__ import annotations

from orchestrator import simulator
from tests.e2e.conftest import Workdir, job_lines, run_until_idle


async def test_every_request_gets_exactly_one_terminal_event(
    workdir: Workdir, emulator: simulator.RunningEmulator
) -> None:
    """Jobs, a look-up and a bad line each end in exactly one terminal or rejection event."""
    workdir.append(job_lines(40))
    workdir.append([b"this is not json\n", {"image_ids": ["missing-1"], "request_id": "look"}])
    await run_until_idle(workdir.settings(emulator.endpoint))

    counts = workdir.terminal_counts()
    assert set(counts) == {f"r{n}" for n in range(40)} | {"look"}
    assert set(counts.values()) == {1}
    events = workdir.events()
    by_type = {e["event"] for e in events}
    assert {"job.succeeded", "job.failed", "request.rejected", "images.resolved"} <= by_type
    [rejected] = [e for e in events if e["event"] == "request.rejected"]
    assert rejected["line"] == 41
    succeeded = [e for e in events if e["event"] == "job.succeeded"]
    assert all(e["images"] and e["job_id"] for e in succeeded)
    assert all(img["job_id"] == e["job_id"] for e in succeeded for img in e["images"])
    assert all("auth_key" not in img["file_url"] for e in succeeded for img in e["images"])
    [lookup] = [e for e in events if e["event"] == "images.resolved"]
    assert lookup["missing_image_ids"] == ["missing-1"]
    stats = emulator.stats()
    assert stats["ids_per_call"]["ListAIJob"]["max"] <= 10


async def test_get_ai_image_jobs_can_be_the_status_call(
    workdir: Workdir, emulator: simulator.RunningEmulator
) -> None:
    """With vod.status_api = GetAIImageJobs, jobs are polled with it and V1 signing works too."""
    workdir.append(job_lines(15))
    settings = workdir.settings(
        emulator.endpoint,
        ORCHESTRATOR_VOD_STATUS_API="GetAIImageJobs",
        ORCHESTRATOR_VOD_SIGNATURE="v1",
    )
    await run_until_idle(settings)
    assert set(workdir.terminal_counts().values()) == {1}
    assert len(workdir.terminal_counts()) == 15
    calls = emulator.stats()["calls"]
    assert calls.get("GetAIImageJobs", 0) > 0
    assert calls.get("ListAIJob", 0) == 0
