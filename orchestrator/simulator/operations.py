"""The five VOD operations, as pure functions of the emulator's state, parameters and time.

Each returns the response document without its RequestId (the caller adds it) or raises
ApiError. The shapes follow the API pages: ListAIJob wraps its lists ({"AIJob": [...]},
{"String": [...]}), the other lists are flat; Data, AIImageResult, UserData and TemplateConfig
are JSON *strings*; ListAIImageInfo's Score is a string.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.simulator.config import EmulatorConfig
from orchestrator.simulator.jobs import JOB_TYPE, Job, JobBook, JobStatus
from orchestrator.simulator.library import DEFAULT_AUTH_TIMEOUT_S, ImageLibrary, cdn_url
from orchestrator.simulator.wire import (
    INVALID_PARAMETER,
    MISSING_PARAMETER,
    VIDEO_NOT_FOUND,
    ApiError,
)

# The API's documented limits.
MAX_USER_DATA_BYTES = 512
MAX_JOB_IDS = 10
MAX_IMAGE_IDS = 20
# GetImageInfos: an OSS URL of the VOD bucket may be valid for at most 30 days.
MAX_OSS_AUTH_TIMEOUT_S = 30 * 24 * 3600
OUTPUT_TYPES = ("oss", "cdn")
GET_AI_IMAGE_JOBS_SUCCESS_CODE = "Success"

Document = dict[str, Any]


class VodState:
    """What the operations read and change: the jobs, the image library, the known videos."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.book = JobBook(config)
        self.library = ImageLibrary(seed=config.seed, size=config.image_library_size)

    def check_video(self, video_id: str) -> None:
        videos = self.config.videos
        if videos is not None and video_id not in videos:
            raise ApiError(VIDEO_NOT_FOUND)


def required(params: Mapping[str, str], name: str) -> str:
    """The parameter's value as sent; a blank one counts as missing."""
    value = params.get(name, "")
    if not value.strip():
        raise ApiError(MISSING_PARAMETER, name)
    return value


def parse_ids(params: Mapping[str, str], name: str, limit: int) -> tuple[str, ...]:
    """The comma-separated IDs of `name`, duplicates dropped, at most `limit` of them."""
    ids = [part.strip() for part in required(params, name).split(",")]
    ids = [job_id for job_id in ids if job_id]
    if len(ids) > limit:
        raise ApiError(INVALID_PARAMETER, name, reason=f"At most {limit} IDs are allowed.")
    return tuple(dict.fromkeys(ids))


def _user_data(params: Mapping[str, str]) -> str | None:
    user_data = params.get("UserData")
    if not user_data:
        return None
    if len(user_data.encode()) > MAX_USER_DATA_BYTES:
        raise ApiError(
            INVALID_PARAMETER, "UserData", reason=f"At most {MAX_USER_DATA_BYTES} bytes."
        )
    try:
        parsed = json.loads(user_data)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ApiError(INVALID_PARAMETER, "UserData", reason="It must be a JSON object.")
    return user_data


def submit_ai_image_job(
    state: VodState, params: Mapping[str, str], ids: Sequence[str], now: float
) -> Document:
    video_id = required(params, "VideoId")
    template_id = required(params, "AITemplateId")
    user_data = _user_data(params)
    state.check_video(video_id)
    job = state.book.submit(
        video_id=video_id,
        template_id=template_id,
        user_data=user_data,
        pipeline_id=params.get("AIPipelineId") or None,
        now=now,
    )
    return {"JobId": job.job_id}


def _ai_job(job: Job, now: float) -> Document:
    status = job.status(now)
    item: Document = {
        "JobId": job.job_id,
        "MediaId": job.video_id,
        "Type": JOB_TYPE,
        "Status": status.value,
        "CreationTime": job.creation_time,
    }
    # The API returns Code/Message, Data and CompleteTime once a job has ended.
    if status in (JobStatus.SUCCESS, JobStatus.FAIL):
        item["Code"] = job.code
        item["Message"] = job.message
        item["CompleteTime"] = job.complete_time
        if status is JobStatus.SUCCESS:
            # Data is a JSON string; built from the pre-rendered result, valid by construction.
            item["Data"] = f'{{"AIImageResult":{job.result_json}}}'
    return item


def list_ai_job(
    state: VodState, params: Mapping[str, str], ids: Sequence[str], now: float
) -> Document:
    jobs: list[Document] = []
    missing: list[str] = []
    for job_id in ids:
        job = state.book.visible(job_id, now)
        if job is None:
            missing.append(job_id)
        else:
            jobs.append(_ai_job(job, now))
    return {"AIJobList": {"AIJob": jobs}, "NonExistAIJobIds": {"String": missing}}


def _template_config(state: VodState, template_id: str) -> str:
    return json.dumps({"TemplateId": template_id, "ImageCount": state.config.images_per_job})


def _ai_image_job(state: VodState, job: Job, now: float) -> Document:
    status = job.status(now)
    item: Document = {
        "JobId": job.job_id,
        "VideoId": job.video_id,
        "TemplateId": job.template_id,
        "TemplateConfig": _template_config(state, job.template_id),
        "UserData": job.user_data or "",
        "Status": status.value,
        "CreationTime": job.creation_time,
    }
    if status is JobStatus.SUCCESS:
        item["Code"] = GET_AI_IMAGE_JOBS_SUCCESS_CODE
        item["Message"] = job.message
        item["AIImageResult"] = job.result_json
    elif status is JobStatus.FAIL:
        item["Code"] = job.code
        item["Message"] = job.message
    return item


def get_ai_image_jobs(
    state: VodState, params: Mapping[str, str], ids: Sequence[str], now: float
) -> Document:
    visible = (state.book.visible(job_id, now) for job_id in ids)
    return {"AIImageJobList": [_ai_image_job(state, job, now) for job in visible if job]}


def list_ai_image_info(
    state: VodState, params: Mapping[str, str], ids: Sequence[str], now: float
) -> Document:
    video_id = required(params, "VideoId")
    state.check_video(video_id)
    expires_at = int(now) + DEFAULT_AUTH_TIMEOUT_S
    images = [
        {
            "AIImageInfoId": image.ai_image_info_id,
            "JobId": image.job_id,
            "VideoId": image.video_id,
            "FileURL": cdn_url(image.path, expires_at=expires_at),
            "Format": image.format,
            "Score": repr(image.score),
            "Version": image.version,
            "CreationTime": job.complete_time,
        }
        for job, image in state.book.images_of_video(video_id, now)
    ]
    return {"AIImageInfoList": images}


def _auth_timeout(params: Mapping[str, str], output_type: str) -> int:
    raw = params.get("AuthTimeout")
    if not raw:
        return DEFAULT_AUTH_TIMEOUT_S
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1 or (output_type == "oss" and value > MAX_OSS_AUTH_TIMEOUT_S):
        raise ApiError(INVALID_PARAMETER, "AuthTimeout")
    return value


def get_image_infos(
    state: VodState, params: Mapping[str, str], ids: Sequence[str], now: float
) -> Document:
    output_type = params.get("OutputType") or "cdn"
    if output_type not in OUTPUT_TYPES:
        raise ApiError(INVALID_PARAMETER, "OutputType", reason="Use oss or cdn.")
    auth_timeout_s = _auth_timeout(params, output_type)
    found: list[Document] = []
    missing: list[str] = []
    for image_id in ids:
        image = state.library.get(image_id)
        if image is None:
            missing.append(image_id)
        else:
            found.append(
                image.to_wire(now=now, auth_timeout_s=auth_timeout_s, output_type=output_type)
            )
    return {"ImageInfo": found, "NonExistImageIds": missing}


@dataclass(frozen=True, slots=True)
class Operation:
    """An action's implementation and, for batch actions, the parameter holding its IDs."""

    run: Callable[[VodState, Mapping[str, str], Sequence[str], float], Document]
    ids_param: str | None = None
    max_ids: int = 0


OPERATIONS: Mapping[str, Operation] = {
    "SubmitAIImageJob": Operation(submit_ai_image_job),
    "ListAIJob": Operation(list_ai_job, "JobIds", MAX_JOB_IDS),
    "GetAIImageJobs": Operation(get_ai_image_jobs, "JobIds", MAX_JOB_IDS),
    "ListAIImageInfo": Operation(list_ai_image_info),
    "GetImageInfos": Operation(get_image_infos, "ImageIds", MAX_IMAGE_IDS),
}
