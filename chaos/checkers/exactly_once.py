"""Exactly-once for Kafka consume-transform-produce with transactions.

History shape: inputs are ``send`` ops (value ``id``); each transaction is a ``txn`` op (value ``txn``,
``inputs``) completing ``ok`` (committed), ``fail`` (aborted) or ``info`` (unknown); a read_committed
consumer of the output records ``receive`` ops with value ``record`` (the output record, e.g.
``partition:offset``; ``id`` when absent), ``source`` (the input it came from), ``txn`` and, for a
consume-transform-produce output, ``source_txn`` (the transaction that wrote its input).

- **lost**: an acknowledged input never appears in the output (needs a completed drain).
- **duplicated**: an input appears in more than one distinct output record (the processor wrote twice).
- **aborted_read** (G1a): a record of an aborted transaction was read.
- **derived_from_aborted**: a record derived from an aborted input was read (a processor read an input
  its producer aborted, and transformed it): the abort leaked downstream.
- **uncommitted_read**: a record of a transaction with no outcome at all was read (reported; the
  transaction may have committed, so it does not fail the check).
- **derived_from_unknown**: a record derived from an input whose transaction has no known outcome
  (reported, not failing: a read_committed processor sees only committed inputs, so this is evidence
  that the transaction did commit; ``stats.txn_unknown_but_derived`` counts those transactions).
- **torn_transaction**: some of a transaction's writes were read and others never were (needs a
  completed drain): its writes did not become visible together — across the topics it spans too
  (``client.transaction_topics``), which is why this checker judges the whole history, not each
  topic's readers apart. A transaction writes one record per entry of its ``inputs``.

A transaction label must name one transaction: a label invoked again (a restarted producer counting
from 1 again) mixes two outcomes, so the records read of it are not judged, and the kinds that look at
outcomes are unknown, never a pass.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from chaos.checkers.base import Checker, SendTracker
from chaos.checkers.verdict import Anomaly, Verdict, decide, every_kind
from chaos.history import FAIL, INFO, INVOKE, OK, Op

KINDS = (
    "lost",
    "duplicated",
    "aborted_read",
    "derived_from_aborted",
    "uncommitted_read",
    "derived_from_unknown",
    "torn_transaction",
)


class ExactlyOnceChecker(Checker):
    name = "exactly_once"
    across_audiences = True  # a transaction may span topics each read by readers of their own

    def __init__(self, output_f: str = "receive", txn_f: str = "txn", send_f: str = "send") -> None:
        super().__init__()
        self.output_f = output_f
        self.fs = frozenset({output_f, txn_f, send_f})
        self.txn_f = txn_f
        self.inputs = SendTracker(send_f)
        self.txn_outcome: dict[Any, str] = {}
        self.reused: list[Any] = []  # transaction labels invoked more than once
        self.outputs_of: defaultdict[Any, set[Any]] = defaultdict(set)
        self.read_txn: dict[Any, tuple[Any, Any]] = {}  # output record -> (its txn, its input's txn)
        self.writes_of: dict[Any, int] = {}  # txn -> how many records it writes (one per input)
        self.read_of: defaultdict[Any, set[Any]] = defaultdict(set)  # txn -> its records read
        self.reads = 0

    def observe(self, op: Op) -> None:
        if op.f == self.output_f:
            if op.type == OK:
                self.reads += 1
                value = op.value
                record = value.get("record", value.get("id"))  # e.g. "partition:offset"
                self.outputs_of[value.get("source")].add(record)
                txns = (value.get("txn"), value.get("source_txn"))
                if txns != (None, None):
                    self.read_txn[record] = txns
                if txns[0] is not None:
                    self.read_of[txns[0]].add(record)
            return
        if op.f == self.txn_f:
            txn = op.value.get("txn")
            if op.type == INVOKE:
                if txn in self.txn_outcome:
                    self.reused.append(txn)
                self.txn_outcome[txn] = INVOKE
                self.writes_of[txn] = len(op.value.get("inputs") or ())
            else:
                self.txn_outcome[txn] = op.type
            return
        self.inputs.observe(op)

    def verdict(self) -> Verdict:
        anomalies = {k: Anomaly(k) for k in KINDS}
        for reported_only in ("uncommitted_read", "derived_from_unknown"):
            anomalies[reported_only].blocks_validity = False
        drained = self.drain.complete
        for mid, outcome in self.inputs.status.items():
            outputs = self.outputs_of.get(mid, ())
            if outcome == OK and not outputs and drained:
                anomalies["lost"].add(mid)
            if len(outputs) > 1:
                anomalies["duplicated"].add(mid)
        unknown_but_derived = set()
        reused, ambiguous = set(self.reused), []
        for record, (txn, source_txn) in self.read_txn.items():
            if txn in reused or source_txn in reused:
                ambiguous.append(record)
                continue
            own, source = self.txn_outcome.get(txn), self.txn_outcome.get(source_txn)
            if own == FAIL:
                anomalies["aborted_read"].add(record)
            elif txn is not None and own in (None, INVOKE, INFO):
                anomalies["uncommitted_read"].add(record)
            if source == FAIL:
                anomalies["derived_from_aborted"].add(record)
            elif source_txn is not None and source in (None, INVOKE, INFO):
                anomalies["derived_from_unknown"].add(record)
                unknown_but_derived.add(source_txn)
        for txn, writes in self.writes_of.items():
            if txn not in reused and drained and 0 < len(self.read_of.get(txn, ())) < writes:
                anomalies["torn_transaction"].add(txn)
        incomplete = every_kind(anomalies, "" if drained else self.drain.missing())
        if ambiguous:
            shown = ", ".join(map(str, sorted(reused, key=str)[:3]))
            why = (
                f"{len(ambiguous)} records read belong to transaction labels invoked more than once ({shown}): "
                "which outcome they had cannot be told"
            )
            kinds = (
                "aborted_read",
                "derived_from_aborted",
                "uncommitted_read",
                "derived_from_unknown",
                "torn_transaction",
            )
            for kind in kinds:
                incomplete.setdefault(kind, why)
        if drained and not self.inputs.status:
            incomplete["lost"] = "no input was sent"
        valid, reason = decide(anomalies, incomplete)
        outcomes = list(self.txn_outcome.values())
        stats = {
            "inputs": len(self.inputs.status),
            "outputs_read": self.reads,
            "txn_committed": outcomes.count(OK),
            "txn_aborted": outcomes.count(FAIL),
            "txn_unknown": outcomes.count(INFO) + outcomes.count(INVOKE),
            "txn_unknown_but_derived": len(unknown_but_derived),
            "drain_complete": drained,
        }
        return Verdict(self.name, valid, anomalies, stats, reason, incomplete)
