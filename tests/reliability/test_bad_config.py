"""Bad configuration values and bad command lines: a clear message naming the culprit, exit 2.

Properties over arbitrary environment values and TOML documents check that loading either
succeeds or raises `ConfigError` naming the variable, key or file, never anything else; real
`python -m orchestrator` processes check the exit code and the message a user sees.
"""

from __future__ import annotations

import asyncio
import datetime
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.cli import EXIT_USAGE
from orchestrator.errors import ConfigError
from orchestrator.settings import ENV_PREFIX, load_settings
from tests.reliability.conftest import cli

# Every configuration key as (section, key): the documented file lists them all.
DOCUMENTED = Path(__file__).resolve().parents[2] / "config" / "orchestrator.toml"
KEYS = [
    (section, key)
    for section, table in tomllib.loads(DOCUMENTED.read_text()).items()
    for key in table
]
ENV_KEYS = {f"{ENV_PREFIX}{section}_{key}".upper(): f"{section}.{key}" for section, key in KEYS}
# Texts a person or a script might put in a variable: numbers at and past every edge, words.
TRICKY_TEXTS = st.sampled_from(
    [
        *("", " ", "0", "-1", "1e400", "-1e400", "nan", "inf", "1_000", "0x10", "9" * 5000),
        *("yes", "TRUE", "v4", "http://[::1", "https://example.com:99999", "ftp://x", "eu-x"),
    ]
)
TOML_VALUES = st.recursive(
    st.booleans()
    # TOML 1.0 integers are 64-bit.
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.dates(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)


def _config_error(load: Callable[[], object]) -> ConfigError | None:
    """The ConfigError `load` raises, or None when it loads; any other exception propagates."""
    try:
        load()
    except ConfigError as error:
        return error
    return None


def _toml_literal(value: Any) -> str:
    """`value` written as a TOML literal (inline tables and arrays for containers)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, int | datetime.date):
        return str(value)
    if isinstance(value, str):
        return (
            '"'
            + "".join(
                f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F or c in '"\\' else c
                for c in value
            )
            + '"'
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    return (
        "{" + ", ".join(f"{_toml_literal(k)} = {_toml_literal(v)}" for k, v in value.items()) + "}"
    )


def _names(error: ConfigError, culprit: str, dotted: str) -> bool:
    """Whether `error` names `culprit`, or blames a key of the same section for clashing with
    `dotted` (poll.initial_s over poll.max_interval_s) and says so."""
    section = dotted.partition(".")[0]
    partner = error.key.startswith(f"{section}.") and dotted in error.problem
    return bool(error.problem) and (error.key == culprit or partner)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(sorted(ENV_KEYS)),
    text=TRICKY_TEXTS | st.text(max_size=40),
)
def test_any_environment_value_loads_or_names_its_variable(name: str, text: str) -> None:
    """An arbitrary value of any ORCHESTRATOR_ variable is accepted or names that variable."""
    error = _config_error(lambda: load_settings(None, environ={name: text}))
    assert error is None or _names(error, name, ENV_KEYS[name])


@settings(max_examples=200, deadline=None)
@given(
    section=st.sampled_from(sorted({s for s, _ in KEYS})),
    key=st.sampled_from([k for _, k in KEYS]),
    value=TOML_VALUES,
)
def test_any_toml_value_loads_or_names_its_key(section: str, key: str, value: Any) -> None:
    """Any TOML value under any key name is accepted or named as `section.key`."""
    text = f"[{section}]\n{key} = {_toml_literal(value)}\n"
    assert tomllib.loads(text)  # the test writes TOML, whatever the value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orchestrator.toml"
        path.write_text(text, encoding="utf-8")
        error = _config_error(lambda: load_settings(path, environ={}))
    assert error is None or _names(error, f"{section}.{key}", f"{section}.{key}")


def _write(tmp: Path, name: str, content: bytes) -> str:
    path = tmp / name
    path.write_bytes(content)
    return str(path)


async def test_bad_command_lines_and_configurations_exit_2_with_a_message(tmp_path: Path) -> None:
    """Each bad invocation of the real command exits 2, says what is wrong, and no traceback."""
    base = {
        "ORCHESTRATOR_STORE_PATH": str(tmp_path / "store.db"),
        "ORCHESTRATOR_QUEUE_PATH": str(tmp_path / "queue.jsonl"),
    }
    missing = str(tmp_path / "missing.toml")
    cases: list[tuple[list[str], dict[str, str], str]] = [
        (["run", "--config", missing], {}, "configuration file not found"),
        (["run", "--config", str(tmp_path)], {}, "cannot read the file"),
        (["run", "--config", _write(tmp_path, "a.toml", b"[vod\n")], {}, "not a valid TOML"),
        (["run", "--config", _write(tmp_path, "b.toml", b"\xff\xfe[")], {}, "not a valid TOML"),
        (
            ["run", "--config", _write(tmp_path, "c.toml", b"[poll]\nintial_s = 1\n")],
            {},
            "did you mean 'poll.initial_s'?",
        ),
        (
            ["status", "--config", _write(tmp_path, "d.toml", b'[limits]\nsubmit_qps = "x"\n')],
            {},
            "'limits.submit_qps': expected a finite number",
        ),
        (
            ["run", "--config", _write(tmp_path, "e.toml", b"[queue]\npath = 5\n")],
            {},
            "'queue.path'",
        ),
        (["run"], {"ORCHESTRATOR_POLL_JITTER": "1.5"}, "'ORCHESTRATOR_POLL_JITTER'"),
        (["run"], {"ORCHESTRATOR_LOG_LEVEL": "loud"}, "'ORCHESTRATOR_LOG_LEVEL'"),
        (["run"], {"ORCHESTRATOR_LIMITS_MAX_IN_FLIGHT": "1e3"}, "expected an integer"),
        (["run"], {"ORCHESTRATOR_POLL_INTIAL_S": "1"}, "unknown setting"),
        (
            ["run"],
            {"ORCHESTRATOR_VOD_ENDPOINT": "http://vod.example.com"},
            "plain http only to a loopback host",
        ),
        (["run"], {"ALIBABA_CLOUD_ACCESS_KEY_ID": "id"}, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        (["run"], {}, "no credentials"),
        (["run", "--bogus"], {}, "unrecognized arguments: --bogus"),
        (["run", "--config"], {}, "expected one argument"),
        ([], {}, "the following arguments are required"),
        (["launch"], {}, "invalid choice: 'launch'"),
        (["enqueue", "--video-id", "v", "--template-id", "t", "--timeout-s", "soon"], {}, "float"),
        (["enqueue", "--video-id", "v"], {}, "needs --video-id and --template-id"),
        (["enqueue", "--image-ids", ",,"], {}, "image_ids"),
        (["images"], {}, "the following arguments are required: ID"),
        (["status", "--json", "extra"], {}, "unrecognized arguments: extra"),
    ]
    results = await asyncio.gather(*(cli({**base, **env}, *args) for args, env, _ in cases))
    for (args, env, message), (code, output) in zip(cases, results, strict=True):
        assert code == EXIT_USAGE, (args, env, output)
        assert message in output, (args, env, output)
        assert "Traceback" not in output, (args, env, output)
    assert not (tmp_path / "queue.jsonl").exists(), "no bad enqueue wrote a line"
    assert not (tmp_path / "store.db").exists(), "no bad run opened the store"
