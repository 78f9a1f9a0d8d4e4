"""Per-second series, fault windows, recovery and the PNG plots, from histories built in memory."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers import AvailabilityChecker, run_checker
from chaos.history import INFO, INVOKE, NEMESIS, OK, Op
from chaos.report.plots import FAULT_RGB, plot_example
from chaos.report.timeseries import series_from_lines, write_faults

S = 1_000_000_000


def _line(process: str, type_: str, f: str, t_s: float, **value: object) -> bytes:
    return orjson.dumps({"process": process, "type": type_, "f": f, "time": int(t_s * S), "value": value})


def _history(fault_from: float = 3.0, fault_to: float = 6.0, seconds: int = 10) -> list[bytes]:
    lines = []
    for i in range(seconds * 10):
        t = i / 10
        down = fault_from <= t < fault_to
        lines.append(_line("p1", INVOKE, "send", t, id=f"m{i}"))
        lines.append(_line("p1", INFO if down else OK, "send", t + (1.0 if down else 0.002), id=f"m{i}"))
        if not down:
            lines.append(_line("c1", OK, "process", t + 0.01, id=f"m{i}"))
    lines.append(_line(NEMESIS, INFO, "start", fault_from, fault="kill", targets=["n1"]))
    lines.append(_line(NEMESIS, INFO, "stop", fault_to, fault="kill", targets=["n1"]))
    return sorted(lines, key=lambda raw: orjson.loads(raw)["time"])


def test_series_counts_outcomes_per_second_and_pairs_fault_windows() -> None:
    series = series_from_lines(_history())
    assert series.rates["send ok"][0] == 10 and series.rates["send ok"][4] == 0
    assert sum(series.rates["send unknown"].values()) == 30
    assert [(w.name, w.start, w.end) for w in series.faults] == [("kill", 3.0, 6.0)]
    assert len(series.latencies) == 100
    recovery = series.recovery()
    assert recovery[0]["send_ok_after_s"] == 0.0 and recovery[0]["processed_after_s"] == 0.0


def test_a_fault_never_healed_stays_open_and_has_no_recovery_figure() -> None:
    lines = [*_history(), _line(NEMESIS, INFO, "start", 8.0, fault="pause", targets=["n2"])]
    series = series_from_lines(lines)
    assert [(w.name, w.end) for w in series.faults] == [("kill", 6.0), ("pause", None)]
    assert [r["fault"] for r in series.recovery()] == ["kill"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 50), st.floats(0.1, 10)), max_size=6))
def test_every_healed_fault_becomes_exactly_one_window(windows: list[tuple[float, float]]) -> None:
    lines = []
    for n, (start, length) in enumerate(windows):
        lines.append(_line(NEMESIS, INFO, "start", start, fault=f"f{n}", targets=[]))
        lines.append(_line(NEMESIS, INFO, "stop", start + length, fault=f"f{n}", targets=[]))
    lines.sort(key=lambda raw: orjson.loads(raw)["time"])
    series = series_from_lines(lines)
    assert len(series.faults) == len(windows)
    assert all(w.end is not None and w.end >= w.start for w in series.faults)


def test_faults_jsonl_has_one_line_per_window(tmp_path: Path) -> None:
    series = series_from_lines(_history())
    write_faults(series, tmp_path / "faults.jsonl")
    rows = [orjson.loads(line) for line in (tmp_path / "faults.jsonl").read_bytes().splitlines()]
    assert rows == [series.recovery()[0]]


def _band_pixels(path: Path) -> int:
    pixels = (matplotlib.image.imread(path)[:, :, :3] * 255).round().astype(int)
    r, g, b = FAULT_RGB
    return int(((pixels[:, :, 0] == r) & (pixels[:, :, 1] == g) & (pixels[:, :, 2] == b)).sum())


def test_plots_shade_fault_windows_and_only_then(tmp_path: Path) -> None:
    samples = [{"time": int(t * S), "metrics": {"under_replicated": 1 if 3 <= t < 7 else 0}} for t in range(10)]
    shaded = plot_example(series_from_lines(_history()), samples, tmp_path)
    assert {p.name for p in shaded} == {"throughput.png", "latency.png", "observations.png", "recovery.png"}
    for path in shaded:
        assert path.stat().st_size > 5000
    for name in ("throughput.png", "latency.png", "observations.png"):
        assert _band_pixels(tmp_path / name) > 2000, name
    calm = tmp_path / "calm"
    calm.mkdir()
    quiet = [line for line in _history() if b'"nemesis"' not in line]
    made = plot_example(series_from_lines(quiet), [], calm)
    assert {p.name for p in made} == {"throughput.png", "latency.png"}
    assert _band_pixels(calm / "throughput.png") == 0


def test_targets_come_from_applied_for_plots_and_the_availability_checker() -> None:
    lines = [
        _line("p1", INVOKE, "send", 0.0, id="m0"),
        _line("p1", OK, "send", 0.01, id="m0"),
        _line(NEMESIS, INFO, "start", 1.0, fault="kill", targets=[]),
        _line(NEMESIS, INFO, "applied", 1.2, fault="kill", targets=["n3"]),
        _line(NEMESIS, INFO, "stop", 4.0, fault="kill", targets=["n3"]),
    ]
    series = series_from_lines(lines)
    assert [(w.name, w.targets, w.start, w.end) for w in series.faults] == [("kill", ["n3"], 1.0, 4.0)]
    verdict = run_checker([Op.from_dict(orjson.loads(line)) for line in lines], AvailabilityChecker())
    assert [w["targets"] for w in verdict.stats["windows"]] == [["n3"]]


def test_an_example_with_nothing_to_show_draws_no_empty_plot(tmp_path: Path) -> None:
    lines = [_line(NEMESIS, INFO, "start", 1.0, fault="kill"), _line(NEMESIS, INFO, "stop", 4.0, fault="kill")]
    made = plot_example(series_from_lines(lines), [], tmp_path)
    assert not (tmp_path / "throughput.png").exists() and not (tmp_path / "latency.png").exists()
    assert [p.name for p in made] == ["recovery.png"]


def test_every_plot_of_an_example_shares_one_time_axis_and_marks_the_operator(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from chaos.report import plots

    lines = [*_history(seconds=10), _line("operator", INFO, "repair", 12.0, action="started n1 (exited)")]
    series = series_from_lines(sorted(lines, key=lambda raw: orjson.loads(raw)["time"]))
    assert series.operator == [(12.0, "started n1 (exited)")]
    limits = []
    original = plots._save

    def keep_limits(fig, path):  # type: ignore[no-untyped-def]
        limits.extend(ax.get_xlim() for ax in fig.axes if ax.get_xlabel().startswith("seconds since"))
        return original(fig, path)

    plots._save = keep_limits  # type: ignore[assignment]
    try:
        samples = [{"time": int(t * S), "metrics": {"lag": t}} for t in (1.0, 5.0, 30.0)]  # 30 s: past the end
        plot_example(series, samples, tmp_path)
    finally:
        plots._save = original  # type: ignore[assignment]
        plt.close("all")
    assert len(limits) == 3 and len(set(limits)) == 1 and limits[0] == (0.0, series.duration)
