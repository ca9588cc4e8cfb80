"""Queue lines: what is accepted, what is rejected and why, and the UserData sent to VOD."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.lines import (
    MAX_ID_CHARS,
    MAX_IMAGE_IDS,
    MAX_LINE_BYTES,
    MAX_TIMEOUT_S,
    MAX_USER_DATA_BYTES,
    JobRequest,
    LookupRequest,
    Rejection,
    encode_line,
    parse_line,
)

DEFAULT_ID = "g0-line7"


def parse(line: bytes | dict[str, Any]) -> JobRequest | LookupRequest | Rejection:
    raw = line if isinstance(line, bytes) else json.dumps(line).encode()
    return parse_line(raw, default_request_id=DEFAULT_ID)


def reason_of(line: bytes | dict[str, Any]) -> str:
    result = parse(line)
    assert isinstance(result, Rejection), result
    return result.reason


def job(**fields: Any) -> dict[str, Any]:
    return {"video_id": "v1", "template_id": "t1", **fields}


def user_data_of_size(size: int, request_id: str) -> dict[str, Any]:
    """A user_data object whose merged UserData is exactly `size` bytes for `request_id`."""
    overhead = len(
        JobRequest(request_id=request_id, video_id="v", template_id="t", user_data={"k": ""})
        .vod_user_data()
        .encode()
    )
    return {"k": "x" * (size - overhead)}


# --- accepted lines ----------------------------------------------------------------------------


def test_minimal_job_line_gets_the_default_request_id() -> None:
    """A job line with only video_id and template_id is accepted with the positional id."""
    assert parse(job()) == JobRequest(request_id=DEFAULT_ID, video_id="v1", template_id="t1")


def test_full_job_line_keeps_every_field() -> None:
    """Every optional job field is carried over, and an integer timeout becomes a float."""
    line = job(request_id="r-1", user_data={"a": 1}, pipeline_id="p1", timeout_s=3600)
    result = parse(line)
    assert result == JobRequest(
        request_id="r-1",
        video_id="v1",
        template_id="t1",
        user_data={"a": 1},
        pipeline_id="p1",
        timeout_s=3600.0,
    )
    assert isinstance(result, JobRequest)
    assert type(result.timeout_s) is float


def test_null_optional_fields_mean_absent() -> None:
    """JSON null in an optional field is treated as if the field were left out."""
    line = job(request_id=None, user_data=None, pipeline_id=None, timeout_s=None)
    assert parse(line) == JobRequest(request_id=DEFAULT_ID, video_id="v1", template_id="t1")


def test_crlf_line_ending_is_tolerated() -> None:
    """A trailing carriage return from a CRLF file is stripped before parsing."""
    assert parse(b'{"video_id":"v1","template_id":"t1"}\r') == parse(job())


def test_lookup_line_dedupes_image_ids_keeping_order() -> None:
    """A lookup keeps the first occurrence of each image id, in the order given."""
    result = parse({"image_ids": ["b", "a", "b", "c", "a"], "request_id": "look-1"})
    assert result == LookupRequest(request_id="look-1", image_ids=("b", "a", "c"))


def test_lookup_line_without_request_id_gets_the_default() -> None:
    """A lookup line without request_id gets the positional id."""
    assert parse({"image_ids": ["i1"]}) == LookupRequest(request_id=DEFAULT_ID, image_ids=("i1",))


def test_limits_are_inclusive() -> None:
    """Values exactly at each limit are accepted."""
    assert isinstance(parse(job(timeout_s=MAX_TIMEOUT_S)), JobRequest)
    assert isinstance(parse(job(timeout_s=0.001)), JobRequest)
    assert isinstance(parse(job(video_id="v" * MAX_ID_CHARS)), JobRequest)
    ids = [f"i{n}" for n in range(MAX_IMAGE_IDS)]
    assert isinstance(parse({"image_ids": ids}), LookupRequest)
    fitting = user_data_of_size(MAX_USER_DATA_BYTES, DEFAULT_ID)
    assert isinstance(parse(job(user_data=fitting)), JobRequest)


def test_line_of_exactly_the_byte_limit_is_accepted() -> None:
    """A line of MAX_LINE_BYTES bytes (padding included) is accepted; one more byte is not."""
    base = json.dumps(job()).encode()
    exact = base[:-1] + b" " * (MAX_LINE_BYTES - len(base)) + b"}"
    assert len(exact) == MAX_LINE_BYTES
    assert isinstance(parse(exact), JobRequest)
    assert isinstance(parse(exact + b"\r"), JobRequest)
    assert "over the limit" in reason_of(b" " + exact)


def test_request_id_may_contain_a_comma() -> None:
    """Request ids are never joined into ID lists, so a comma is allowed in them."""
    result = parse(job(request_id="batch-3,item-4"))
    assert isinstance(result, JobRequest)
    assert result.request_id == "batch-3,item-4"


def test_extend_request_id_equal_to_the_line_id_is_accepted() -> None:
    """A user_data.Extend.request_id that repeats the line's own request id is harmless."""
    line = job(request_id="r1", user_data={"Extend": {"request_id": "r1", "k": "v"}})
    assert isinstance(parse(line), JobRequest)


# --- vod_user_data -----------------------------------------------------------------------------


def test_vod_user_data_without_user_data_carries_the_request_id() -> None:
    """Without user_data the UserData is just Extend holding the request id."""
    request = JobRequest(request_id="r1", video_id="v", template_id="t")
    assert request.vod_user_data() == '{"Extend":{"request_id":"r1"}}'


def test_vod_user_data_merges_into_the_users_extend() -> None:
    """The request id joins the user's Extend; other keys stay; output is compact, not escaped."""
    user_data = {"MessageCallback": {"CallbackURL": "http://x"}, "Extend": {"lang": "日本"}}
    request = JobRequest(request_id="r1", video_id="v", template_id="t", user_data=user_data)
    assert request.vod_user_data() == (
        '{"MessageCallback":{"CallbackURL":"http://x"},"Extend":{"lang":"日本","request_id":"r1"}}'
    )
    assert user_data == {"MessageCallback": {"CallbackURL": "http://x"}, "Extend": {"lang": "日本"}}


# --- rejected lines ----------------------------------------------------------------------------

REJECTED_BYTES = [
    pytest.param(b"x" * (MAX_LINE_BYTES + 1), "over the limit of 65536", id="too-long"),
    pytest.param(b'{"video_id":"\xff"}', "not valid UTF-8 (bad byte at offset 13)", id="not-utf8"),
    pytest.param(b"", "empty line", id="empty"),
    pytest.param(b" \t ", "empty line", id="blank"),
    pytest.param(b"\r", "empty line", id="bare-cr"),
    pytest.param(b'{"video_id": ', "not valid JSON", id="truncated"),
    pytest.param(b'{"video_id":"v","template_id":"t"} x', "not valid JSON", id="trailing"),
    pytest.param(b'{"timeout_s": NaN}', "NaN is not a JSON number", id="nan"),
    pytest.param(b'{"timeout_s": Infinity}', "Infinity is not a JSON number", id="inf"),
    pytest.param(b'{"timeout_s": -Infinity}', "-Infinity is not a JSON number", id="neg-inf"),
    pytest.param(b'{"timeout_s": 1e400}', "out of the floating-point range", id="float-ovf"),
    pytest.param(b'{"timeout_s": ' + b"9" * 5000 + b"}", "too many digits", id="digits"),
    pytest.param(b"[" * 5000 + b"]" * 5000, "nested too deeply", id="deep"),
    pytest.param(b'{"video_id":"a","video_id":"b"}', "duplicate key 'video_id'", id="dup-key"),
    pytest.param(b'{"user_data":{"k":1,"k":2}}', "duplicate key 'k'", id="dup-nested"),
    pytest.param(b'["v1", "t1"]', "not a JSON object but an array", id="array"),
    pytest.param(b'"v1"', "not a JSON object but a string", id="string"),
    pytest.param(b"null", "not a JSON object but null", id="null"),
    pytest.param(b"true", "not a JSON object but a boolean", id="bool"),
    pytest.param(b"42", "not a JSON object but a number", id="number"),
]


@pytest.mark.parametrize(("raw", "reason"), REJECTED_BYTES)
def test_malformed_lines_are_rejected(raw: bytes, reason: str) -> None:
    """Lines that are too long, not UTF-8, blank, not JSON or not an object are rejected."""
    assert reason in reason_of(raw)


REJECTED_FIELDS = [
    # shape of the line
    pytest.param({}, "missing video_id and template_id (a job) or image_ids", id="neither"),
    pytest.param({"request_id": "r"}, "missing video_id and template_id", id="only-id"),
    pytest.param(job(image_ids=["i"]), "not both", id="both-kinds"),
    pytest.param({"template_id": "t", "image_ids": ["i"]}, "not both", id="both-template"),
    pytest.param({"image_ids": ["i"], "timeout_s": 5}, "timeout_s: does not apply", id="lookup-x"),
    # job identifiers
    pytest.param({"template_id": "t"}, "video_id: required", id="video-missing"),
    pytest.param({"video_id": "v"}, "template_id: required", id="template-missing"),
    pytest.param(job(video_id=None), "video_id: must be a non-empty string, not null", id="null"),
    pytest.param(job(video_id=7), "video_id: must be a non-empty string, not a number", id="int"),
    pytest.param(job(video_id=""), "video_id: must be a non-empty string", id="empty"),
    pytest.param(job(template_id=["t"]), "template_id: must be a non-empty string", id="list"),
    pytest.param(job(video_id="v" * 129), "video_id: 129 characters, over the limit", id="long"),
    pytest.param(job(video_id="v1,v2"), "video_id: must not contain a comma", id="comma"),
    pytest.param(job(template_id="t\x00"), "template_id: must not contain control", id="nul"),
    pytest.param(job(video_id="v\x7f"), "video_id: must not contain control", id="del"),
    pytest.param(job(video_id="v\u0085"), "video_id: must not contain control", id="c1"),
    pytest.param(job(video_id="v\n"), "video_id: must not contain control", id="newline"),
    pytest.param(job(video_id="\ud800"), "video_id: must not contain control", id="surrogate"),
    pytest.param(job(video_id=" v1"), "video_id: must not start or end with whitespace", id="ws"),
    # request_id and pipeline_id
    pytest.param(job(request_id=""), "request_id: must be a non-empty string", id="rid-empty"),
    pytest.param(job(request_id=5), "request_id: must be a non-empty string", id="rid-int"),
    pytest.param(job(request_id="r" * 129), "request_id: 129 characters", id="rid-long"),
    pytest.param(job(request_id="r\t1"), "request_id: must not contain control", id="rid-tab"),
    pytest.param(job(pipeline_id=""), "pipeline_id: must be a non-empty string", id="pipe-empty"),
    pytest.param(job(pipeline_id=1), "pipeline_id: must be a non-empty string", id="pipe-int"),
    # timeout_s
    pytest.param(job(timeout_s=0), "timeout_s: must be > 0", id="zero"),
    pytest.param(job(timeout_s=-1.5), "timeout_s: must be > 0", id="negative"),
    pytest.param(job(timeout_s=MAX_TIMEOUT_S + 0.5), "at most 604800 (7 days)", id="week+"),
    pytest.param(job(timeout_s=10**400), "at most 604800", id="huge-int"),
    pytest.param(job(timeout_s=True), "timeout_s: must be a number of seconds", id="bool"),
    pytest.param(job(timeout_s="60"), "timeout_s: must be a number of seconds", id="string"),
    # user_data
    pytest.param(job(user_data=[1]), "user_data: must be a JSON object, not an array", id="ud"),
    pytest.param(job(user_data="{}"), "user_data: must be a JSON object", id="ud-string"),
    pytest.param(job(user_data={"Extend": "x"}), "user_data.Extend: must be a JSON", id="ext"),
    pytest.param(job(user_data={"Extend": None}), "user_data.Extend: must be a JSON", id="ext0"),
    pytest.param(
        job(request_id="r1", user_data={"Extend": {"request_id": "r2"}}),
        "user_data.Extend.request_id: reserved",
        id="ext-rid",
    ),
    pytest.param(
        job(user_data={"Extend": {"request_id": "mine"}}),
        "user_data.Extend.request_id: reserved",
        id="ext-rid-default",
    ),
    pytest.param(
        job(user_data={"k": "x" * MAX_USER_DATA_BYTES}),
        "over VOD's limit of 512",
        id="ud-big",
    ),
    pytest.param(
        job(user_data={"k": "é" * 240}),  # 480 characters of UTF-8 but 500+ bytes
        "over VOD's limit of 512",
        id="ud-big-utf8",
    ),
    pytest.param(
        job(user_data={"k": "\udc80"}),
        "user_data: contains a lone surrogate",
        id="ud-surrogate",
    ),
    # image_ids
    pytest.param({"image_ids": "i1,i2"}, "image_ids: must be a non-empty list", id="ids-str"),
    pytest.param({"image_ids": []}, "image_ids: must be a non-empty list", id="ids-empty"),
    pytest.param({"image_ids": None}, "image_ids: must be a non-empty list", id="ids-null"),
    pytest.param(
        {"image_ids": ["i"] * (MAX_IMAGE_IDS + 1)},
        "image_ids: 1001 IDs, over the limit of 1000",
        id="ids-many",
    ),
    pytest.param({"image_ids": ["i1", 2]}, "image_ids[1]: must be a non-empty", id="ids-int"),
    pytest.param({"image_ids": ["i1", ""]}, "image_ids[1]: must be a non-empty", id="ids-blank"),
    pytest.param({"image_ids": ["a,b"]}, "image_ids[0]: must not contain a comma", id="ids-comma"),
    pytest.param(
        {"image_ids": ["i1"], "request_id": ""},
        "request_id: must be a non-empty string",
        id="ids-rid",
    ),
]


@pytest.mark.parametrize(("fields", "reason"), REJECTED_FIELDS)
def test_invalid_fields_are_rejected_with_the_field_named(
    fields: dict[str, Any], reason: str
) -> None:
    """Each field rule rejects a breaking value with a reason naming the field and the rule."""
    assert reason in reason_of(fields)


def test_user_data_one_byte_over_the_limit_is_rejected() -> None:
    """The UserData limit is exact: 513 merged bytes are rejected where 512 were accepted."""
    reason = reason_of(job(user_data=user_data_of_size(MAX_USER_DATA_BYTES + 1, DEFAULT_ID)))
    assert reason.endswith("would be 513 bytes, over VOD's limit of 512")


def test_user_data_nested_too_deeply_is_rejected_without_recursion() -> None:
    """Nesting that could never fit in 512 bytes is rejected before anything recurses over it."""
    deep: Any = "leaf"
    for _ in range(900):  # deep enough to threaten the recursion limit once serialised again
        deep = [deep]
    raw = json.dumps(job(user_data={"k": deep})).encode()
    assert "user_data: nested more than 256 levels deep" in reason_of(raw)


def test_unknown_field_is_named_with_a_suggestion() -> None:
    """A misspelt field is rejected, named, and the closest known field is suggested."""
    reason = reason_of(job(vidoe_id="v1"))
    assert reason == "unknown field 'vidoe_id' (did you mean 'video_id'?)"


def test_many_unknown_fields_are_listed_briefly() -> None:
    """Many unknown fields are listed up to five, with the rest counted and long names cut."""
    fields = job(**{f"extra{n}": n for n in range(7)}, **{"z" * 1000: 1})
    reason = reason_of(fields)
    assert reason.startswith("unknown fields 'extra0', 'extra1', 'extra2', 'extra3', 'extra4'")
    assert reason.endswith("and 3 more")
    long_name = reason_of(job(**{"q" * 1000: 1}))
    assert long_name == "unknown field '" + "q" * 40 + "'…"


def test_reasons_never_echo_values() -> None:
    """A rejected value (it may be a secret) never appears in the reason."""
    secret = "hunter2-SECRET"
    for fields in (
        job(video_id=f"{secret},x"),
        job(user_data={"Extend": {"request_id": secret}}),
        job(template_id=secret + "\x00"),
        {"image_ids": [f"{secret},"]},
    ):
        assert secret not in reason_of(fields)


# --- encode_line -------------------------------------------------------------------------------


def test_encode_line_writes_one_compact_line() -> None:
    """A valid job becomes compact UTF-8 JSON ending in exactly one newline."""
    line = encode_line({"video_id": "v1", "template_id": "t1", "user_data": {"k": "日本"}})
    assert line == '{"video_id":"v1","template_id":"t1","user_data":{"k":"日本"}}\n'.encode()


def test_encode_line_escapes_newlines_inside_values() -> None:
    """A newline inside a user_data value is escaped, so the output is still one line."""
    line = encode_line(job(user_data={"note": "two\nlines"}))
    assert line.count(b"\n") == 1
    assert line.endswith(b"\n")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        pytest.param({"video_id": "v1"}, "template_id: required", id="missing"),
        pytest.param({"image_ids": ["a,b"]}, "image_ids[0]: must not contain a comma", id="comma"),
        pytest.param(job(timeout_s=float("nan")), "not representable as a JSON line", id="nan"),
        pytest.param(job(user_data={"s": {1, 2}}), "not representable as a JSON line", id="set"),
        pytest.param(job(user_data={"k": "\ud800"}), "not representable", id="surrogate"),
        pytest.param(job(note="x"), "unknown field 'note'", id="unknown"),
    ],
)
def test_encode_line_rejects_what_parse_line_rejects(fields: dict[str, Any], reason: str) -> None:
    """Invalid or unrepresentable fields raise ValueError carrying the reason."""
    with pytest.raises(ValueError, match=re.escape(reason)):
        encode_line(fields)


def test_encode_line_sizes_user_data_for_the_longest_default_request_id() -> None:
    """Without request_id, UserData must fit with any id the intake may assign later."""
    fits_short_id = user_data_of_size(MAX_USER_DATA_BYTES, "r1")
    with pytest.raises(ValueError, match="over VOD's limit"):
        encode_line(job(user_data=fits_short_id))
    assert encode_line(job(request_id="r1", user_data=fits_short_id)).endswith(b"\n")


# --- properties --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
any_fields = st.dictionaries(
    st.sampled_from(["video_id", "template_id", "request_id", "user_data", "pipeline_id"])
    | st.sampled_from(["timeout_s", "image_ids"])
    | st.text(max_size=10),
    json_values,
    max_size=7,
)
ids = st.text(
    st.characters(exclude_categories=("Cc", "Cs"), exclude_characters=","),
    min_size=1,
    max_size=MAX_ID_CHARS,
).filter(lambda s: s == s.strip())
user_data = (
    st.dictionaries(st.text(max_size=8).filter(lambda k: k != "Extend"), json_values, max_size=3)
    | st.none()
)
timeouts = (
    st.none()
    | st.integers(1, MAX_TIMEOUT_S)
    | st.floats(min_value=0, max_value=MAX_TIMEOUT_S, exclude_min=True)
)


@given(st.binary(max_size=200))
def test_parse_line_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    """Any byte string yields a request or a rejection, never an exception."""
    assert isinstance(parse(raw), JobRequest | LookupRequest | Rejection)


@given(any_fields)
def test_encode_line_and_parse_line_agree(fields: dict[str, Any]) -> None:
    """Whatever encode_line accepts, parse_line accepts; whatever it refuses raises ValueError."""
    try:
        line = encode_line(fields)
    except ValueError:
        return
    assert line.endswith(b"\n")
    assert b"\n" not in line[:-1]
    assert not isinstance(parse(line[:-1]), Rejection)


@given(ids, ids, ids, user_data, st.none() | ids, timeouts)
def test_valid_job_round_trips_through_encode_and_parse(
    video_id: str,
    template_id: str,
    request_id: str,
    data: dict[str, Any] | None,
    pipeline_id: str | None,
    timeout_s: float | None,
) -> None:
    """A job within every rule comes back field for field; one over the UserData limit raises."""
    expected = JobRequest(
        request_id=request_id,
        video_id=video_id,
        template_id=template_id,
        user_data=data,
        pipeline_id=pipeline_id,
        timeout_s=None if timeout_s is None else float(timeout_s),
    )
    fields = {
        "video_id": video_id,
        "template_id": template_id,
        "request_id": request_id,
        "user_data": data,
        "pipeline_id": pipeline_id,
        "timeout_s": timeout_s,
    }
    if len(expected.vod_user_data().encode()) > MAX_USER_DATA_BYTES:
        with pytest.raises(ValueError, match="over VOD's limit"):
            encode_line(fields)
    else:
        assert parse(encode_line(fields)[:-1]) == expected
