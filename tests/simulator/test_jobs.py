"""The pure job lifecycle: timing, outcomes, reproducibility, visibility, images."""

from __future__ import annotations

import json
import statistics

import pytest

from orchestrator.simulator import EmulatorConfig
from orchestrator.simulator.jobs import (
    FAILURES,
    INIT_SHARE,
    Job,
    JobBook,
    JobStatus,
    extend_request_id,
    plan_job,
)
from tests.simulator.helpers import T0


def _plan(config: EmulatorConfig, video_id: str = "v", occurrence: int = 0) -> Job:
    return plan_job(
        config,
        video_id=video_id,
        template_id="t",
        user_data=None,
        pipeline_id=None,
        occurrence=occurrence,
        submitted_at=T0,
    )


def test_status_moves_from_init_to_processing_to_the_outcome() -> None:
    """A job is init, then Processing after its queue share, then success at completes_at."""
    book = JobBook(EmulatorConfig(time_scale=10))
    job = book.submit(video_id="v", template_id="t", user_data=None, pipeline_id=None, now=T0)
    duration = job.completes_at - T0
    assert job.started_at == pytest.approx(T0 + duration * INIT_SHARE)
    assert job.status(T0) is JobStatus.INIT
    assert job.status(job.started_at) is JobStatus.PROCESSING
    assert job.status(job.completes_at - 1e-6) is JobStatus.PROCESSING
    assert job.status(job.completes_at) is JobStatus.SUCCESS
    assert JobStatus.PROCESSING.value == "Processing"


def test_time_scale_divides_every_duration() -> None:
    """The same job is exactly `time_scale` times shorter in real time, lag included."""
    slow = _plan(EmulatorConfig(seed=3, visibility_lag_s=6))
    fast = _plan(EmulatorConfig(seed=3, visibility_lag_s=6, time_scale=60))
    assert (slow.completes_at - T0) == pytest.approx(60 * (fast.completes_at - T0))
    assert fast.visible_at - T0 == pytest.approx(0.1)
    assert slow.job_id == fast.job_id


def test_durations_follow_the_configured_median() -> None:
    """Over many jobs the median duration is the configured one (seeded: not flaky)."""
    config = EmulatorConfig(seed=11, duration_median_s=40, duration_sigma=0.8)
    durations = [_plan(config, f"v{i}").completes_at - T0 for i in range(2001)]
    assert statistics.median(durations) == pytest.approx(40, rel=0.1)
    assert max(durations) > 2 * min(durations)


def test_zero_sigma_gives_every_job_the_median_duration() -> None:
    """sigma 0 makes the distribution a constant, handy for exact tests."""
    config = EmulatorConfig(duration_median_s=12, duration_sigma=0)
    for video in ("a", "b", "c"):
        job = _plan(config, video)
        assert job.completes_at - T0 == pytest.approx(12)


def test_outcomes_do_not_depend_on_the_order_of_submissions() -> None:
    """Two runs of one seed submitting the same requests in opposite orders agree per request."""
    config = EmulatorConfig(seed=5, fail_rate=0.5)
    requests = [
        (f"video-{i}", f"tmpl-{i % 3}", json.dumps({"Extend": {"n": i}})) for i in range(40)
    ]

    def outcomes(
        order: list[tuple[str, str, str]],
    ) -> dict[tuple[str, str, str], tuple[object, ...]]:
        book = JobBook(config)
        result: dict[tuple[str, str, str], tuple[object, ...]] = {}
        for offset, (video, template, user_data) in enumerate(order):
            job = book.submit(
                video_id=video,
                template_id=template,
                user_data=user_data,
                pipeline_id=None,
                now=T0 + offset,
            )
            result[(video, template, user_data)] = (
                job.job_id,
                job.succeeded,
                job.code,
                job.completes_at - job.submitted_at,
                [image.score for image in job.images],
            )
        return result

    assert outcomes(requests) == outcomes(list(reversed(requests)))


def test_identical_submissions_are_distinct_reproducible_jobs() -> None:
    """The n-th identical submission gets its own ID and outcome, the same in every run."""
    first, second = JobBook(EmulatorConfig(seed=1)), JobBook(EmulatorConfig(seed=1))
    ids_first = [
        first.submit(video_id="v", template_id="t", user_data=None, pipeline_id=None, now=T0).job_id
        for _ in range(3)
    ]
    ids_second = [
        second.submit(
            video_id="v", template_id="t", user_data=None, pipeline_id=None, now=T0
        ).job_id
        for _ in range(3)
    ]
    assert len(set(ids_first)) == 3
    assert ids_first == ids_second


def test_another_seed_gives_other_jobs() -> None:
    """The seed is part of every decision."""
    assert _plan(EmulatorConfig(seed=1)).job_id != _plan(EmulatorConfig(seed=2)).job_id


def test_failed_jobs_carry_a_documented_code_and_no_images() -> None:
    """With fail_rate 1 every job fails with one of the failure codes and produces nothing."""
    config = EmulatorConfig(fail_rate=1.0)
    for video in ("a", "b", "c", "d"):
        job = _plan(config, video)
        assert not job.succeeded
        assert (job.code, job.message) in FAILURES
        assert job.images == ()
        assert job.status(job.completes_at) is JobStatus.FAIL
        assert json.loads(job.result_json) == []


def test_successful_jobs_produce_the_configured_images() -> None:
    """A successful job has `images_per_job` scored gif/png images with stable IDs."""
    job = _plan(EmulatorConfig(images_per_job=4))
    images = job.images
    assert len(images) == 4
    assert len({image.ai_image_info_id for image in images}) == 4
    for image in images:
        assert 1.0 <= image.score <= 10.0
        assert image.format in ("gif", "png")
    results = json.loads(job.result_json)
    assert [r["Score"] for r in results] == [image.score for image in images]


def test_a_new_job_is_invisible_during_the_lag() -> None:
    """Inside the visibility lag the book reports the job ID as unknown."""
    book = JobBook(EmulatorConfig(visibility_lag_s=2))
    job = book.submit(video_id="v", template_id="t", user_data=None, pipeline_id=None, now=T0)
    assert book.visible(job.job_id, T0 + 1.9) is None
    assert book.visible(job.job_id, T0 + 2.0) is job
    assert book.visible("unknown", T0 + 100) is None


def test_images_of_a_video_gather_every_finished_job() -> None:
    """A video's images come from all its succeeded jobs, and only once they finished."""
    book = JobBook(EmulatorConfig(images_per_job=2, duration_sigma=0, duration_median_s=10))
    first = book.submit(video_id="v", template_id="a", user_data=None, pipeline_id=None, now=T0)
    second = book.submit(
        video_id="v", template_id="b", user_data=None, pipeline_id=None, now=T0 + 5
    )
    book.submit(video_id="other", template_id="a", user_data=None, pipeline_id=None, now=T0)
    assert book.images_of_video("v", T0 + 9) == []
    assert {job.job_id for job, _ in book.images_of_video("v", T0 + 10)} == {first.job_id}
    pairs = book.images_of_video("v", T0 + 15)
    assert len(pairs) == 4
    assert {job.job_id for job, _ in pairs} == {first.job_id, second.job_id}
    assert all(image.job_id == job.job_id for job, image in pairs)


@pytest.mark.parametrize(
    ("user_data", "expected"),
    [
        ('{"Extend":{"request_id":"r-1","x":1}}', "r-1"),
        ('{"Extend":"{\\"request_id\\":\\"r-2\\"}"}', "r-2"),
        ('{"Extend":{"other":1}}', None),
        ('{"Extend":{"request_id":7}}', None),
        ('{"MessageCallback":{}}', None),
        ("[1, 2]", None),
        ("not json", None),
        (None, None),
    ],
)
def test_request_id_is_read_from_userdata_extend(
    user_data: str | None, expected: str | None
) -> None:
    """Extend.request_id is found in an object or a JSON-string Extend, else None."""
    assert extend_request_id(user_data) == expected


def test_counts_and_duplicate_submissions() -> None:
    """The book counts jobs by status and submissions per request id."""
    book = JobBook(EmulatorConfig(duration_sigma=0, duration_median_s=10))
    for request_id in ("a", "a", "b"):
        book.submit(
            video_id="v",
            template_id="t",
            user_data=json.dumps({"Extend": {"request_id": request_id}}),
            pipeline_id=None,
            now=T0,
        )
    book.submit(video_id="v", template_id="t", user_data=None, pipeline_id=None, now=T0)
    assert book.counts_by_status(T0) == {"init": 4, "Processing": 0, "success": 0, "fail": 0}
    assert book.counts_by_status(T0 + 10) == {"init": 0, "Processing": 0, "success": 4, "fail": 0}
    assert book.submissions_by_request_id() == {"a": 2, "b": 1}
    assert len(book) == 4
