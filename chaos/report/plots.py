"""PNG plots of one run, Jepsen style: throughput and latency over time with fault windows shaded,
broker-side observations on the same clock, and per-fault recovery.

Matplotlib with the Agg backend (no display). Fault bands use one fixed colour, ``FAULT_RGB``, drawn
under the data, so a test can find them in the pixels.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from chaos.report.timeseries import NS, Series

FAULT_RGB = (255, 204, 204)
FAULT_COLOUR = tuple(c / 255 for c in FAULT_RGB)
OUTCOME_COLOURS = {
    "send ok": "#2a7ab9",
    "send fail": "#d62728",
    "send unknown": "#ff9f1c",
    "processed": "#2ca02c",
}
MAX_LATENCY_POINTS = 20_000


def _shade_faults(ax: Any, series: Series) -> None:
    """Fault windows shaded (those that hit something), operator repairs as dashed lines, and the
    example's one time axis: every plot of an example spans the same seconds."""
    labelled = False
    for t, _ in series.operator:
        ax.axvline(t, color="#7b3294", ls="--", lw=1, zorder=3, label=None if labelled else "operator repair")
        labelled = True
    labelled = False
    ax.set_xlim(0, max(series.duration, 1.0))
    for window in (w for w in series.faults if w.hit):
        end = window.end if window.end is not None else series.duration
        ax.axvspan(
            window.start,
            max(end, window.start + 0.05),
            facecolor=FAULT_COLOUR,
            edgecolor="none",
            zorder=0,
            label=None if labelled else "fault",
        )
        labelled = True


def _finish(fig: Any, ax: Any, path: Path, title: str) -> Path:
    ax.set_xlabel("seconds since the run began")
    ax.set_title(title)
    ax.grid(True, alpha=0.3, zorder=1)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def throughput_plot(series: Series, path: Path, title: str = "throughput") -> Path | None:
    if not any(series.rates.values()):
        return None  # nothing happened: no plot rather than an empty one
    fig, ax = plt.subplots(figsize=(10, 3.5))
    _shade_faults(ax, series)
    for name in ("send ok", "send fail", "send unknown", "processed"):
        counts = series.rates.get(name)
        if not counts:
            continue
        xs = list(range(0, max(counts) + 1))
        ax.plot(xs, [counts.get(x, 0) for x in xs], label=name, color=OUTCOME_COLOURS[name], lw=1.2, zorder=2)
    ax.set_ylabel("ops / s")
    return _finish(fig, ax, path, title)


def latency_plot(series: Series, path: Path, title: str = "send latency") -> Path | None:
    if not series.latencies:
        return None
    fig, ax = plt.subplots(figsize=(10, 3.5))
    _shade_faults(ax, series)
    points = series.latencies
    step = max(1, len(points) // MAX_LATENCY_POINTS)  # thin evenly: a million points draw nothing more
    by_outcome: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for t, ms, kind in points[::step]:
        xs, ys = by_outcome[kind]
        xs.append(t)
        ys.append(max(ms, 0.01))
    for kind, (xs, ys) in sorted(by_outcome.items()):
        colour = OUTCOME_COLOURS.get({"ok": "send ok", "fail": "send fail"}.get(kind, "send unknown"))
        ax.scatter(xs, ys, s=3, label=kind, color=colour, zorder=2, linewidths=0)
    ax.set_yscale("log")
    ax.set_ylabel("ms (invoke to completion)")
    return _finish(fig, ax, path, title)


def observations_plot(series: Series, samples: list[dict[str, Any]], path: Path) -> Path | None:
    """One panel per broker-side metric sampled during the run (under-replicated partitions, lag, queue
    depth, XLEN, replication offsets...); samples past the history's end are not drawn (one time axis)."""
    samples = [s for s in samples if (s["time"] - series.t0) / NS <= series.duration]
    metrics = sorted({k for s in samples for k, v in s.get("metrics", {}).items() if isinstance(v, int | float)})
    if not metrics:
        return None
    fig, axes = plt.subplots(len(metrics), 1, figsize=(10, 1.9 * len(metrics) + 0.6), sharex=True, squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        _shade_faults(ax, series)
        present = [s for s in samples if metric in s["metrics"]]
        xs = [(s["time"] - series.t0) / NS for s in present]
        # Unreadable (None) is a gap in the line, not a zero: the broker did not answer then.
        ys = [v if isinstance(v := s["metrics"][metric], int | float) else math.nan for s in present]
        ax.plot(xs, ys, marker=".", ms=3, lw=1, zorder=2, color="#444")
        ax.set_ylabel(metric, fontsize=8, rotation=0, ha="right")
        ax.grid(True, alpha=0.3, zorder=1)
    fig.suptitle("broker-side observations (gaps: the broker did not answer)")
    return _finish(fig, axes[-1, 0], path, "")


def recovery_plot(series: Series, path: Path) -> Path | None:
    rows = [r for r in series.recovery() if not r.get("no_target")]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(rows) + 1.5))
    labels = [f"{r['fault']} {','.join(r['targets'])} @{r['start_s']:.0f}s" for r in rows]
    ys = range(len(rows))
    sends = [r["send_ok_after_s"] if r["send_ok_after_s"] is not None else 0 for r in rows]
    done = [r["processed_after_s"] if r["processed_after_s"] is not None else 0 for r in rows]
    ax.barh([y - 0.2 for y in ys], sends, height=0.4, label="first acknowledged send", color="#2a7ab9")
    ax.barh([y + 0.2 for y in ys], done, height=0.4, label="first processed message", color="#2ca02c")
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.set_xlabel("seconds after the heal")
    ax.set_title("per-fault recovery")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_example(series: Series, samples: list[dict[str, Any]], directory: Path) -> list[Path]:
    """Every plot of one example into ``directory``; returns the files written."""
    made = [
        throughput_plot(series, directory / "throughput.png"),
        latency_plot(series, directory / "latency.png"),
        observations_plot(series, samples, directory / "observations.png"),
        recovery_plot(series, directory / "recovery.png"),
    ]
    return [p for p in made if p is not None]
