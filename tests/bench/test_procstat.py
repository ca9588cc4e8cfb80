"""Reading a process's CPU time and memory from /proc."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench import procstat

# A /proc/<pid>/stat line whose command name holds a space and a parenthesis.
STAT = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 1 0 99"


def test_cpu_seconds_are_utime_plus_stime_counted_after_the_name() -> None:
    """Fields are counted from the last ')', so a name with spaces and parentheses parses."""
    assert procstat.parse_cpu_seconds(STAT, ticks_per_s=100) == pytest.approx(3.25)


def test_memory_reads_rss_and_peak_in_bytes() -> None:
    """VmRSS and VmHWM are read in bytes; other lines are ignored."""
    status = "Name:\tpython\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t3\n"
    assert procstat.parse_memory(status) == (1024 * 1024, 2048 * 1024)


def test_memory_of_a_zombie_is_unknown() -> None:
    """A process without memory lines (a zombie) gives None for both figures."""
    assert procstat.parse_memory("Name:\tpython\nState:\tZ (zombie)\n") == (None, None)


def test_memory_in_an_unexpected_unit_is_refused() -> None:
    """A unit other than kB is an error, not a silently wrong figure."""
    with pytest.raises(ValueError, match="unexpected unit"):
        procstat.parse_memory("VmRSS:\t  1 MB\n")


def test_sample_of_this_process_has_cpu_and_memory() -> None:
    """A live process yields its CPU seconds and a resident set no larger than its peak."""
    sample = procstat.sample(os.getpid(), 1.5)
    assert sample is not None
    assert sample.t == 1.5
    assert sample.cpu_s > 0
    assert sample.rss_bytes is not None
    assert sample.hwm_bytes is not None
    assert 0 < sample.rss_bytes <= sample.hwm_bytes


def test_reap_reads_the_cpu_of_an_exited_child_before_reaping_it() -> None:
    """The final CPU time of a child that burnt CPU is read from its zombie, then it is reaped."""
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", burn])
    cpu = procstat.reap(child, timeout_s=30)
    assert child.returncode == 0
    assert cpu is not None
    assert cpu >= 0.25
    assert procstat.sample(child.pid, 0.0) is None
