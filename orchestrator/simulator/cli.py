"""Command-line options of the emulator, shared by `vod-orchestrator simulate` and
`python -m orchestrator.simulator`."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Mapping

import structlog

from orchestrator.errors import OrchestratorError
from orchestrator.logs import LogFormat, LogLevel, configure_logging
from orchestrator.simulator.config import ACTIONS, EmulatorConfig, FaultConfig, resolve_access_keys
from orchestrator.simulator.server import serve

log = structlog.get_logger("orchestrator.simulator")

# The port the documentation's examples use (ORCHESTRATOR_VOD_ENDPOINT=http://127.0.0.1:9000).
DEFAULT_PORT = 9000


def _qps_option(text: str) -> tuple[str, float]:
    action, sep, value = text.partition("=")
    if not sep or action not in ACTIONS:
        raise argparse.ArgumentTypeError(
            f"expected ACTION=QPS with ACTION one of {', '.join(sorted(ACTIONS))}"
        )
    try:
        return action, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to `parser` (the lead's `simulate` subcommand uses it)."""
    net = parser.add_argument_group("listening")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on")
    net.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: any free port)")
    net.add_argument(
        "--access-key",
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="accepted key pair (repeatable); default: ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET "
        "from the environment, else the demo pair",
    )
    jobs = parser.add_argument_group("jobs")
    jobs.add_argument("--seed", type=int, default=0, help="seed of job outcomes and faults")
    jobs.add_argument(
        "--time-scale", type=float, default=1.0, help="simulated seconds per real second"
    )
    jobs.add_argument("--job-median-s", type=float, default=30.0, help="median job duration")
    jobs.add_argument("--job-sigma", type=float, default=0.5, help="lognormal sigma of durations")
    jobs.add_argument("--fail-rate", type=float, default=0.0, help="share of jobs that fail")
    jobs.add_argument(
        "--visibility-lag-s", type=float, default=0.0, help="new job IDs unknown this long"
    )
    jobs.add_argument("--images-per-job", type=int, default=3)
    jobs.add_argument("--library-size", type=int, default=100, help="images for GetImageInfos")
    jobs.add_argument(
        "--video",
        action="append",
        default=None,
        help="an existing VideoId (repeatable); if given, others are InvalidVideo.NotFound",
    )
    limits = parser.add_argument_group("limits and faults")
    limits.add_argument(
        "--qps",
        action="append",
        type=_qps_option,
        default=[],
        metavar="ACTION=QPS",
        help="per-action limit, 0 for unlimited (repeatable)",
    )
    limits.add_argument(
        "--retry-after-ms", type=int, default=None, help="x-acs-retry-after on throttling"
    )
    for name, help_text in (
        ("internal-error", "share of calls answered 500 InternalError"),
        ("unavailable", "share of calls answered 503 ServiceUnAvailable"),
        ("bad-gateway", "share of calls answered 502 with an HTML body"),
        ("drop-connection", "share of calls whose connection is closed after the operation"),
        ("malformed-body", "share of successful calls answered with a broken body"),
    ):
        limits.add_argument(f"--{name}-rate", type=float, default=0.0, help=help_text)
    limits.add_argument("--latency-s", type=float, default=0.0, help="added to every call")
    limits.add_argument("--latency-spike-rate", type=float, default=0.0)
    limits.add_argument("--latency-spike-s", type=float, default=0.0)
    logs = parser.add_argument_group("logs")
    logs.add_argument("--log-level", choices=[str(level) for level in LogLevel], default="info")
    logs.add_argument("--log-format", choices=[str(fmt) for fmt in LogFormat], default="json")


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> EmulatorConfig:
    """The EmulatorConfig the parsed options describe; raises ConfigError on a bad value."""
    return EmulatorConfig(
        seed=args.seed,
        time_scale=args.time_scale,
        duration_median_s=args.job_median_s,
        duration_sigma=args.job_sigma,
        fail_rate=args.fail_rate,
        visibility_lag_s=args.visibility_lag_s,
        qps=dict(args.qps),
        retry_after_ms=args.retry_after_ms,
        faults=FaultConfig(
            internal_error=args.internal_error_rate,
            unavailable=args.unavailable_rate,
            bad_gateway=args.bad_gateway_rate,
            drop_connection=args.drop_connection_rate,
            malformed_body=args.malformed_body_rate,
            latency_s=args.latency_s,
            latency_spike_rate=args.latency_spike_rate,
            latency_spike_s=args.latency_spike_s,
        ),
        access_keys=resolve_access_keys(args.access_key, environ),
        videos=frozenset(args.video) if args.video else None,
        images_per_job=args.images_per_job,
        image_library_size=args.library_size,
    )


async def serve_until_signalled(config: EmulatorConfig, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with serve(config, host, port) as emulator:
            log.info(
                "simulator.started",
                endpoint=emulator.endpoint,
                access_key_ids=sorted(config.access_keys),
                seed=config.seed,
                time_scale=config.time_scale,
            )
            await stop.wait()
            stats = emulator.stats()
            log.info(
                "simulator.stopping",
                calls=stats["total_calls"],
                submissions=stats["submissions"]["total"],
                duplicated_request_ids=stats["submissions"]["duplicated_request_ids"],
            )
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 2 on a bad option, 1 if it cannot start."""
    configure_logging(level=args.log_level, fmt=args.log_format)
    try:
        config = config_from_args(args, os.environ)
    except OrchestratorError as error:
        log.error("simulator.bad_config", error=str(error))
        return 2
    try:
        asyncio.run(serve_until_signalled(config, args.host, args.port))
    except OrchestratorError as error:
        log.error("simulator.failed", error=str(error))
        return 1
    log.info("simulator.stopped")
    return 0
