"""Order: per group (key, partition, queue or stream), each consumer sees a producer's messages in the
order they were sent.

Every message carries ``producer`` and ``seq`` (the producer's sequence within the group) and the group
field named by ``by``. A message seen before (a redelivery) is never an order anomaly — duplicates are
the delivery checker's business. A first delivery that arrives after a later message of the same
producer is a ``reordered`` anomaly, unless the broker flagged it ``redelivered`` and the profile
declares that a requeue may reorder (RabbitMQ ``nack(requeue=True)``, Redis XAUTOCLAIM).
"""

from __future__ import annotations

from typing import Any

from chaos.checkers.base import Checker
from chaos.checkers.verdict import Anomaly, Verdict, decide
from chaos.history import OK, Op


class OrderChecker(Checker):
    name = "order"

    def __init__(self, by: str = "group", consume_f: str = "receive", allow_requeue_reorder: bool = False) -> None:
        super().__init__()
        self.by = by
        self.consume_f = consume_f
        self.allow_requeue_reorder = allow_requeue_reorder
        self._last: dict[tuple[str, Any, Any], int] = {}
        self._seen: set[Any] = set()
        self.reordered = Anomaly("reordered")
        self.excused = 0
        self.unordered = 0
        self.checked = 0

    def observe(self, op: Op) -> None:
        if op.f != self.consume_f or op.type != OK:
            return
        value = op.value
        mid = value.get("id")
        if mid in self._seen:
            return
        self._seen.add(mid)
        seq = value.get("seq")
        group = value.get(self.by)
        if seq is None or group is None:
            self.unordered += 1
            return
        self.checked += 1
        key = (op.process, group, value.get("producer"))
        last = self._last.get(key)
        if last is not None and seq < last:
            if self.allow_requeue_reorder and value.get("redelivered"):
                self.excused += 1
            else:
                self.reordered.add(mid)
            return
        self._last[key] = seq

    def verdict(self) -> Verdict:
        anomalies = {"reordered": self.reordered}
        incomplete = {}
        if not self.drain.complete:  # a first delivery still to come may arrive out of order
            incomplete["reordered"] = self.drain.missing()
        elif not self.checked:
            incomplete["reordered"] = "no ordered messages were consumed"
        valid, reason = decide(anomalies, incomplete)
        stats = {
            "checked": self.checked,
            "without_order_fields": self.unordered,
            "excused_requeue_reorders": self.excused,
            "by": self.by,
        }
        return Verdict(self.name, valid, anomalies, stats, reason, incomplete)
