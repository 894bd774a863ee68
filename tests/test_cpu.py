"""CPU accounting from /proc, on hand-written /proc files and on this machine's own."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from readiness_platform.cpu import CpuReading, cores_used, machine_busy_seconds, read_cpu, session_seconds

STAT = """cpu  700 10 200 5000 90 0 40 50 0 0
cpu0 350 5 100 2500 45 0 20 25 0 0
"""


def test_machine_busy_is_every_state_but_idle_and_iowait():
    # user 700 + nice 10 + system 200 + irq 0 + softirq 40 + steal 50 = 1,000 ticks at 100 a second
    assert machine_busy_seconds(STAT, ticks=100) == 10.0


def test_a_file_that_is_not_proc_stat_is_refused():
    with pytest.raises(ValueError, match="not /proc/stat"):
        machine_busy_seconds("intr 1 2 3\n", ticks=100)


def _stat(pid: int, name: str, session: int, utime: int, stime: int) -> str:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    return f"{pid} ({name}) S 1 {pid} {session} 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0 5 0 0\n"


def test_a_session_is_the_sum_of_its_live_processes(tmp_path):
    for pid, name, session, utime, stime in [
        (10, "python", 10, 300, 50),         # the job's driver, its session's leader
        (11, "java", 10, 900, 100),          # the JVM it started
        (12, "python -m (daemon)", 10, 40, 10),  # a name with spaces and parentheses
        (20, "kafka", 20, 5000, 500),        # another session
    ]:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(_stat(pid, name, session, utime, stime))
    (tmp_path / "stat").write_text(STAT)  # not a process: /proc/stat itself
    assert session_seconds(10, ticks=100, proc=tmp_path) == 14.0  # (350 + 1,000 + 50) / 100
    assert session_seconds(20, ticks=100, proc=tmp_path) == 55.0
    assert session_seconds(99, ticks=100, proc=tmp_path) == 0.0


def test_cores_used_between_two_readings():
    start, end = CpuReading(100.0, 50.0, 20.0), CpuReading(110.0, 65.0, 32.0)
    assert cores_used(start, end) == (1.5, 1.2)
    assert cores_used(None, end) is None and cores_used(end, start) is None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux's /proc")
def test_a_busy_child_shows_in_its_session_and_in_the_machine():
    child = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"],
                             start_new_session=True)
    try:
        start = read_cpu(child.pid)
        time.sleep(1.0)
        machine, job = cores_used(start, read_cpu(child.pid))
    finally:
        child.wait()
    # a busy loop holds one core: ~1.0 (the first readings' ticks are 10 ms apart)
    assert 0.7 < job < 1.1
    assert job - 0.1 < machine <= os.cpu_count() + 0.05
