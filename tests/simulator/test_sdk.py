"""The official SDK (alibabacloud-vod20170321, a test-only dependency) against the emulator.

The SDK is an independent client: if it completes a flow, the emulator's wire format and
signature checks agree with Alibaba Cloud's own implementation, for V3 (its default, which
signs user-agent and accept too) and V1 (`signature_algorithm="v2"`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils_models import Config
from alibabacloud_vod20170321 import models
from alibabacloud_vod20170321.client import Client

from orchestrator.simulator import (
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    EmulatorConfig,
    RunningEmulator,
    library_image_ids,
)
from tests.simulator.helpers import FakeClock, Start

# The SDK's spelling of the two schemes: None keeps its default, ACS3-HMAC-SHA256 (V3).
ALGORITHMS = [pytest.param(None, id="v3-default"), pytest.param("v2", id="v1")]


def _sdk(
    emu: RunningEmulator, algorithm: str | None, secret: str = DEMO_ACCESS_KEY_SECRET
) -> Client:
    config = Config(
        access_key_id=DEMO_ACCESS_KEY_ID,
        access_key_secret=secret,
        endpoint=f"127.0.0.1:{emu.port}",
        protocol="http",
        region_id="cn-shanghai",
    )
    if algorithm is not None:
        config.signature_algorithm = algorithm
    return Client(config)


async def _in_thread(method: Any, request: Any) -> Any:
    """The SDK's calls are blocking: run them off the event loop that serves the emulator."""
    return (await asyncio.to_thread(method, request)).body


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_the_sdk_completes_the_whole_flow(
    start: Start, clock: FakeClock, algorithm: str | None
) -> None:
    """Submit, poll until done, list the images, then look images up: all through the SDK."""
    config = EmulatorConfig(duration_sigma=0.0, duration_median_s=60, time_scale=60)
    async with start(config) as emu:
        sdk = _sdk(emu, algorithm)
        user_data = '{"Extend":{"request_id":"sdk 1+2"}}'
        submitted = await _in_thread(
            sdk.submit_aiimage_job,
            models.SubmitAIImageJobRequest(
                video_id="video 1", aitemplate_id="tmpl", user_data=user_data
            ),
        )
        statuses = []
        for _ in range(10):
            listed = await _in_thread(
                sdk.list_aijob, models.ListAIJobRequest(job_ids=submitted.job_id)
            )
            [job] = listed.aijob_list.aijob
            statuses.append(job.status)
            if job.status in ("success", "fail"):
                break
            clock.advance(0.25)
        assert statuses[0] == "init"
        assert "Processing" in statuses
        assert statuses[-1] == "success"
        assert job.media_id == "video 1"

        detailed = await _in_thread(
            sdk.get_aiimage_jobs, models.GetAIImageJobsRequest(job_ids=submitted.job_id)
        )
        assert detailed.aiimage_job_list[0].user_data == user_data

        images = await _in_thread(
            sdk.list_aiimage_info, models.ListAIImageInfoRequest(video_id="video 1")
        )
        assert len(images.aiimage_info_list) == 3
        assert {image.job_id for image in images.aiimage_info_list} == {submitted.job_id}
        assert all(float(image.score) > 0 for image in images.aiimage_info_list)

        wanted = library_image_ids(0, 2)
        infos = await _in_thread(
            sdk.get_image_infos,
            models.GetImageInfosRequest(image_ids=",".join([*wanted, "unknown-id"])),
        )
        assert [info.image_id for info in infos.image_info] == wanted
        assert infos.non_exist_image_ids == ["unknown-id"]
        assert emu.submissions_by_request_id() == {"sdk 1+2": 1}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_the_sdk_with_a_wrong_secret_is_refused(
    emu: RunningEmulator, algorithm: str | None
) -> None:
    """A wrong secret gets SignatureDoesNotMatch (HTTP 400) whichever scheme signs it."""
    sdk = _sdk(emu, algorithm, secret="not-the-secret")
    with pytest.raises(ClientException) as caught:
        await _in_thread(sdk.list_aijob, models.ListAIJobRequest(job_ids="a"))
    assert caught.value.code == "SignatureDoesNotMatch"
    assert caught.value.status_code == 400
    assert emu.stats()["errors"] == {"SignatureDoesNotMatch": 1}
