"""The image AI job lifecycle, pure and clock-free: every time is an argument.

A job's whole future is decided when it is submitted, from a random.Random seeded by
(seed, VideoId, AITemplateId, UserData, n-th identical submission): its duration, whether it
succeeds, its failure code and its images. Nothing depends on the arrival order of different
requests, so a seeded run is reproducible however concurrent its client is. Its status at any
later moment is then a pure function of that moment:

    submitted ──init──► started ──Processing──► completes_at ──► success | fail

and for `visibility_lag_s` (simulated) after submission the job ID is not visible at all.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orchestrator.simulator.config import EmulatorConfig
from orchestrator.simulator.wire import format_time

# Share of a job's duration spent queued in `init` before `Processing`.
INIT_SHARE = 0.1
# Scores of AI cover images: the documented example is 5.03; real ones spread around it.
SCORE_RANGE = (1.0, 10.0)
# (Code, Message) of failed jobs. The API documents no list for image AI jobs: these are the
# emulator's choice, shaped like the service's codes.
FAILURES = (
    ("InvalidVideo.NoneStream", "The video has no decodable video stream."),
    ("AIImage.NoQualifiedFrame", "No frame of the video qualified for an AI image."),
    ("InternalError", "The AI processing failed due to an internal error."),
)
SUCCESS_CODE = "0"
SUCCESS_MESSAGE = "OK"
JOB_TYPE = "AIImage"
# Stands in for the customer's OSS bucket: AIImageResult URLs carry no auth, like the real ones.
OSS_HOST = "outin-emulator.oss-cn-shanghai.aliyuncs.com"


class JobStatus(StrEnum):
    """The status strings ListAIJob answers; `Processing` is capitalised as the API writes it."""

    INIT = "init"
    PROCESSING = "Processing"
    SUCCESS = "success"
    FAIL = "fail"


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class AIImage:
    """One AI image a successful job produced."""

    ai_image_info_id: str
    job_id: str
    video_id: str
    index: int
    score: float
    format: str
    version: str

    @property
    def path(self) -> str:
        return f"/{self.video_id}/image/ai/{self.job_id}-{self.index:05d}.{self.format}"


def oss_url(image: AIImage) -> str:
    """The plain OSS address of an AI image, as AIImageResult gives it (no auth)."""
    return f"http://{OSS_HOST}{image.path}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """A submitted job with its decided future; times are Unix seconds on the emulator's clock."""

    job_id: str
    video_id: str
    template_id: str
    pipeline_id: str | None
    user_data: str | None
    request_id: str | None
    submitted_at: float
    started_at: float
    completes_at: float
    visible_at: float
    succeeded: bool
    code: str
    message: str
    images: tuple[AIImage, ...]
    # Rendered once: status calls repeat them for every poll of the job.
    creation_time: str
    complete_time: str
    result_json: str

    def status(self, now: float) -> JobStatus:
        if now >= self.completes_at:
            return JobStatus.SUCCESS if self.succeeded else JobStatus.FAIL
        if now >= self.started_at:
            return JobStatus.PROCESSING
        return JobStatus.INIT

    def visible(self, now: float) -> bool:
        return now >= self.visible_at


def extend_request_id(user_data: str | None) -> str | None:
    """`Extend.request_id` of a UserData JSON (Extend may be an object or a JSON string)."""
    if not user_data:
        return None
    try:
        extend: Any = json.loads(user_data).get("Extend")
        if isinstance(extend, str):
            extend = json.loads(extend)
        request_id = extend.get("request_id")
    except (ValueError, AttributeError):
        return None
    return request_id if isinstance(request_id, str) else None


def plan_job(
    config: EmulatorConfig,
    *,
    video_id: str,
    template_id: str,
    user_data: str | None,
    pipeline_id: str | None,
    occurrence: int,
    submitted_at: float,
) -> Job:
    """Decide a job's whole future from the seed and the request alone."""
    key = (config.seed, video_id, template_id, user_data, occurrence)
    job_id = _digest("job", *key)[:32]
    rng = random.Random(int(_digest("outcome", *key), 16))
    duration_s = config.duration_median_s * math.exp(config.duration_sigma * rng.gauss(0.0, 1.0))
    succeeded = rng.random() >= config.fail_rate
    code, message = (SUCCESS_CODE, SUCCESS_MESSAGE) if succeeded else rng.choice(FAILURES)
    images = (
        tuple(
            AIImage(
                ai_image_info_id=_digest("image", job_id, index)[:32],
                job_id=job_id,
                video_id=video_id,
                index=index,
                score=rng.uniform(*SCORE_RANGE),
                format=rng.choice(("gif", "png")),
                version=_digest("version", job_id, index)[:32],
            )
            for index in range(config.images_per_job)
        )
        if succeeded
        else ()
    )
    scale = config.time_scale
    completes_at = submitted_at + duration_s / scale
    results = [{"Score": image.score, "Url": oss_url(image)} for image in images]
    return Job(
        job_id=job_id,
        video_id=video_id,
        template_id=template_id,
        pipeline_id=pipeline_id,
        user_data=user_data,
        request_id=extend_request_id(user_data),
        submitted_at=submitted_at,
        started_at=submitted_at + duration_s * INIT_SHARE / scale,
        completes_at=completes_at,
        visible_at=submitted_at + config.visibility_lag_s / scale,
        succeeded=succeeded,
        code=code,
        message=message,
        images=images,
        creation_time=format_time(submitted_at),
        complete_time=format_time(completes_at),
        result_json=json.dumps(results, separators=(",", ":")),
    )


class JobBook:
    """Every job of a run in submission order, indexed by ID and by video.

    Each accepted SubmitAIImageJob makes exactly one job, so the jobs are also the log of
    submissions (with their UserData) that tests use to count duplicates.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._jobs: dict[str, Job] = {}
        self._by_video: defaultdict[str, list[Job]] = defaultdict(list)
        self._occurrences: Counter[tuple[str, str, str | None]] = Counter()

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(self._jobs.values())

    def submit(
        self,
        *,
        video_id: str,
        template_id: str,
        user_data: str | None,
        pipeline_id: str | None,
        now: float,
    ) -> Job:
        identity = (video_id, template_id, user_data)
        occurrence = self._occurrences[identity]
        self._occurrences[identity] = occurrence + 1
        job = plan_job(
            self._config,
            video_id=video_id,
            template_id=template_id,
            user_data=user_data,
            pipeline_id=pipeline_id,
            occurrence=occurrence,
            submitted_at=now,
        )
        self._jobs[job.job_id] = job
        self._by_video[video_id].append(job)
        return job

    def visible(self, job_id: str, now: float) -> Job | None:
        """The job as the API shows it: None while unknown or inside the visibility lag."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.visible(now) else None

    def images_of_video(self, video_id: str, now: float) -> list[tuple[Job, AIImage]]:
        """Every AI image of the video with its job, from every job succeeded by `now`."""
        return [
            (job, image)
            for job in self._by_video.get(video_id, ())
            if now >= job.completes_at
            for image in job.images
        ]

    def counts_by_status(self, now: float) -> dict[str, int]:
        counts = dict.fromkeys(JobStatus, 0)
        for job in self._jobs.values():
            counts[job.status(now)] += 1
        return {str(status): count for status, count in counts.items()}

    def submissions_by_request_id(self) -> dict[str, int]:
        return dict(Counter(job.request_id for job in self if job.request_id is not None))
