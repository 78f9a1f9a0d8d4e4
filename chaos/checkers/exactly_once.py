"""Exactly-once for Kafka consume-transform-produce with transactions.

History shape: inputs are ``send`` ops (value ``id``); each transaction is a ``txn`` op (value ``txn``,
``inputs``) completing ``ok`` (committed), ``fail`` (aborted) or ``info`` (unknown); a read_committed
consumer of the output records ``receive`` ops with value ``record`` (the output record, e.g.
``partition:offset``; ``id`` when absent), ``source`` (the input it came from), ``txn`` and, for a
consume-transform-produce output, ``source_txn`` (the transaction that wrote its input).

- **lost**: an acknowledged input never appears in the output (needs a completed drain).
- **duplicated**: an input appears in more than one distinct output record (the processor wrote twice).
- **aborted_read** (G1a): a record of an aborted transaction was read — or a record derived from one
  (a processor that read an aborted input and transformed it).
- **uncommitted_read**: a record of a transaction with no outcome at all was read (reported; the
  transaction may have committed, so it does not fail the check).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from chaos.checkers.base import Checker, SendTracker
from chaos.checkers.verdict import Anomaly, Verdict, decide, every_kind
from chaos.history import FAIL, INFO, INVOKE, OK, Op


class ExactlyOnceChecker(Checker):
    name = "exactly_once"

    def __init__(self, output_f: str = "receive", txn_f: str = "txn", send_f: str = "send") -> None:
        super().__init__()
        self.output_f = output_f
        self.txn_f = txn_f
        self.inputs = SendTracker(send_f)
        self.txn_outcome: dict[Any, str] = {}
        self.outputs_of: defaultdict[Any, set[Any]] = defaultdict(set)
        self.read_txn: dict[Any, tuple[Any, ...]] = {}  # output record -> its txn (and its input's txn)
        self.reads = 0

    def observe(self, op: Op) -> None:
        if op.f == self.output_f:
            if op.type == OK:
                self.reads += 1
                value = op.value
                record = value.get("record", value.get("id"))  # e.g. "partition:offset"
                self.outputs_of[value.get("source")].add(record)
                txns = tuple(t for t in (value.get("txn"), value.get("source_txn")) if t is not None)
                if txns:
                    self.read_txn[record] = txns
            return
        if op.f == self.txn_f:
            txn = op.value.get("txn")
            if op.type == INVOKE:
                self.txn_outcome.setdefault(txn, INVOKE)
            else:
                self.txn_outcome[txn] = op.type
            return
        self.inputs.observe(op)

    def verdict(self) -> Verdict:
        anomalies = {k: Anomaly(k) for k in ("lost", "duplicated", "aborted_read", "uncommitted_read")}
        anomalies["uncommitted_read"].blocks_validity = False
        drained = self.drain.complete
        for mid, outcome in self.inputs.status.items():
            outputs = self.outputs_of.get(mid, ())
            if outcome == OK and not outputs and drained:
                anomalies["lost"].add(mid)
            if len(outputs) > 1:
                anomalies["duplicated"].add(mid)
        for record, txns in self.read_txn.items():
            outcomes = [self.txn_outcome.get(txn) for txn in txns]
            if FAIL in outcomes:
                anomalies["aborted_read"].add(record)
            elif any(o in (None, INVOKE) for o in outcomes):
                anomalies["uncommitted_read"].add(record)
        incomplete = every_kind(anomalies, "" if drained else self.drain.missing())
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
            "drain_complete": drained,
        }
        return Verdict(self.name, valid, anomalies, stats, reason, incomplete)
