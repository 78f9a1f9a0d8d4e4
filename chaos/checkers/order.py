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
- **reordered_in_log** (``positions``: reads carry ``partition`` and ``offset``): where each message was
  first read, in offset order, a producer's message of a group stands after a later one of its own: the
  log holds them out of send order (a retry overtaking, without idempotence), so every reader sees them
  so, whichever consumer read them. A position two different messages were read at (a rewritten log:
  the delivery checker's ``inconsistent_offsets``) is left out. Readers going back within their own
  session are the delivery checker's ``nonmonotonic``.
"""

from __future__ import annotations

import operator
from collections import Counter, defaultdict
from typing import Any

from chaos.checkers.base import Checker
from chaos.checkers.verdict import Anomaly, Verdict, decide
from chaos.history import OK, Op

Placed = tuple[int, int, Any]  # (offset, seq, id) where a message was first read


class OrderChecker(Checker):
    name = "order"

    def __init__(
        self,
        by: str = "group",
        consume_f: str = "receive",
        allow_requeue_reorder: bool = False,
        across_consumers: bool = False,
        positions: bool = False,
    ) -> None:
        super().__init__()
        self.by = by
        self.consume_f = consume_f
        self.allow_requeue_reorder = allow_requeue_reorder
        self.across_consumers = across_consumers
        self.positions = positions
        self.fs = frozenset({consume_f})
        self._last: dict[tuple[Any, ...], int] = {}
        self._seen: set[Any] = set()
        self._placed: defaultdict[tuple[Any, Any, Any], list[Placed]] = defaultdict(list)
        self.reordered = Anomaly("reordered")
        self.excused = 0
        self.unordered = 0
        self.checked = 0

    def observe(self, op: Op) -> None:
        if op.f != self.consume_f or op.type != OK:
            return
        value = op.value
        mid = value.get("id")
        seq = value.get("seq")
        group = value.get(self.by)
        if mid is None or seq is None or group is None:
            self.unordered += 1
            return
        seen = self._seen
        before = len(seen)
        seen.add(mid)
        if len(seen) == before:  # seen already: one hash lookup, not two (this runs once per read)
            return
        self.checked += 1
        producer = value.get("producer")
        if self.positions:
            offset, partition = value.get("offset"), value.get("partition")
            if offset.__class__ is int and offset >= 0 and partition is not None:
                self._placed[(partition, producer, group)].append((offset, seq, mid))
        key = (group, producer) if self.across_consumers else (op.process, group, producer)
        last = self._last.get(key)
        if last is not None and seq < last:
            if self.allow_requeue_reorder and value.get("redelivered"):
                self.excused += 1
            else:
                self.reordered.add(mid)
            return
        self._last[key] = seq

    def _rewritten(self) -> dict[Any, set[int]]:
        """Per partition, the offsets two different messages were first read at, whichever their groups: a
        log rewritten there (truncated and written again) holds messages of two lives side by side, whose
        order says nothing about the producer's. Each message is placed once, so an offset placed twice
        is one rewritten (most partitions have none: counted in C before any closer look)."""
        offsets: defaultdict[Any, list[int]] = defaultdict(list)
        for (partition, _producer, _group), placed in self._placed.items():
            offsets[partition].extend(map(operator.itemgetter(0), placed))
        rewritten: dict[Any, set[int]] = {}
        for partition, placed_at in offsets.items():
            if len(set(placed_at)) < len(placed_at):
                rewritten[partition] = {offset for offset, times in Counter(placed_at).items() if times > 1}
        return rewritten

    def _log_order(self) -> Anomaly:
        """Per partition, producer and group, first reads in offset order: a seq below one before it."""
        anomaly = Anomaly("reordered_in_log")
        rewritten_at = self._rewritten()
        by_offset, by_seq = operator.itemgetter(0), operator.itemgetter(1)
        for (partition, _producer, _group), placed in self._placed.items():
            placed.sort(key=by_offset)
            seqs = list(map(by_seq, placed))
            if seqs == sorted(seqs):  # in send order (leaving rewritten offsets out keeps it so): nearly all
                continue
            rewritten = rewritten_at.get(partition, set())
            high: Placed | None = None
            for entry in placed:
                offset, seq, mid = entry
                if offset in rewritten:
                    continue
                if high is not None and seq < high[1]:
                    later = f"{high[2]} (seq {high[1]}) at {partition}:{high[0]}"
                    anomaly.add(f"{mid} (seq {seq}) at {partition}:{offset}, after {later}")
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
            if "reordered" in incomplete:
                incomplete["reordered_in_log"] = incomplete["reordered"]
            elif not self._placed:
                incomplete["reordered_in_log"] = "no read carried a partition and an offset"
        valid, reason = decide(anomalies, incomplete)
        stats = {
            "checked": self.checked,
            "without_order_fields": self.unordered,
            "excused_requeue_reorders": self.excused,
            "by": self.by,
            "across_consumers": self.across_consumers,
        }
        return Verdict(self.name, valid, anomalies, stats, reason, incomplete)
