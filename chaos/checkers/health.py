"""Broker-side health comes back after the faults — the seed's monitoring advice as a check.

The observation sampler records ``observe`` ops (process ``observer``, value: metrics). Some metrics must
settle to zero once every fault is healed: Kafka's under-replicated and offline partitions, the
partitions RabbitMQ nodes report, Redis replication lag in bytes. This checker finds the first sample
after the last heal from which on all of them read 0 (a brief 0 before a relapse does not count).

- **not_recovered**: observed for ``within_s`` after the heal and never all zero.
- **slow_recovery**: all zero, but later than ``within_s``.

Too few samples after the heal (the run ended first) or a metric never readable leaves it unknown.
"""

from __future__ import annotations

from typing import Any

from chaos.checkers.base import Checker
from chaos.checkers.verdict import Anomaly, Verdict, decide
from chaos.history import NEMESIS, Op

OBSERVE_F = "observe"
NS = 1_000_000_000


class BrokerHealthChecker(Checker):
    name = "broker_health"

    def __init__(self, settling: tuple[str, ...], within_s: float = 60.0) -> None:
        super().__init__()
        self.settling = settling
        self.within_ns = int(within_s * NS)
        self.samples: list[tuple[int, dict[str, Any]]] = []
        self.last_heal: int | None = None
        self.peaks: dict[str, float] = {}

    def observe(self, op: Op) -> None:
        if op.process == NEMESIS and op.f == "stop":
            self.last_heal = max(self.last_heal or 0, op.time)
        elif op.f == OBSERVE_F:
            self.samples.append((op.time, op.value))
            for metric in self.settling:
                value = op.value.get(metric)
                if isinstance(value, int | float):
                    self.peaks[metric] = max(self.peaks.get(metric, 0), value)

    def _readable(self, metrics: dict[str, Any]) -> bool:
        return all(isinstance(metrics.get(m), int | float) for m in self.settling)

    def _settled(self, metrics: dict[str, Any]) -> bool:
        return all(metrics.get(m) == 0 for m in self.settling)

    def verdict(self) -> Verdict:
        anomalies = {k: Anomaly(k) for k in ("not_recovered", "slow_recovery")}
        stats: dict[str, Any] = {"settling": list(self.settling), "peaks": self.peaks, "samples": len(self.samples)}
        if not self.settling:
            return Verdict(self.name, True, anomalies, stats)
        since = self.last_heal if self.last_heal is not None else (self.samples[0][0] if self.samples else 0)
        # Only samples where every settling metric could be read tell settled from not.
        after = [(t, m) for t, m in self.samples if t >= since and self._readable(m)]
        # Settled means back to 0 *and staying there*: the first sample after the last unsettled one.
        last_bad = max((i for i, (_, m) in enumerate(after) if not self._settled(m)), default=-1)
        settled_at = after[last_bad + 1][0] if last_bad + 1 < len(after) else None
        missing = ""
        if settled_at is not None:
            stats["recovered_after_s"] = round((settled_at - since) / NS, 2)
            if settled_at - since > self.within_ns:
                anomalies["slow_recovery"].add(f"{stats['recovered_after_s']}s")
        elif after and after[-1][0] - since >= self.within_ns:
            last = after[-1][1]
            anomalies["not_recovered"].add(", ".join(f"{m}={last.get(m)}" for m in self.settling))
        else:
            missing = "not observed long enough after the heal to see the broker settle"
        valid, reason = decide(anomalies, missing)
        return Verdict(self.name, valid, anomalies, stats, reason)
