"""Builders for histories used by the checker tests (pure data, no brokers)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from chaos.history import FAIL, INFO, INVOKE, NEMESIS, OK, MemoryHistory, Op


class HistoryBuilder:
    """Writes ops with explicit times (ms) so tests read like timelines."""

    def __init__(self) -> None:
        self.history = MemoryHistory()
        self.clock_ms = 0

    def op(self, process: str, type: str, f: str, value: dict[str, Any] | None = None, at_ms: int | None = None) -> Op:
        self.clock_ms = at_ms if at_ms is not None else self.clock_ms + 1
        return self.history.append(Op(process, type, f, value or {}, time=self.clock_ms * 1_000_000))

    def send(self, mid: Any, outcome: str = OK, process: str = "p1", **value: Any) -> None:
        self.op(process, INVOKE, "send", {"id": mid, **value})
        if outcome != INVOKE:
            self.op(process, outcome, "send", {"id": mid, **value})

    def receive(self, mid: Any, process: str = "c1", f: str = "receive", **value: Any) -> None:
        self.op(process, OK, f, {"id": mid, **value})

    def drain(self, process: str = "c1", outcome: str = OK) -> None:
        self.op(process, INVOKE, "drain")
        self.op(process, outcome, "drain")

    def fault(self, name: str, start_ms: int, stop_ms: int | None) -> None:
        self.op(NEMESIS, INFO, "start", {"fault": name}, at_ms=start_ms)
        if stop_ms is not None:
            self.op(NEMESIS, INFO, "stop", {"fault": name}, at_ms=stop_ms)


@dataclass
class Plan:
    """A generated clean queue history and what it contains, for injecting one anomaly."""

    ops: list[Op]
    ok_ids: list[str] = field(default_factory=list)
    info_ids: list[str] = field(default_factory=list)
    received: dict[str, int] = field(default_factory=dict)  # id -> position of its receive op in ops


def generate_clean(rng: random.Random, producers: int, groups: int, messages: int) -> Plan:
    """Producers send sequentially (with retries and unknown outcomes); one consumer per group receives,
    per producer in send order, every acknowledged message once and some unknown-outcome ones; then a
    complete drain. Events of all processes are interleaved at random, respecting causality."""
    sends: list[dict[str, Any]] = []
    seq: dict[tuple[str, int], int] = {}
    for n in range(messages):
        producer = f"p{rng.randrange(producers)}"
        group = rng.randrange(groups)
        seq[(producer, group)] = seq.get((producer, group), -1) + 1
        outcome = rng.choice([OK, OK, OK, OK, INFO, INFO, FAIL])
        lands = outcome == OK or (outcome == INFO and rng.random() < 0.5)
        retries = rng.choice([0, 0, 1]) if outcome == OK else 0
        value = {"id": f"m{n}", "group": group, "producer": producer, "seq": seq[(producer, group)]}
        sends.append({"value": value, "outcome": outcome, "lands": lands, "retries": retries})

    # Each producer's script: for each of its messages, (retries x invoke+info), then invoke+outcome.
    scripts: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for s in sends:
        script = scripts.setdefault(s["value"]["producer"], [])
        for _ in range(s["retries"]):
            script += [(INVOKE, s), (INFO, s)]
        script += [(INVOKE, s), (s["outcome"], s)]
    # Each consumer: the landing messages of its group, per producer in order, producers interleaved.
    consumers: dict[int, list[dict[str, Any]]] = {}
    for g in range(groups):
        per_producer = [
            [s for s in sends if s["lands"] and s["value"]["group"] == g and s["value"]["producer"] == p]
            for p in sorted({s["value"]["producer"] for s in sends})
        ]
        merged: list[dict[str, Any]] = []
        while any(per_producer):
            lane = rng.choice([q for q in per_producer if q])
            merged.append(lane.pop(0))
        consumers[g] = merged

    plan = Plan(ops=[])
    invoked: set[str] = set()
    cursors = {p: 0 for p in scripts} | {f"c{g}": 0 for g in consumers}
    clock = 0
    while True:
        ready = []
        for p, i in cursors.items():
            if p.startswith("p") and i < len(scripts[p]):
                ready.append(p)
            elif p.startswith("c") and i < len(consumers[int(p[1:])]):
                nxt = consumers[int(p[1:])][i]
                if nxt["value"]["id"] in invoked and (nxt["outcome"] != OK or nxt.get("done")):
                    ready.append(p)
        if not ready:
            break
        p = rng.choice(ready)
        clock += 1
        if p.startswith("p"):
            kind, s = scripts[p][cursors[p]]
            if kind == INVOKE:
                invoked.add(s["value"]["id"])
            if kind == OK:
                s["done"] = True
            plan.ops.append(Op(p, kind, "send", dict(s["value"]), time=clock * 1_000_000))
        else:
            s = consumers[int(p[1:])][cursors[p]]
            plan.received[s["value"]["id"]] = len(plan.ops)
            plan.ops.append(Op(p, OK, "receive", dict(s["value"]), time=clock * 1_000_000))
        cursors[p] += 1
    for g in consumers:
        clock += 1
        plan.ops.append(Op(f"c{g}", INVOKE, "drain", time=clock * 1_000_000))
        plan.ops.append(Op(f"c{g}", OK, "drain", time=clock * 1_000_000 + 1))
    plan.ok_ids = [s["value"]["id"] for s in sends if s["outcome"] == OK]
    plan.info_ids = [s["value"]["id"] for s in sends if s["outcome"] == INFO]
    return plan


def reindexed(ops: list[Op]) -> MemoryHistory:
    history = MemoryHistory()
    for op in ops:
        history.append(Op(op.process, op.type, op.f, dict(op.value), op.node, op.error, op.time))
    return history
