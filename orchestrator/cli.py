"""The `vod-orchestrator` command (also `python -m orchestrator`).

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator import __version__
from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.lines import encode_line
from orchestrator.logs import configure_logging, register_secret
from orchestrator.settings import Settings, load_settings
from orchestrator.vod import Credentials

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
# Where `run` and the other commands look for a configuration when --config is not given
# (the container image installs its configuration here).
SYSTEM_CONFIG = Path("/etc/vod-orchestrator/orchestrator.toml")
# `run --simulate` runs emulated jobs 30x faster than real ones (about a second instead of 30 s),
# so a trial shows results at once while keeping the same lifecycle and limits.
SIMULATE_TIME_SCALE = 30.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's default exit code is ours for usage too
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from orchestrator.simulator import cli as simulator_cli

    parser = _Parser(
        prog="vod-orchestrator",
        description="Submit, poll and collect ApsaraVideo VOD image AI jobs from a queue file.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--config",
            type=Path,
            metavar="FILE",
            help=f"TOML configuration (default: {SYSTEM_CONFIG} if it exists, else defaults)",
        )
        return sub

    run = command("run", "Run the daemon.")
    run.add_argument(
        "--until-idle",
        action="store_true",
        help="exit 0 once the queue is read to its end and nothing is in flight",
    )
    run.add_argument(
        "--simulate",
        action="store_true",
        help="start the built-in VOD emulator and point the client at it",
    )

    enqueue = command("enqueue", "Append one validated request to the queue file.")
    enqueue.add_argument("--video-id")
    enqueue.add_argument("--template-id")
    enqueue.add_argument("--user-data", metavar="JSON", help="a JSON object sent as UserData")
    enqueue.add_argument("--pipeline-id")
    enqueue.add_argument("--request-id")
    enqueue.add_argument("--timeout-s", type=float)
    enqueue.add_argument(
        "--image-ids", metavar="ID[,ID...]", help="an image look-up instead of a job"
    )

    status = command("status", "Show what the daemon is doing.")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--health",
        action="store_true",
        help="exit non-zero unless the daemon is alive and progressing",
    )

    images = command("images", "Look up images with GetImageInfos and print JSON.")
    images.add_argument("image_ids", nargs="+", metavar="ID")

    simulate = commands.add_parser(
        "simulate", help="Run the VOD emulator alone.", description="Run the VOD emulator alone."
    )
    simulator_cli.add_arguments(simulate)

    command("demo", "A self-contained run: emulator, sample queue, daemon until idle, events.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "simulate":
            from orchestrator.simulator import cli as simulator_cli

            return simulator_cli.run(args)
        settings = _settings(args.config)
        configure_logging(
            level=settings.log.level,
            fmt=settings.log.format,
            stream=sys.stderr if args.command != "run" else None,
        )
        return _COMMANDS[args.command](args, settings)
    except ConfigError as exc:
        print(f"vod-orchestrator: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OrchestratorError as exc:
        print(f"vod-orchestrator: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE


def _settings(path: Path | None) -> Settings:
    if path is None and SYSTEM_CONFIG.exists():
        path = SYSTEM_CONFIG
    settings = load_settings(path, environ=os.environ)
    for secret in settings.secret_values():
        register_secret(secret)
    return settings


def _credentials(settings: Settings) -> Credentials:
    if settings.credentials is None:
        raise ConfigError(
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"
            " (or use --simulate)",
        )
    return settings.credentials


# --- run ----------------------------------------------------------------------------------------


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator.daemon import Daemon

    # Files the daemon creates (store, events, dead letters) are for its user alone.
    os.umask(0o077)

    async def serve() -> None:
        if not args.simulate:
            await Daemon(settings, credentials=_credentials(settings)).run(
                until_idle=args.until_idle
            )
            return
        from orchestrator import simulator

        credentials = settings.credentials or Credentials(
            simulator.DEMO_ACCESS_KEY_ID, simulator.DEMO_ACCESS_KEY_SECRET
        )
        config = simulator.EmulatorConfig(
            time_scale=SIMULATE_TIME_SCALE,
            access_keys={credentials.access_key_id: credentials.access_key_secret},
        )
        async with simulator.serve(config) as emulator:
            daemon = Daemon(settings, credentials=credentials, endpoint=emulator.endpoint)
            await daemon.run(until_idle=args.until_idle)

    asyncio.run(serve())
    return EXIT_OK


# --- enqueue ------------------------------------------------------------------------------------


def _enqueue(args: argparse.Namespace, settings: Settings) -> int:
    fields: dict[str, Any] = {}
    if args.image_ids is not None:
        if args.video_id or args.template_id or args.user_data or args.pipeline_id:
            raise _usage("--image-ids cannot be combined with job options")
        fields["image_ids"] = [i.strip() for i in args.image_ids.split(",") if i.strip()]
    else:
        if not args.video_id or not args.template_id:
            raise _usage("a job needs --video-id and --template-id (or use --image-ids)")
        fields.update(video_id=args.video_id, template_id=args.template_id)
        if args.user_data is not None:
            try:
                fields["user_data"] = json.loads(args.user_data)
            except json.JSONDecodeError as exc:
                raise _usage(f"--user-data is not valid JSON: {exc}") from None
        if args.pipeline_id:
            fields["pipeline_id"] = args.pipeline_id
        if args.timeout_s is not None:
            fields["timeout_s"] = args.timeout_s
    if args.request_id:
        fields["request_id"] = args.request_id
    try:
        line = encode_line(fields)
    except ValueError as exc:
        raise _usage(f"invalid request: {exc}") from None
    append_line(settings.queue.path, line)
    print(line.decode().rstrip("\n"))
    return EXIT_OK


def append_line(path: Path, line: bytes) -> None:
    """Append one line under an exclusive lock, so concurrent producers never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


def _usage(message: str) -> ConfigError:
    return ConfigError("arguments", message)


# --- images -------------------------------------------------------------------------------------


def _images(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator.connections import vod_client
    from orchestrator.logs import redact_url

    ids = list(dict.fromkeys(args.image_ids))

    async def look_up() -> dict[str, Any]:
        async with vod_client(settings, credentials=_credentials(settings)) as client:
            found: list[dict[str, Any]] = []
            missing: list[str] = []
            for start in range(0, len(ids), 20):
                result = await client.get_image_infos(ids[start : start + 20])
                found.extend(
                    {**dict(info.raw), "URL": redact_url(info.url)} if info.url else dict(info.raw)
                    for info in result.images
                )
                missing.extend(result.non_exist_image_ids)
            return {"images": found, "missing_image_ids": missing}

    print(json.dumps(asyncio.run(look_up()), indent=2, ensure_ascii=False))
    return EXIT_OK


# --- status -------------------------------------------------------------------------------------


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator.status import health, render, report
    from orchestrator.store import Store

    store = Store.open_readonly(settings.store.path, clock=time.time)
    try:
        data = report(store, now=time.time(), settings=settings)
    finally:
        store.close()
    healthy, reason = health(data, settings=settings)
    if args.health:
        print(("healthy" if healthy else "unhealthy") + f": {reason}")
        return EXIT_OK if healthy else EXIT_FAILURE
    print(json.dumps(data, indent=2) if args.json else render(data))
    return EXIT_OK


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from orchestrator.demo import run_demo

    return run_demo()


_COMMANDS = {
    "run": _run,
    "enqueue": _enqueue,
    "status": _status,
    "images": _images,
    "demo": _demo,
}
