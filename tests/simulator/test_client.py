"""The project's own VodClient against the emulator, over a real socket, V3 and V1."""

from __future__ import annotations

import json
from typing import Literal

import pytest

from orchestrator.simulator import EmulatorConfig, FaultConfig, library_image_ids
from orchestrator.vod import JobStatus, RetryPolicy, VodClient, VodError
from orchestrator.vod.signing import Credentials
from tests.simulator.helpers import DEMO, FakeClock, Start

# Every job takes 60 simulated seconds, one real second.
ONE_SECOND_JOBS = EmulatorConfig(duration_sigma=0.0, duration_median_s=60, time_scale=60)


@pytest.mark.parametrize("signature", ["v3", "v1"])
async def test_the_client_completes_the_whole_flow(
    start: Start, clock: FakeClock, signature: Literal["v3", "v1"]
) -> None:
    """Submit, poll until done, list the job's images and look images up, signed either way."""
    async with (
        start(ONE_SECOND_JOBS) as emu,
        VodClient(credentials=DEMO, endpoint=emu.endpoint, signature=signature) as vod,
    ):
        user_data = json.dumps({"Extend": {"request_id": "req-1"}})
        submitted = await vod.submit_ai_image_job(
            video_id="video-1", template_id="tmpl", user_data=user_data
        )
        seen = []
        for _ in range(10):
            listed = await vod.list_ai_job([submitted.job_id, "unknown-job"])
            assert listed.non_exist_job_ids == ("unknown-job",)
            [job] = listed.jobs
            seen.append(job.status)
            if job.status.is_terminal:
                break
            clock.advance(0.25)
        assert seen[0] is JobStatus.INIT
        assert JobStatus.PROCESSING in seen
        assert seen[-1] is JobStatus.SUCCESS

        detailed = await vod.get_ai_image_jobs([submitted.job_id])
        assert len(detailed.jobs[0].results) == 3

        images = await vod.list_ai_image_info("video-1")
        mine = images.for_job(submitted.job_id)
        assert len(mine) == 3
        assert all(image.score is not None for image in mine)

        wanted = library_image_ids(0, 3)
        infos = await vod.get_image_infos([*wanted, "missing"], output_type="oss")
        assert [image.image_id for image in infos.images] == wanted
        assert infos.non_exist_image_ids == ("missing",)
        assert emu.submissions_by_request_id() == {"req-1": 1}


async def test_the_client_surfaces_a_wrong_secret(start: Start) -> None:
    """A wrong secret reaches the caller as a non-retryable SignatureDoesNotMatch."""
    async with (
        start() as emu,
        VodClient(
            credentials=Credentials(DEMO.access_key_id, "wrong-secret"), endpoint=emu.endpoint
        ) as vod,
    ):
        with pytest.raises(VodError) as caught:
            await vod.list_ai_job(["a"])
    assert caught.value.code == "SignatureDoesNotMatch"
    assert not caught.value.retryable


async def test_the_client_retries_through_injected_server_errors(start: Start) -> None:
    """With half the calls failing 500/503/502, the client's retries still get every answer."""
    faults = FaultConfig(internal_error=0.2, unavailable=0.2, bad_gateway=0.1)
    retry = RetryPolicy(max_attempts=12, initial_s=0.001, max_s=0.005, budget_s=10)
    async with (
        start(EmulatorConfig(seed=3, faults=faults, qps={"ListAIJob": None})) as emu,
        VodClient(
            credentials=DEMO, endpoint=emu.endpoint, retry=retry, rates={"ListAIJob": 1000}
        ) as vod,
    ):
        for _ in range(20):
            result = await vod.list_ai_job(["a"])
            assert result.non_exist_job_ids == ("a",)
        stats = emu.stats()
    assert sum(stats["faults"].values()) > 0
    assert stats["calls"]["ListAIJob"] == 20 + sum(stats["faults"].values())
