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
- **zombie_processed** (``owners``: consumers record their ``assign`` and ``revoke`` ops, and reads carry
  ``partition``): a consumer processed a record of a partition while the group had assigned it to
  another consumer. A member that stalls past Kafka's ``max.poll.interval.ms`` is put out of its group
  and its partitions go to another, which processes again from the last commit; the stalled one, back,
  finishes its batch anyway — before it polls and learns it lost them — so two consumers work one key at
  once and the old records' processing lands after newer ones'. Every delivery counts here, not only
  first ones: the zombie's records were mostly processed already by the new owner. Only consumers that
  recorded an assignment are judged (a reader outside the group owns nothing). Needs at least one
  recorded assignment.
"""

from __future__ import annotations

import operator
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from chaos.checkers.base import Checker
from chaos.checkers.verdict import Anomaly, Verdict, decide
from chaos.history import OK, Op

# What a consumer records when the group hands it partitions or takes them back.
OWNERSHIP_FS = ("assign", "revoke")
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
        owners: bool = False,
    ) -> None:
        super().__init__()
        self.owners = owners
        self._owner: dict[Any, str] = {}  # partition -> the consumer it was last assigned to (still held)
        self._members: set[str] = set()  # the consumers that recorded an assignment: group members
        self.assignments = 0
        self.zombie = Anomaly("zombie_processed")
        self.by = by
        self.consume_f = consume_f
        self.allow_requeue_reorder = allow_requeue_reorder
        self.across_consumers = across_consumers
        self.positions = positions
        self.fs = frozenset({consume_f, *OWNERSHIP_FS}) if owners else frozenset({consume_f})
        self._last: dict[tuple[Any, ...], int] = {}
        self._seen: set[Any] = set()
        self._placed: defaultdict[tuple[Any, Any, Any], list[Placed]] = defaultdict(list)
        self.reordered = Anomaly("reordered")
        self.excused = 0
        self.unordered = 0
        self.checked = 0

    def observe(self, op: Op) -> None:
        if op.f in OWNERSHIP_FS:
            self._observe_ownership(op)
        elif op.f == self.consume_f:
            self._on_read(op)

    def handler(self, f: str) -> Callable[[Op], None]:
        """Reads straight to their method, without ``observe``'s tests (it runs once per read)."""
        if f == self.consume_f:
            return self._on_read
        return self._observe_ownership if f in OWNERSHIP_FS else self.observe

    def _on_read(self, op: Op) -> None:
        if op.type != OK:
            return
        value = op.value
        if self.owners:
            self._check_owner(op, value)
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

    def _observe_ownership(self, op: Op) -> None:
        """An ``assign`` hands its partitions to ``op.process``; a ``revoke`` takes back those it held."""
        if op.type != OK or not self.owners:
            return
        partitions = (op.value or {}).get("partitions") or ()
        if op.f == "assign":
            self.assignments += 1
            self._members.add(op.process)
            for partition in partitions:
                self._owner[partition] = op.process
            return
        for partition in partitions:
            if self._owner.get(partition) == op.process:
                del self._owner[partition]

    def _check_owner(self, op: Op, value: dict[str, Any]) -> None:
        """Only a group member is judged: a reader outside the group (the exactly-once pipeline's output
        reader, whose ``process`` ops carry the output topic's partitions) owns nothing."""
        if op.process not in self._members:
            return
        partition = value.get("partition")
        owner = self._owner.get(partition)
        if owner is not None and owner != op.process:
            where = f"{partition}:{value.get('offset')}"
            self.zombie.add(
                f"{op.process} processed {value.get('id')} at {where} while {owner} owned partition {partition}"
            )

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
        if self.owners:
            anomalies["zombie_processed"] = self.zombie
            if not self.drain.complete:
                incomplete["zombie_processed"] = self.drain.missing()
            elif not self.assignments:
                incomplete["zombie_processed"] = "no consumer recorded an assignment"
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
