"""Queue lines for fuzzing: valid ones, and bad ones that are bad by construction.

Every generator takes a `random.Random`, so that the same code serves a seeded end-to-end run
and a Hypothesis property (`st.randoms()`, whose draws shrink). A bad line is made invalid by
how it is built, never judged by the parser under test, and carries the words its rejection
reason must contain.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.lines import MAX_LINE_BYTES

# Characters of generated IDs: ASCII, a few letters beyond it, and the punctuation IDs use.
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/éüß漢字видео"
# Characters that `str.splitlines` takes for line ends, though JSON keeps them raw in strings:
# line and paragraph separators (allowed inside IDs) and NEL (a control character, which is not).
_SEPARATORS = "\u2028\u2029"
_NEL = "\u0085"
# Byte sequences that are never valid UTF-8, wherever they are inserted: a byte that UTF-8
# never uses, a lead byte followed by a non-continuation, an encoded surrogate, an overlong form.
_INVALID_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80")
# Control characters that JSON allows neither between tokens nor raw inside strings.
_CONTROL = [bytes([c]) for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)]


@dataclass(frozen=True, slots=True)
class ValidLine:
    raw: bytes  # with its line ending
    request_id: str | None  # None: the intake assigns the positional id


@dataclass(frozen=True, slots=True)
class BadLine:
    raw: bytes  # with its line ending
    kind: str
    reason_words: tuple[str, ...]  # the rejection reason contains at least one of them


def _ident(rng: random.Random, *, low: int = 1, high: int = 24) -> str:
    ident = "".join(rng.choice(_ID_CHARS) for _ in range(rng.randint(low, high)))
    if len(ident) > 2 and rng.random() < 0.1:
        # Line and paragraph separators are allowed inside an ID (not at its ends, where they
        # count as whitespace): the files written must stay one JSON object per b"\n" line.
        at = rng.randint(1, len(ident) - 1)
        ident = ident[:at] + rng.choice(_SEPARATORS) + ident[at:]
    return ident


def _job(rng: random.Random, request_id: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"video_id": _ident(rng), "template_id": _ident(rng)}
    if request_id is not None:
        fields["request_id"] = request_id
    if rng.random() < 0.4:
        fields["user_data"] = {_ident(rng, high=8): _ident(rng) for _ in range(rng.randint(0, 4))}
    if rng.random() < 0.3:
        fields["pipeline_id"] = _ident(rng)
    if rng.random() < 0.3:
        fields["timeout_s"] = rng.choice([rng.randint(1, 86_400), rng.uniform(0.5, 3600.0)])
    if rng.random() < 0.2:
        fields[rng.choice(["pipeline_id", "user_data", "timeout_s"])] = None
    return fields


def _shuffled(rng: random.Random, fields: dict[str, Any]) -> dict[str, Any]:
    keys = list(fields)
    rng.shuffle(keys)
    return {key: fields[key] for key in keys}


def valid_line(rng: random.Random, serial: int) -> ValidLine:
    """A job or an image look-up; `serial` makes its request id (if it has one) unique."""
    request_id = f"ok-{serial}-{_ident(rng, high=8)}" if rng.random() < 0.8 else None
    if rng.random() < 0.15:
        fields: dict[str, Any] = {"image_ids": [_ident(rng) for _ in range(rng.randint(1, 25))]}
        if request_id is not None:
            fields["request_id"] = request_id
    else:
        fields = _job(rng, request_id)
    text = json.dumps(
        _shuffled(rng, fields),
        ensure_ascii=rng.random() < 0.5,
        separators=rng.choice([(",", ":"), (", ", ": ")]),
    )
    if rng.random() < 0.2:
        text = f" {text}\t"
    ending = b"\r\n" if rng.random() < 0.2 else b"\n"  # CRLF files are accepted
    return ValidLine(text.encode() + ending, request_id)


def _ascii_job(rng: random.Random) -> bytes:
    return json.dumps({"video_id": f"v{rng.randint(0, 99)}", "template_id": "t"}).encode()


def _insert(rng: random.Random, line: bytes, piece: bytes) -> bytes:
    at = rng.randint(0, len(line))
    return line[:at] + piece + line[at:]


def _invalid_utf8(rng: random.Random) -> BadLine:
    raw = _insert(rng, _ascii_job(rng), rng.choice(_INVALID_UTF8))
    return BadLine(raw, "invalid_utf8", ("not valid UTF-8",))


def _control_byte(rng: random.Random) -> BadLine:
    raw = _insert(rng, _ascii_job(rng), rng.choice(_CONTROL))
    return BadLine(raw, "control_byte", ("not valid JSON",))


def _control_character(rng: random.Random) -> BadLine:
    """Valid JSON whose ID holds a control character beyond ASCII (NEL), raw in UTF-8."""
    raw = json.dumps({"video_id": f"a{_NEL}b", "template_id": "t"}, ensure_ascii=False)
    return BadLine(raw.encode(), "control_character", ("control characters",))


def _random_bytes(rng: random.Random) -> BadLine:
    noise = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))).replace(b"\n", b" ")
    # A leading NUL can start neither JSON nor whitespace: whatever follows, the line is bad.
    return BadLine(b"\x00" + noise, "random_bytes", ("not valid JSON", "not valid UTF-8"))


def _truncated(rng: random.Random) -> BadLine:
    whole = _ascii_job(rng)
    return BadLine(whole[: rng.randint(1, len(whole) - 1)], "truncated", ("not valid JSON",))


def _empty(rng: random.Random) -> BadLine:
    return BadLine(rng.choice([b"", b" ", b"\t \t"]), "empty", ("empty line",))


def _huge(rng: random.Random) -> BadLine:
    size = MAX_LINE_BYTES + rng.randint(1, 20_000)
    raw = b'{"video_id": "' + b"x" * size + b'", "template_id": "t"}'
    return BadLine(raw, "huge", ("bytes",))


def _deep(rng: random.Random) -> BadLine:
    depth = rng.randint(300, 40_000)  # past any depth that fits VOD's 512-byte UserData
    nested = b"[" * depth + b"]" * depth
    raw = b'{"video_id": "v", "template_id": "t", "user_data": {"k": ' + nested + b"}}"
    return BadLine(raw, "deep", ("nested", "bytes"))


# (field, a wrong value, words of the reason): types JSON has but the contract does not want.
_WRONG_TYPES: tuple[tuple[str, Any, str], ...] = (
    ("video_id", 42, "video_id"),
    ("video_id", ["v"], "video_id"),
    ("video_id", None, "video_id"),
    ("video_id", "", "video_id"),
    ("video_id", " padded", "video_id"),
    ("video_id", "a,b", "video_id"),
    ("template_id", {"t": 1}, "template_id"),
    ("template_id", True, "template_id"),
    ("request_id", 7, "request_id"),
    ("request_id", "x" * 200, "request_id"),
    ("request_id", "tab\there", "request_id"),
    ("timeout_s", "60", "timeout_s"),
    ("timeout_s", True, "timeout_s"),
    ("timeout_s", 0, "timeout_s"),
    ("timeout_s", -5, "timeout_s"),
    ("user_data", [1, 2], "user_data"),
    ("user_data", "x", "user_data"),
    ("user_data", {"Extend": "no"}, "user_data"),
    ("pipeline_id", 5, "pipeline_id"),
)


def _wrong_type(rng: random.Random) -> BadLine:
    field, value, word = rng.choice(_WRONG_TYPES)
    fields: dict[str, Any] = {"video_id": "v", "template_id": "t", field: value}
    return BadLine(json.dumps(fields).encode(), "wrong_type", (word,))


def _wrong_shape(rng: random.Random) -> BadLine:
    raw, words = rng.choice(
        [
            (b"[1, 2]", ("not a JSON object",)),
            (b'"a string"', ("not a JSON object",)),
            (b"null", ("not a JSON object",)),
            (b"12", ("not a JSON object",)),
            (b'{"image_ids": "a,b"}', ("image_ids",)),
            (b'{"image_ids": []}', ("image_ids",)),
            (b'{"image_ids": [1]}', ("image_ids",)),
            (b'{"image_ids": ["a"], "video_id": "v"}', ("either a job",)),
            (b'{"template_id": "t"}', ("video_id",)),
            (b'{"video_id": "v", "template_id": "t", "colour": 1}', ("unknown field",)),
            (b'{"video_id": "a", "video_id": "b", "template_id": "t"}', ("duplicate key",)),
        ]
    )
    return BadLine(raw, "wrong_shape", words)


def _huge_number(rng: random.Random) -> BadLine:
    literal = rng.choice(
        [b"1e400", b"-1e400", b"1" + b"0" * 5000, b"9" * 4000, b"1e-400", b"-1e308", b"604801"]
    )
    field = rng.choice([b"timeout_s", b"video_id"])
    raw = b'{"video_id": "v", "template_id": "t", "' + field + b'": ' + literal + b"}"
    return BadLine(raw, "huge_number", ("number", "timeout_s", "video_id"))


BAD_KINDS: tuple[Callable[[random.Random], BadLine], ...] = (
    _invalid_utf8,
    _control_byte,
    _control_character,
    _random_bytes,
    _truncated,
    _empty,
    _huge,
    _deep,
    _wrong_type,
    _wrong_shape,
    _huge_number,
)


def bad_line(rng: random.Random) -> BadLine:
    made = rng.choice(BAD_KINDS)(rng)
    return BadLine(made.raw + rng.choice([b"\n", b"\r\n"]), made.kind, made.reason_words)


def duplicate_of(line: ValidLine) -> BadLine:
    """A line that repeats the request id of an earlier, accepted line."""
    assert line.request_id is not None
    raw = json.dumps({"video_id": "v", "template_id": "t", "request_id": line.request_id})
    return BadLine(raw.encode() + b"\n", "duplicate", ("duplicate request_id",))


def mixed_lines(rng: random.Random, count: int, bad_share: float) -> list[ValidLine | BadLine]:
    """`count` lines, about `bad_share` of them bad, now and then a duplicate request id."""
    lines: list[ValidLine | BadLine] = []
    for serial in range(count):
        named = [line for line in lines if isinstance(line, ValidLine) and line.request_id]
        if named and rng.random() < 0.03:
            lines.append(duplicate_of(rng.choice(named)))
        elif rng.random() < bad_share:
            lines.append(bad_line(rng))
        else:
            lines.append(valid_line(rng, serial))
    return lines
