"""The emulator's command line: options to config, and `python -m orchestrator.simulator`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from orchestrator.simulator import DEMO_ACCESS_KEY_ID
from orchestrator.simulator.cli import add_arguments, config_from_args

# Generous: the child imports aiohttp and structlog before it listens.
START_TIMEOUT_S = 20.0


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_describe_a_default_emulator() -> None:
    """Without options: localhost:9000, seed 0, real time, the demo key."""
    args = _parse()
    assert (args.host, args.port) == ("127.0.0.1", 9000)
    config = config_from_args(args, {})
    assert (config.seed, config.time_scale, config.fail_rate) == (0, 1.0, 0.0)
    assert set(config.access_keys) == {DEMO_ACCESS_KEY_ID}


def test_options_map_onto_the_config() -> None:
    """Every option lands in its field, repeatable ones accumulate."""
    args = _parse(
        "--seed=7",
        "--time-scale=60",
        "--fail-rate=0.25",
        "--job-median-s=12",
        "--job-sigma=0",
        "--visibility-lag-s=3",
        "--access-key=a:1",
        "--access-key=b:2",
        "--qps=ListAIJob=0",
        "--qps=GetImageInfos=2.5",
        "--retry-after-ms=300",
        "--internal-error-rate=0.1",
        "--unavailable-rate=0.05",
        "--bad-gateway-rate=0.01",
        "--drop-connection-rate=0.02",
        "--malformed-body-rate=0.03",
        "--latency-s=0.01",
        "--latency-spike-rate=0.1",
        "--latency-spike-s=1",
        "--video=v1",
        "--video=v2",
        "--images-per-job=5",
        "--library-size=7",
    )
    config = config_from_args(args, {})
    assert (config.seed, config.time_scale, config.fail_rate) == (7, 60.0, 0.25)
    assert (config.duration_median_s, config.duration_sigma, config.visibility_lag_s) == (12, 0, 3)
    assert dict(config.access_keys) == {"a": "1", "b": "2"}
    assert config.qps["ListAIJob"] is None
    assert config.qps["GetImageInfos"] == 2.5
    assert config.retry_after_ms == 300
    assert config.faults.as_dict() == {
        "internal_error": 0.1,
        "unavailable": 0.05,
        "bad_gateway": 0.01,
        "drop_connection": 0.02,
        "malformed_body": 0.03,
        "latency_s": 0.01,
        "latency_spike_rate": 0.1,
        "latency_spike_s": 1.0,
    }
    assert config.videos == frozenset({"v1", "v2"})
    assert (config.images_per_job, config.image_library_size) == (5, 7)


def test_keys_come_from_the_environment_without_options() -> None:
    """The standard variables supply the key pair when no --access-key is given."""
    environ = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "env", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}
    assert dict(config_from_args(_parse(), environ).access_keys) == {"env": "s"}


@pytest.mark.parametrize("value", ["ListAIJob", "Unknown=3", "ListAIJob=fast"])
def test_a_bad_qps_option_is_a_usage_error(value: str) -> None:
    """--qps needs ACTION=NUMBER with a known action."""
    with pytest.raises(SystemExit):
        _parse(f"--qps={value}")


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    """`python -m orchestrator.simulator` on an ephemeral port, with its own key pair."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator.simulator",
            "--port=0",
            "--access-key=cli-key:cli-secret-value",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_module_serves_until_sigterm(child: subprocess.Popen[str]) -> None:
    """It logs simulator.started with the endpoint and key id (never the secret), serves, and
    exits 0 on SIGTERM."""
    assert child.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    started = None
    lines = []
    while started is None and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        lines.append(line)
        record = json.loads(line)
        if record["event"] == "simulator.started":
            started = record
    assert started is not None, lines
    assert started["access_key_ids"] == ["cli-key"]
    with urllib.request.urlopen(f"{started['endpoint']}/_emulator/stats", timeout=5) as response:
        assert json.load(response)["total_calls"] == 0
    child.send_signal(signal.SIGTERM)
    rest, _ = child.communicate(timeout=10)
    assert child.returncode == 0
    output = "".join(lines) + rest
    assert "simulator.stopped" in output
    assert "cli-secret-value" not in output


def test_a_bad_option_value_exits_with_status_2() -> None:
    """An invalid setting is reported as simulator.bad_config and the process exits 2."""
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.simulator", "--fail-rate=2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "simulator.bad_config" in result.stdout
    assert "fail_rate" in result.stdout
