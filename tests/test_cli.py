"""The `vod-orchestrator` command: each command's success path and its bad input."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from orchestrator import __version__
from orchestrator.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, append_line, main
from orchestrator.store import Store


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every path of the configuration into a temporary directory."""
    for name in list(os.environ):
        if name.startswith(("ORCHESTRATOR_", "ALIBABA_CLOUD_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ORCHESTRATOR_QUEUE_PATH", str(tmp_path / "queue.jsonl"))
    monkeypatch.setenv("ORCHESTRATOR_STORE_PATH", str(tmp_path / "store.db"))
    monkeypatch.setenv("ORCHESTRATOR_EVENTS_PATH", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("ORCHESTRATOR_QUEUE_DEAD_LETTER_PATH", str(tmp_path / "dead.jsonl"))
    return tmp_path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == EXIT_OK
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown command exits 2 with argparse's message."""
    with pytest.raises(SystemExit) as exit_info:
        main(["launch"])
    assert exit_info.value.code == EXIT_USAGE
    assert "invalid choice: 'launch'" in capsys.readouterr().err


def test_enqueue_appends_one_valid_job_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """enqueue writes one JSON line with the given fields to the configured queue."""
    code = main(
        [
            "enqueue",
            "--video-id",
            "v1",
            "--template-id",
            "t1",
            "--request-id",
            "r1",
            "--user-data",
            '{"Extend": {"k": "v"}}',
        ]
    )
    assert code == EXIT_OK
    [line] = (env / "queue.jsonl").read_text().splitlines()
    assert json.loads(line) == {
        "video_id": "v1",
        "template_id": "t1",
        "request_id": "r1",
        "user_data": {"Extend": {"k": "v"}},
    }
    assert json.loads(capsys.readouterr().out) == json.loads(line)


def test_enqueue_image_lookup(env: Path) -> None:
    """enqueue --image-ids writes a look-up line with the listed ids."""
    assert main(["enqueue", "--image-ids", "a, b,c"]) == EXIT_OK
    [line] = (env / "queue.jsonl").read_text().splitlines()
    assert json.loads(line) == {"image_ids": ["a", "b", "c"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--video-id", "v", "--template-id", "t", "--user-data", "{nope"],
            "--user-data is not valid JSON",
        ),
        (["--video-id", "v"], "needs --video-id and --template-id"),
        (["--image-ids", "a", "--video-id", "v"], "cannot be combined"),
        (["--video-id", "v", "--template-id", "t", "--user-data", "[1]"], "user_data"),
        (["--video-id", "v,w", "--template-id", "t"], "video_id"),
    ],
)
def test_enqueue_rejects_bad_input_and_writes_nothing(
    env: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Bad enqueue arguments exit 2 with a message naming the problem; the queue is untouched."""
    assert main(["enqueue", *args]) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (env / "queue.jsonl").exists()


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    """Lines appended from many threads at once each arrive whole."""
    queue = tmp_path / "queue.jsonl"
    payload = b'{"video_id": "' + b"x" * 5000 + b'", "template_id": "t"}\n'

    def produce() -> None:
        for _ in range(50):
            append_line(queue, payload)

    threads = [threading.Thread(target=produce) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = queue.read_bytes().splitlines(keepends=True)
    assert len(lines) == 400
    assert set(lines) == {payload}


def test_missing_config_file_is_a_configuration_error(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --config path that does not exist stops with exit 2 naming the file."""
    assert main(["run", "--config", str(env / "missing.toml")]) == EXIT_USAGE
    assert "missing.toml" in capsys.readouterr().err


def test_invalid_config_value_names_the_key(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad value in the file stops start-up with exit 2 and the key's name."""
    config = env / "bad.toml"
    config.write_text("[poll]\nmultiplier = 0.5\n")
    assert main(["status", "--config", str(config)]) == EXIT_USAGE
    assert "poll.multiplier" in capsys.readouterr().err


def test_run_without_credentials_is_a_configuration_error(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """run with no credentials and no --simulate exits 2 naming the variable to set."""
    assert main(["run", "--until-idle"]) == EXIT_USAGE
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in capsys.readouterr().err


def test_status_without_a_store_fails_clearly(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """status before any daemon ran exits 1 and says there is no store."""
    assert main(["status"]) == EXIT_FAILURE
    assert "no store" in capsys.readouterr().err


def test_run_simulate_until_idle_then_status(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """run --simulate completes the queue; status reports it and --health calls it stopped."""
    main(["enqueue", "--video-id", "v1", "--template-id", "t", "--request-id", "one"])
    main(["enqueue", "--image-ids", "nope"])
    capsys.readouterr()
    assert main(["run", "--simulate", "--until-idle"]) == EXIT_OK
    events = [json.loads(x) for x in (env / "events.jsonl").read_text().splitlines()]
    assert {e["event"] for e in events} == {"job.succeeded", "images.resolved"}
    capsys.readouterr()

    assert main(["status", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["requests"] == {"succeeded": 2}
    assert report["daemon"]["running"] is False

    assert main(["status"]) == EXIT_OK
    assert "succeeded 2" in capsys.readouterr().out

    assert main(["status", "--health"]) == EXIT_FAILURE
    assert "stopped" in capsys.readouterr().out


@pytest.mark.parametrize(("age_s", "expected"), [(1.0, EXIT_OK), (120.0, EXIT_FAILURE)])
def test_health_follows_the_heartbeat_age(
    env: Path, capsys: pytest.CaptureFixture[str], age_s: float, expected: int
) -> None:
    """--health exits 0 for a recent heartbeat of a running daemon and 1 for a stale one."""
    beat_at = time.time() - age_s
    store = Store.open(env / "store.db", clock=lambda: beat_at)
    store.beat(started_at=beat_at - 60, progress_at=beat_at, stats={}, stopped=False)
    store.close()
    assert main(["status", "--health"]) == expected
    out = capsys.readouterr().out
    assert out.startswith("healthy" if expected == EXIT_OK else "unhealthy: heartbeat is")
