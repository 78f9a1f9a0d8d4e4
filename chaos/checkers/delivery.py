"""Delivery (Jepsen's total-queue): every acknowledged send is consumed, nothing twice, nothing invented.

- **lost**: send ``ok``, never consumed after a completed final drain.
- **duplicated**: consumed more than once (fails the check unless the profile allows at-least-once).
  Where the broker names the record (Kafka ``partition:offset`` as ``record``, a Redis stream ``entry``),
  distinct records count, so a redelivery of the same record is not a duplicate but a second write is.
- **unexpected**: consumed but never sent.
- **failed_but_delivered**: consumed although its send definitely failed (``fail``): the client was told
  the write did not happen, and it did.
- **recovered**: send ``info`` (unknown outcome) that was consumed — fine, reported for the record.
- **unconfirmed_lost**: send without any acknowledgement (``info`` or no completion) never consumed —
  reported apart, failing only when the profile says fire-and-forget loss counts (catalogue R4).
- **truncated**: send ``ok`` and consumed, but missing from a completed final read of the whole log (an
  ``audit`` op, where the broker keeps what was consumed): the log lost a write after someone read it,
  e.g. an out-of-sync replica elected leader. Anyone reading later never sees it.

Evidence: every kind needs a completed final drain; ``truncated`` also needs a completed audit once one
was started (a failed audit leaves it unknown, never passed); ``lost`` needs at least one acknowledged send.

"Consumed" is the op ``consume_f`` (``receive`` by default; ``process`` for workloads that separate
delivery from processing, so delivered-but-never-processed counts as lost).
"""

from __future__ import annotations

from collections import Counter

from chaos.checkers.base import Checker, SendTracker
from chaos.checkers.verdict import Anomaly, Verdict, decide, every_kind
from chaos.history import FAIL, INFO, INVOKE, OK, Op

KINDS = ("lost", "truncated", "duplicated", "unexpected", "failed_but_delivered", "recovered", "unconfirmed_lost")


class DeliveryChecker(Checker):
    name = "delivery"

    def __init__(
        self,
        consume_f: str = "receive",
        send_f: str = "send",
        allow_duplicates: bool = False,
        fail_on_unconfirmed_loss: bool = False,
        ignore_kinds: tuple[str, ...] = ("poison",),
    ) -> None:
        super().__init__()
        self.ignore_kinds = ignore_kinds
        self.ignored: set[object] = set()
        self.consume_f = consume_f
        self.sends = SendTracker(send_f)
        self.allow_duplicates = allow_duplicates
        self.fail_on_unconfirmed_loss = fail_on_unconfirmed_loss
        self.consumed: Counter[object] = Counter()
        self._records: set[tuple[object, object]] = set()
        self.retained: set[object] | None = None  # ids a completed final read of the log found
        self.audit_started = False
        self.audit_error = ""

    def observe(self, op: Op) -> None:
        if op.f == "audit":
            self._observe_audit(op)
            return
        if op.f == self.consume_f:
            if op.type == OK and op.value:
                value = op.value
                record = value.get("record") or value.get("entry")
                if record is not None:  # count distinct log records: a redelivery is not a second write
                    key = (value.get("id"), record)
                    if key in self._records:
                        return
                    self._records.add(key)
                self.consumed[value.get("id")] += 1
            return
        if self.sends.observe(op) and op.value.get("kind") in self.ignore_kinds:
            self.ignored.add(op.value.get("id"))

    def _observe_audit(self, op: Op) -> None:
        if op.type == INVOKE:
            self.audit_started = True
        elif op.type == OK and op.value:
            self.retained = set(op.value.get("ids", ()))
            self.audit_error = ""
        elif op.type != OK:
            self.audit_error = op.error or "no result"

    def _incomplete(self, anomalies: dict[str, Anomaly], acknowledged: int) -> dict[str, str]:
        if not self.drain.complete:
            return every_kind(anomalies, self.drain.missing())
        incomplete: dict[str, str] = {}
        if self.audit_started and self.retained is None:
            incomplete["truncated"] = f"the final log audit did not complete ({self.audit_error or 'no result'})"
        if not acknowledged:
            incomplete["lost"] = "no send was acknowledged: nothing to lose"
        return incomplete

    def verdict(self) -> Verdict:
        anomalies = {kind: Anomaly(kind) for kind in KINDS}
        anomalies["duplicated"].blocks_validity = not self.allow_duplicates
        anomalies["recovered"].blocks_validity = False
        anomalies["unconfirmed_lost"].blocks_validity = self.fail_on_unconfirmed_loss
        drained = self.drain.complete
        status = self.sends.status
        for mid, outcome in status.items():
            if mid in self.ignored:
                continue  # poison: the dead-letter checker's business
            times = self.consumed.get(mid, 0)
            if outcome == OK:
                if times == 0 and drained:
                    anomalies["lost"].add(mid)
                elif times and self.retained is not None and mid not in self.retained:
                    anomalies["truncated"].add(mid)
            elif outcome in (INFO, INVOKE):
                if times:
                    anomalies["recovered"].add(mid)
                elif drained:
                    anomalies["unconfirmed_lost"].add(mid)
        for mid, times in self.consumed.items():
            if times > 1:
                anomalies["duplicated"].add(mid)
            if mid not in status:
                anomalies["unexpected"].add(mid)
            elif status[mid] == FAIL:
                anomalies["failed_but_delivered"].add(mid)
        outcomes = Counter(status.values())
        acknowledged = sum(1 for mid, o in status.items() if o == OK and mid not in self.ignored)
        incomplete = self._incomplete(anomalies, acknowledged)
        valid, reason = decide(anomalies, incomplete)
        stats = {
            "sent": len(status),
            "send_ok": outcomes[OK],
            "send_fail": outcomes[FAIL],
            "send_info": outcomes[INFO] + outcomes[INVOKE],
            "consumed_distinct": len(self.consumed),
            "consumed_total": sum(self.consumed.values()),
            "drain_complete": drained,
            "audited": self.retained is not None,
        }
        return Verdict(self.name, valid, anomalies, stats, reason, incomplete)
