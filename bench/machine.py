"""What machine a benchmark ran on: printed beside every figure (machines here are shared and noisy)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def describe() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return f"{os.cpu_count()} cores ({cpu}){memory}, Python {platform.python_version()}, {platform.system()}"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # after "pid (comm) ": the command name may hold spaces


def process_tree_cpu_s(pid: int, *, tree: bool = True) -> float:
    """CPU seconds (user + system) of ``pid``, its live descendants, and the children they have already reaped
    (PostgreSQL's backends come and go; the postmaster reaps them and /proc keeps their time in cutime/cstime);
    ``tree=False``: of ``pid`` alone."""
    if not tree:
        fields = _stat_fields(pid)
        return sum(int(v) for v in fields[11:13]) / _CLOCK_TICKS if fields else 0.0
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        if (fields := _stat_fields(current)) is not None:
            # fields[11:15] = utime, stime, cutime, cstime (proc(5) fields 14–17)
            total += sum(int(v) for v in fields[11:15])
            todo.extend(parents.get(current, []))
    return total / _CLOCK_TICKS


class CpuMeter:
    """CPU used by named process trees between ``start()`` and ``stop()``: where a benchmark's cores went. The process
    that runs the meter counts alone (the processes it started are named, each its own tree)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: self._cpu(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        self.used = {name: self._cpu(pid) - self._start[name] for name, pid in self.pids.items()}
        return self.used

    @staticmethod
    def _cpu(pid: int) -> float:
        return process_tree_cpu_s(pid, tree=pid != os.getpid())

    def summary(self, seconds: float, items: int) -> str:
        """Per process: cores used on average, and CPU milliseconds per item."""
        parts = [f"{name} {used / seconds:.2f} cores ({used * 1000 / max(items, 1):.2f} ms/item)"
                 for name, used in sorted(self.used.items(), key=lambda kv: -kv[1])]
        total = sum(self.used.values())
        return f"{total / seconds:.2f} cores in all ({total * 1000 / max(items, 1):.2f} ms/item): " + ", ".join(parts)
