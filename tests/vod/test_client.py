"""VodClient operations: what each sends, how it is signed, what it returns, what it refuses."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from yarl import URL

from orchestrator.vod import JobStatus, VodClient, signing
from orchestrator.vod.client import MAX_IMAGE_IDS, MAX_JOB_IDS, resolve_endpoint
from tests.vod.conftest import API, KEY_ID, SECRET, TOKEN, MakeClient, VodMock

API_HOST = "vod.cn-shanghai.aliyuncs.com"


def _only_request(api: VodMock) -> tuple[dict[str, str], dict[str, str]]:
    """The query and headers of the one request made."""
    ((url, kwargs),) = api.sent()
    return dict(url.query), dict(kwargs["headers"])


def _reply(api: VodMock, payload: dict[str, Any]) -> None:
    api.post(API, payload=payload)


async def test_submit_is_signed_v3_by_default(make_client: MakeClient, api: VodMock) -> None:
    """A V3 call carries the operation in the query and a verifiable signature in headers."""
    _reply(api, {"JobId": "J1", "RequestId": "R1"})
    client = make_client()
    result = await client.submit_ai_image_job(
        video_id="v1", template_id="t1", user_data='{"Extend": {"k": "v"}}', pipeline_id="p1"
    )
    assert (result.job_id, result.request_id) == ("J1", "R1")
    query, headers = _only_request(api)
    assert query == {
        "VideoId": "v1",
        "AITemplateId": "t1",
        "UserData": '{"Extend": {"k": "v"}}',
        "AIPipelineId": "p1",
    }
    assert headers["host"] == API_HOST
    assert headers["x-acs-action"] == "SubmitAIImageJob"
    assert headers["x-acs-version"] == "2017-03-21"
    assert headers["x-acs-date"] == "2024-05-06T07:08:09Z"
    assert headers["x-acs-signature-nonce"] == "nonce-1"
    assert headers["x-acs-content-sha256"] == signing.EMPTY_PAYLOAD_SHA256
    assert headers["x-acs-security-token"] == TOKEN
    auth = signing.parse_v3_authorization(headers["Authorization"])
    assert auth is not None
    assert auth.access_key_id == KEY_ID
    canonical = signing.v3_canonical_request(
        method="POST",
        path="/",
        query=query,
        headers=headers,
        signed_headers=auth.signed_headers,
        payload_hash=signing.EMPTY_PAYLOAD_SHA256,
    )
    assert signing.v3_signature(canonical, secret=SECRET) == auth.signature


async def test_v1_puts_common_parameters_and_signature_in_the_query(
    make_client: MakeClient, api: VodMock
) -> None:
    """A V1 call sends the RPC common parameters and a Signature that verifies, no auth header."""
    _reply(api, {"RequestId": "R", "AIImageInfoList": []})
    client = make_client(signature="v1")
    await client.list_ai_image_info("v1")
    query, headers = _only_request(api)
    assert "Authorization" not in headers
    signature = query.pop("Signature")
    assert query == {
        "VideoId": "v1",
        "Action": "ListAIImageInfo",
        "Version": "2017-03-21",
        "Format": "JSON",
        "AccessKeyId": KEY_ID,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": "nonce-1",
        "Timestamp": "2024-05-06T07:08:09Z",
        "SecurityToken": TOKEN,
    }
    assert signing.v1_signature(query, method="POST", secret=SECRET) == signature


async def test_list_ai_job_joins_ids_and_counts_them(make_client: MakeClient, api: VodMock) -> None:
    """Job IDs travel comma-joined (duplicates once) and feed the IDs-per-status-call figures."""
    _reply(api, {"AIJobList": {"AIJob": [{"JobId": "a", "Status": "Processing"}]}})
    _reply(api, {"AIImageJobList": [{"JobId": "c", "Status": "success"}]})
    client = make_client()
    listed = await client.list_ai_job(["a", "b", "a"])
    images = await client.get_ai_image_jobs(["c"])
    assert listed.jobs[0].status is JobStatus.PROCESSING
    assert images.jobs[0].status is JobStatus.SUCCESS
    first, second = (dict(url.query) for url, _ in api.sent())
    assert first == {"JobIds": "a,b"}
    assert second == {"JobIds": "c"}
    stats = client.stats
    assert (stats.status_ids, stats.status_calls, stats.ids_per_status_call) == (3, 2, 1.5)
    assert dict(stats.calls) == {"ListAIJob": 1, "GetAIImageJobs": 1}


@pytest.mark.parametrize(
    ("payload", "jobs", "missing"),
    [
        ({"AIJobList": {"AIJob": [{"JobId": "a", "Status": "init"}]}}, ["a"], []),
        ({"AIJobList": [{"JobId": "a", "Status": "init"}]}, ["a"], []),
        ({"AIJobList": {"JobId": "a", "Status": "init"}}, ["a"], []),
        ({"AIJobList": [], "NonExistAIJobIds": "b"}, [], ["b"]),
        ({"AIJobList": [], "NonExistAIJobIds": {"String": "b"}}, [], ["b"]),
        ({"AIJobList": [], "NonExistAIJobIds": {"String": ["b"]}}, [], ["b"]),
    ],
)
async def test_list_ai_job_shapes_through_the_client(
    make_client: MakeClient,
    api: VodMock,
    payload: dict[str, Any],
    jobs: list[str],
    missing: list[str],
) -> None:
    """Wrapped, bare and lone job lists and every NonExist shape come back as the same result."""
    _reply(api, payload)
    result = await make_client().list_ai_job(["a", "b"])
    assert [job.job_id for job in result.jobs] == jobs
    assert list(result.non_exist_job_ids) == missing


async def test_get_image_infos_sends_its_options(make_client: MakeClient, api: VodMock) -> None:
    """Image IDs, AuthTimeout and OutputType are sent; the images and missing IDs come back."""
    _reply(api, {"ImageInfo": [{"ImageId": "i1"}], "NonExistImageIds": ["i2"]})
    client = make_client()
    result = await client.get_image_infos(["i1", "i2"], auth_timeout=3600, output_type="cdn")
    query, _ = _only_request(api)
    assert query == {"ImageIds": "i1,i2", "AuthTimeout": "3600", "OutputType": "cdn"}
    assert [image.image_id for image in result.images] == ["i1"]
    assert result.non_exist_image_ids == ("i2",)


async def test_up_to_the_id_limits_is_accepted(make_client: MakeClient, api: VodMock) -> None:
    """Exactly 10 job IDs and exactly 20 image IDs are allowed in one call."""
    _reply(api, {"AIJobList": []})
    _reply(api, {"ImageInfo": []})
    client = make_client()
    await client.list_ai_job([f"j{n}" for n in range(MAX_JOB_IDS)])
    await client.get_image_infos([f"i{n}" for n in range(MAX_IMAGE_IDS)])
    assert len(api.sent()) == 2


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.list_ai_job([f"j{n}" for n in range(11)]), "at most 10"),
        (lambda c: c.get_ai_image_jobs([f"j{n}" for n in range(11)]), "at most 10"),
        (lambda c: c.get_image_infos([f"i{n}" for n in range(21)]), "at most 20"),
        (lambda c: c.list_ai_job([]), "at least one"),
        (lambda c: c.list_ai_job(["a,b"]), "comma"),
        (lambda c: c.list_ai_job(["ok", " "]), "non-empty"),
        (lambda c: c.list_ai_image_info(""), "video_id"),
        (lambda c: c.submit_ai_image_job(video_id="v", template_id=""), "template_id"),
        (lambda c: c.submit_ai_image_job(video_id="v", template_id="t", user_data="{"), "JSON"),
        (
            lambda c: c.submit_ai_image_job(
                video_id="v", template_id="t", user_data='{"a": "' + "x" * 600 + '"}'
            ),
            "512 bytes",
        ),
        (lambda c: c.get_image_infos(["i"], output_type="s3"), "output_type"),
        (lambda c: c.get_image_infos(["i"], auth_timeout=0), "auth_timeout"),
    ],
)
async def test_bad_arguments_raise_value_error_before_any_request(
    make_client: MakeClient, api: VodMock, call: Any, match: str
) -> None:
    """Too many IDs, empty or comma-bearing IDs and invalid options fail fast, sending nothing."""
    client = make_client()
    with pytest.raises(ValueError, match=match):
        await call(client)
    assert api.sent() == []


async def test_a_single_string_is_not_taken_for_a_list_of_ids(make_client: MakeClient) -> None:
    """Passing one ID string instead of a list is a TypeError, not ten one-letter IDs."""
    with pytest.raises(TypeError):
        await make_client().list_ai_job("abc")


@pytest.mark.parametrize(
    ("region", "endpoint", "expected"),
    [
        ("cn-shanghai", "", "https://vod.cn-shanghai.aliyuncs.com"),
        ("cn-beijing", "", "https://vod.cn-beijing.aliyuncs.com"),
        ("cn-hangzhou", "", "https://vod.cn-shanghai.aliyuncs.com"),
        ("ap-southeast-1", "", "https://vod.ap-southeast-1.aliyuncs.com"),
        ("cn-shanghai", "http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("cn-shanghai", "http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
        ("cn-shanghai", "https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_endpoint_resolution(region: str, endpoint: str, expected: str) -> None:
    """An empty endpoint means the region's public host (cn-hangzhou maps to Shanghai)."""
    assert str(resolve_endpoint(region, endpoint)) == expected


@pytest.mark.parametrize(
    ("region", "endpoint"),
    [
        ("", ""),
        ("Shanghai", ""),
        ("cn-shanghai", "ftp://host"),
        ("cn-shanghai", "127.0.0.1:9000"),
        ("cn-shanghai", "http://host/path"),
        ("cn-shanghai", "http://host/?a=b"),
        ("cn-shanghai", "http://user:pw@host"),
    ],
)
def test_bad_endpoints_are_refused(region: str, endpoint: str) -> None:
    """A malformed region, a non-http URL, a path, a query or credentials in the URL are refused."""
    with pytest.raises(ValueError, match=r"region id|endpoint must be"):
        resolve_endpoint(region, endpoint)


async def test_custom_endpoint_signs_its_own_host(make_client: MakeClient, api: VodMock) -> None:
    """With a loopback endpoint the signed host header carries its port."""
    api.post(URL("http://127.0.0.1:9000/?VideoId=v"), payload={"AIImageInfoList": []})
    client = make_client(endpoint="http://127.0.0.1:9000")
    await client.list_ai_image_info("v")
    ((_, kwargs),) = api.sent()
    assert kwargs["headers"]["host"] == "127.0.0.1:9000"
    assert client.endpoint == "http://127.0.0.1:9000"


def test_constructor_refuses_unknown_rates_and_signature(make_client: MakeClient) -> None:
    """A rate for an unknown action, a bad rate or a bad signature version is refused."""
    with pytest.raises(ValueError, match="unknown actions"):
        make_client(rates={"ListAIJobs": 5.0})
    with pytest.raises(ValueError, match="rate"):
        make_client(rates={"ListAIJob": 0.0})
    with pytest.raises(ValueError, match="signature"):
        make_client(signature="v2")


def test_configured_rates_override_the_defaults(make_client: MakeClient) -> None:
    """A configured rate replaces the default for its action only."""
    client = make_client(rates={"GetImageInfos": 2.0})
    assert client.rate("GetImageInfos") == 2.0
    assert client.rate("SubmitAIImageJob") == 20.0


async def test_an_owned_session_is_closed_and_a_shared_one_is_not(
    make_client: MakeClient, api: VodMock
) -> None:
    """aclose closes the session the client made, never one it was given; later calls fail."""
    _reply(api, {"AIImageInfoList": []})
    async with make_client() as owned:
        await owned.list_ai_image_info("v")
    with pytest.raises(RuntimeError, match="closed"):
        await owned.list_ai_image_info("v")
    async with aiohttp.ClientSession() as shared:
        async with make_client(session=shared):
            pass
        assert not shared.closed


def test_stats_are_a_frozen_snapshot(make_client: MakeClient) -> None:
    """A stats snapshot cannot be modified and has no status-call ratio before any call."""
    stats = make_client().stats
    with pytest.raises(TypeError):
        stats.calls["ListAIJob"] = 1  # type: ignore[index]
    assert stats.ids_per_status_call is None


def test_client_module_has_a_clean_public_surface() -> None:
    """The package re-exports the client and every result type under __all__."""
    import orchestrator.vod as vod

    for name in vod.__all__:
        assert hasattr(vod, name), name
    assert vod.VodClient is VodClient
