"""The five operations as pure functions: validation, the documented shapes, the library."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from orchestrator.simulator import EmulatorConfig, library_image_ids
from orchestrator.simulator.operations import OPERATIONS, VodState, parse_ids
from orchestrator.simulator.wire import ApiError
from tests.simulator.helpers import T0

# Every job takes exactly 10 s (sigma 0), so the tests know when it ends.
DONE = T0 + 10


def _state(**changes: Any) -> VodState:
    defaults: dict[str, Any] = {"duration_sigma": 0.0, "duration_median_s": 10.0}
    return VodState(EmulatorConfig(**{**defaults, **changes}))


def _run(state: VodState, action: str, params: Mapping[str, str], now: float = T0) -> Any:
    operation = OPERATIONS[action]
    ids: tuple[str, ...] = ()
    if operation.ids_param is not None:
        ids = parse_ids(params, operation.ids_param, operation.max_ids)
    return operation.run(state, params, ids, now)


def _error(state: VodState, action: str, params: Mapping[str, str]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        _run(state, action, params)
    return caught.value


def _submit(state: VodState, video: str = "v", now: float = T0, **extra: str) -> str:
    params = {"VideoId": video, "AITemplateId": "t", **extra}
    job_id = _run(state, "SubmitAIImageJob", params, now)["JobId"]
    assert isinstance(job_id, str)
    return job_id


def test_submit_returns_a_job_id() -> None:
    """SubmitAIImageJob answers {"JobId"} and records the job."""
    state = _state()
    document = _run(state, "SubmitAIImageJob", {"VideoId": "v", "AITemplateId": "t"})
    assert set(document) == {"JobId"}
    assert len(document["JobId"]) == 32
    assert len(state.book) == 1


@pytest.mark.parametrize("missing", ["VideoId", "AITemplateId"])
def test_submit_requires_video_and_template(missing: str) -> None:
    """A missing required parameter is MissingParameter naming it."""
    params = {"VideoId": "v", "AITemplateId": "t"}
    del params[missing]
    error = _error(_state(), "SubmitAIImageJob", params)
    assert (error.code, error.status) == ("MissingParameter", 400)
    assert missing in error.message


@pytest.mark.parametrize(
    "user_data",
    ['{"Extend":"' + "x" * 500 + '"}', "not json", "[1]", '"a string"'],
)
def test_submit_rejects_bad_userdata(user_data: str) -> None:
    """UserData over 512 bytes or not a JSON object is InvalidParameter."""
    state = _state()
    error = _error(
        state, "SubmitAIImageJob", {"VideoId": "v", "AITemplateId": "t", "UserData": user_data}
    )
    assert (error.code, error.status) == ("InvalidParameter", 400)
    assert "UserData" in error.message
    assert len(state.book) == 0


def test_userdata_limit_counts_utf8_bytes() -> None:
    """512 UTF-8 bytes pass and 513 fail, though both are far fewer characters."""
    state = _state()
    at_limit = '{"Extend":"' + "é" * 249 + 'a"}'
    over_limit = '{"Extend":"' + "é" * 250 + '"}'
    assert (len(at_limit.encode()), len(over_limit.encode())) == (512, 513)
    _submit(state, UserData=at_limit)
    params = {"VideoId": "v", "AITemplateId": "t", "UserData": over_limit}
    assert _error(state, "SubmitAIImageJob", params).code == "InvalidParameter"


def test_unknown_videos_are_not_found_when_videos_are_declared() -> None:
    """With a declared video set, any other VideoId is InvalidVideo.NotFound (404)."""
    state = _state(videos=frozenset({"known"}))
    _submit(state, "known")
    error = _error(state, "SubmitAIImageJob", {"VideoId": "other", "AITemplateId": "t"})
    assert (error.code, error.status) == ("InvalidVideo.NotFound", 404)
    assert _error(state, "ListAIImageInfo", {"VideoId": "other"}).code == "InvalidVideo.NotFound"


def test_list_ai_job_has_the_wrapped_shape() -> None:
    """ListAIJob wraps its lists and reports unknown IDs under NonExistAIJobIds.String."""
    state = _state()
    job_id = _submit(state)
    document = _run(state, "ListAIJob", {"JobIds": f"{job_id},nope"}, T0 + 5)
    assert set(document) == {"AIJobList", "NonExistAIJobIds"}
    assert document["NonExistAIJobIds"] == {"String": ["nope"]}
    [job] = document["AIJobList"]["AIJob"]
    assert job == {
        "JobId": job_id,
        "MediaId": "v",
        "Type": "AIImage",
        "Status": "Processing",
        "CreationTime": "2023-11-14T22:13:20Z",
    }


def test_a_finished_job_has_code_data_and_complete_time() -> None:
    """A success carries Code/Message, CompleteTime and Data as a JSON string of results."""
    state = _state()
    job_id = _submit(state)
    [job] = _run(state, "ListAIJob", {"JobIds": job_id}, DONE)["AIJobList"]["AIJob"]
    assert job["Status"] == "success"
    assert (job["Code"], job["Message"]) == ("0", "OK")
    assert job["CompleteTime"] == "2023-11-14T22:13:30Z"
    data = json.loads(job["Data"])
    assert len(data["AIImageResult"]) == 3


def test_a_failed_job_reports_its_code() -> None:
    """A failed job has Status fail and a non-success Code, and no Data."""
    state = _state(fail_rate=1.0)
    job_id = _submit(state)
    [job] = _run(state, "ListAIJob", {"JobIds": job_id}, DONE)["AIJobList"]["AIJob"]
    assert job["Status"] == "fail"
    assert job["Code"] not in ("", "0")
    assert "Data" not in job


def test_status_calls_accept_ten_ids_and_refuse_eleven() -> None:
    """More than 10 JobIds is InvalidParameter; 10 is fine; duplicates count once in the answer."""
    state = _state()
    ten = ",".join(f"id{i}" for i in range(10))
    assert len(_run(state, "ListAIJob", {"JobIds": ten})["NonExistAIJobIds"]["String"]) == 10
    for action in ("ListAIJob", "GetAIImageJobs"):
        error = _error(state, action, {"JobIds": ten + ",id10"})
        assert (error.code, error.status) == ("InvalidParameter", 400)
        assert "JobIds" in error.message
    answer = _run(state, "ListAIJob", {"JobIds": "a, a ,b,"})
    assert answer["NonExistAIJobIds"]["String"] == ["a", "b"]


def test_a_job_inside_its_visibility_lag_does_not_exist_yet() -> None:
    """During the lag ListAIJob reports the ID as non-existent and GetAIImageJobs omits it."""
    state = _state(visibility_lag_s=3)
    job_id = _submit(state)
    early = _run(state, "ListAIJob", {"JobIds": job_id}, T0 + 2)
    assert early["NonExistAIJobIds"]["String"] == [job_id]
    assert _run(state, "GetAIImageJobs", {"JobIds": job_id}, T0 + 2) == {"AIImageJobList": []}
    later = _run(state, "ListAIJob", {"JobIds": job_id}, T0 + 3)
    assert later["NonExistAIJobIds"]["String"] == []


def test_get_ai_image_jobs_is_flat_with_json_string_fields() -> None:
    """GetAIImageJobs lists jobs flat; UserData, TemplateConfig, AIImageResult are JSON strings."""
    state = _state(images_per_job=2)
    user_data = '{"Extend":{"request_id":"r"}}'
    job_id = _submit(state, UserData=user_data)
    document = _run(state, "GetAIImageJobs", {"JobIds": f"{job_id},unknown"}, DONE)
    [job] = document["AIImageJobList"]
    assert job["JobId"] == job_id
    assert (job["VideoId"], job["TemplateId"]) == ("v", "t")
    assert job["UserData"] == user_data
    assert json.loads(job["TemplateConfig"])["TemplateId"] == "t"
    assert (job["Status"], job["Code"]) == ("success", "Success")
    results = json.loads(job["AIImageResult"])
    assert len(results) == 2
    for result in results:
        assert isinstance(result["Score"], float)
        assert result["Url"].startswith("http://")
        assert "auth_key" not in result["Url"]


def test_list_ai_image_info_returns_every_image_of_the_video() -> None:
    """All finished jobs of the video contribute, each image naming its JobId."""
    state = _state(images_per_job=2)
    first = _submit(state, "v", T0)
    second = _submit(state, "v", T0 + 1)
    _submit(state, "w", T0)
    assert _run(state, "ListAIImageInfo", {"VideoId": "v"}, T0 + 9)["AIImageInfoList"] == []
    images = _run(state, "ListAIImageInfo", {"VideoId": "v"}, T0 + 11)["AIImageInfoList"]
    assert len(images) == 4
    assert {image["JobId"] for image in images} == {first, second}
    for image in images:
        assert set(image) == {
            "AIImageInfoId",
            "JobId",
            "VideoId",
            "FileURL",
            "Format",
            "Score",
            "Version",
            "CreationTime",
        }
        assert isinstance(image["Score"], str)
        assert 1.0 <= float(image["Score"]) <= 10.0
        assert image["Format"] in ("gif", "png")
        query = parse_qs(urlsplit(image["FileURL"]).query)
        expires = int(query["auth_key"][0].split("-")[0])
        assert expires == int(T0 + 11) + 3600


def test_get_image_infos_answers_from_the_seeded_library() -> None:
    """Known library IDs are described, others listed flat in NonExistImageIds."""
    state = _state(seed=4, image_library_size=5)
    ids = library_image_ids(4, 5)
    document = _run(state, "GetImageInfos", {"ImageIds": f"{ids[0]},{ids[3]},missing"})
    assert [info["ImageId"] for info in document["ImageInfo"]] == [ids[0], ids[3]]
    assert document["NonExistImageIds"] == ["missing"]
    info = document["ImageInfo"][0]
    assert info["Status"] == "Normal"
    assert "auth_key=" in info["URL"]
    assert set(info["Mezzanine"]) == {"FileURL", "OriginalFileName", "Width", "Height", "FileSize"}
    assert isinstance(info["Mezzanine"]["FileSize"], str)


def test_get_image_infos_honours_output_type_and_auth_timeout() -> None:
    """OutputType oss gives an OSS-signed URL; AuthTimeout sets when it expires."""
    state = _state(seed=4)
    image_id = library_image_ids(4, 1)[0]
    params = {"ImageIds": image_id, "OutputType": "oss", "AuthTimeout": "60"}
    [info] = _run(state, "GetImageInfos", params)["ImageInfo"]
    query = parse_qs(urlsplit(info["URL"]).query)
    assert set(query) == {"Expires", "OSSAccessKeyId", "Signature"}
    assert int(query["Expires"][0]) == int(T0) + 60


@pytest.mark.parametrize(
    "params",
    [
        {"OutputType": "ftp"},
        {"AuthTimeout": "0"},
        {"AuthTimeout": "soon"},
        {"AuthTimeout": "2592001", "OutputType": "oss"},
    ],
)
def test_get_image_infos_rejects_bad_options(params: dict[str, str]) -> None:
    """Unknown OutputType and out-of-range AuthTimeout are InvalidParameter."""
    error = _error(_state(), "GetImageInfos", {"ImageIds": "a", **params})
    assert error.code == "InvalidParameter"


def test_get_image_infos_accepts_twenty_ids_and_refuses_more() -> None:
    """The documented maximum of 20 image IDs is enforced."""
    state = _state()
    twenty = ",".join(f"i{n}" for n in range(20))
    assert len(_run(state, "GetImageInfos", {"ImageIds": twenty})["NonExistImageIds"]) == 20
    assert _error(state, "GetImageInfos", {"ImageIds": twenty + ",x"}).code == "InvalidParameter"


def test_the_library_depends_on_the_seed_alone() -> None:
    """The same seed gives the same library; another seed another one."""
    assert library_image_ids(1, 3) == library_image_ids(1, 3)
    assert library_image_ids(1, 3) != library_image_ids(2, 3)
    first = _run(_state(seed=1), "GetImageInfos", {"ImageIds": library_image_ids(1, 1)[0]})
    second = _run(_state(seed=1), "GetImageInfos", {"ImageIds": library_image_ids(1, 1)[0]})
    assert first == second
