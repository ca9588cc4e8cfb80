"""Typed results of the VOD operations and the pure functions that build them from JSON.

The parsers are tolerant where the API is known to vary (a list wrapped as `{"AIJob": [...]}`,
a bare list, a lone object or string, numbers sent as strings, JSON sent as strings) and strict
where tolerance would hide a fault: a body of any other shape raises `VodError` with code
`Response.Malformed` rather than turning into a silent empty result. A field that holds a JSON
*string* (`Data`, `UserData`, `AIImageResult`...) never fails a parse: bad JSON becomes None or
an empty tuple, because the job's state is still worth having.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

from orchestrator.vod.errors import MALFORMED_RESPONSE, VodError


class Action(StrEnum):
    """The API operations this package calls."""

    SUBMIT_AI_IMAGE_JOB = "SubmitAIImageJob"
    LIST_AI_JOB = "ListAIJob"
    GET_AI_IMAGE_JOBS = "GetAIImageJobs"
    LIST_AI_IMAGE_INFO = "ListAIImageInfo"
    GET_IMAGE_INFOS = "GetImageInfos"


def malformed(action: str, problem: str, request_id: str | None = None) -> VodError:
    """The error for a response body that does not have the documented shape."""
    return VodError(
        action=str(action), code=MALFORMED_RESPONSE, message=problem, request_id=request_id or None
    )


class JobStatus(StrEnum):
    """An AI job's status; the API mixes cases (`Processing`, `processing`)."""

    INIT = "init"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAIL = "fail"

    @classmethod
    def parse(cls, text: object, *, action: str = "") -> JobStatus:
        """The status named by `text`, case-insensitively; VodError (Response.Malformed) if none."""
        if isinstance(text, str):
            try:
                return cls(text.strip().lower())
            except ValueError:
                pass
        raise malformed(action, f"unknown job status {text!r}")

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.SUCCESS, JobStatus.FAIL)


class JobState(Protocol):
    """What the poller needs from a status answer, whichever operation gave it."""

    @property
    def job_id(self) -> str: ...
    @property
    def status(self) -> JobStatus: ...
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitAIImageJobResult:
    job_id: str
    request_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AIJob:
    """One job of a ListAIJob answer; `data` is the parsed `Data` string (None if absent/bad)."""

    job_id: str
    media_id: str
    type: str
    status: JobStatus
    code: str
    message: str
    data: Any
    creation_time: str
    complete_time: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ListAIJobResult:
    request_id: str
    jobs: tuple[AIJob, ...]
    non_exist_job_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AIImageResult:
    """One image of a GetAIImageJobs job: an OSS address without auth, and its score."""

    score: float | None
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AIImageJob:
    """One job of a GetAIImageJobs answer, with its JSON-string fields parsed."""

    job_id: str
    video_id: str
    template_id: str
    status: JobStatus
    code: str
    message: str
    user_data: Any
    template_config: Any
    results: tuple[AIImageResult, ...]
    creation_time: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GetAIImageJobsResult:
    """Jobs found; an unknown ID is simply absent (this operation has no NonExist list)."""

    request_id: str
    jobs: tuple[AIImageJob, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AIImageInfo:
    """One AI image of a video; `file_url` holds an expiring `auth_key`, so it stays out of repr."""

    ai_image_info_id: str
    job_id: str
    video_id: str
    file_url: str = field(repr=False)
    format: str
    score: float | None
    version: str
    creation_time: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ListAIImageInfoResult:
    """Every AI image of one video, from every job that ever ran on it."""

    request_id: str
    images: tuple[AIImageInfo, ...]

    def for_job(self, job_id: str) -> tuple[AIImageInfo, ...]:
        """The images one job produced (the API does not filter by job)."""
        return tuple(image for image in self.images if image.job_id == job_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageInfo:
    """One image of a GetImageInfos answer; `raw` keeps every field the API sent."""

    image_id: str
    url: str = field(repr=False)
    title: str
    status: str
    image_type: str
    creation_time: str
    storage_location: str
    width: int | None
    height: int | None
    file_size: int | None
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class GetImageInfosResult:
    request_id: str
    images: tuple[ImageInfo, ...]
    non_exist_image_ids: tuple[str, ...]


# --- Reading JSON ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reader:
    """Typed access to one JSON object, raising Response.Malformed in the action's name."""

    action: str
    request_id: str
    where: str
    data: Mapping[str, Any]

    def fail(self, problem: str) -> VodError:
        return malformed(self.action, f"{self.where}: {problem}", self.request_id)

    def text(self, key: str, *, required: bool = False) -> str:
        """A string field; numbers become their text (the API sends some codes as numbers)."""
        value = self.data.get(key)
        if isinstance(value, str) and (value or not required):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if value is None and not required:
            return ""
        raise self.fail(f"field {key!r} is {_describe(value)}, expected a string")

    def status(self, key: str) -> JobStatus:
        try:
            return JobStatus.parse(self.data.get(key), action=self.action)
        except VodError as err:
            raise self.fail(err.message) from None

    def number(self, key: str) -> float | None:
        return _number(self.data.get(key))

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdecimal():
            return int(value)
        return None

    def embedded_json(self, key: str) -> Any:
        return _embedded_json(self.data.get(key))

    def objects(self, key: str, item_key: str) -> list[Mapping[str, Any]]:
        """A list of objects: wrapped `{item_key: [...]}`, bare, a lone object, or empty."""
        value = self.data.get(key)
        if isinstance(value, Mapping) and item_key in value:
            value = value[item_key]
        if value is None:
            return []
        if isinstance(value, Mapping):
            return [value] if value else []
        if isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
            return value
        raise self.fail(f"field {key!r} is {_describe(value)}, expected a list of objects")

    def strings(self, key: str, item_key: str = "String") -> tuple[str, ...]:
        """IDs: wrapped `{"String": [...]}`, bare, a lone string, or a list packed in a string."""
        value = self.data.get(key)
        if isinstance(value, Mapping) and (item_key in value or not value):
            value = value.get(item_key)
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise self.fail(f"field {key!r} is {_describe(value)}, expected strings")
        return tuple(ident for item in items for ident in _unpack_ids(item))

    def child(self, where: str, data: Mapping[str, Any]) -> _Reader:
        return _Reader(self.action, self.request_id, where, data)


def _describe(value: object) -> str:
    return "absent" if value is None else f"a {type(value).__name__}"


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _embedded_json(value: object) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _unpack_ids(text: str) -> list[str]:
    """One ID; or several, comma-separated or as a JSON array (the ListAIJob page's example)."""
    stripped = text.strip()
    if stripped.startswith("["):
        decoded = _embedded_json(stripped)
        if isinstance(decoded, list) and all(isinstance(item, str) for item in decoded):
            return [item.strip() for item in decoded if item.strip()]
    # IDs never contain a comma (the API joins them with commas), so splitting is safe.
    return [part.strip() for part in stripped.split(",") if part.strip()]


def _root(action: Action, body: object) -> _Reader:
    if not isinstance(body, Mapping):
        raise malformed(action, f"body is {_describe(body)}, expected an object")
    request_id = body.get("RequestId")
    return _Reader(action, request_id if isinstance(request_id, str) else "", "body", body)


def _require_any(root: _Reader, *keys: str) -> None:
    if not any(key in root.data for key in keys):
        raise root.fail(f"none of {', '.join(keys)} present")


# --- One parser per operation ---------------------------------------------------------------


def parse_submit_ai_image_job(body: object) -> SubmitAIImageJobResult:
    root = _root(Action.SUBMIT_AI_IMAGE_JOB, body)
    return SubmitAIImageJobResult(
        job_id=root.text("JobId", required=True), request_id=root.request_id
    )


def parse_list_ai_job(body: object) -> ListAIJobResult:
    """ListAIJob; at least one of `AIJobList` and `NonExistAIJobIds` must be present."""
    root = _root(Action.LIST_AI_JOB, body)
    _require_any(root, "AIJobList", "NonExistAIJobIds")
    jobs = []
    for index, data in enumerate(root.objects("AIJobList", "AIJob")):
        job = root.child(f"AIJobList[{index}]", data)
        jobs.append(
            AIJob(
                job_id=job.text("JobId", required=True),
                media_id=job.text("MediaId"),
                type=job.text("Type"),
                status=job.status("Status"),
                code=job.text("Code"),
                message=job.text("Message"),
                data=job.embedded_json("Data"),
                creation_time=job.text("CreationTime"),
                complete_time=job.text("CompleteTime"),
            )
        )
    return ListAIJobResult(
        request_id=root.request_id,
        jobs=tuple(jobs),
        non_exist_job_ids=root.strings("NonExistAIJobIds"),
    )


def parse_get_ai_image_jobs(body: object) -> GetAIImageJobsResult:
    """GetAIImageJobs; `AIImageJobList` must be present (an empty list is a valid answer)."""
    root = _root(Action.GET_AI_IMAGE_JOBS, body)
    _require_any(root, "AIImageJobList")
    jobs = []
    for index, data in enumerate(root.objects("AIImageJobList", "AIImageJob")):
        job = root.child(f"AIImageJobList[{index}]", data)
        jobs.append(
            AIImageJob(
                job_id=job.text("JobId", required=True),
                video_id=job.text("VideoId"),
                template_id=job.text("TemplateId"),
                status=job.status("Status"),
                code=job.text("Code"),
                message=job.text("Message"),
                user_data=job.embedded_json("UserData"),
                template_config=job.embedded_json("TemplateConfig"),
                results=_image_results(job.embedded_json("AIImageResult")),
                creation_time=job.text("CreationTime"),
            )
        )
    return GetAIImageJobsResult(request_id=root.request_id, jobs=tuple(jobs))


def _image_results(decoded: Any) -> tuple[AIImageResult, ...]:
    """The decoded `AIImageResult`; entries without a URL are dropped, never fatal."""
    items = [decoded] if isinstance(decoded, Mapping) else decoded
    if not isinstance(items, list):
        return ()
    return tuple(
        AIImageResult(score=_number(item.get("Score")), url=item["Url"])
        for item in items
        if isinstance(item, Mapping) and isinstance(item.get("Url"), str) and item["Url"]
    )


def parse_list_ai_image_info(body: object) -> ListAIImageInfoResult:
    """ListAIImageInfo; `AIImageInfoList` must be present (an empty list is a valid answer)."""
    root = _root(Action.LIST_AI_IMAGE_INFO, body)
    _require_any(root, "AIImageInfoList")
    images = []
    for index, data in enumerate(root.objects("AIImageInfoList", "AIImageInfo")):
        image = root.child(f"AIImageInfoList[{index}]", data)
        images.append(
            AIImageInfo(
                ai_image_info_id=image.text("AIImageInfoId"),
                job_id=image.text("JobId", required=True),
                video_id=image.text("VideoId"),
                file_url=image.text("FileURL", required=True),
                format=image.text("Format"),
                score=image.number("Score"),
                version=image.text("Version"),
                creation_time=image.text("CreationTime"),
            )
        )
    return ListAIImageInfoResult(request_id=root.request_id, images=tuple(images))


def parse_get_image_infos(body: object) -> GetImageInfosResult:
    """GetImageInfos; at least one of `ImageInfo` and `NonExistImageIds` must be present."""
    root = _root(Action.GET_IMAGE_INFOS, body)
    _require_any(root, "ImageInfo", "NonExistImageIds")
    images = []
    for index, data in enumerate(root.objects("ImageInfo", "ImageInfo")):
        image = root.child(f"ImageInfo[{index}]", data)
        mezzanine = data.get("Mezzanine")
        source = image.child(
            f"ImageInfo[{index}].Mezzanine", mezzanine if isinstance(mezzanine, Mapping) else {}
        )
        images.append(
            ImageInfo(
                image_id=image.text("ImageId", required=True),
                url=image.text("URL"),
                title=image.text("Title"),
                status=image.text("Status"),
                image_type=image.text("ImageType"),
                creation_time=image.text("CreationTime"),
                storage_location=image.text("StorageLocation"),
                width=source.integer("Width"),
                height=source.integer("Height"),
                file_size=source.integer("FileSize"),
                raw=MappingProxyType(dict(data)),
            )
        )
    return GetImageInfosResult(
        request_id=root.request_id,
        images=tuple(images),
        non_exist_image_ids=root.strings("NonExistImageIds"),
    )
