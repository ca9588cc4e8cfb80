"""Parsing the VOD answers: documented examples, every shape quirk, and malformed bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.vod import models
from orchestrator.vod.errors import MALFORMED_RESPONSE, VodError
from orchestrator.vod.models import JobState, JobStatus

# The ListAIJob page's own example, verbatim: `Data` holds an invalid `\[` escape and the
# NonExist list holds one string that is itself a JSON array.
LIST_AI_JOB_EXAMPLE = r"""{
  "RequestId": "8233A0E4-E112-44*****58-2BCED1B88173",
  "NonExistAIJobIds": {"String": ["[\"aasdcsfg782740asd3****\", \"k2l3ibaskod98wrns9d****\"]"]},
  "AIJobList": {"AIJob": [{
    "CreationTime": "2020-06-28T02:04:32Z", "Status": "success", "Type": "AIVideoTag",
    "Data": "{\"OrigASRData\":{\"AsrTextList\":\\[{\"EndTime\":700}]}}\n",
    "CompleteTime": "2020-06-28T02:04:47Z", "JobId": "a718a3a1e8bb42ee3bc88921e94****",
    "Code": "0", "Message": "OK", "MediaId": "3D3D12340d9401fab46a0b847****"}]}
}"""

IMAGE_INFO_EXAMPLE: dict[str, Any] = {
    "RequestId": "25818875-5F78-4AF6-D7393642CA58*****",
    "ImageInfo": [
        {
            "CreationTime": "2018-11-21T02:37:23Z",
            "StorageLocation": "outin-****..oss-cn-shanghai.aliyuncs.com",
            "Status": "Uploading",
            "CateId": 254766071,
            "ImageType": "NormalSnapshot",
            "URL": "http://example.aliyundoc.com/image/default/****.gif?auth_key=SECRETKEY",
            "Title": "this is a sample",
            "ImageId": "bbc65bba53f9*****ed90de118a7849",
            "Mezzanine": {"Width": 200, "Height": 200, "FileSize": "8932"},
        }
    ],
    "NonExistImageIds": ["f45cf4eba5c80233389558c39****"],
}


def _job(job_id: str = "j1", status: str = "Processing", **extra: Any) -> dict[str, Any]:
    return {"JobId": job_id, "Status": status, **extra}


def _malformed(parse: Any, body: object) -> VodError:
    with pytest.raises(VodError) as caught:
        parse(body)
    assert caught.value.code == MALFORMED_RESPONSE
    assert not caught.value.retryable
    return caught.value


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("Processing", JobStatus.PROCESSING),
        ("processing", JobStatus.PROCESSING),
        ("init", JobStatus.INIT),
        ("SUCCESS", JobStatus.SUCCESS),
        (" fail ", JobStatus.FAIL),
    ],
)
def test_job_status_parses_case_insensitively(text: str, status: JobStatus) -> None:
    """Both spellings the documentation uses, and stray case or spaces, parse to one status."""
    assert JobStatus.parse(text) is status


@pytest.mark.parametrize("text", ["done", "", None, 3])
def test_job_status_rejects_unknown_values(text: object) -> None:
    """An unknown status is a clear Response.Malformed error naming the value."""
    err = _malformed(lambda value: JobStatus.parse(value, action="ListAIJob"), text)
    assert repr(text) in err.message
    assert err.action == "ListAIJob"


def test_only_success_and_fail_are_terminal() -> None:
    """success and fail end a job; init and processing do not."""
    assert [s for s in JobStatus if s.is_terminal] == [JobStatus.SUCCESS, JobStatus.FAIL]


def test_submit_result_carries_job_and_request_ids() -> None:
    """The submit answer gives the job ID and the request ID."""
    result = models.parse_submit_ai_image_job({"JobId": "J", "RequestId": "R"})
    assert result == models.SubmitAIImageJobResult(job_id="J", request_id="R")


@pytest.mark.parametrize("body", [{"RequestId": "R"}, {"JobId": ""}, {"JobId": {}}, ["J"], None])
def test_submit_without_a_job_id_is_malformed(body: object) -> None:
    """A submit answer without a usable JobId, or not an object, is malformed."""
    _malformed(models.parse_submit_ai_image_job, body)


def test_list_ai_job_parses_the_documented_example() -> None:
    """The documented example parses: wrapped lists, a JSON-array NonExist string, Data None."""
    result = models.parse_list_ai_job(json.loads(LIST_AI_JOB_EXAMPLE))
    assert result.request_id == "8233A0E4-E112-44*****58-2BCED1B88173"
    assert result.non_exist_job_ids == ("aasdcsfg782740asd3****", "k2l3ibaskod98wrns9d****")
    (job,) = result.jobs
    assert job.job_id == "a718a3a1e8bb42ee3bc88921e94****"
    assert job.status is JobStatus.SUCCESS
    assert (job.code, job.message, job.type) == ("0", "OK", "AIVideoTag")
    assert job.media_id == "3D3D12340d9401fab46a0b847****"
    assert (job.creation_time, job.complete_time) == (
        "2020-06-28T02:04:32Z",
        "2020-06-28T02:04:47Z",
    )
    assert job.data is None


@pytest.mark.parametrize(
    "job_list",
    [
        {"AIJob": [_job("a"), _job("b")]},
        [_job("a"), _job("b")],
    ],
)
def test_list_ai_job_accepts_wrapped_and_bare_lists(job_list: object) -> None:
    """AIJobList may be wrapped in {"AIJob": [...]} or be a bare list."""
    result = models.parse_list_ai_job({"RequestId": "R", "AIJobList": job_list})
    assert [job.job_id for job in result.jobs] == ["a", "b"]
    assert result.non_exist_job_ids == ()


@pytest.mark.parametrize("job_list", [_job("a"), {"AIJob": _job("a")}])
def test_list_ai_job_accepts_a_lone_job_object(job_list: object) -> None:
    """A single job sent as an object, bare or wrapped, is a one-job list."""
    result = models.parse_list_ai_job({"AIJobList": job_list})
    assert [job.job_id for job in result.jobs] == ["a"]


@pytest.mark.parametrize(
    ("non_exist", "ids"),
    [
        ({"String": ["x", "y"]}, ("x", "y")),
        (["x", "y"], ("x", "y")),
        ({"String": "x"}, ("x",)),
        ("x", ("x",)),
        ({"String": "x, y"}, ("x", "y")),
        ({"String": []}, ()),
        ({}, ()),
    ],
)
def test_non_exist_ids_accept_every_known_shape(non_exist: object, ids: tuple[str, ...]) -> None:
    """NonExistAIJobIds: wrapped or bare list, lone string, String as a plain or joined string."""
    result = models.parse_list_ai_job({"AIJobList": {"AIJob": []}, "NonExistAIJobIds": non_exist})
    assert result.non_exist_job_ids == ids
    assert result.jobs == ()


def test_list_ai_job_with_only_non_exist_ids_is_valid() -> None:
    """All IDs unknown: no job list at all is fine when the NonExist list is there."""
    result = models.parse_list_ai_job({"NonExistAIJobIds": {"String": ["x"]}})
    assert (result.jobs, result.non_exist_job_ids) == ((), ("x",))


def test_list_ai_job_data_and_numbers_are_decoded() -> None:
    """Data holding valid JSON is decoded; a numeric Code becomes text; absent fields are empty."""
    result = models.parse_list_ai_job(
        {"AIJobList": [_job(Data='{"k": [1, 2]}', Code=0, Status="fail")]}
    )
    (job,) = result.jobs
    assert job.data == {"k": [1, 2]}
    assert job.code == "0"
    assert job.media_id == ""
    assert job.status is JobStatus.FAIL


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"RequestId": "R"}, "none of AIJobList, NonExistAIJobIds"),
        ({"AIJobList": "j1"}, "'AIJobList'"),
        ({"AIJobList": [_job(), "j2"]}, "'AIJobList'"),
        ({"AIJobList": [_job(), {"Status": "init"}]}, "AIJobList[1]: field 'JobId'"),
        ({"AIJobList": [_job(status="paused")]}, "AIJobList[0]: unknown job status 'paused'"),
        ({"AIJobList": [], "NonExistAIJobIds": {"Other": ["x"]}}, "'NonExistAIJobIds'"),
        ({"AIJobList": [], "NonExistAIJobIds": [1, 2]}, "'NonExistAIJobIds'"),
    ],
)
def test_list_ai_job_malformed_bodies_say_where(body: object, where: str) -> None:
    """Unexpected shapes raise Response.Malformed naming the field, never an empty result."""
    err = _malformed(models.parse_list_ai_job, body)
    assert where in err.message


def test_malformed_error_carries_the_request_id() -> None:
    """A malformed answer keeps its RequestId for the support ticket."""
    err = _malformed(models.parse_list_ai_job, {"RequestId": "RID-9"})
    assert err.request_id == "RID-9"
    assert err.action == "ListAIJob"


def _image_job(**extra: Any) -> dict[str, Any]:
    return {
        "JobId": "ij1",
        "VideoId": "v1",
        "TemplateId": "t1",
        "Status": "success",
        "Code": "Success",
        "Message": "",
        "CreationTime": "2020-10-15T03:30:03Z",
        **extra,
    }


def test_get_ai_image_jobs_decodes_its_json_string_fields() -> None:
    """AIImageResult, UserData and TemplateConfig arrive as JSON strings and are decoded."""
    job = _image_job(
        AIImageResult='[{"Score": 5.03, "Url": "http://oss/a.gif"}, {"Score": "1.5", "Url": "u2"}]',
        UserData='{"Extend": {"request_id": "r1"}}',
        TemplateConfig='{"Format": "gif"}',
    )
    result = models.parse_get_ai_image_jobs({"RequestId": "R", "AIImageJobList": [job]})
    (parsed,) = result.jobs
    assert parsed.results == (
        models.AIImageResult(score=5.03, url="http://oss/a.gif"),
        models.AIImageResult(score=1.5, url="u2"),
    )
    assert parsed.user_data == {"Extend": {"request_id": "r1"}}
    assert parsed.template_config == {"Format": "gif"}
    assert (parsed.status, parsed.code, parsed.video_id) == (JobStatus.SUCCESS, "Success", "v1")


def test_get_ai_image_jobs_survives_bad_embedded_json() -> None:
    """Broken JSON strings give empty results and None, never a failed parse."""
    job = _image_job(AIImageResult="[{", UserData="{not json", TemplateConfig="")
    (parsed,) = models.parse_get_ai_image_jobs({"AIImageJobList": [job]}).jobs
    assert (parsed.results, parsed.user_data, parsed.template_config) == ((), None, None)


def test_get_ai_image_jobs_drops_result_entries_without_a_url() -> None:
    """Result entries that are not objects or lack a URL are skipped; a lone object is accepted."""
    lone = _image_job(AIImageResult='{"Score": "x", "Url": "u"}')
    odd = _image_job(JobId="ij2", AIImageResult='[1, {"Score": 2}, {"Url": ""}, {"Url": "u"}]')
    result = models.parse_get_ai_image_jobs({"AIImageJobList": [lone, odd]})
    assert [job.results for job in result.jobs] == [
        (models.AIImageResult(score=None, url="u"),),
        (models.AIImageResult(score=None, url="u"),),
    ]


@pytest.mark.parametrize("job_list", [[_image_job()], {"AIImageJob": [_image_job()]}, _image_job()])
def test_get_ai_image_jobs_tolerates_wrapped_forms(job_list: object) -> None:
    """The flat list is documented; a wrapped list or a lone object parse the same."""
    result = models.parse_get_ai_image_jobs({"AIImageJobList": job_list})
    assert [job.job_id for job in result.jobs] == ["ij1"]


def test_get_ai_image_jobs_accepts_an_explicit_empty_list() -> None:
    """Unknown IDs are simply absent: an empty list is a valid answer."""
    assert models.parse_get_ai_image_jobs({"AIImageJobList": []}).jobs == ()


def test_get_ai_image_jobs_without_its_list_is_malformed() -> None:
    """A body without AIImageJobList is malformed, not 'no jobs'."""
    _malformed(models.parse_get_ai_image_jobs, {"RequestId": "R"})


def _image_info(job_id: str, score: object = "5.035636554444242") -> dict[str, Any]:
    return {
        "CreationTime": "2020-10-15T03:30:03Z",
        "AIImageInfoId": f"info-{job_id}",
        "FileURL": "http://example.aliyundoc.com/x.gif?auth_key=1602745717-0-0-SECRET",
        "Version": "b547",
        "VideoId": "v1",
        "JobId": job_id,
        "Score": score,
        "Format": "gif",
    }


def test_list_ai_image_info_parses_string_scores_and_filters_by_job() -> None:
    """Score strings become floats; for_job keeps the images of one job only."""
    body = {
        "RequestId": "R",
        "AIImageInfoList": [_image_info("j1"), _image_info("j2", score="n/a"), _image_info("j1")],
    }
    result = models.parse_list_ai_image_info(body)
    assert [image.job_id for image in result.for_job("j1")] == ["j1", "j1"]
    first, second, _ = result.images
    assert first.score == pytest.approx(5.035636554444242)
    assert second.score is None
    assert (first.format, first.version, first.ai_image_info_id) == ("gif", "b547", "info-j1")


def test_image_urls_stay_out_of_repr() -> None:
    """Signed URLs (auth_key) are kept in the object but not shown by repr."""
    info = models.parse_list_ai_image_info({"AIImageInfoList": [_image_info("j1")]}).images[0]
    image = models.parse_get_image_infos(IMAGE_INFO_EXAMPLE).images[0]
    assert "auth_key" in info.file_url
    assert "auth_key" not in repr(info)
    assert "auth_key" not in repr(image)


@pytest.mark.parametrize(
    "body",
    [
        {"RequestId": "R"},
        {"AIImageInfoList": [{"JobId": "j1"}]},
        {"AIImageInfoList": [{"FileURL": "u"}]},
    ],
)
def test_list_ai_image_info_malformed(body: object) -> None:
    """A missing list, or an image without JobId or FileURL, is malformed."""
    _malformed(models.parse_list_ai_image_info, body)


def test_get_image_infos_parses_the_documented_example() -> None:
    """Size comes from Mezzanine (FileSize is a string); raw keeps every field."""
    result = models.parse_get_image_infos(IMAGE_INFO_EXAMPLE)
    (image,) = result.images
    assert image.image_id == "bbc65bba53f9*****ed90de118a7849"
    assert (image.width, image.height, image.file_size) == (200, 200, 8932)
    assert (image.status, image.image_type, image.title) == (
        "Uploading",
        "NormalSnapshot",
        "this is a sample",
    )
    assert image.raw["CateId"] == 254766071
    assert result.non_exist_image_ids == ("f45cf4eba5c80233389558c39****",)


def test_get_image_infos_tolerates_missing_mezzanine_and_wrapped_ids() -> None:
    """No or odd Mezzanine sizes are unknown, not fatal; NonExistImageIds may be wrapped."""
    body = {
        "ImageInfo": [
            {"ImageId": "i1"},
            {"ImageId": "i3", "Mezzanine": {"Width": "w", "FileSize": "²"}},
        ],
        "NonExistImageIds": {"String": ["i2"]},
    }
    result = models.parse_get_image_infos(body)
    assert [(image.width, image.file_size) for image in result.images] == [(None, None)] * 2
    assert result.non_exist_image_ids == ("i2",)


def test_get_image_infos_without_either_list_is_malformed() -> None:
    """A body with neither ImageInfo nor NonExistImageIds is malformed."""
    _malformed(models.parse_get_image_infos, {"RequestId": "R"})


def test_both_job_types_satisfy_the_poller_protocol() -> None:
    """AIJob and AIImageJob both expose job_id, status, code and message as JobState."""

    def summary(state: JobState) -> tuple[str, JobStatus, str, str]:
        return (state.job_id, state.status, state.code, state.message)

    listed = models.parse_list_ai_job({"AIJobList": [_job("a", "fail", Code="E", Message="m")]})
    images = models.parse_get_ai_image_jobs({"AIImageJobList": [_image_job()]})
    assert summary(listed.jobs[0]) == ("a", JobStatus.FAIL, "E", "m")
    assert summary(images.jobs[0]) == ("ij1", JobStatus.SUCCESS, "Success", "")
