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
    ``tree=False``: of ``pid`` and the children it has reaped, not those still running (a bench and the load tool it
    ran, not the suite it started)."""
    if not tree:
        fields = _stat_fields(pid)
        return sum(int(v) for v in fields[11:15]) / _CLOCK_TICKS if fields else 0.0
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
    """CPU seconds spent by named processes of a benchmark (the suite's services, PostgreSQL with all its backends,
    the broker, the bench itself), each with the processes it started: where a stage's time went. The process that
    runs the meter counts alone (the suite it started is named part by part)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def read(self) -> dict[str, float]:
        """Cumulative CPU seconds per name (subtract two reads for an interval)."""
        return {name: process_tree_cpu_s(pid, tree=pid != os.getpid()) for name, pid in self.pids.items()}


def cpu_summary(used: dict[str, float], seconds: float, items: int) -> str:
    """Cores used on average over ``seconds`` and CPU milliseconds per item, in all and per process."""
    parts = [f"{name} {cpu / seconds:.2f} cores ({cpu * 1000 / max(items, 1):.2f} ms/item)"
             for name, cpu in sorted(used.items(), key=lambda kv: -kv[1])]
    total = sum(used.values())
    return f"{total / seconds:.2f} cores in all ({total * 1000 / max(items, 1):.2f} ms/item): " + ", ".join(parts)
