"""Secrets stay secret, TLS is verified, files are private, and the container is not root.

The scan test runs the daemon with known credentials, an STS token and a webhook secret through
successes, retries, API errors, a failing webhook and a SIGKILL; a middleware in front of the
emulator records every signature actually sent. Then the logs, events, dead letters, the raw
store files and `status` output are searched for any of them.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import re
import signal
import ssl
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orchestrator.connections import vod_client
from orchestrator.simulator import EmulatorConfig, EmulatorCore, FaultConfig, library_image_ids
from orchestrator.simulator.app import EmulatorApp
from orchestrator.vod import Credentials, VodClient, VodError
from orchestrator.vod.errors import TLS_ERROR
from orchestrator.vod.retry import RetryPolicy
from tests.e2e.conftest import TIME_SCALE, Workdir, eventually
from tests.e2e.process import DaemonProcess
from tests.reliability.conftest import cli, log_records, named

KEY_ID = "LTAIreliabilityKeyId"
# Characters that URLs and logs treat specially, so that encoded forms are searched for too.
SECRET = "rel/Secret+Value=42-never-print"
TOKEN = "STS.rel/Token+Value=7-never-print"
WEBHOOK_SECRET = "rel-webhook-shared-secret"
WEBHOOK_TOKEN = "rel-webhook-url-token"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Recorder:
    """Every signature and security token that reached the emulator or the webhook."""

    signatures: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    schemes: set[str] = field(default_factory=set)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        authorization = request.headers.get("Authorization", "")
        if "Signature=" in authorization:
            self.schemes.add("v3")
            self.signatures.add(authorization.rpartition("Signature=")[2])
        if "Signature" in request.query:
            self.schemes.add("v1")
            self.signatures.add(request.query["Signature"])
        for token in (
            request.headers.get("x-acs-security-token"),
            request.query.get("SecurityToken"),
        ):
            if token:
                self.tokens.add(token)
        return await handler(request)


@asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def _webhook(recorder: Recorder, refuse_first: int) -> web.Application:
    """A webhook that refuses its first deliveries (so the sink fails and retries)."""
    calls = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        recorder.signatures.add(request.headers["X-Orchestrator-Signature"])
        return web.Response(status=503 if calls <= refuse_first else 204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    return app


def _needles(recorder: Recorder) -> dict[str, bytes]:
    """Every secret form to search for, by a name for the failure message."""
    secrets = {
        "secret": SECRET,
        "token": TOKEN,
        "webhook secret": WEBHOOK_SECRET,
        "webhook url token": WEBHOOK_TOKEN,
        **{f"signature {n}": s for n, s in enumerate(sorted(recorder.signatures))},
    }
    needles: dict[str, bytes] = {}
    for name, value in secrets.items():
        needles[name] = value.encode()
        needles[f"{name} (url-encoded)"] = quote(value, safe="").encode()
    return needles


def _store_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in root.iterdir() if p.name.startswith("store.db")}


@pytest.mark.slow
async def test_no_secret_token_or_signature_appears_in_any_output(workdir: Workdir) -> None:
    """Through success, retries, errors, a failing webhook and SIGKILL, nothing secret leaks."""
    recorder = Recorder()
    known_videos = frozenset(f"video-{n}" for n in range(5))
    config = EmulatorConfig(
        seed=31,
        time_scale=TIME_SCALE,
        fail_rate=0.3,
        videos=known_videos,
        access_keys={KEY_ID: SECRET},
        faults=FaultConfig(internal_error=0.15, drop_connection=0.05, malformed_body=0.02),
    )
    core = EmulatorCore(config, clock=time.time, sleep=asyncio.sleep)
    api = EmulatorApp(core).build()
    api.middlewares.append(recorder.middleware)
    jobs = [
        {"video_id": f"video-{n % 7}", "template_id": "tmpl", "request_id": f"r{n}"}
        for n in range(80)
    ]  # video-5 and video-6 do not exist: InvalidVideo.NotFound
    lookups = [{"image_ids": [*library_image_ids(config.seed, 3), "gone"], "request_id": "look"}]
    workdir.append([*jobs, b"{broken line\n", *lookups])
    log_path = workdir.root / "daemon.log"
    async with _serve(api) as endpoint, _serve(_webhook(recorder, refuse_first=3)) as hook_url:
        environ = workdir.environ(
            endpoint,
            ALIBABA_CLOUD_ACCESS_KEY_ID=KEY_ID,
            ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECRET,
            ALIBABA_CLOUD_SECURITY_TOKEN=TOKEN,
            ORCHESTRATOR_EVENTS_WEBHOOK_URL=f"{hook_url}/hook?token={WEBHOOK_TOKEN}",
            ORCHESTRATOR_EVENTS_WEBHOOK_SECRET=WEBHOOK_SECRET,
        )
        first = DaemonProcess({**environ, "ORCHESTRATOR_LOG_LEVEL": "debug"}, log_path)
        await first.start()
        await eventually(lambda: len(workdir.terminal_counts()) >= 20)
        first.signal(signal.SIGKILL)
        assert await first.wait(10) == -signal.SIGKILL
        after_kill = _store_files(workdir.root)

        second = DaemonProcess({**environ, "ORCHESTRATOR_VOD_SIGNATURE": "v1"}, log_path)
        await second.start("--until-idle")
        assert await second.wait(90) == 0
    status_code, status_json = await cli(environ, "status", "--json")
    assert status_code == 0
    _, status_text = await cli(environ, "status")

    # The run went through what it should have: otherwise the scan proves little.
    assert recorder.tokens == {TOKEN}
    assert recorder.schemes == {"v1", "v3"}
    assert len(recorder.signatures) > 100
    records = log_records(log_path)
    assert named(records, "vod.retry")
    assert named(records, "sink.failed")
    assert len(named(records, "daemon.started")) == 2
    codes = {e.get("code") for e in workdir.events()}
    assert "InvalidVideo.NotFound" in codes
    assert after_kill.get("store.db-wal"), "the kill should leave a write-ahead log to scan"

    outputs = {
        "logs": log_path.read_bytes(),
        "events": workdir.events_path.read_bytes(),
        "dead letters": workdir.dead_letter.read_bytes(),
        "status --json": status_json.encode(),
        "status": status_text.encode(),
        **{f"{name} after the kill": data for name, data in after_kill.items()},
        **{f"{name} at the end": data for name, data in _store_files(workdir.root).items()},
    }
    for where, data in outputs.items():
        for what, needle in _needles(recorder).items():
            assert needle not in data, f"the {what} appears in {where}"


# --- TLS ---------------------------------------------------------------------------------------


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (no CA vouches for it), and the key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@asynccontextmanager
async def _https_vod(tmp_path: Path) -> AsyncIterator[tuple[str, Path, list[str]]]:
    """An https server answering ListAIJob; yields its endpoint, its certificate, the calls."""
    cert_path, key_path = _self_signed(tmp_path)
    calls: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        calls.append(request.headers.get("x-acs-action", ""))
        return web.json_response({"RequestId": "r", "AIJobList": {"AIJob": []}})

    app = web.Application()
    app.router.add_post("/", answer)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}", cert_path, calls
    finally:
        await runner.cleanup()


async def test_daemon_client_refuses_a_self_signed_https_endpoint(
    workdir: Workdir, tmp_path: Path
) -> None:
    """The client the daemon builds fails with a TLS error, not retried, and sends nothing."""
    credentials = Credentials(KEY_ID, SECRET)
    async with _https_vod(tmp_path) as (endpoint, cert_path, calls):
        settings = workdir.settings(endpoint)
        async with vod_client(settings, credentials=credentials) as client:
            with pytest.raises(VodError) as refused:
                await client.list_ai_job(["job-1"])
        assert refused.value.code == TLS_ERROR
        assert not refused.value.retryable
        assert "certificate verify failed" in refused.value.message
        assert calls == []

        # The same server, once its certificate is trusted, answers: the refusal was the check.
        trusting = ssl.create_default_context(cafile=str(cert_path))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusting)) as session:
            trusted = VodClient(
                credentials=credentials,
                endpoint=endpoint,
                session=session,
                retry=RetryPolicy(max_attempts=1),
            )
            result = await trusted.list_ai_job(["job-1"])
        assert result.jobs == ()
        assert calls == ["ListAIJob"]


# --- files and the container -------------------------------------------------------------------


async def test_files_the_daemon_creates_are_readable_only_by_its_user(workdir: Workdir) -> None:
    """`run` creates its directories 0700 and its files 0600 whatever the umask it inherits."""
    data = workdir.root / "var" / "data"
    environ = {
        **workdir.environ("http://127.0.0.1:9"),
        "ORCHESTRATOR_STORE_PATH": str(data / "store.db"),
        "ORCHESTRATOR_EVENTS_PATH": str(data / "events" / "events.jsonl"),
        "ORCHESTRATOR_QUEUE_DEAD_LETTER_PATH": str(data / "dead" / "dead-letter.jsonl"),
    }
    workdir.append([b"not a request\n"])
    daemon = DaemonProcess(environ, workdir.root / "daemon.log")
    await daemon.start()
    await daemon.started()
    await eventually(lambda: (data / "events" / "events.jsonl").exists())
    created = [data, *sorted(data.rglob("*"))]
    names = {p.name for p in created}
    # While the daemon runs, SQLite's write-ahead log and shared-memory index exist too.
    assert {"store.db", "store.db-wal", "store.db-shm", "store.db.lock"} <= names
    assert {"events.jsonl", "dead-letter.jsonl"} <= names
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in created}
    daemon.signal(signal.SIGTERM)
    assert await daemon.wait(15) == 0
    assert {str(p): oct(m) for p, m in modes.items() if m & 0o077} == {}


def _final_stage(dockerfile: str) -> list[tuple[str, str]]:
    """The instructions (keyword, arguments) of the image's last stage: the one that runs."""
    logical = re.sub(r"\\\n", " ", dockerfile)  # continuation lines join their instruction
    instructions = []
    for line in logical.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, arguments = stripped.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_container_runs_as_a_non_root_user() -> None:
    """The Dockerfile's last stage switches to a numeric user and group that are not root."""
    stage = _final_stage((REPO / "Dockerfile").read_text())
    args = dict(a.partition("=")[::2] for keyword, a in stage if keyword == "ARG" and "=" in a)
    users = [arguments for keyword, arguments in stage if keyword == "USER"]
    assert users, "the runtime stage has no USER line: the container would run as root"
    user = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], users[-1])
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {users[-1]} is not a numeric id: runAsNonRoot cannot verify it"
    assert int(uid) != 0
    assert not gid or int(gid) != 0, user
