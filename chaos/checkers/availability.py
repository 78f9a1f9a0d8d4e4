"""Availability and recovery around each fault window.

For every fault that hit something (a nemesis ``start`` … ``stop`` pair with the same ``fault`` name,
not marked ``no_target``) it measures the rate of successful operations before and during the fault and,
after the heal, the time to the first success and to the steady rate again (``recover_fraction`` of the
rate before, over a one-second window).

Clients are trying while they invoke measured ops or connections (``connect``: a client that reaches
no broker sends nothing, yet is trying) and until the last of those completes. Only what the cluster
did on its own counts: the observation after a heal ends when clients stop trying or when the operator
first steps in (an ``operator`` event: the harness restarted a node, ended a split
brain...), whichever comes first.

- **never_recovered**: no success after a heal although clients kept trying for ``grace_s`` past it,
  or for ``max_recovery_s`` when the profile declares a longer bound (said "recovered only after repair"
  when the operator's repair came before the first success).
- **slow_recovery**: back to steady rate later than ``max_recovery_s`` (only with a declared bound).

Reads count too: a cluster that takes writes but serves no reads has not recovered. Where consumers had
read before a fault and a send succeeded after its heal, the first successful read (``read_fs``) after the
heal is measured as well: none while consumers kept running for ``grace_s`` (or the read bound, when
longer) is ``never_recovered`` "(reads)", and a first read later than ``max_read_recovery_s`` (by default
``max_recovery_s``) is ``slow_recovery`` "(reads ...)". Reads may be given their own bound because a
consumer group reads again only once it has rejoined. Consumers keep reading until the run's end (the
drain included), unless the operator steps in first.

Unknown, never pass: no fault hit anything, a fault never healed, clients tried for less than
``grace_s`` (or ``max_recovery_s``) after a heal without recovering, or the final drain did not complete.

Measured, never judged (``stats.latency_ms``): how long the measured ops took from invoke to ``ok``, by
the phase they were invoked in — ``before`` the first fault, ``during`` a fault, ``after`` a heal.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaos.checkers.base import Checker
from chaos.checkers.verdict import Anomaly, Verdict, decide, every_kind, percentiles
from chaos.history import INVOKE, NEMESIS, OK, OPERATOR, FaultWindow, FaultWindows, Op

BUCKET_NS = 100_000_000  # 0.1 s
WINDOW_BUCKETS = 10  # one second
KINDS = ("never_recovered", "slow_recovery")
CONNECT_F = "connect"  # a client's attempt to reach a broker: trying, though no measured op is sent


@dataclass
class _Judged:
    """One healed window, as observed before clients stopped or the operator stepped in."""

    label: str
    observed_s: float
    first_ok_s: float | None
    steady_s: float | None
    repaired_first: bool  # the operator acted after this heal, before any success


PHASES = ("before", "during", "after")


@dataclass
class PhaseLatency:
    """Invoke-to-ok latency of measured ops by the phase each was invoked in (faults as they stream by).
    An op is matched to its invoke by process, op name and message id; one that never completes ``ok``
    (a fail, an info, still open) has no latency."""

    open: dict[tuple[str, str, object], tuple[int, str]] = field(default_factory=dict)
    ns: dict[str, array] = field(default_factory=lambda: {p: array("q") for p in PHASES})

    def observe(self, op: Op, phase: str) -> None:
        """An invoke opens, a completion closes (with its latency when ``ok``). Once per measured op."""
        key = (op.process, op.f, op.value.get("id"))
        if op.type == INVOKE:
            self.open[key] = (op.time, phase)
            return
        began = self.open.pop(key, None)
        if began is not None and op.type == OK:
            self.ns[began[1]].append(op.time - began[0])

    def quantiles_ms(self) -> dict[str, dict[str, float | int]]:
        return {
            phase: {"count": len(values), **percentiles(sorted(v / 1e6 for v in values), digits=2)}
            for phase, values in self.ns.items()
        }


class AvailabilityChecker(Checker):
    name = "availability"

    def __init__(
        self,
        fs: tuple[str, ...] = ("send",),
        read_fs: tuple[str, ...] = ("receive",),
        recover_fraction: float = 0.5,
        max_recovery_s: float | None = None,
        grace_s: float = 5.0,
        max_read_recovery_s: float | None = None,
    ) -> None:
        super().__init__()
        self.measured_fs = fs
        self.read_fs = read_fs
        self.fs = frozenset(fs) | frozenset(read_fs) | {CONNECT_F}  # faults and repairs: by process
        self.read_buckets: Counter[int] = Counter()
        self.recover_fraction = recover_fraction
        self.max_recovery_s = max_recovery_s
        self.grace_ns = int(max(grace_s, max_recovery_s or 0.0) * 1e9)
        self.max_read_recovery_s = max_read_recovery_s if max_read_recovery_s is not None else max_recovery_s
        self.read_grace_s = max(grace_s, self.max_read_recovery_s or 0.0)
        self.ok_buckets: Counter[int] = Counter()
        self.faults = FaultWindows()
        self.first_time: int | None = None
        self.last_time = 0
        self.last_attempt = 0  # the last attempt (invoke or completion): clients stopped trying after it
        self.operator_times: list[int] = []
        self.latency = PhaseLatency()
        self.phase = "before"  # of the ops invoked now: before the first fault, during one, after a heal

    def observe(self, op: Op) -> None:
        """Clients' ops by name (no fault or repair op bears theirs), then faults and repairs by process."""
        f = op.f
        if f in self.measured_fs:
            self._on_measured(op)
        elif f in self.read_fs:
            self._on_read(op)
        elif f == CONNECT_F:
            self._on_connect(op)
        else:
            self._clock(op.time)
            if op.process == NEMESIS:
                self.faults.observe(f, op.value, op.time)
                self.phase = "during" if self.faults.in_force else "after" if self.faults.windows else "before"
            elif op.process == OPERATOR:
                self.operator_times.append(op.time)

    def handler(self, f: str) -> Callable[[Op], None]:
        """Nearly every op is a client's: straight to its method, without ``observe``'s tests."""
        if f in self.measured_fs:
            return self._on_measured
        if f in self.read_fs:
            return self._on_read
        return self._on_connect if f == CONNECT_F else self.observe

    def _clock(self, at: int) -> None:
        if at > self.last_time:
            self.last_time = at
            if self.first_time is None:
                self.first_time = at

    def _on_measured(self, op: Op) -> None:
        at = op.time
        if at > self.last_time:  # _clock, inlined: this runs once per send
            self.last_time = at
            if self.first_time is None:
                self.first_time = at
        if at > self.last_attempt:
            self.last_attempt = at
        self.latency.observe(op, self.phase)
        if op.type == OK:
            self.ok_buckets[at // BUCKET_NS] += 1

    def _on_read(self, op: Op) -> None:
        self._clock(op.time)
        if op.type == OK:
            self.read_buckets[op.time // BUCKET_NS] += 1

    def _on_connect(self, op: Op) -> None:
        self._clock(op.time)
        if op.time > self.last_attempt:
            self.last_attempt = op.time

    def _rate(self, start: int, end: int, buckets: Counter[int] | None = None) -> float:
        buckets = self.ok_buckets if buckets is None else buckets
        seconds = max((end - start) / 1e9, 1e-9)
        total = sum(buckets.get(b, 0) for b in range(start // BUCKET_NS, end // BUCKET_NS + 1))
        return total / seconds

    def _first_ok(self, start: int, end: int, buckets: Counter[int] | None = None) -> int | None:
        buckets = self.ok_buckets if buckets is None else buckets
        later = [b for b in buckets if start // BUCKET_NS <= b <= end // BUCKET_NS]
        return min(later) * BUCKET_NS if later else None

    def _steady(self, start: int, end: int, target_rate: float) -> int | None:
        """The first one-second window in [start, end] that reaches ``target_rate``."""
        if target_rate <= 0:
            return start
        need = target_rate * WINDOW_BUCKETS * BUCKET_NS / 1e9
        first, last = start // BUCKET_NS, end // BUCKET_NS
        window = sum(self.ok_buckets.get(b, 0) for b in range(first, first + WINDOW_BUCKETS))
        for b in range(first, last - WINDOW_BUCKETS + 2):
            if window >= need:
                return b * BUCKET_NS
            window += self.ok_buckets.get(b + WINDOW_BUCKETS, 0) - self.ok_buckets.get(b, 0)
        return None

    def _observed_until(self, stop: int, clients_until: int) -> tuple[int, bool]:
        """Until when the cluster's own recovery after ``stop`` was observed, and whether the operator
        ended it (rather than the clients, trying until ``clients_until``, stopping)."""
        operator = min((t for t in self.operator_times if t >= stop), default=None)
        if operator is not None and operator <= clients_until:
            return operator, True
        return clients_until, False

    def _judge(self, index: int, window: FaultWindow, before: float) -> _Judged:
        assert window.stop is not None
        until, operator_ended = self._observed_until(window.stop, self.last_attempt)
        first_ok = self._first_ok(window.stop, until)
        steady = self._steady(window.stop, until, before * self.recover_fraction)
        if steady is not None and first_ok is not None:
            steady = max(steady, first_ok)  # the steady second cannot begin before the first success
        return _Judged(
            label=f"{window.fault}#{index}",
            observed_s=max(0.0, (until - window.stop) / 1e9),
            first_ok_s=None if first_ok is None else max(0, first_ok - window.stop) / 1e9,
            steady_s=None if steady is None else max(0, steady - window.stop) / 1e9,
            repaired_first=operator_ended and first_ok is None,
        )

    def verdict(self) -> Verdict:
        anomalies = {k: Anomaly(k) for k in KINDS}
        incomplete: dict[str, str] = {}
        grace_s = self.grace_ns / 1e9
        windows = []
        hits = self.faults.hits
        for index, window in enumerate(hits):
            stop = window.stop if window.stop is not None else self.last_time
            length = max(stop - window.start, BUCKET_NS * WINDOW_BUCKETS)
            before_start = max(self.first_time or 0, window.start - length)
            before = self._rate(before_start, window.start) if window.start > before_start else 0.0
            row: dict[str, Any] = {
                "fault": window.fault,
                "targets": window.targets,
                "duration_s": round((stop - window.start) / 1e9, 3),
                "rate_before": round(before, 1),
                "rate_during": round(self._rate(window.start, stop), 1),
                "healed": window.stop is not None,
            }
            windows.append(row)
            if window.stop is None:
                incomplete.update(dict.fromkeys(KINDS, f"{window.fault}#{index} was never healed"))
                continue
            judged = self._judge(index, window, before)
            row.update(
                first_ok_after_heal_s=None if judged.first_ok_s is None else round(judged.first_ok_s, 3),
                steady_after_heal_s=None if judged.steady_s is None else round(judged.steady_s, 3),
                observed_after_heal_s=round(judged.observed_s, 3),
            )
            self._decide_window(judged, grace_s, anomalies, incomplete)
            reads_before = self._rate(before_start, window.start, self.read_buckets)
            row.update(
                reads_before=round(reads_before, 1),
                reads_during=round(self._rate(window.start, stop, self.read_buckets), 1),
            )
            if reads_before > 0 and self._first_ok(window.stop, self.last_time) is not None:
                reads = self._judge_reads(index, window)
                row["first_read_after_heal_s"] = None if reads.first_ok_s is None else round(reads.first_ok_s, 3)
                self._decide_reads(reads, self.read_grace_s, anomalies, incomplete)
        if not hits:
            why = "no fault hit anything" if self.faults.windows else "no fault in the history"
            incomplete.update(dict.fromkeys(KINDS, why))
        if not self.drain.complete:
            incomplete.update(every_kind(anomalies, self.drain.missing()))
        valid, reason = decide(anomalies, incomplete)
        stats: dict[str, Any] = {"windows": windows, "grace_s": grace_s, "max_recovery_s": self.max_recovery_s}
        stats["max_read_recovery_s"] = self.max_read_recovery_s
        stats["latency_ms"] = self.latency.quantiles_ms()
        return Verdict(self.name, valid, anomalies, stats, reason, incomplete)

    def _judge_reads(self, index: int, window: FaultWindow) -> _Judged:
        """The first read after the heal, observed until the run's end or the operator's first step."""
        assert window.stop is not None
        until, operator_ended = self._observed_until(window.stop, self.last_time)
        first = self._first_ok(window.stop, until, self.read_buckets)
        return _Judged(
            label=f"{window.fault}#{index}",
            observed_s=max(0.0, (until - window.stop) / 1e9),
            first_ok_s=None if first is None else max(0, first - window.stop) / 1e9,
            steady_s=None,
            repaired_first=operator_ended and first is None,
        )

    def _decide_reads(
        self, reads: _Judged, grace_s: float, anomalies: dict[str, Anomaly], incomplete: dict[str, str]
    ) -> None:
        if reads.first_ok_s is None:
            if reads.observed_s < grace_s:
                incomplete["never_recovered"] = (
                    f"{reads.label}: consumers were observed for only {reads.observed_s:.1f} s after the heal "
                    f"(recovery needs {grace_s:.1f} s to judge)"
                )
            elif reads.repaired_first:
                anomalies["never_recovered"].add(f"{reads.label} (reads; recovered only after repair, if at all)")
            else:
                anomalies["never_recovered"].add(f"{reads.label} (reads)")
        elif self.max_read_recovery_s is not None and reads.first_ok_s > self.max_read_recovery_s:
            anomalies["slow_recovery"].add(f"{reads.label} (reads: first read after {reads.first_ok_s:.1f} s)")

    def _decide_window(
        self, judged: _Judged, grace_s: float, anomalies: dict[str, Anomaly], incomplete: dict[str, str]
    ) -> None:
        if judged.first_ok_s is None:
            if judged.repaired_first and judged.observed_s >= grace_s:
                anomalies["never_recovered"].add(f"{judged.label} (recovered only after repair, if at all)")
            elif judged.observed_s >= grace_s:
                anomalies["never_recovered"].add(judged.label)
            else:
                incomplete["never_recovered"] = (
                    f"{judged.label}: clients tried for only {judged.observed_s:.1f} s after the heal "
                    f"(recovery needs {grace_s:.1f} s to judge)"
                )
        if self.max_recovery_s is None:
            return
        if judged.steady_s is not None:
            if judged.steady_s > self.max_recovery_s:
                anomalies["slow_recovery"].add(f"{judged.label} ({judged.steady_s:.1f} s)")
        elif judged.observed_s >= self.max_recovery_s:
            anomalies["slow_recovery"].add(f"{judged.label} (not steady within {judged.observed_s:.1f} s)")
        else:
            incomplete["slow_recovery"] = (
                f"{judged.label}: not steady yet when observation ended {judged.observed_s:.1f} s after the heal "
                f"(max_recovery_s = {self.max_recovery_s})"
            )
