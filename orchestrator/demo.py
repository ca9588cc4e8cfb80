"""`vod-orchestrator demo`: the whole product in one minute, with no cloud account.

It starts the emulator, writes a sample queue (jobs that succeed, one whose video does not
exist, one bad line, one image look-up), runs the real daemon until idle with a one-line
progress display when stderr is a terminal, and prints a summary of the events.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from orchestrator import simulator
from orchestrator.daemon import Daemon
from orchestrator.logs import configure_logging
from orchestrator.settings import load_settings
from orchestrator.simulator.library import library_image_ids

# Emulated jobs last about 30 s of API time; at 60x the demo finishes in seconds.
TIME_SCALE = 60.0
SEED = 2024
JOBS = 24
VIDEOS = [f"demo-video-{n:02d}" for n in range(8)]
UNKNOWN_VIDEO = "demo-video-missing"
PROGRESS_S = 0.2


def sample_queue() -> list[bytes]:
    lines: list[Any] = [
        {
            "video_id": VIDEOS[n % len(VIDEOS)],
            "template_id": "demo-template-cover" if n % 2 else "demo-template-gif",
            "request_id": f"demo-{n:02d}",
            "user_data": {"Extend": {"campaign": "demo"}},
        }
        for n in range(JOBS)
    ]
    lines.insert(
        5,
        {
            "video_id": UNKNOWN_VIDEO,
            "template_id": "demo-template-cover",
            "request_id": "demo-missing-video",
        },
    )
    lines.insert(9, b'{"video_id": "demo-video-01", "template_id": }')
    known = library_image_ids(SEED, 5)[:2]
    lines.append({"image_ids": [*known, "no-such-image"], "request_id": "demo-lookup"})
    return [
        line + b"\n" if isinstance(line, bytes) else json.dumps(line).encode() + b"\n"
        for line in lines
    ]


def run_demo(workdir: Path | None = None, *, out: TextIO = sys.stdout) -> int:
    root = workdir or Path(tempfile.mkdtemp(prefix="vod-orchestrator-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    queue = root / "queue.jsonl"
    queue.write_bytes(b"".join(sample_queue()))
    environ = {
        "ORCHESTRATOR_QUEUE_PATH": str(queue),
        "ORCHESTRATOR_QUEUE_DEAD_LETTER_PATH": str(root / "dead-letter.jsonl"),
        "ORCHESTRATOR_STORE_PATH": str(root / "orchestrator.db"),
        "ORCHESTRATOR_EVENTS_PATH": str(root / "events.jsonl"),
        "ORCHESTRATOR_POLL_INITIAL_S": "0.5",
        "ORCHESTRATOR_POLL_MAX_INTERVAL_S": "2",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": simulator.DEMO_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": simulator.DEMO_ACCESS_KEY_SECRET,
    }
    settings = load_settings(None, environ=environ)
    credentials = settings.credentials
    assert credentials is not None
    log_file = (root / "daemon.log").open("w", encoding="utf-8")
    configure_logging(level="info", fmt="json", stream=log_file)
    config = simulator.EmulatorConfig(
        seed=SEED,
        time_scale=TIME_SCALE,
        fail_rate=0.1,
        videos=frozenset(VIDEOS),
        access_keys={simulator.DEMO_ACCESS_KEY_ID: simulator.DEMO_ACCESS_KEY_SECRET},
    )
    print(f"vod-orchestrator demo in {root}", file=out)
    print(
        f"  queue: {len(sample_queue())} lines (jobs, a missing video, a bad line, a look-up)",
        file=out,
    )

    async def main() -> None:
        async with simulator.serve(config) as emulator:
            print(f"  emulator: {emulator.endpoint}", file=out)
            daemon = Daemon(settings, credentials=credentials, endpoint=emulator.endpoint)
            task = asyncio.create_task(daemon.run(until_idle=True))
            live = sys.stderr.isatty()
            while not task.done():
                if live:
                    counts = _counts(root / "events.jsonl")
                    done = sum(counts.values())
                    sys.stderr.write(f"\r  events so far: {done:3d}  " + _fmt(counts) + "\x1b[K")
                    sys.stderr.flush()
                await asyncio.wait({task}, timeout=PROGRESS_S)
            if live:
                sys.stderr.write("\r\x1b[K")
            await task

    try:
        asyncio.run(main())
    finally:
        log_file.close()
    events = [json.loads(x) for x in (root / "events.jsonl").read_text().splitlines()]
    print(f"  done: {len(events)} events  " + _fmt(Counter(e["event"] for e in events)), file=out)
    for event in events:
        print("  " + _describe(event), file=out)
    print(
        f"\nFiles: {root}/events.jsonl (events), dead-letter.jsonl, daemon.log (JSON logs).",
        file=out,
    )
    print(
        f"Status: ORCHESTRATOR_STORE_PATH={root}/orchestrator.db vod-orchestrator status",
        file=out,
    )
    return 0


def _counts(path: Path) -> Counter[str]:
    if not path.exists():
        return Counter()
    return Counter(json.loads(x)["event"] for x in path.read_text().splitlines() if x)


def _fmt(counts: Counter[str]) -> str:
    return "  ".join(f"{name} {count}" for name, count in sorted(counts.items()))


def _describe(event: dict[str, Any]) -> str:
    kind = event["event"]
    rid = event.get("request_id") or "-"
    if kind == "job.succeeded":
        images = event["images"]
        best = max((i["score"] or 0 for i in images), default=None)
        return f"{kind:16} {rid:20} job {event['job_id']}  {len(images)} images, best score {best}"
    if kind == "request.rejected":
        return f"{kind:16} line {event['line']}: {event['reason']}"
    if kind == "images.resolved":
        return (
            f"{kind:16} {rid:20} found {len(event['images'])}, missing {event['missing_image_ids']}"
        )
    return f"{kind:16} {rid:20} {event.get('code') or ''} {event.get('message') or ''}".rstrip()
