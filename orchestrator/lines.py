"""The queue-line contract: one JSON object per line, validated before anything is stored.

Two kinds of line exist (see the design's "Queue line")::

    {"video_id": "…", "template_id": "…", "request_id": "…", "user_data": {…},
     "pipeline_id": "…", "timeout_s": 3600}
    {"image_ids": ["…", "…"], "request_id": "…"}

`parse_line` never raises: a line that breaks the contract becomes a `Rejection` whose reason
names the field and the rule, so that the producer can fix it. Reasons never echo a value
(a line may carry anything, and reasons end up in events and logs), only field names, shortened.
`encode_line` is the writing side used by the `enqueue` command; it applies the same rules.
"""

from __future__ import annotations

import difflib
import json
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

# Far above any legitimate line (a job line is a few hundred bytes, 1000 image IDs about 35 KiB),
# low enough that one bad producer cannot make the intake hold megabytes per line.
MAX_LINE_BYTES = 64 * 1024
# VOD's documented limit on SubmitAIImageJob's UserData, checked on what is actually sent.
MAX_USER_DATA_BYTES = 512
# VOD IDs are 32 hex characters; 128 leaves room for other ID schemes and derived request IDs
# while keeping IDs short enough for comma-joined query parameters and log lines.
MAX_ID_CHARS = 128
# A lookup line is split into GetImageInfos calls of 20; 1000 IDs is 50 calls, a sane upper bound
# for one request, and keeps a maximal lookup line well under MAX_LINE_BYTES.
MAX_IMAGE_IDS = 1000
# A job that has not finished within a week is lost in practice; a longer timeout is a typo
# (milliseconds written as seconds) rather than an intent.
MAX_TIMEOUT_S = 7 * 24 * 3600

JOB_FIELDS = frozenset(
    {"video_id", "template_id", "request_id", "user_data", "pipeline_id", "timeout_s"}
)
LOOKUP_FIELDS = frozenset({"image_ids", "request_id"})
_ALL_FIELDS = JOB_FIELDS | LOOKUP_FIELDS
# Where the request id goes inside UserData, so that a job can always be traced back.
_EXTEND = "Extend"
_EXTEND_REQUEST_ID = "request_id"

# Unicode categories never allowed in an ID: control characters (they break logs, headers and
# query strings) and lone surrogates (JSON can escape them, UTF-8 cannot encode them).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})
# Longest field name quoted in a reason, and how many unknown names are listed at most.
_SHOWN_NAME_CHARS = 40
_SHOWN_NAMES = 5
# Each nesting level costs at least two bytes ("[" and "]"), so deeper data cannot fit in
# MAX_USER_DATA_BYTES; checking depth first keeps serialisation clear of the recursion limit.
_MAX_USER_DATA_DEPTH = MAX_USER_DATA_BYTES // 2
# `encode_line` runs before the intake assigns a positional request id; validating with the
# longest legal id means a line accepted at enqueue time never fails the UserData size check later.
_LONGEST_REQUEST_ID = "x" * MAX_ID_CHARS
_COMPACT = (",", ":")


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRequest:
    """A validated job line: one SubmitAIImageJob to run and follow to its end."""

    request_id: str
    video_id: str
    template_id: str
    user_data: Mapping[str, Any] | None = None
    pipeline_id: str | None = None
    timeout_s: float | None = None

    def vod_user_data(self) -> str:
        """The UserData JSON for SubmitAIImageJob: the user's object, request id in `Extend`."""
        merged = dict(self.user_data or {})
        merged[_EXTEND] = {**merged.get(_EXTEND, {}), _EXTEND_REQUEST_ID: self.request_id}
        return json.dumps(merged, separators=_COMPACT, ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupRequest:
    """A validated image look-up line; `image_ids` is de-duplicated, first occurrence kept."""

    request_id: str
    image_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    """A line that breaks the contract; `reason` names the field and the rule."""

    reason: str


Request: TypeAlias = JobRequest | LookupRequest


def parse_line(raw: bytes, *, default_request_id: str) -> Request | Rejection:
    """Validate one queue line (without its b"\\n"); a line without request_id gets the default."""
    try:
        return _parse(raw, default_request_id)
    except _Invalid as exc:
        return Rejection(reason=str(exc))


def encode_line(fields: Mapping[str, Any]) -> bytes:
    """One compact JSON line (ending in b"\\n") for `fields`; ValueError(reason) if invalid."""
    try:
        line = json.dumps(
            dict(fields), separators=_COMPACT, ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise ValueError(f"not representable as a JSON line: {exc}") from None
    verdict = parse_line(line, default_request_id=_LONGEST_REQUEST_ID)
    if isinstance(verdict, Rejection):
        raise ValueError(verdict.reason)
    return line + b"\n"


class _Invalid(Exception):
    """Internal: unwinds validation with the rejection reason; never leaves this module."""


def _parse(raw: bytes, default_request_id: str) -> Request:
    if raw.endswith(b"\r"):  # CRLF files: the "\r" belongs to the line ending
        raw = raw[:-1]
    if len(raw) > MAX_LINE_BYTES:
        raise _Invalid(f"line is {len(raw)} bytes, over the limit of {MAX_LINE_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"not valid UTF-8 (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise _Invalid("empty line")
    obj = _load_json(text)
    if not isinstance(obj, dict):
        raise _Invalid(f"not a JSON object but {_json_type(obj)}")
    _check_field_names(obj)
    request_id = _optional_text(obj, "request_id", allow_comma=True) or default_request_id
    has_job_fields = "video_id" in obj or "template_id" in obj
    if "image_ids" in obj:
        if has_job_fields:
            raise _Invalid(
                "a line is either a job (video_id, template_id) or an image lookup "
                "(image_ids), not both"
            )
        misplaced = sorted(obj.keys() - LOOKUP_FIELDS)
        if misplaced:
            raise _Invalid(f"{misplaced[0]}: does not apply to an image lookup")
        return LookupRequest(request_id=request_id, image_ids=_image_ids(obj["image_ids"]))
    if not has_job_fields:
        raise _Invalid("missing video_id and template_id (a job) or image_ids (an image lookup)")
    return _job(obj, request_id)


def _job(obj: dict[str, Any], request_id: str) -> JobRequest:
    job = JobRequest(
        request_id=request_id,
        video_id=_required_text(obj, "video_id"),
        template_id=_required_text(obj, "template_id"),
        user_data=_user_data(obj.get("user_data"), request_id),
        pipeline_id=_optional_text(obj, "pipeline_id", allow_comma=False),
        timeout_s=_timeout(obj.get("timeout_s")),
    )
    try:
        size = len(job.vod_user_data().encode("utf-8"))
    except UnicodeEncodeError:
        raise _Invalid("user_data: contains a lone surrogate, which UTF-8 cannot encode") from None
    if size > MAX_USER_DATA_BYTES:
        raise _Invalid(
            f"user_data: the UserData sent to VOD (with the request id added to Extend) would be "
            f"{size} bytes, over VOD's limit of {MAX_USER_DATA_BYTES}"
        )
    return job


def _load_json(text: str) -> Any:
    try:
        return json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as exc:
        raise _Invalid(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise _Invalid("not valid JSON: nested too deeply") from None
    except ValueError:
        # The only other ValueError json raises: an integer literal over Python's digit limit.
        raise _Invalid("not valid JSON: a number has too many digits") from None


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Plain json keeps the last of duplicate keys silently; which value the producer meant is
    # unknowable, so the line is rejected instead.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Invalid(f"not valid JSON: duplicate key {_show(key)}")
            seen.add(key)
    return obj


def _reject_constant(name: str) -> Any:
    raise _Invalid(f"not valid JSON: {name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # e.g. 1e400: would be re-serialised as Infinity
        raise _Invalid("not valid JSON: a number is out of the floating-point range")
    return value


def _check_field_names(obj: dict[str, Any]) -> None:
    unknown = [key for key in obj if key not in _ALL_FIELDS]
    if not unknown:
        return
    shown = ", ".join(_show(key) for key in unknown[:_SHOWN_NAMES])
    more = f" and {len(unknown) - _SHOWN_NAMES} more" if len(unknown) > _SHOWN_NAMES else ""
    close = difflib.get_close_matches(unknown[0][:_SHOWN_NAME_CHARS], sorted(_ALL_FIELDS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    plural = "s" if len(unknown) > 1 else ""
    raise _Invalid(f"unknown field{plural} {shown}{more}{hint}")


def _text(value: Any, name: str, *, allow_comma: bool) -> str:
    """An identifier-like string: non-empty, short, printable, no surrounding whitespace."""
    if not isinstance(value, str) or not value:
        got = "" if isinstance(value, str) else f", not {_json_type(value)}"
        raise _Invalid(f"{name}: must be a non-empty string{got}")
    if len(value) > MAX_ID_CHARS:
        raise _Invalid(f"{name}: {len(value)} characters, over the limit of {MAX_ID_CHARS}")
    if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in value):
        raise _Invalid(f"{name}: must not contain control characters or lone surrogates")
    if value != value.strip():  # a copy-paste slip that VOD would only report as "not found"
        raise _Invalid(f"{name}: must not start or end with whitespace")
    if not allow_comma and "," in value:  # VOD passes lists of IDs comma-separated
        raise _Invalid(f"{name}: must not contain a comma")
    return value


def _required_text(obj: dict[str, Any], name: str) -> str:
    if name not in obj:
        raise _Invalid(f"{name}: required (a non-empty string)")
    return _text(obj[name], name, allow_comma=False)


def _optional_text(obj: dict[str, Any], name: str, *, allow_comma: bool) -> str | None:
    value = obj.get(name)  # absent and null both mean "not given"
    return None if value is None else _text(value, name, allow_comma=allow_comma)


def _image_ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _Invalid("image_ids: must be a non-empty list of strings")
    if len(value) > MAX_IMAGE_IDS:
        raise _Invalid(f"image_ids: {len(value)} IDs, over the limit of {MAX_IMAGE_IDS}")
    ids = (_text(item, f"image_ids[{i}]", allow_comma=False) for i, item in enumerate(value))
    return tuple(dict.fromkeys(ids))


def _user_data(value: Any, request_id: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Invalid(f"user_data: must be a JSON object, not {_json_type(value)}")
    if _EXTEND in value:
        extend = value[_EXTEND]
        if not isinstance(extend, dict):
            raise _Invalid(f"user_data.Extend: must be a JSON object, not {_json_type(extend)}")
        if extend.get(_EXTEND_REQUEST_ID, request_id) != request_id:
            raise _Invalid(
                "user_data.Extend.request_id: reserved for the line's request id "
                "(set request_id on the line instead)"
            )
    if _depth_exceeds(value, _MAX_USER_DATA_DEPTH):
        raise _Invalid(
            f"user_data: nested more than {_MAX_USER_DATA_DEPTH} levels deep, "
            f"which cannot fit in VOD's {MAX_USER_DATA_BYTES}-byte limit"
        )
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    # Iterative on purpose: this guards against data too deep for recursive code.
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _timeout(value: Any) -> float | None:
    if value is None:
        return None
    # bool is an int subclass, but `true` is not a duration.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"timeout_s: must be a number of seconds, not {_json_type(value)}")
    # Compared before any float conversion: an integer of a thousand digits is out of range,
    # not an OverflowError.
    if not 0 < value <= MAX_TIMEOUT_S:
        raise _Invalid(f"timeout_s: must be > 0 and at most {MAX_TIMEOUT_S} (7 days)")
    return float(value)


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for reasons."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _show(name: str) -> str:
    """A field name fit for a reason: quoted, escaped, and cut short."""
    if len(name) > _SHOWN_NAME_CHARS:
        return repr(name[:_SHOWN_NAME_CHARS]) + "…"
    return repr(name)
