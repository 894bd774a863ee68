"""CPU time from Linux's /proc: how busy the machine was over a span, and how much of it one job's processes took.

The load test reports both for its measured span (readiness_platform/load.py): at a rate the stream does not
hold, they say whether the machine had cores to spare (the steps follow one another) or none (each event
must cost less CPU, or the job needs more cores). Elsewhere than Linux, /proc is missing: the figures are None.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def machine_busy_seconds(stat: str, ticks: int) -> float:
    """Busy CPU seconds of all the machine's cores since boot, from /proc/stat: its first line's user, nice,
    system, irq, softirq and steal (idle and iowait are the time not busy; guest time is inside user)."""
    name, *values = stat.split("\n", 1)[0].split()
    if name != "cpu":
        raise ValueError(f"not /proc/stat: its first line is {name!r}")
    user, nice, system, _idle, _iowait, irq, softirq, steal = ([int(v) for v in values] + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / ticks


def session_seconds(session: int, ticks: int, proc: Path = PROC) -> float:
    """CPU seconds (user + system) the live processes of a session have used: a job started in its own
    session (`start_new_session`) with every process it started - for the stream, its driver's Python, the JVM
    and the JVM's Python workers. A process that has exited is not counted (Spark reuses its Python workers)."""
    total = 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it exited while being read
        # after the command name, in parentheses and free to hold spaces and parentheses itself:
        # state, ppid, pgrp, session, ..., utime (the 14th field of the line), stime (the 15th)
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[3]) == session:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


@dataclass(frozen=True)
class CpuReading:
    at: float  # wall clock, epoch seconds
    machine_busy: float  # CPU seconds, all cores
    job: float  # CPU seconds of the job's session


def read_cpu(session: int) -> CpuReading | None:
    """The machine's and the session's CPU seconds now; None where /proc/stat is missing (not Linux)."""
    try:
        stat = (PROC / "stat").read_text()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return CpuReading(time.time(), machine_busy_seconds(stat, ticks), session_seconds(session, ticks))


def cores_used(start: CpuReading | None, end: CpuReading | None) -> tuple[float, float] | None:
    """(cores the machine had busy, cores the job used) on average between two readings."""
    if start is None or end is None or end.at <= start.at:
        return None
    span = end.at - start.at
    return (end.machine_busy - start.machine_busy) / span, (end.job - start.job) / span
