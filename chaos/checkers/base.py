"""Running checkers: one pass over the history for all of them, then timelines for the few anomalies.

Each checker keeps state per distinct message, never per op, so memory follows the number of messages
and not the length of the history. When the history can be read again (a file or a list), a second
pass collects the events of the first few anomalous message ids and the faults around them.
"""

from __future__ import annotations

import bisect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from chaos.checkers.verdict import Verdict
from chaos.history import FAIL, INFO, INVOKE, NEMESIS, OK, OPERATOR, Op

TIMELINE_MARGIN_NS = 2_000_000_000
# An op that lists more ids than this (a final log read names every record) goes into a timeline as a
# summary: its counts, and where it holds the timeline's own message.
BULK_IDS = 20


class DrainTracker:
    """Whether the final drain completed: every process that started one finished it ``ok``."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def observe(self, op: Op) -> None:
        if op.f == "drain":
            self._last[op.process] = op.type

    @property
    def complete(self) -> bool:
        return bool(self._last) and all(t == OK for t in self._last.values())

    def missing(self) -> str:
        if not self._last:
            return "no final drain in the history"
        unfinished = sorted(p for p, t in self._last.items() if t != OK)
        return f"final drain incomplete (processes {', '.join(unfinished)})" if unfinished else ""


class Checker(ABC):
    """A checker sees each op once (``observe``; its ``drain`` sees the drain ops first) and then gives
    its verdict."""

    name: str = "checker"
    # the op names this checker reads (None: all); the nemesis's and the operator's ops reach every
    # checker, as do the drain's. Declared so that a history's pass skips the rest: it runs once per op.
    fs: frozenset[str] | None = None
    # judged once on the whole history even where a run has several audiences (consumer groups, an
    # exchange's queues, the topics a transaction spans): what it checks spans them all
    across_audiences: bool = False

    def __init__(self) -> None:
        self.drain = DrainTracker()

    @abstractmethod
    def observe(self, op: Op) -> None: ...

    def handler(self, f: str) -> Callable[[Op], None]:
        """What reads the clients' ops named ``f`` (``observe`` unless a checker routes them to a narrower
        method itself): a history's pass asks once per op name and then calls it per op."""
        return self.observe

    @abstractmethod
    def verdict(self) -> Verdict: ...


class SendTracker:
    """Outcome of each message's send, merging retries: ok > info > unfinished invoke > fail.

    Each attempt is an invoke and its completion; a completion without the message id is matched to the
    process's open invoke (as in Jepsen). An attempt still open at the end counts as unknown.
    """

    RANK = {OK: 3, INFO: 2, INVOKE: 1, FAIL: 0}
    BY_RANK = {rank: outcome for outcome, rank in RANK.items()}

    def __init__(self, send_f: str = "send", times: bool = False) -> None:
        """``times``: keep when each message was first sent (``invoke_time``) and first acknowledged
        (``ok_time``)."""
        self.send_f = send_f
        self.times = times
        self._best: dict[Any, int] = {}  # best completed outcome's rank (absent: none completed yet)
        self._pending: dict[Any, int] = {}  # attempts invoked and not completed
        self.ok_time: dict[Any, int] = {}
        self.invoke_time: dict[Any, int] = {}
        self._open: dict[str, Any] = {}

    def observe(self, op: Op) -> bool:
        if op.f != self.send_f:
            return False
        mid = op.value.get("id") if op.value else None
        pending = self._pending
        if op.type == INVOKE:
            self._open[op.process] = mid
            if mid is not None:
                pending[mid] = pending.get(mid, 0) + 1
                if self.times and mid not in self.invoke_time:
                    self.invoke_time[mid] = op.time
            return True
        opened = self._open.pop(op.process, None)
        mid = opened if mid is None else mid
        if mid is None:
            return True
        attempts = pending.pop(mid, 0)  # only attempts still open are kept
        if attempts > 1:
            pending[mid] = attempts - 1
        rank = self.RANK[op.type]
        if rank > self._best.get(mid, -1):
            self._best[mid] = rank
        if self.times and op.type == OK and mid not in self.ok_time:
            self.ok_time[mid] = op.time
        return True

    @property
    def status(self) -> dict[Any, str]:
        """Final outcome per message id (computed once, at verdict time)."""
        out = {mid: self.BY_RANK[best] for mid, best in self._best.items()}
        for mid, attempts in self._pending.items():  # still open: at least unknown
            if attempts > 0 and self._best.get(mid, -1) < self.RANK[INVOKE]:
                out[mid] = INVOKE
        return out


class LengthCap:
    """A length cap the profile sets on the log (Redis ``XADD ... MAXLEN``): the broker keeps about its
    newest ``keep_newest`` entries and may drop older ones by design. A message's drop was allowed when at
    least that many acknowledged entries (by their ``entry`` ids, poison included) came after it."""

    TRIMMED, MAYBE, NOT_ALLOWED = "trimmed", "maybe", "not_allowed"

    def __init__(self, keep_newest: int) -> None:
        self.keep_newest = keep_newest
        self._entries: dict[object, tuple[int, ...]] = {}  # acknowledged message -> its entry id, sortable
        self._order: list[tuple[int, ...]] | None = None

    def observe_ack(self, value: dict[str, Any]) -> None:
        """An acknowledged send's value (``id``, and the ``entry`` the broker gave it)."""
        entry = value.get("entry")
        if entry:
            self._entries[value.get("id")] = tuple(int(part) for part in str(entry).split("-"))

    def fate(self, mid: object, uncertain: int) -> str:
        """Whether the cap allowed ``mid``'s drop; ``uncertain``: sends of unknown outcome, which may sit in
        the log after it (``MAYBE``: allowed only if enough of them landed)."""
        if self._order is None:
            self._order = sorted(self._entries.values())
        entry = self._entries.get(mid)
        if entry is None:
            return self.NOT_ALLOWED
        newer = len(self._order) - bisect.bisect_right(self._order, entry)
        if newer >= self.keep_newest:
            return self.TRIMMED
        return self.MAYBE if newer + uncertain >= self.keep_newest else self.NOT_ALLOWED


TRIM_F = "trim"  # a trimmer's own command on the log (Redis XTRIM), apart from the sends


class MinIdThresholds:
    """An age cap the profile sets on the log (Redis ``MINID``): each trimming command may trim the entries
    whose ids (their millisecond times) are below its threshold — the client's clock minus the profile's
    age, recorded as ``minid`` on the command's op: a ``send`` (``XADD ... MINID``) or a ``trim`` (``XTRIM
    ... MINID``, from a trimmer of its own). An entry can only have been trimmed by a command whose
    threshold was above it and that reached the server (acknowledged for sure, of unknown outcome perhaps),
    and never before the first such command was sent; every command had returned by the last completion."""

    ALLOWED, MAYBE, NONE = "allowed", "maybe", "none"

    def __init__(self) -> None:
        self._threshold: dict[object, tuple[int, int]] = {}  # command -> (its threshold, when sent)
        self._entry_ms: dict[object, int] = {}  # acknowledged message -> its entry id's milliseconds
        self._trims: dict[object, str] = {}  # XTRIM command -> its outcome (INVOKE while it has none)
        self.last_send_ns = 0  # the latest completion of a trimming command: every trim happened by then
        self._covering: tuple[list[int], list[int], list[int]] | None = None

    def observe_send(self, op: Op) -> None:
        """A send op: its invoke carries the XADD's threshold, its completion the entry id (if acknowledged)."""
        if op.type == INVOKE:
            self.observe_invoke(op.value, op.time)
        else:
            self.observe_completion(op.value, op.time, op.type == OK)

    def observe_trim(self, op: Op) -> None:
        """A trim op (``XTRIM ... MINID``): its invoke carries the threshold, its completion the outcome."""
        value = op.value or {}
        if op.type == INVOKE:
            self.observe_invoke(value, op.time)
            self._trims.setdefault(value.get("id"), INVOKE)
        else:
            self.last_send_ns = max(self.last_send_ns, op.time)
            self._trims[value.get("id")] = op.type

    def observe_invoke(self, value: dict[str, Any], at: int) -> None:
        threshold = value.get("minid")
        if threshold.__class__ is int and value.get("id") not in self._threshold:
            self._threshold[value.get("id")] = (threshold, at)

    def observe_completion(self, value: dict[str, Any] | None, at: int, acknowledged: bool) -> None:
        self.last_send_ns = max(self.last_send_ns, at)
        value = value or {}
        entry = value.get("entry") if acknowledged else None
        if entry:
            self._entry_ms[value.get("id")] = int(str(entry).split("-")[0])

    def entry_ms(self, mid: object) -> int | None:
        return self._entry_ms.get(mid)

    def fate(self, mid: object, status: dict[Any, str]) -> str:
        """:class:`LengthCap`'s answer for an age cap: whether some command may have trimmed ``mid``."""
        entry_ms = self._entry_ms.get(mid)
        if entry_ms is None:
            return LengthCap.NOT_ALLOWED
        cover, _ = self.covering(entry_ms, status)
        return {self.ALLOWED: LengthCap.TRIMMED, self.MAYBE: LengthCap.MAYBE}.get(cover, LengthCap.NOT_ALLOWED)

    def covering(self, entry_ms: int, status: dict[Any, str]) -> tuple[str, int | None]:
        """Whether a command that reached the server could have trimmed an entry of ``entry_ms``
        (``ALLOWED``: an acknowledged one; ``MAYBE``: only ones of unknown outcome; ``NONE``), and the
        earliest such command's send time (the soonest the entry can have gone). ``status``: each send's
        outcome (a trim's is its own)."""
        if self._covering is None:
            self._covering = self._index(status)
        thresholds, earliest_sent, acknowledged_after = self._covering
        at = bisect.bisect_right(thresholds, entry_ms)
        if at == len(thresholds):
            return self.NONE, None
        return (self.ALLOWED if acknowledged_after[at] else self.MAYBE), earliest_sent[at]

    def _index(self, status: dict[Any, str]) -> tuple[list[int], list[int], list[int]]:
        """The commands that may have run, by threshold; per position, the earliest send time and the count
        of acknowledged ones from there on (suffixes: every command with a threshold at least that)."""
        outcome = {mid: self._trims.get(mid, status.get(mid)) for mid in self._threshold}
        landed = sorted(
            (threshold, at, outcome[mid] == OK)
            for mid, (threshold, at) in self._threshold.items()
            if outcome[mid] in (OK, INFO, INVOKE)
        )
        thresholds = [t for t, _, _ in landed]
        earliest, acknowledged = [0] * len(landed), [0] * len(landed)
        soonest, count = None, 0
        for i in range(len(landed) - 1, -1, -1):
            _, at, ok = landed[i]
            soonest = at if soonest is None else min(soonest, at)
            count += ok
            earliest[i], acknowledged[i] = soonest, count
        return thresholds, earliest, acknowledged


_EVERYONES = frozenset({NEMESIS, OPERATOR})  # processes whose ops every checker sees


def is_reiterable(history: Iterable[Op]) -> bool:
    return iter(history) is not history


def run_checkers(history: Iterable[Op], checkers: list[Checker], timelines: bool = True) -> list[Verdict]:
    """Feed every op to every checker in one pass; add timelines when the history can be re-read."""
    verdicts = _one_pass(history, checkers)
    if timelines and is_reiterable(history):
        attach_timelines(history, verdicts)
    return verdicts


def _one_pass(history: Iterable[Op], checkers: list[Checker]) -> list[Verdict]:
    everyone = [c.observe for c in checkers]
    drains = [c.drain for c in checkers]
    route: dict[str, list[Any]] = {}  # op name -> the observers that read it
    for op in history:  # routed by op name: this loop runs once per op
        f = op.f
        if f == "drain":
            for drain in drains:
                drain.observe(op)
        if op.process in _EVERYONES:
            observers = everyone
        else:
            observers = route.get(f)  # type: ignore[assignment]
            if observers is None:
                observers = route[f] = [c.handler(f) for c in checkers if c.fs is None or f in c.fs or f == "drain"]
        for observe in observers:
            observe(op)
    return [c.verdict() for c in checkers]


def run_checker(history: Iterable[Op], checker: Checker, timelines: bool = True) -> Verdict:
    return run_checkers(history, [checker], timelines)[0]


def attach_timelines(history: Iterable[Op], verdicts: list[Verdict]) -> None:
    """Second pass: the events of each example id, plus nemesis and operator events within 2 s of them."""
    wanted: dict[Any, list[dict[str, Any]]] = {}
    for verdict in verdicts:
        for anomaly in verdict.anomalies.values():
            for mid in anomaly.ids:
                if _hashable(mid):
                    wanted.setdefault(mid, [])
    if not wanted:
        return
    faults: list[Op] = []
    for op in history:
        if op.process in (NEMESIS, OPERATOR):
            faults.append(op)
            continue
        for mid in set(_ids_of(op)):
            if mid in wanted:
                wanted[mid].append(_timeline_event(op, mid))
    for events in wanted.values():
        if not events:
            continue
        lo = events[0]["time"] - TIMELINE_MARGIN_NS
        hi = events[-1]["time"] + TIMELINE_MARGIN_NS
        around = [f.to_dict() for f in faults if lo <= f.time <= hi]
        events.extend(around)
        events.sort(key=lambda e: e["index"])
    for verdict in verdicts:
        for anomaly in verdict.anomalies.values():
            anomaly.timelines = {str(mid): wanted[mid] for mid in anomaly.ids if _hashable(mid) and wanted.get(mid)}


def _timeline_event(op: Op, mid: Any) -> dict[str, Any]:
    """``op`` as a timeline of ``mid`` shows it: whole, or, where it lists many ids (a final log read of
    the whole log), its other fields, how many ids and records it lists, and the positions it holds
    ``mid`` at — a report a person reads, not a copy of the log per example id."""
    event = op.to_dict()
    value = op.value
    if not value or all(len(value.get(k) or ()) <= BULK_IDS for k in ("ids", "inputs", "records")):
        return event
    summary = {k: v for k, v in value.items() if k not in ("ids", "inputs", "records")}
    for key in ("ids", "inputs", "records"):
        if value.get(key) is not None:
            summary[f"{key}_count"] = len(value[key])
    records = value.get("records") or ()
    summary["holds"] = [[r[0], r[1]] for r in records if len(r) > 2 and r[2] == mid]
    event["value"] = summary
    return event


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _ids_of(op: Op) -> Iterator[Any]:
    value = op.value
    if not value:
        return
    if "id" in value:
        yield value["id"]
    if "source" in value:
        yield value["source"]
    for key in ("ids", "inputs"):
        yield from value.get(key) or ()
