"""Order: per group (key, partition, queue or stream), a producer's messages are consumed in the order they
were sent.

Every message carries ``producer`` and ``seq`` (the producer's sequence within the group) and the group
field named by ``by``; a message without them (or without an ``id``) is counted, not judged, and never
stops the check.

- **reordered**: a first delivery that arrives after a later message of the same producer and group.
  A message seen before (a redelivery) is never an order anomaly — duplicates are the delivery checker's
  business — and a first delivery the broker flagged ``redelivered`` is excused where the profile
  declares that a requeue may reorder (RabbitMQ ``nack(requeue=True)``, Redis XAUTOCLAIM). Judged per
  consumer where consumers share a queue (competing consumers promise no order between them), and
  across consumers where each group is read by one consumer at a time (``across_consumers``: a Kafka
  partition's owner), so a rebalance that lets two consumers work one key at once is caught.
- **reordered_in_log** (``positions``: acknowledgements carry ``partition`` and ``offset``): a producer's
  message acknowledged at an offset below one of its earlier messages of the same group: the log holds
  them out of send order (a retry overtaking, without idempotence), so every reader sees them so.
  Readers going back within their own session are the delivery checker's ``nonmonotonic``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from chaos.checkers.base import Checker
from chaos.checkers.verdict import Anomaly, Verdict, decide
from chaos.history import OK, Op

Logged = tuple[int, int, Any]  # (seq, offset, id)


class OrderChecker(Checker):
    name = "order"

    def __init__(
        self,
        by: str = "group",
        consume_f: str = "receive",
        allow_requeue_reorder: bool = False,
        across_consumers: bool = False,
        positions: bool = False,
        send_f: str = "send",
    ) -> None:
        super().__init__()
        self.by = by
        self.consume_f = consume_f
        self.allow_requeue_reorder = allow_requeue_reorder
        self.across_consumers = across_consumers
        self.positions = positions
        self.send_f = send_f
        self._last: dict[tuple[Any, ...], int] = {}
        self._seen: set[Any] = set()
        self._logged: defaultdict[tuple[Any, Any, Any], list[Logged]] = defaultdict(list)
        self.reordered = Anomaly("reordered")
        self.excused = 0
        self.unordered = 0
        self.checked = 0

    def observe(self, op: Op) -> None:
        if op.type != OK:
            return
        if op.f == self.consume_f:
            self._observe_delivery(op)
        elif self.positions and op.f == self.send_f:
            value = op.value
            offset, seq = value.get("offset"), value.get("seq")
            if offset.__class__ is int and offset >= 0 and seq is not None and value.get("partition") is not None:
                key = (value["partition"], value.get("producer"), value.get(self.by))
                self._logged[key].append((seq, offset, value.get("id")))

    def _observe_delivery(self, op: Op) -> None:
        value = op.value
        mid = value.get("id")
        seq = value.get("seq")
        group = value.get(self.by)
        if mid is None or seq is None or group is None:
            self.unordered += 1
            return
        if mid in self._seen:
            return
        self._seen.add(mid)
        self.checked += 1
        owner = () if self.across_consumers else (op.process,)
        key = (*owner, group, value.get("producer"))
        last = self._last.get(key)
        if last is not None and seq < last:
            if self.allow_requeue_reorder and value.get("redelivered"):
                self.excused += 1
            else:
                self.reordered.add(mid)
            return
        self._last[key] = seq

    def _log_order(self) -> Anomaly:
        """Per partition, producer and group: sent later, acknowledged at a lower offset."""
        anomaly = Anomaly("reordered_in_log")
        for (partition, _producer, _group), logged in self._logged.items():
            logged.sort(key=lambda entry: entry[0])
            high = logged[0]
            for entry in logged[1:]:
                seq, offset, mid = entry
                if offset < high[1]:
                    earlier = f"{high[2]} (seq {high[0]}) at {partition}:{high[1]}"
                    anomaly.add(f"{mid} (seq {seq}) at {partition}:{offset}, below {earlier}")
                else:
                    high = entry
        return anomaly

    def verdict(self) -> Verdict:
        anomalies = {"reordered": self.reordered}
        incomplete = {}
        if not self.drain.complete:  # a first delivery still to come may arrive out of order
            incomplete["reordered"] = self.drain.missing()
        elif not self.checked:
            incomplete["reordered"] = "no ordered messages were consumed"
        if self.positions:
            anomalies["reordered_in_log"] = self._log_order()
            if not self._logged:
                incomplete["reordered_in_log"] = "no acknowledgement carried a partition, an offset and a seq"
        valid, reason = decide(anomalies, incomplete)
        stats = {
            "checked": self.checked,
            "without_order_fields": self.unordered,
            "excused_requeue_reorders": self.excused,
            "by": self.by,
            "across_consumers": self.across_consumers,
        }
        return Verdict(self.name, valid, anomalies, stats, reason, incomplete)
