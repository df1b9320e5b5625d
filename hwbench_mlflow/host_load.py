"""What else ran on the host while a config was timed: other processes' CPU, steal, load.

``/proc/stat``'s aggregate ``cpu`` line counts every core's busy time; the worker's own CPU
time (all its threads, and the processes it started, such as a browser) is subtracted, so
what remains is CPU that other processes used during the window. It is reported as a
percentage of one core (100 = one core fully busy), the way ``top`` does. Steal is the
hypervisor's share taken from this VM, as a percentage of all CPU time in the window.

A window is *contended* when other processes used more than ``CONTENDED_OTHER_CPU_PCT``
(25 % of one core) on average, or steal exceeded ``CONTENDED_STEAL_PCT`` (5 %). Linux only:
elsewhere ``HostLoadWindow`` reports nothing and the tag is not written.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

CONTENDED_OTHER_CPU_PCT = 25.0
CONTENDED_STEAL_PCT = 5.0
PROC_STAT = "/proc/stat"


@dataclass(frozen=True)
class CpuTotals:
    """Aggregate jiffies of all cores: busy (user+nice+system+irq+softirq), steal, all."""

    busy: int
    steal: int
    total: int


def read_cpu_totals(path: str = PROC_STAT) -> CpuTotals | None:
    try:
        with open(path) as f:
            line = f.readline()
    except OSError:
        return None
    fields = line.split()
    if not fields or fields[0] != "cpu":
        return None
    v = [int(x) for x in fields[1:]] + [0] * 10
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    busy = user + nice + system + irq + softirq  # guest time is already inside user
    return CpuTotals(busy, steal, busy + idle + iowait + steal)


def own_cpu_s() -> float:
    """CPU seconds of this process and every process it started (a browser's too)."""
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    try:
        import psutil

        for child in psutil.Process().children(recursive=True):
            try:
                ct = child.cpu_times()
                own += ct.user + ct.system
            except psutil.Error:
                pass
    except ImportError:
        pass
    return own


def loadavg_1m() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def is_contended(other_cpu_pct: float | None, steal_pct: float | None) -> bool:
    return (other_cpu_pct or 0.0) > CONTENDED_OTHER_CPU_PCT or (steal_pct or 0.0) > CONTENDED_STEAL_PCT


class HostLoadWindow:
    """``with HostLoadWindow() as w: <timed loop>``; then ``w.metrics()``.

    Children that exit inside the window are counted through ``os.times`` once reaped;
    children still alive at the end through psutil. A child alive at the start and gone
    unreaped at the end would count as "other", which errs towards saying "busy".
    """

    def __init__(self) -> None:
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.other_cpu_pct: float | None = None
        self.steal_pct: float | None = None
        self.loadavg_start: float | None = None
        self.loadavg_end: float | None = None

    def __enter__(self) -> HostLoadWindow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> HostLoadWindow:
        self.loadavg_start = loadavg_1m()
        self._own0 = own_cpu_s()
        self._t0 = time.monotonic()
        self._cpu0 = read_cpu_totals()
        return self

    def stop(self) -> None:
        cpu1 = read_cpu_totals()
        wall = time.monotonic() - self._t0
        own = own_cpu_s() - self._own0
        self.loadavg_end = loadavg_1m()
        if self._cpu0 is None or cpu1 is None or wall <= 0:
            return
        busy_s = (cpu1.busy - self._cpu0.busy) / self._hz
        # jiffies tick at 1/HZ: the subtraction is exact only to a tick per core, so clamp at 0
        self.other_cpu_pct = max(0.0, (busy_s - own) / wall * 100.0)
        total = cpu1.total - self._cpu0.total
        self.steal_pct = (cpu1.steal - self._cpu0.steal) / total * 100.0 if total > 0 else 0.0

    @property
    def contended(self) -> bool | None:
        if self.other_cpu_pct is None:
            return None
        return is_contended(self.other_cpu_pct, self.steal_pct)

    def metrics(self) -> dict[str, float]:
        from . import names as N

        values = {
            N.M_HOST_OTHER_CPU: self.other_cpu_pct,
            N.M_HOST_STEAL: self.steal_pct,
            N.M_HOST_LOADAVG_START: self.loadavg_start,
            N.M_HOST_LOADAVG_END: self.loadavg_end,
        }
        return {k: round(v, 3) for k, v in values.items() if v is not None}
