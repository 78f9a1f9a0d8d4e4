"""The evidence of one example (one schedule run): ``faults.jsonl`` and the PNG plots, derived from its
``history.jsonl`` and ``observations.jsonl`` — so ``brokerchaos report`` can always re-derive them."""

from __future__ import annotations

from pathlib import Path

from chaos.report.plots import plot_example
from chaos.report.timeseries import read_series, write_faults
from chaos.workloads.observe import read_observations


def render_example(directory: Path, consume_f: str = "process") -> list[Path]:
    """Write ``faults.jsonl`` and the plots next to ``directory/history.jsonl``; returns the plots."""
    history = directory / "history.jsonl"
    if not history.exists():
        return []
    series = read_series(history, consume_f)
    write_faults(series, directory / "faults.jsonl")
    return plot_example(series, read_observations(directory / "observations.jsonl"), directory)
