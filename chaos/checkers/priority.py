"""Priorities: how often a message was delivered while one of a higher rank waited — measured, not judged.

A priority queue (RabbitMQ ``x-max-priority`` on a classic queue; a quorum queue's priorities from 4.0)
delivers higher ranks first, within limits: a quorum queue on 4.0-4.2 serves its two levels 2:1, so the
normal one never starves (4.3 made it strict), and a consumer's prefetch buffer holds messages the broker
dispatched before a higher one arrived. The profile states no guarantee here, so the figure is reported
and fails nothing.

- **priority_inverted**: a message's first delivery (``receive``) while a message of a higher ``rank``
  (the queue's level for its ``priority``, on the send) had been acknowledged by the broker and was not
  yet delivered to anyone. Measured where the consumer received it: with a prefetch of N, messages
  dispatched before the higher one was published count too (a prefetch of 1 measures the broker).

Evidence: a completed final drain (a message never delivered waits to the end) and at least one first
delivery of a message with a rank.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from chaos.checkers.base import Checker
from chaos.checkers.verdict import Anomaly, Verdict, decide
from chaos.history import OK, Op

INVERTED = "priority_inverted"


class PriorityChecker(Checker):
    name = "priority"

    def __init__(self, deliver_f: str = "receive", send_f: str = "send") -> None:
        super().__init__()
        self.deliver_f = deliver_f
        self.send_f = send_f
        self.fs = frozenset({deliver_f, send_f})
        self.inverted = Anomaly(INVERTED, blocks_validity=False)
        self._waiting: dict[object, int] = {}  # acknowledged, not yet delivered: message -> its rank
        self._waiting_by_rank: Counter[int] = Counter()
        self._delivered: set[object] = set()
        self.delivered_by_rank: Counter[int] = Counter()
        self.inverted_by_rank: Counter[int] = Counter()

    def observe(self, op: Op) -> None:
        value = op.value
        if op.type != OK or not value or value.get("rank").__class__ is not int:
            return
        mid, rank = value.get("id"), value["rank"]
        if op.f == self.send_f:
            if mid not in self._delivered and mid not in self._waiting:
                self._waiting[mid] = rank
                self._waiting_by_rank[rank] += 1
        elif op.f == self.deliver_f and mid not in self._delivered:
            self._first_delivery(mid, rank)

    def _first_delivery(self, mid: object, rank: int) -> None:
        self._delivered.add(mid)
        if self._waiting.pop(mid, None) is not None:
            self._waiting_by_rank[rank] -= 1
        self.delivered_by_rank[rank] += 1
        if any(count > 0 for higher, count in self._waiting_by_rank.items() if higher > rank):
            self.inverted.add(mid)
            self.inverted_by_rank[rank] += 1

    def verdict(self) -> Verdict:
        anomalies = {INVERTED: self.inverted}
        incomplete: dict[str, str] = {}
        if not self.drain.complete:
            incomplete[INVERTED] = self.drain.missing()
        elif not self._delivered:
            incomplete[INVERTED] = "no delivery of a message with a priority rank"
        valid, reason = decide(anomalies, incomplete)
        delivered = len(self._delivered)
        stats: dict[str, Any] = {
            "first_deliveries": delivered,
            "inverted": self.inverted.count,
            "inverted_share": round(self.inverted.count / delivered, 4) if delivered else None,
            "by_rank": {
                str(rank): {"delivered": n, "inverted": self.inverted_by_rank[rank]}
                for rank, n in sorted(self.delivered_by_rank.items())
            },
        }
        return Verdict(self.name, valid, anomalies, stats, reason, incomplete)
