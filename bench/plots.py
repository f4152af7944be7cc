"""The benchmarks' plots (PNG, matplotlib, no display): latency percentiles against a rate, one line pair per series,
the target as a dotted line, a log scale (latencies span orders of magnitude as a machine saturates)."""

from __future__ import annotations

from pathlib import Path

from bench.machine import describe, percentile


def latency_against_rate(series: dict[str, tuple[list[float], list[list[float]]]], *, path: Path, title: str,
                         xlabel: str, ylabel: str, limit_ms: float, limit_label: str,
                         emphasise: str | None = None) -> None:
    """``series``: label → (rates, the latencies measured at each rate); p99 solid, p50 dashed in the same colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=120)
    for label, (rates, samples) in series.items():
        if not samples or not all(samples):
            continue
        style = {"linewidth": 2.5} if label == emphasise else {"linewidth": 1.2, "alpha": 0.85}
        line, = axes.plot(rates, [percentile(v, 99) for v in samples], marker="o", label=f"{label} p99", **style)
        axes.plot(rates, [percentile(v, 50) for v in samples], marker=".", linestyle="--", color=line.get_color(),
                  label=f"{label} p50", **style)
    axes.axhline(limit_ms, color="grey", linestyle=":", label=limit_label)
    axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(f"{title} — {describe().split(',')[0]}", fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
