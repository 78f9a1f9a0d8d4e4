"""Dead-letter queues: poison goes to the DLQ exactly once, good messages never do, and good messages are
not held up behind poison.

Sends carry ``kind`` (``poison`` or ``good``); deliveries to the consumer are ``consume_f`` ops; reads of
the DLQ are ``dead_letter`` ops with ``id``, ``reason`` and, where the broker reports one,
``delivery_count``; the read itself ends with one ``dead_letter_read`` op: ``ok`` when the DLQ was read
to its end, ``info`` when it could not be (then what the DLQ holds is unknown: no DLQ anomaly is decided).

- **poison_not_dead_lettered**: acknowledged poison absent from the DLQ after the drain. Under a length cap
  (``keep_newest``, Redis ``MAXLEN``) or a tolerated age cap (``trimmed_by_age``, Redis ``MINID``) poison the
  cap allowed to drop is **poison_trimmed** instead (reported, failing nothing), and poison it may or may not
  have allowed to drop leaves this kind unknown.
- **dead_lettered_twice**: a message found in the DLQ more than once (reported without failing when the
  profile accepts at-least-once dead-lettering).
- **dead_letter_without_reason**: a DLQ entry with no reason recorded.
- **good_dead_lettered**: a good message in the DLQ — unless the broker gave a reason the profile
  tolerates (``tolerated_reasons``: ``expired`` under a stated expiry), then it is
  **dead_lettered_by_policy** (reported, failing nothing: whether it was old enough is the delivery
  checker's ``expired`` or ``lost``). A good message whose publish the broker refused and dead-lettered
  with the reason its full queue gives (``refusal_reason``: RabbitMQ ``reject-publish-dlx``, ``maxlen``) is
  **refused_dead_lettered** (reported, failing nothing): the publisher was not told it was accepted, and
  the queue's overflow mode keeps the refused message there. One whose publish was confirmed stays
  ``good_dead_lettered``.
- **poison_processed**: poison that a consumer reported processed (a ``process_f`` op), as if it were good:
  a handler that gave up failing and let it through — whether or not it also reached the DLQ.
- **over_delivered**: poison delivered to consumers more than ``max_deliveries`` times.
- **head_of_line**: a good message consumed more than ``max_head_of_line_s`` after it was sent
  (only with a declared bound, ``guarantees.max_head_of_line_s``; the delay is always measured and
  reported).
- **dead_lettered_off_limit** (reported, not failing): poison dead-lettered after a number of deliveries
  other than the ``dead_letter_after`` the configuration allows (RabbitMQ: ``x-delivery-limit`` + 1, a
  message "returned more times than the limit"). Evidence, not noise: an off-by-one between versions,
  or a delivery the broker counted that no consumer saw (its connection died with it). Poison a policy
  dead-lettered (reason ``expired`` or ``maxlen``) before its limit is not judged so. Each entry names
  the deliveries seen, the configured number and the count the broker put on the dead letter;
  ``stats.deliveries_before_dead_letter`` counts messages by deliveries seen.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from chaos.checkers.base import TRIM_F, Checker, LengthCap, MinIdThresholds, SendTracker
from chaos.checkers.verdict import Anomaly, Verdict, decide, every_kind, percentiles
from chaos.history import INFO, INVOKE, OK, Op

KINDS = (
    "poison_not_dead_lettered",
    "dead_lettered_twice",
    "dead_letter_without_reason",
    "good_dead_lettered",
    "poison_processed",
    "over_delivered",
    "head_of_line",
    "dead_lettered_off_limit",
)
# What a read of the dead-letter queue decides (unknown when the read did not complete).
FROM_THE_DLQ = (
    "poison_not_dead_lettered",
    "dead_lettered_twice",
    "dead_letter_without_reason",
    "good_dead_lettered",
    "dead_lettered_off_limit",
)
READ_F = "dead_letter_read"
# Reasons a broker dead-letters a message for that are not its delivery count: a TTL, a full queue.
POLICY_REASONS = frozenset({"expired", "maxlen"})


class DeadLetterChecker(Checker):
    name = "dead_letter"

    def __init__(
        self,
        max_deliveries: int | None = None,
        consume_f: str = "receive",
        dlq_f: str = "dead_letter",
        max_head_of_line_s: float | None = None,
        allow_duplicates: bool = False,
        process_f: str = "process",
        dead_letter_after: int | None = None,
        keep_newest: int | None = None,
        tolerated_reasons: frozenset[str] = frozenset(),
        trimmed_by_age: bool = False,
        refusal_reason: str | None = None,
    ) -> None:
        """``tolerated_reasons``: the broker's dead-letter reasons a good message may carry by the profile's
        stated policy (``expired``, where it states an expiry). ``trimmed_by_age``: the stream trims by
        age (each send's or trim's ``minid``) and the profile tolerates it. ``refusal_reason``: the dead-letter reason
        of a publish the full queue refused (RabbitMQ ``reject-publish-dlx``: ``maxlen``); None: none is."""
        super().__init__()
        self.dead_letter_after = dead_letter_after
        self.tolerated_reasons = tolerated_reasons
        self.reason_of: dict[Any, str] = {}  # message -> the reason on its first dead letter
        self.cap = LengthCap(keep_newest) if keep_newest is not None else None
        self.age_cap = MinIdThresholds() if trimmed_by_age else None
        self.refusal_reason = refusal_reason
        self.fs = frozenset({consume_f, dlq_f, READ_F, process_f, "send", TRIM_F})
        self.reported_count: dict[Any, int] = {}  # the broker's count on each dead letter, where it gives one
        self.process_f = process_f
        self.processed: set[Any] = set()  # ids a consumer reported processed
        self.allow_duplicates = allow_duplicates
        self.max_deliveries = max_deliveries
        self.consume_f = consume_f
        self.dlq_f = dlq_f
        self.max_head_of_line_s = max_head_of_line_s
        self.sends = SendTracker(times=True)
        self.kind: dict[Any, str] = {}
        self.deliveries: Counter[Any] = Counter()
        self.first_delivery: dict[Any, int] = {}
        self.dead: Counter[Any] = Counter()
        self.no_reason: list[Any] = []
        self.reasons: set[str] = set()  # as the broker labels them (semantics that drift between versions)
        self.reported_counts: set[int] = set()  # the delivery count the broker reports at dead-lettering
        self.read_complete = False
        self.read_error = ""

    def observe(self, op: Op) -> None:
        if op.f == TRIM_F:
            if self.age_cap is not None:
                self.age_cap.observe_trim(op)
            return
        if op.f == READ_F or (op.f == self.dlq_f and op.type not in (OK, INVOKE)):
            self._observe_read(op)
            return
        if op.type != OK and op.f in (self.consume_f, self.dlq_f):
            return
        value = op.value
        if op.f == self.process_f and op.type == OK:
            self.processed.add(value.get("id"))
        if op.f == self.consume_f:
            mid = value.get("id")
            self.deliveries[mid] += 1
            self.first_delivery.setdefault(mid, op.time)
        elif op.f == self.dlq_f:
            mid = value.get("id")
            self.dead[mid] += 1
            if not value.get("reason"):
                self.no_reason.append(mid)
            else:
                self.reasons.add(str(value["reason"]))
                self.reason_of.setdefault(mid, str(value["reason"]))
            if isinstance(value.get("delivery_count"), int):
                self.reported_counts.add(value["delivery_count"])
                self.reported_count[mid] = value["delivery_count"]
        elif self.sends.observe(op) and value.get("kind") and value.get("id") is not None:
            self.kind[value["id"]] = value["kind"]
            if self.cap is not None and op.type == OK:
                self.cap.observe_ack(value)
            if self.age_cap is not None:
                self.age_cap.observe_send(op)

    def _observe_read(self, op: Op) -> None:
        if op.type == OK:
            self.read_complete = True
        elif op.type != INVOKE:
            self.read_complete = False
            self.read_error = op.error or "no result"

    def _incomplete(self, anomalies: dict[str, Anomaly]) -> dict[str, str]:
        if not self.drain.complete:
            return every_kind(anomalies, self.drain.missing())
        if not any(k == "poison" for k in self.kind.values()):
            return every_kind(anomalies, "no poison message was sent")
        if not self.read_complete:
            why = f"the dead-letter queue was not read to its end ({self.read_error or 'no read recorded'})"
            return dict.fromkeys(FROM_THE_DLQ, why)
        return {}

    def _delays(self) -> list[float]:
        delays = []
        for mid, sent_at in self.sends.ok_time.items():
            if self.kind.get(mid, "good") == "good" and mid in self.first_delivery:
                delays.append(max(0, self.first_delivery[mid] - sent_at) / 1e9)
        return sorted(delays)

    def _off_limit(self, anomaly: Anomaly) -> Counter[int]:
        """Each dead-lettered poison message's deliveries as consumers saw them, against the configured
        number; by count of deliveries seen."""
        seen: Counter[int] = Counter()
        for mid in self.dead:
            if self.kind.get(mid) != "poison" or self.reason_of.get(mid) in POLICY_REASONS:
                continue
            deliveries = self.deliveries.get(mid, 0)
            seen[deliveries] += 1
            if self.dead_letter_after is not None and deliveries != self.dead_letter_after:
                broker = self.reported_count.get(mid)
                said = "none" if broker is None else broker
                anomaly.add(
                    f"{mid} (delivered {deliveries} times, the configuration allows {self.dead_letter_after}; "
                    f"the broker's count on the dead letter: {said})"
                )
        return seen

    def _trim_fate(self, mid: object, status: dict[Any, str], uncertain: int) -> str:
        """Whether the profile's cap (by length, or by age) allowed ``mid``'s drop."""
        if self.cap is not None:
            return self.cap.fate(mid, uncertain)
        if self.age_cap is not None:
            return self.age_cap.fate(mid, status)
        return LengthCap.NOT_ALLOWED

    def verdict(self) -> Verdict:
        anomalies = {k: Anomaly(k) for k in KINDS}
        anomalies["dead_lettered_twice"].blocks_validity = not self.allow_duplicates
        anomalies["dead_lettered_off_limit"].blocks_validity = False
        if self.tolerated_reasons:
            anomalies["dead_lettered_by_policy"] = Anomaly("dead_lettered_by_policy", blocks_validity=False)
        if self.refusal_reason is not None:
            anomalies["refused_dead_lettered"] = Anomaly("refused_dead_lettered", blocks_validity=False)
        drained = self.drain.complete
        incomplete = self._incomplete(anomalies)
        # What an unfinished drain or read did not find is no evidence of absence.
        absence_counts = "poison_not_dead_lettered" not in incomplete
        status = self.sends.status
        uncertain = sum(1 for outcome in status.values() if outcome in (INFO, INVOKE))
        maybe_trimmed = 0
        if self.cap is not None or self.age_cap is not None:
            anomalies["poison_trimmed"] = Anomaly("poison_trimmed", blocks_validity=False)
        for mid, outcome in status.items():
            poison = self.kind.get(mid) == "poison"
            if poison and outcome == OK and not self.dead.get(mid) and absence_counts:
                fate = self._trim_fate(mid, status, uncertain)
                if fate == LengthCap.TRIMMED:  # dropped by the length cap before it could be dead-lettered
                    anomalies["poison_trimmed"].add(mid)
                elif fate == LengthCap.MAYBE:
                    maybe_trimmed += 1
                else:
                    anomalies["poison_not_dead_lettered"].add(mid)
            if poison and self.max_deliveries is not None and self.deliveries.get(mid, 0) > self.max_deliveries:
                anomalies["over_delivered"].add(mid)
        for mid, times in self.dead.items():
            if times > 1:
                anomalies["dead_lettered_twice"].add(mid)
            if self.kind.get(mid, "good") != "good":
                continue
            reason = self.reason_of.get(mid)
            if reason in self.tolerated_reasons:
                anomalies["dead_lettered_by_policy"].add(mid)
            elif reason is not None and reason == self.refusal_reason and status.get(mid) != OK:
                anomalies["refused_dead_lettered"].add(mid)  # nacked (or its answer lost): not accepted
            else:
                anomalies["good_dead_lettered"].add(mid)
        for mid in self.no_reason:
            anomalies["dead_letter_without_reason"].add(mid)
        for mid in self.processed:
            if self.kind.get(mid) == "poison":
                anomalies["poison_processed"].add(mid)
        seen_before_dead = self._off_limit(anomalies["dead_lettered_off_limit"])
        delays = self._delays()
        if self.max_head_of_line_s is not None:
            for mid, sent_at in self.sends.ok_time.items():
                first = self.first_delivery.get(mid)
                late = first is not None and (first - sent_at) / 1e9 > self.max_head_of_line_s
                if self.kind.get(mid, "good") == "good" and late:
                    anomalies["head_of_line"].add(mid)
        if maybe_trimmed and "poison_not_dead_lettered" not in incomplete:
            incomplete["poison_not_dead_lettered"] = (
                f"{maybe_trimmed} poison messages never dead-lettered may or may not have been trimmed by the "
                "length cap (sends of unknown outcome could make up the entries after them)"
            )
        valid, reason = decide(anomalies, incomplete)
        stats = {
            "poison_sent": sum(1 for k in self.kind.values() if k == "poison"),
            "dead_lettered": len(self.dead),
            "max_poison_deliveries": max(
                (self.deliveries.get(m, 0) for m, k in self.kind.items() if k == "poison"), default=0
            ),
            "head_of_line_s": percentiles(delays),
            "reasons": sorted(self.reasons),
            "reported_delivery_counts": sorted(self.reported_counts),
            "dead_letter_after": self.dead_letter_after,
            "deliveries_before_dead_letter": {str(n): c for n, c in sorted(seen_before_dead.items())},
            "drain_complete": drained,
            "dead_letter_queue_read": self.read_complete,
        }
        return Verdict(self.name, valid, anomalies, stats, reason, incomplete)
