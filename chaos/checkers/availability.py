"""Availability and recovery around each fault window.

For every fault (a nemesis ``start`` … ``stop`` pair with the same ``fault`` name) it measures the rate
of successful operations before and during the fault and, after the heal, the time to the first success
and to the steady rate again (``recover_fraction`` of the rate before, over a one-second window). Lag
observations (``lag`` ops with value ``lag``) tell whether the backlog drained at the end.

- **never_recovered**: no success after a heal although clients kept trying for ``grace_s`` past it.
- **slow_recovery**: back to steady rate later than ``max_recovery_s`` (only with a declared bound).
- **backlog_not_drained**: the last lag observation is above zero.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from chaos.checkers.base import Checker
from chaos.checkers.verdict import Anomaly, Verdict, decide
from chaos.history import NEMESIS, OK, FaultWindows, Op

BUCKET_NS = 100_000_000  # 0.1 s
WINDOW_BUCKETS = 10  # one second


class AvailabilityChecker(Checker):
    name = "availability"

    def __init__(
        self,
        fs: tuple[str, ...] = ("send",),
        recover_fraction: float = 0.5,
        max_recovery_s: float | None = None,
        grace_s: float = 5.0,
    ) -> None:
        super().__init__()
        self.fs = fs
        self.recover_fraction = recover_fraction
        self.max_recovery_s = max_recovery_s
        self.grace_ns = int(grace_s * 1e9)
        self.ok_buckets: Counter[int] = Counter()
        self.faults = FaultWindows()
        self.first_time: int | None = None
        self.last_time = 0
        self.last_attempt = 0  # the last invoke of a measured op: producers stopped after it
        self.last_lag: int | None = None

    def observe(self, op: Op) -> None:
        if self.first_time is None:
            self.first_time = op.time
        self.last_time = max(self.last_time, op.time)
        if op.process == NEMESIS:
            self.faults.observe(op.f, op.value, op.time)
        elif op.f in self.fs:
            if op.type == OK:
                self.ok_buckets[op.time // BUCKET_NS] += 1
            elif op.type == "invoke":
                self.last_attempt = max(self.last_attempt, op.time)
        elif op.f == "lag" and op.type == OK:
            self.last_lag = int(op.value.get("lag", 0))

    def _rate(self, start: int, end: int) -> float:
        seconds = max((end - start) / 1e9, 1e-9)
        total = sum(self.ok_buckets.get(b, 0) for b in range(start // BUCKET_NS, end // BUCKET_NS + 1))
        return total / seconds

    def _first_ok_after(self, t: int) -> int | None:
        later = [b for b in self.ok_buckets if b >= t // BUCKET_NS]
        return min(later) * BUCKET_NS if later else None

    def _steady_after(self, t: int, target_rate: float) -> int | None:
        if target_rate <= 0:
            return t
        need = target_rate * WINDOW_BUCKETS * BUCKET_NS / 1e9
        first = t // BUCKET_NS
        last = self.last_time // BUCKET_NS
        window = sum(self.ok_buckets.get(b, 0) for b in range(first, first + WINDOW_BUCKETS))
        for b in range(first, last - WINDOW_BUCKETS + 2):
            if window >= need:
                return b * BUCKET_NS
            window += self.ok_buckets.get(b + WINDOW_BUCKETS, 0) - self.ok_buckets.get(b, 0)
        return None

    def verdict(self) -> Verdict:
        anomalies = {k: Anomaly(k) for k in ("never_recovered", "slow_recovery", "backlog_not_drained")}
        windows = []
        for index, window in enumerate(self.faults.windows):
            stop = window.stop if window.stop is not None else self.last_time
            length = max(stop - window.start, BUCKET_NS * WINDOW_BUCKETS)
            before_start = max(self.first_time or 0, window.start - length)
            before = self._rate(before_start, window.start) if window.start > before_start else 0.0
            during = self._rate(window.start, stop)
            first_ok = self._first_ok_after(stop)
            steady = self._steady_after(stop, before * self.recover_fraction)
            label = f"{window.fault}#{index}"
            # Only time in which clients still tried counts: a run that stops producing right after a heal
            # cannot show whether service came back.
            observed_for = self.last_attempt - stop
            if first_ok is None and observed_for >= self.grace_ns:
                anomalies["never_recovered"].add(label)
            recovery_s = None if steady is None else max(0.0, (steady - stop) / 1e9)
            too_slow = self.max_recovery_s is not None and (recovery_s is None or recovery_s > self.max_recovery_s)
            observed_long_enough = steady is not None or observed_for >= self.grace_ns
            if too_slow and observed_long_enough:
                anomalies["slow_recovery"].add(label)
            windows.append(
                {
                    "fault": window.fault,
                    "targets": window.targets,
                    "duration_s": round((stop - window.start) / 1e9, 3),
                    "rate_before": round(before, 1),
                    "rate_during": round(during, 1),
                    "first_ok_after_heal_s": None if first_ok is None else round(max(0, first_ok - stop) / 1e9, 3),
                    "steady_after_heal_s": None if recovery_s is None else round(recovery_s, 3),
                    "healed": window.stop is not None,
                }
            )
        if self.last_lag:
            anomalies["backlog_not_drained"].add(f"lag={self.last_lag}")
        missing = "" if self.ok_buckets else "no successful operations in the history"
        valid, reason = decide(anomalies, missing)
        stats: dict[str, Any] = {"windows": windows, "last_lag": self.last_lag}
        return Verdict(self.name, valid, anomalies, stats, reason)
