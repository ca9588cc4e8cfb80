"""A process's CPU time and memory read from /proc (Linux), without psutil or `resource`.

`utime + stime` of /proc/<pid>/stat count the whole thread group; `VmHWM` of
/proc/<pid>/status is the peak resident set since start. A process that has exited but is not
yet reaped (a zombie) still shows its final CPU times, though no longer its memory: the runner
samples memory while the process lives and reads the CPU once more before reaping it.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
KIB = 1024
# How often a stopping process is looked at: its exit costs the run at most this much.
ZOMBIE_POLL_S = 0.02


@dataclass(frozen=True, slots=True)
class ProcSample:
    """One reading: seconds since the run began, CPU seconds so far, resident memory (bytes)."""

    t: float
    cpu_s: float
    rss_bytes: int | None
    hwm_bytes: int | None


def parse_cpu_seconds(stat_text: str, ticks_per_s: int = CLOCK_TICKS) -> float:
    """utime + stime of a /proc/<pid>/stat line, in seconds.

    The command name (field 2) may hold spaces and parentheses, so fields are counted from the
    last ")"; utime and stime are fields 14 and 15 of proc(5).
    """
    fields = stat_text.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_s


def parse_memory(status_text: str) -> tuple[int | None, int | None]:
    """(VmRSS, VmHWM) in bytes from /proc/<pid>/status; None where absent (a zombie)."""
    values: dict[str, int] = {}
    for line in status_text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            amount, _, unit = rest.strip().partition(" ")
            if unit.strip() != "kB":
                raise ValueError(f"unexpected unit in {line!r}")
            values[name] = int(amount) * KIB
    return values.get("VmRSS"), values.get("VmHWM")


def cpu_seconds(pid: int) -> float | None:
    """The process's CPU seconds so far, or None once it is gone."""
    try:
        return parse_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, IndexError, ValueError):
        return None


def sample(pid: int, t: float) -> ProcSample | None:
    """One reading of `pid` at run time `t`, or None once it is gone."""
    cpu = cpu_seconds(pid)
    if cpu is None:
        return None
    try:
        rss, hwm = parse_memory(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None
    return ProcSample(t=t, cpu_s=cpu, rss_bytes=rss, hwm_bytes=hwm)


def exited_unreaped(pid: int) -> bool:
    """True once the child `pid` has exited; it stays a zombie so /proc still has its times."""
    result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return result is not None


def reap(process: subprocess.Popen[bytes], timeout_s: float) -> float | None:
    """Wait up to `timeout_s` for `process` to exit (then kill it), read its final CPU seconds
    while it is a zombie, and reap it."""
    if process.returncode is not None:
        return None  # reaped already: its times went with it
    deadline = time.monotonic() + timeout_s
    killed = False
    while not exited_unreaped(process.pid):
        if not killed and time.monotonic() > deadline:
            process.kill()
            killed = True
        time.sleep(ZOMBIE_POLL_S)
    cpu = cpu_seconds(process.pid)
    process.wait()
    return cpu
