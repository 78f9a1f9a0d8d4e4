"""Broker-side health comes back after the faults — the seed's monitoring advice as a check.

The observation sampler records ``observe`` ops (process ``observer``, value: metrics). Some metrics must
settle to zero once every fault is healed: Kafka's under-replicated and offline partitions, the
partitions RabbitMQ nodes report, Redis replication lag in bytes. Settled means *staying* settled: every
sample from one on reads 0 for all of them, and that run of zeros holds for at least ``hold_s`` and
``min_samples`` samples (one zero between two relapses is not health). Only what the cluster did on its
own, under the faults' aftermath, counts: samples after the operator first stepped in (an ``operator``
event) or after the final drain began are not looked at (the drain's own writes move Redis replication
offsets for a moment: that is the harness's load, not the faults').

- **not_recovered**: observed for ``within_s`` after the last heal and never settled.
- **slow_recovery**: settled, but later than ``within_s``.

Unknown, never pass: no metric to settle ("nothing to settle" is no evidence of health), no heal in the
history, too few samples after it to see a settled run hold, or an incomplete final drain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaos.checkers.base import Checker
from chaos.checkers.verdict import Anomaly, Verdict, decide, every_kind
from chaos.history import INVOKE, NEMESIS, OPERATOR, Op

OBSERVE_F = "observe"
NS = 1_000_000_000
HOLD_S = 6.0  # settled must last this long (and at least three samples)
KINDS = ("not_recovered", "slow_recovery")

Sample = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Settling:
    """What the samples since a heal show: when the last run of all-zero samples began (None: the last
    sample is not settled), how long and how many samples that run holds, and how long was observed."""

    settled_at: int | None
    held_ns: int
    held_samples: int
    observed_ns: int

    def holds(self, min_samples: int, hold_ns: int) -> bool:
        return self.settled_at is not None and self.held_samples >= min_samples and self.held_ns >= hold_ns


def settling(samples: list[Sample], metrics: tuple[str, ...], since: int) -> Settling:
    """Read the samples taken at or after ``since`` where every metric could be read."""
    readable = [(t, m) for t, m in samples if t >= since and all(isinstance(m.get(k), int | float) for k in metrics)]
    if not readable:
        return Settling(None, 0, 0, 0)
    observed = readable[-1][0] - since
    unsettled = [i for i, (_, m) in enumerate(readable) if any(m.get(k) != 0 for k in metrics)]
    first_good = unsettled[-1] + 1 if unsettled else 0
    run = readable[first_good:]
    if not run:
        return Settling(None, 0, 0, observed)
    return Settling(run[0][0], run[-1][0] - run[0][0], len(run), observed)


class BrokerHealthChecker(Checker):
    name = "broker_health"

    def __init__(
        self, settling: tuple[str, ...], within_s: float = 60.0, hold_s: float = HOLD_S, min_samples: int = 3
    ) -> None:
        super().__init__()
        self.settling = settling
        self.fs = frozenset({OBSERVE_F})
        self.within_ns = int(within_s * NS)
        self.hold_ns = int(hold_s * NS)
        self.min_samples = min_samples
        self.samples: list[Sample] = []
        self.last_heal: int | None = None
        self.cutoffs: list[int] = []  # the operator's repairs and the final drain's start
        self.peaks: dict[str, float] = {}

    def observe(self, op: Op) -> None:
        if op.process == NEMESIS and op.f == "stop":
            self.last_heal = max(self.last_heal or 0, op.time)
        elif op.process == OPERATOR or (op.f == "drain" and op.type == INVOKE):
            self.cutoffs.append(op.time)
        elif op.f == OBSERVE_F:
            self.samples.append((op.time, op.value))
            for metric in self.settling:
                value = op.value.get(metric)
                if isinstance(value, int | float):
                    self.peaks[metric] = max(self.peaks.get(metric, 0), value)

    def _own(self, since: int) -> list[Sample]:
        """Samples up to the operator's first repair or the drain after ``since``: the cluster's own
        recovery."""
        cutoff = min((t for t in self.cutoffs if t >= since), default=None)
        return [s for s in self.samples if cutoff is None or s[0] < cutoff]

    def verdict(self) -> Verdict:
        anomalies = {k: Anomaly(k) for k in KINDS}
        stats: dict[str, Any] = {"settling": list(self.settling), "peaks": self.peaks, "samples": len(self.samples)}
        incomplete: dict[str, str] = {}
        if not self.settling:
            incomplete = every_kind(anomalies, "the workload names no broker-side metric that must settle")
        elif self.last_heal is None:
            incomplete = every_kind(anomalies, "no fault was healed: nothing to recover from")
        else:
            incomplete = self._judge(self.last_heal, anomalies, stats)
        if not self.drain.complete:
            incomplete.update(every_kind(anomalies, self.drain.missing()))
        valid, reason = decide(anomalies, incomplete)
        return Verdict(self.name, valid, anomalies, stats, reason, incomplete)

    def _judge(self, since: int, anomalies: dict[str, Anomaly], stats: dict[str, Any]) -> dict[str, str]:
        seen = settling(self._own(since), self.settling, since)
        stats["observed_after_heal_s"] = round(seen.observed_ns / NS, 2)
        if seen.settled_at is not None:
            stats["recovered_after_s"] = round((seen.settled_at - since) / NS, 2)
            stats["held_settled_s"] = round(seen.held_ns / NS, 2)
        late = seen.settled_at is not None and seen.settled_at - since > self.within_ns
        if late:
            anomalies["slow_recovery"].add(f"{stats['recovered_after_s']}s")
            return {}
        if seen.holds(self.min_samples, self.hold_ns):
            return {}
        if seen.settled_at is None and seen.observed_ns >= self.within_ns:
            last = self._own(since)[-1][1]
            anomalies["not_recovered"].add(", ".join(f"{m}={last.get(m)}" for m in self.settling))
            return {}
        why = (
            f"settled {stats['recovered_after_s']} s after the heal, but seen to hold for only "
            f"{seen.held_samples} sample(s) over {seen.held_ns / NS:.1f} s"
            if seen.settled_at is not None
            else f"not observed long enough after the heal to see the broker settle ({seen.observed_ns / NS:.1f} s)"
        )
        return dict.fromkeys(KINDS, why)
