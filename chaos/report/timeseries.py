"""What the plots need from a history, in one streaming pass: per-second rates, send latencies, fault
windows and per-fault recovery. Pure data (no plotting), so it is unit-testable and fast on large
histories: lines are parsed with orjson and only the few fields needed are kept.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from chaos.history import NEMESIS, OPERATOR, FaultWindows

NS = 1_000_000_000


@dataclass
class FaultWindow:
    """A fault window (see :class:`chaos.history.FaultWindows`) in seconds since the history began
    (``end`` None: never healed in the history)."""

    name: str
    targets: list[str]
    start: float
    end: float | None
    hit: bool = True  # False: its targets resolved to nothing, the fault did not happen

    def to_dict(self) -> dict[str, Any]:
        out = {"fault": self.name, "targets": self.targets, "start_s": self.start, "end_s": self.end}
        return out if self.hit else {**out, "no_target": True}


@dataclass
class Series:
    """Per-second counts of each outcome, send latencies, fault windows, and the end of the history."""

    rates: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    latencies: list[tuple[float, float, str]] = field(default_factory=list)  # (t, ms, outcome)
    faults: list[FaultWindow] = field(default_factory=list)
    operator: list[tuple[float, str]] = field(default_factory=list)  # (t, what the harness repaired)
    duration: float = 0.0
    events: int = 0
    t0: int = 0  # monotonic ns of the first event: observations are placed against it

    def recovery(self) -> list[dict[str, Any]]:
        """Per fault: seconds from its heal to the first acknowledged send and the first processed message."""
        out = []
        ok_seconds = sorted(self.rates["send ok"])
        done_seconds = sorted(self.rates["processed"])
        for window in self.faults:
            if window.end is None:
                continue
            healed = int(window.end)
            out.append(
                {
                    **window.to_dict(),
                    "send_ok_after_s": _first_at_or_after(ok_seconds, healed, window.end),
                    "processed_after_s": _first_at_or_after(done_seconds, healed, window.end),
                }
            )
        return out


def _first_at_or_after(seconds: list[int], second: int, end: float) -> float | None:
    found = next((s for s in seconds if s >= second), None)
    return None if found is None else max(0.0, found - end)


COMPLETIONS = {"ok": "send ok", "fail": "send fail", "info": "send unknown"}


def series_from_lines(lines: Iterable[bytes], consume_f: str = "process") -> Series:
    """Build a :class:`Series` from JSONL history lines (bytes or str)."""
    series = Series()
    invoked: dict[tuple[str, Any], int] = {}
    windows = FaultWindows()
    t0: int | None = None
    last = 0
    for line in lines:
        if not line.strip():
            continue
        op = orjson.loads(line)
        series.events += 1
        t = int(op.get("time", 0))
        if t0 is None:
            t0 = t
        last = max(last, t)
        seconds = (t - t0) / NS
        f, kind, process = op["f"], op["type"], op["process"]
        value = op.get("value") or {}
        if process == NEMESIS:
            windows.observe(f, value, t)
        elif process == OPERATOR:
            series.operator.append((seconds, str(value.get("action", f))))
        elif f == "send":
            key = (process, value.get("id"))
            if kind == "invoke":
                invoked[key] = t
                continue
            series.rates[COMPLETIONS.get(kind, kind)][int(seconds)] += 1
            began = invoked.pop(key, None)
            if began is not None:
                series.latencies.append((seconds, (t - began) / 1e6, kind))
        elif f == consume_f and kind == "ok":
            series.rates["processed"][int(seconds)] += 1
    series.t0 = t0 or 0
    series.duration = 0.0 if t0 is None else (last - t0) / NS
    series.faults = [
        FaultWindow(
            w.fault,
            w.targets,
            (w.start - series.t0) / NS,
            None if w.stop is None else (w.stop - series.t0) / NS,
            w.hit,
        )
        for w in windows.windows
    ]
    return series


def read_series(path: Path, consume_f: str = "process") -> Series:
    with path.open("rb") as handle:
        return series_from_lines(handle, consume_f)


def write_faults(series: Series, path: Path) -> None:
    """``faults.jsonl``: one line per fault window (with its recovery figures when healed)."""
    recovery = {(r["fault"], r["start_s"]): r for r in series.recovery()}
    with path.open("wb") as out:
        for window in series.faults:
            row = recovery.get((window.name, window.start), window.to_dict())
            out.write(orjson.dumps(row) + b"\n")
