"""Delivery (Jepsen's total-queue): every acknowledged send is consumed, nothing twice, nothing invented.

- **lost**: send ``ok``, never consumed after a completed final drain.
- **duplicated**: consumed more than once (fails the check unless the profile allows at-least-once).
  Where the broker names the record (Kafka ``partition:offset`` as ``record``, a Redis stream ``entry``),
  distinct records count, so a redelivery of the same record is not a duplicate but a second write is.
  Where the broker flags redeliveries (RabbitMQ's ``redelivered``), a further copy it flags is counted
  apart, as **redelivered** (at-least-once after a lost acknowledgement), and ``duplicated`` keeps the
  copies it presented as new (a publisher's retry, a replication anomaly). Both fail ``no_duplicates``.
- **resent_after_epoch_bump**: a duplicate of a message its Kafka idempotent producer still had in flight
  when it took a new producer epoch (its ``producer_id`` ops): the producer sent it again under the new
  epoch, with sequence numbers the broker had never seen, so a copy the old leader had already written was
  not recognised (librdkafka bumps the epoch after "skipped sequence numbers" on a leader change:
  confluentinc/librdkafka#4953). Counted apart from ``duplicated`` so the cause is named; it fails
  ``no_duplicates`` all the same.
- **unexpected**: consumed but never sent.
- **failed_but_delivered**: consumed although its send definitely failed (``fail``): the client was told
  the write did not happen, and it did.
- **recovered**: send ``info`` (unknown outcome) that was consumed — fine, reported for the record.
- **unconfirmed_lost**: send without any acknowledgement (``info`` or no completion) never consumed —
  reported apart, failing only when the profile says fire-and-forget loss counts (catalogue R4).
- **truncated**: send ``ok`` and consumed, but missing from a completed final read of the whole log (an
  ``audit`` op, where the broker keeps what was consumed): the log lost a write after someone read it,
  e.g. an out-of-sync replica elected leader. Anyone reading later never sees it.

Where the log names each record's position (``positions``: Kafka's ``partition`` and ``offset``, on the
send's acknowledgement and on every read — consumers, processors, the output reader, the dead-letter
reader, the audit's ``records``), two more kinds, as in Jepsen's Kafka analyses:

- **inconsistent_offsets**: two different messages seen at one position (acknowledged there, or read
  there): the log put another record where one had been — a truncated and rewritten log, or a partition
  recreated empty. Found as soon as it is seen.
- **lost_by_offset**: acknowledged at a position up to the highest one readers returned in its
  partition, yet never returned by any read: the readers reached its offset and it was not there (the
  log lost it, or the group skipped it). Unlike ``lost`` it does not wait for processing: a message received and
  then dropped by its consumer is ``lost``, not this.

Where consumers also record what moves their position (``sessions``: an ``assign``, a ``revoke``, a
``seek`` op of theirs), their reads between two such events form a session, and per partition a
session's offsets only go up, one record at a time:

- **nonmonotonic**: a session read an offset at or below one it had already read in that partition
  (the position went back without a rebalance or seek: a log reset under it, re-reading).
- **skipped**: a session went from one offset to a later one past an offset where a send was
  acknowledged, without reading it (gaps with no acknowledged record — transaction markers, aborted
  writes — are not skips).

Where the group's members also record each commit the coordinator accepted (``commits``), one more:

- **rewound**: a member's first read of a partition after an assignment was below the offset the group
  had committed there before it: the group lost its commit (an offsets partition recreated empty) or the
  log lost what it pointed to, and processes again what it had finished with. At-least-once repeats only
  what came after the last commit; this repeats what came before it.

Where the profile caps the log's length and tolerates its trimming (``keep_newest``: Redis ``XADD ...
MAXLEN`` with ``guarantees.may_trim_to_length``), the broker may drop old entries by design. A message
that would be ``lost`` is counted apart when the policy allowed its drop:

- **trimmed**: acknowledged, never consumed, and at least ``keep_newest`` acknowledged entries were
  written after it (by their ``entry`` ids): the cap allowed trimming it. Reported, failing nothing.
  Where fewer were acknowledged after it but the sends whose outcome is unknown could make up the rest,
  the drop may or may not have been allowed: ``lost`` is then unknown, not passed. Where the queue
  dead-letters what its limit drops (``trim_reason``: RabbitMQ drop-head, reason ``maxlen``), the broker's
  reason decides; a message dropped with its at-most-once dead letter lost stays ``lost``, and without a
  dead-letter queue read to its end ``lost`` is unknown. Where each partition is capped by size
  (``retention_bytes``: Kafka ``retention.bytes``), a record below its partition's final start is
  trimmed when the records after it could hold the cap (:class:`SizeCap`), and is then neither
  ``lost_by_offset`` nor ``skipped``; without the final read's start offsets ``lost`` is unknown.

Where the log is compacted (``compacted``: Kafka ``cleanup.policy=compact``), the broker keeps the latest
record of each key in a partition and may remove the records a later one of the same key superseded.
Under the profile's claim (``compaction_tolerated``: ``guarantees.may_compact``):

- **compacted**: acknowledged, never consumed, and the completed final log read holds a record of the
  same key at a higher offset of its partition: compaction was allowed to remove it. Reported, failing
  nothing; neither ``lost_by_offset`` nor ``skipped``. Read before and gone from the final log read so,
  it is not ``truncated`` (counted as ``compacted_after_read``). Without a completed final log read
  nothing can be told superseded: ``lost`` is then unknown. Without the claim such a record is
  ``lost`` like any other, and ``stats.lost_superseded`` counts the lost that compaction could explain.

Where the log deletes from its front by policy (Kafka ``retention.ms``: the final log read reports each
partition's start offset), an acknowledged record below its partition's start was deleted by that policy.
Read before, it is not ``truncated`` (counted as ``deleted_after_read``). Where a queue expires messages
(RabbitMQ's TTL), the broker dead-letters each with reason ``expired`` and the time, to the second.
Where a stream trims by age (Redis ``MINID``: each ``XADD ... MINID`` send, or each ``XTRIM ... MINID``
``trim`` op of a trimmer, records its threshold, ``minid``), an acknowledged entry below the threshold of
a command that reached the server may have been trimmed by it, never before that command was sent. A
message deleted so and never read is ``lost`` — unless the profile states that messages may expire
(``expire_after_s``):

- **expired**: acknowledged, never consumed, deleted by the policy, and at least ``expire_after_s`` old
  then: by the first sign it was gone (a reader's jump past it, else the final log read) for retention;
  by the dead-letter time, counted from its acknowledgement, for a TTL; by the first command that could
  have trimmed it, for MINID. Reported, failing nothing; it is
  no ``lost_by_offset`` and no ``skipped`` either. One deleted sooner stays ``lost`` (counted as
  ``deleted_too_soon``). Under a stated expiry ``lost`` is unknown without the evidence: the final
  read's start offsets, or a dead-letter queue read to its end; and a dead letter dated within a second
  of the tolerance cannot be told either way. A message dead-lettered for another reason (``maxlen``:
  a full queue dropped it) stays ``lost``; ``stats.lost_dead_lettered`` counts the lost by that reason.

Evidence: every kind needs a completed final drain; ``truncated`` also needs a completed audit once one
was started (a failed audit leaves it unknown, never passed); ``lost`` needs at least one acknowledged send.
The position kinds need positions on both sides (an acknowledged position and a read one);
``lost_by_offset`` is decided once the final drain or the audit completed, ``inconsistent_offsets`` is
cleared only by a completed drain. The session kinds need a consumer that recorded its session events
and reads with positions.

"Consumed" is the op ``consume_f`` (``receive`` by default; ``process`` for workloads that separate
delivery from processing, so delivered-but-never-processed counts as lost).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chaos.checkers.base import TRIM_F, Checker, LengthCap, MinIdThresholds, SendTracker
from chaos.checkers.verdict import Anomaly, Verdict, decide, every_kind
from chaos.history import FAIL, INFO, INVOKE, OK, Op

KINDS = (
    "lost",
    "truncated",
    "duplicated",
    "resent_after_epoch_bump",
    "redelivered",
    "unexpected",
    "failed_but_delivered",
    "recovered",
    "unconfirmed_lost",
)
POSITION_KINDS = ("inconsistent_offsets", "lost_by_offset")
SESSION_KINDS = ("nonmonotonic", "skipped")
COMMIT_F = "commit"
PRODUCER_ID_F = "producer_id"  # a Kafka idempotent producer took this producer id and epoch
# Reads that return a record at its position (whatever the workload calls consuming).
READ_FS = frozenset({"receive", "consume", "process", "dead_letter"})
DEAD_LETTER_F, DEAD_LETTER_READ_F = "dead_letter", "dead_letter_read"
EXPIRY_EVIDENCE = ("log_start", "dead_letter", "minid")
# What a consumer records when its position may move other than by reading on.
SESSION_EVENTS = frozenset({"assign", "revoke", "seek"})
Position = tuple[Any, int]  # (partition, offset)


class ProducerEpochs:
    """Each producer's id and epoch as it took them (``producer_id`` ops), and the messages that were in
    flight (sent, not yet answered) when one changed: the producer sends those again under the new epoch
    with new sequence numbers, which the broker cannot match with a copy it already wrote."""

    def __init__(self) -> None:
        self.current: dict[str, tuple[Any, Any]] = {}
        self.changes: Counter[str] = Counter()  # per producer process: how often its id or epoch changed
        # per message in flight: its producer and that producer's ``changes`` when it was sent
        self.changes_at_send: dict[object, tuple[str, int]] = {}
        self.answered_across_change: set[object] = set()  # answered after its producer changed id or epoch

    def observe(self, op: Op) -> None:
        if op.type != OK or not op.value:
            return
        taken = (op.value.get("id"), op.value.get("epoch"))
        before = self.current.get(op.process)
        self.current[op.process] = taken
        if before is not None and before != taken:
            self.changes[op.process] += 1

    def observe_send(self, op: Op) -> None:
        mid = op.value.get("id")
        if op.type == INVOKE:
            self.changes_at_send[mid] = (op.process, self.changes[op.process])
            return
        sent = self.changes_at_send.pop(mid, None)
        if sent is not None and sent[1] != self.changes[op.process]:
            self.answered_across_change.add(mid)

    def in_flight_at_change(self, mid: object) -> bool:
        """Whether ``mid`` was in flight when its producer changed id or epoch: answered after the change,
        or never answered at all and the producer changed after sending it."""
        if mid in self.answered_across_change:
            return True
        sent = self.changes_at_send.get(mid)
        return sent is not None and sent[1] != self.changes[sent[0]]


class Positions:
    """Which message each log position held, as sends' acknowledgements and reads streamed by."""

    def __init__(self) -> None:
        self.holder: dict[Any, dict[int, object]] = {}  # partition -> offset -> the first message seen there
        self.conflicts: dict[Position, tuple[object, object]] = {}  # position -> (first, another)
        self.acked_at: dict[object, Position] = {}
        self.returned: set[object] = set()
        self.read_high: dict[Any, int] = {}  # partition -> highest offset any read returned
        self.reads = 0

    def observe(self, value: dict[str, Any], acked: bool) -> None:
        """The message ``value`` names, at the position it names (none: nothing to place; acks=0
        reports offset -1)."""
        offset = value.get("offset")
        if offset.__class__ is not int or offset < 0:  # none, not a number (a program's report), or -1
            return
        partition, mid = value.get("partition"), value.get("id")
        if partition is not None and mid is not None:
            self.place(partition, offset, mid, acked)

    def ends(self) -> dict[Any, int]:
        """Per partition, the highest offset any acknowledgement or read placed a message at."""
        return {partition: max(held) for partition, held in self.holder.items() if held}

    def place(self, partition: Any, offset: int, mid: object, acked: bool) -> None:
        """Message ``mid`` at ``partition``:``offset``. Called once per acknowledgement or read: kept lean."""
        held = self.holder.get(partition)
        if held is None:
            held = self.holder[partition] = {}
        first = held.setdefault(offset, mid)
        if first != mid and (partition, offset) not in self.conflicts:
            self.conflicts[(partition, offset)] = (first, mid)
        if acked:
            self.acked_at[mid] = (partition, offset)
            return
        self.reads += 1
        self.returned.add(mid)
        if offset > self.read_high.get(partition, -1):
            self.read_high[partition] = offset


class ReadSessions:
    """Each consumer's reads per partition since its last session event (see the module's docstring).
    Only a process that recorded a session event is followed: one that records none cannot be judged."""

    def __init__(self, read_fs: frozenset[str]) -> None:
        self.read_fs = read_fs
        self.followed: set[str] = set()
        self.last: dict[tuple[str, Any], int] = {}  # (process, partition) -> last offset read this session
        self.backwards: list[str] = []
        # (process, partition, from, to, when) with to > from + 1: when the read past the gap happened
        self.gaps: list[tuple[str, Any, int, int, int]] = []
        self.reads = 0
        self.commits = 0  # successful commits recorded
        self.committed: dict[Any, int] = {}  # partition -> the highest offset the group committed there
        # process -> per partition it was just assigned, what the group had committed there by then
        self.resume_floor: dict[str, dict[Any, int]] = {}
        self.rewinds: list[str] = []

    def event(self, process: str, f: str = "assign", value: dict[str, Any] | None = None) -> None:
        """An assignment, a revocation or a seek: ``process`` starts a new session. An assignment's first
        read of each partition is held against what the group had committed there (``rewound``)."""
        self.followed.add(process)
        for key in [k for k in self.last if k[0] == process]:
            del self.last[key]
        if f != "assign":
            self.resume_floor.pop(process, None)
            return
        assigned = (value or {}).get("partitions")
        partitions = self.committed if assigned is None else assigned
        self.resume_floor[process] = {p: self.committed[p] for p in partitions if p in self.committed}

    def commit(self, offsets: list[list[Any]]) -> None:
        """A commit the coordinator accepted: ``[partition, offset]`` pairs, each offset the next to read.
        A group's committed offsets only go forward (a member that lost a partition has its commits
        refused), so the highest one stands."""
        self.commits += 1
        for partition, offset in offsets:
            if offset > self.committed.get(partition, -1):
                self.committed[partition] = offset

    def read(self, process: str, partition: Any, offset: int, at: int) -> None:
        """A successful read (one of ``read_fs``) of ``partition``:``offset`` at time ``at``; counted if
        ``process`` is followed."""
        if process not in self.followed:
            return
        self.reads += 1
        key = (process, partition)
        before = self.last.get(key)
        self.last[key] = offset
        if before is None:
            floor = self.resume_floor.get(process)
            if floor:
                self._judge_resume(process, partition, offset, floor)
            return
        if offset <= before:
            self.backwards.append(f"{process} read {partition}:{offset} after {partition}:{before}")
        elif offset > before + 1:
            self.gaps.append((process, partition, before, offset, at))

    def _judge_resume(self, process: str, partition: Any, offset: int, floor: dict[Any, int]) -> None:
        """The first read of a partition after an assignment starts where the group committed, never
        below: lower, the group lost its commit (or the log lost what it pointed to) and reprocesses."""
        committed = floor.pop(partition, None)
        if committed is not None and offset < committed:
            where = f"{process} resumed {partition}:{offset}"
            self.rewinds.append(f"{where} after the group had committed {partition}:{committed}")

    def passed(self, acked_at: dict[object, Position]) -> Iterator[tuple[tuple[str, Any, int, int, int], list[object]]]:
        """Each gap with the acknowledged records it passed over, in offset order (gaps that passed none,
        such as transaction markers, left out)."""
        at_offset: defaultdict[Any, dict[int, object]] = defaultdict(dict)
        for mid, (partition, offset) in acked_at.items():
            at_offset[partition][offset] = mid
        offsets = {p: sorted(held) for p, held in at_offset.items()}
        for gap in self.gaps:
            _process, partition, before, after, _at = gap
            held = offsets.get(partition, [])
            within = held[bisect.bisect_right(held, before) : bisect.bisect_left(held, after)]
            if within:
                yield gap, [at_offset[partition][offset] for offset in within]

    def skips(self, acked_at: dict[object, Position], allowed: frozenset[object] = frozenset()) -> list[str]:
        """The gaps that passed over an acknowledged record whose deletion was not ``allowed`` (expired by
        the profile's stated policy), each naming the first such record."""
        found = []
        for (process, partition, before, after, _at), mids in self.passed(acked_at):
            first = next((mid for mid in mids if mid not in allowed), None)
            if first is not None:
                where = acked_at[first][1]
                passed = f"{first} at {partition}:{where}"
                found.append(f"{process} went from {partition}:{before} to {partition}:{after} past {passed}")
        return found


class FrontDeletion:
    """What a log deleted from its front: Kafka's retention (and DeleteRecords) moves a partition's log
    start offset past its oldest records, while a truncation (an unclean election, a lost disk) removes
    records at the end or recreates the partition. The final log read reports each partition's start; an
    acknowledged record below it is gone by the log's own policy, whether or not anyone read it."""

    def __init__(self) -> None:
        self.starts: dict[Any, int] | None = None  # partition -> log start offset at the final read
        self.seen_at = 0  # when the final read saw them

    def observe(self, starts: list[list[Any]], at: int) -> None:
        """``starts``: [partition, log start offset] pairs (pairs, not a mapping: they survive JSON)."""
        self.starts = {partition: int(start) for partition, start in starts}
        self.seen_at = at

    def deleted(self, acked_at: dict[object, Position]) -> set[object]:
        if not self.starts:
            return set()
        starts = self.starts
        return {mid for mid, (partition, offset) in acked_at.items() if offset < starts.get(partition, 0)}


class SizeCap:
    """A partition's size cap (Kafka ``retention.bytes``): the log deletes whole segments from its front
    while what stays holds at least ``retention_bytes``. A record below its partition's final start went
    by that policy only if the records after it could hold that many bytes — each at most the largest
    acknowledged record's key and value plus :attr:`FRAMING` (as if in a batch of its own). A necessary
    condition, not a sufficient one: it tells a deletion the cap could not have made from one it could."""

    FRAMING = 61 + 36  # a record batch's header; a record's length, attributes, deltas and lengths at most

    def __init__(self, retention_bytes: int) -> None:
        self.retention_bytes = retention_bytes
        self.largest = 0  # the largest acknowledged record's key and value, in bytes

    def observe_ack(self, value: dict[str, Any]) -> None:
        size = value.get("bytes")
        if size.__class__ is int and size > self.largest:
            self.largest = size

    def allowed(self, position: Position, ends: dict[Any, int]) -> bool:
        """Whether the records after ``position`` (up to the highest offset known in its partition) could
        hold ``retention_bytes``."""
        partition, offset = position
        after = ends.get(partition, offset) - offset
        return after * (self.largest + self.FRAMING) >= self.retention_bytes


class Compaction:
    """A compacted log (Kafka ``cleanup.policy=compact``) keeps each key's latest record in a partition and
    may remove the records it superseded. A record is superseded when the completed final log read holds
    one of the same key at a higher offset of its partition: what the cleaner keeps is the evidence, so a
    later record that was acknowledged but is gone itself (a truncated log) supersedes nothing."""

    def __init__(self, tolerated: bool) -> None:
        self.tolerated = tolerated
        self.key_of: dict[object, object] = {}  # message id -> its record key, from the sends
        self.latest: dict[tuple[Any, object], int] | None = None  # (partition, key) -> highest offset held

    def observe_send(self, value: dict[str, Any]) -> None:
        key = value.get("key")
        if key is not None:
            self.key_of[value.get("id")] = key

    def observe_final_read(self, records: list[list[Any]]) -> None:
        """The records a completed final read of the whole log returned, as (partition, offset, id)."""
        latest: dict[tuple[Any, object], int] = {}
        key_of = self.key_of
        for partition, offset, mid in records:
            key = key_of.get(mid)
            if key is not None and offset > latest.get((partition, key), -1):
                latest[(partition, key)] = offset
        self.latest = latest

    def superseded(self, acked_at: dict[object, Position]) -> set[object]:
        """The acknowledged messages a later record of their key, still in the final log, superseded."""
        latest, key_of = self.latest or {}, self.key_of
        out = set()
        for mid, (partition, offset) in acked_at.items():
            key = key_of.get(mid)
            if key is not None and latest.get((partition, key), -1) > offset:
                out.add(mid)
        return out


class DeadLetters:
    """What the dead-letter queue held at the end, by message: the broker's reason and, where it gives
    one, when it dead-lettered the message (RabbitMQ's x-death: whole seconds, rounded down) — and whether
    the queue was read to its end. An acknowledged message never consumed that the broker dead-lettered as
    ``expired`` left by the TTL policy; one it dead-lettered for another reason (``maxlen``) is still lost,
    and the report says where it went."""

    EXPIRED = "expired"
    RESOLUTION_NS = 1_000_000_000  # the dead-lettering time is known to the second

    def __init__(self) -> None:
        self.reason: dict[object, str] = {}  # message -> the first reason it was found dead-lettered for
        self.at: dict[object, int] = {}  # message -> when it was dead-lettered (where the broker said)
        self.read: str | None = None  # the dead-letter read's outcome (None: it never finished)
        self.read_error = ""

    def observe(self, value: dict[str, Any]) -> None:
        mid = value.get("id")
        if mid is None or mid in self.reason:
            return
        self.reason[mid] = str(value.get("reason"))
        if value.get("dead_lettered_at").__class__ is int:
            self.at[mid] = value["dead_lettered_at"]

    def observe_read(self, op: Op) -> None:
        if op.type in (OK, INFO):
            self.read, self.read_error = op.type, op.error or ""

    def unread(self) -> str:
        """Why the queue was not read to its end ("" when it was): then what it holds is unknown."""
        return "" if self.read == OK else self.read_error or "it never finished"


@dataclass
class Expiry:
    """How a stated expiry judged the acknowledged messages never consumed."""

    expired: set[object] = field(default_factory=set)  # deleted by the policy once old enough
    too_soon: int = 0  # deleted by the policy before they were old enough: they stay lost
    undecided: set[object] = field(default_factory=set)  # which of the two cannot be told
    why: str = ""  # why they are undecided

    def place(self, mid: object, gone: tuple[int, int], acknowledged: int, sent: int, after_ns: int) -> None:
        """A message the policy deleted some time within ``gone`` (soonest, latest): expired when even the
        soonest was ``after_ns`` after its acknowledgement, too soon when even the latest fell short of it
        from its first send, undecided in between."""
        if gone[0] - acknowledged >= after_ns:
            self.expired.add(mid)
        elif gone[1] - sent < after_ns:
            self.too_soon += 1
        else:
            self.undecided.add(mid)


class DeliveryChecker(Checker):
    name = "delivery"

    def __init__(
        self,
        consume_f: str = "receive",
        send_f: str = "send",
        allow_duplicates: bool = False,
        fail_on_unconfirmed_loss: bool = False,
        ignore_kinds: tuple[str, ...] = ("poison",),
        positions: bool = False,
        sessions: bool = False,
        session_fs: frozenset[str] = frozenset({"receive", "consume"}),
        commits: bool = False,
        keep_newest: int | None = None,
        expire_after_s: float | None = None,
        expiry_evidence: str = "log_start",
        trim_reason: str | None = None,
        trim_tolerated: bool = True,
        retention_bytes: int | None = None,
        compacted: bool = False,
        compaction_tolerated: bool = False,
    ) -> None:
        """``expire_after_s``: the profile tolerates the broker deleting a message by its expiry policy once
        it is this old (see the module's docstring); None tolerates no such deletion. ``expiry_evidence``
        says what shows such a deletion: ``log_start`` (the final log read's start offsets: retention) or
        ``dead_letter`` (the dead-letter queue's ``expired`` entries and their times: a TTL) or ``minid``
        (each XADD's threshold and the entries' ids: Redis MINID). ``trim_reason``:
        the profile tolerates a queue's length limit dropping its oldest messages, which the broker
        dead-letters with this reason (RabbitMQ drop-head: ``maxlen``); None: none tolerated that way.
        ``trim_tolerated``: the profile tolerates what the ``keep_newest`` cap trims; when it does not, such
        messages are lost and counted apart as ``lost_within_length_cap`` (what the cap allowed to drop).
        ``commits`` (with ``sessions``): the group's members record each commit the coordinator accepted
        (``commit``, ``offsets`` as ``[partition, offset]`` pairs), so ``rewound`` can be judged.
        ``retention_bytes`` (with ``positions``): the profile tolerates a partition's size cap deleting
        from the log's front (Kafka retention.bytes; acknowledgements carry each record's ``bytes``).
        ``compacted`` (with ``positions``): the log keeps each key's latest record and may remove what it
        superseded (Kafka cleanup.policy=compact); ``compaction_tolerated``: the profile says so
        (``compacted``), else such a record is lost and counted as ``lost_superseded``."""
        super().__init__()
        if expiry_evidence not in EXPIRY_EVIDENCE:
            raise ValueError(f"expiry_evidence must be one of {EXPIRY_EVIDENCE} (got {expiry_evidence!r})")
        self.cap = LengthCap(keep_newest) if keep_newest is not None else None
        self.expire_after_ns = None if expire_after_s is None else int(expire_after_s * 1e9)
        self.expiry_evidence = expiry_evidence
        under_minid = expiry_evidence == "minid" and expire_after_s is not None
        self.minid = MinIdThresholds() if under_minid else None
        self.trim_reason = trim_reason
        self.trim_tolerated = trim_tolerated
        self.lost_within_cap = 0
        self.size_cap = SizeCap(retention_bytes) if retention_bytes is not None else None
        self.trimmed_by_size: set[object] = set()
        self.compaction = Compaction(compaction_tolerated) if compacted and positions else None
        self.front = FrontDeletion()
        self.epochs = ProducerEpochs()
        self.dead_letters = DeadLetters()
        self.positions = Positions() if positions or sessions else None
        self.sessions = ReadSessions(session_fs) if sessions else None
        self.commits = commits and sessions
        self._read_fs = READ_FS | {consume_f}
        self.fs = (
            self._read_fs | SESSION_EVENTS | {send_f, "audit", DEAD_LETTER_READ_F, COMMIT_F, TRIM_F, PRODUCER_ID_F}
        )
        self.ignore_kinds = ignore_kinds
        self.ignored: set[object] = set()
        self.consume_f = consume_f
        self.sends = SendTracker(send_f, times=expire_after_s is not None)
        self.allow_duplicates = allow_duplicates
        self.fail_on_unconfirmed_loss = fail_on_unconfirmed_loss
        self.consumed: Counter[object] = Counter()
        self.redelivered: Counter[object] = Counter()  # further copies the broker flagged as redeliveries
        self._records: set[tuple[object, object]] = set()
        self.retained: set[object] | None = None  # ids a completed final read of the log found
        self.audit_started = False
        self.audit_error = ""
        self._handlers = self._build_handlers(send_f)

    def _build_handlers(self, send_f: str) -> dict[str, Callable[[Op], None]]:
        """Per op name, the one method that reads it (the first that applies, in this order)."""
        handlers: dict[str, Callable[[Op], None]] = {}
        if self.sessions is not None:
            handlers |= dict.fromkeys(SESSION_EVENTS, self._on_session_event)
            if self.commits:
                handlers[COMMIT_F] = self._on_commit
        handlers |= dict.fromkeys(self._read_fs, self._on_read)
        handlers[DEAD_LETTER_F] = self._on_dead_letter
        handlers[DEAD_LETTER_READ_F] = self.dead_letters.observe_read
        handlers["audit"] = self._observe_audit
        handlers[PRODUCER_ID_F] = self.epochs.observe
        handlers[send_f] = self._on_send
        if self.minid is not None:
            handlers[TRIM_F] = self.minid.observe_trim
        handlers[self.consume_f] = self._on_consume
        return handlers

    def observe(self, op: Op) -> None:
        handle = self._handlers.get(op.f)
        if handle is not None:
            handle(op)

    def handler(self, f: str) -> Callable[[Op], None]:
        return self._handlers.get(f, self.observe)

    def _on_consume(self, op: Op) -> None:
        """Runs once per consumed message: its position first, then the count of its distinct records."""
        value = op.value
        if op.type != OK or not value:
            return
        if self.positions is not None:
            self._observe_position(op, value, self.consume_f)
        self._observe_consumed(value)

    def _on_send(self, op: Op) -> None:
        value = op.value
        if self.minid is not None:
            self.minid.observe_send(op)
        if value and op.type == OK:
            if self.positions is not None:
                self.positions.observe(value, acked=True)
            if self.cap is not None:
                self.cap.observe_ack(value)
            if self.size_cap is not None:
                self.size_cap.observe_ack(value)
        if value and self.compaction is not None:
            self.compaction.observe_send(value)
        self.sends.observe(op)
        if value:
            self.epochs.observe_send(op)
        if value and value.get("kind") in self.ignore_kinds:
            self.ignored.add(value.get("id"))

    def _on_read(self, op: Op) -> None:
        if self.positions is not None and op.type == OK and op.value:
            self._observe_position(op, op.value, op.f)

    def _on_dead_letter(self, op: Op) -> None:
        if op.type == OK and op.value:
            self.dead_letters.observe(op.value)
            self._on_read(op)

    def _on_session_event(self, op: Op) -> None:
        assert self.sessions is not None
        self.sessions.event(op.process, op.f, op.value)

    def _on_commit(self, op: Op) -> None:
        assert self.sessions is not None
        if op.type == OK and op.value:
            self.sessions.commit(op.value.get("offsets") or [])

    def _observe_position(self, op: Op, value: dict[str, Any], f: str) -> None:
        """A read that returns a record at its position: for the position checks and the read sessions."""
        assert self.positions is not None
        offset = value.get("offset")
        if offset.__class__ is not int or offset < 0:  # none, not a number (a program's report), or -1
            return
        partition = value.get("partition")
        if partition is None:
            return
        if self.sessions is not None and f in self.sessions.read_fs:
            self.sessions.read(op.process, partition, offset, op.time)
        mid = value.get("id")
        if mid is not None:
            self.positions.place(partition, offset, mid, acked=False)

    def _observe_consumed(self, value: dict[str, Any]) -> None:
        record = value.get("record") or value.get("entry")
        mid = value.get("id")
        if record is not None:  # count distinct log records: a redelivery is not a second write
            key = (mid, record)
            if key in self._records:
                return
            self._records.add(key)
        consumed = self.consumed
        if value.get("redelivered") and mid in consumed:
            self.redelivered[mid] += 1
            return
        consumed[mid] = consumed.get(mid, 0) + 1  # not Counter's += : its __missing__ runs per new id

    def _observe_audit(self, op: Op) -> None:
        if op.type == INVOKE:
            self.audit_started = True
        elif op.type == OK and op.value:
            self.retained = set(op.value.get("ids", ()))
            self.audit_error = ""
            if op.value.get("starts") is not None:
                self.front.observe(op.value["starts"], op.time)
            if self.compaction is not None and op.value.get("records") is not None:
                self.compaction.observe_final_read(op.value["records"])
            if self.positions is not None:
                for partition, offset, mid in op.value.get("records", ()):
                    self.positions.observe({"partition": partition, "offset": offset, "id": mid}, acked=False)
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
        anomalies["resent_after_epoch_bump"].blocks_validity = not self.allow_duplicates
        anomalies["redelivered"].blocks_validity = not self.allow_duplicates
        anomalies["recovered"].blocks_validity = False
        anomalies["unconfirmed_lost"].blocks_validity = self.fail_on_unconfirmed_loss
        drained = self.drain.complete
        status = self.sends.status
        deleted = self.front.deleted(self.positions.acked_at) if self.positions is not None else set()
        compaction = self.compaction
        superseded = compaction.superseded(self.positions.acked_at) if compaction and self.positions else set()
        tolerated_superseded = superseded if compaction is not None and compaction.tolerated else set()
        deleted_after_read = compacted_after_read = 0
        never_consumed = []
        for mid, outcome in status.items():
            if mid in self.ignored:
                continue  # poison: the dead-letter checker's business
            times = self.consumed.get(mid, 0)
            if outcome == OK:
                if times == 0 and drained:
                    never_consumed.append(mid)
                elif times and self.retained is not None and mid not in self.retained:
                    if mid in deleted:
                        deleted_after_read += 1  # read, then deleted from the log's front: its policy
                    elif mid in tolerated_superseded:
                        compacted_after_read += 1  # read, then compacted away under a later record of its key
                    else:
                        anomalies["truncated"].add(mid)
            elif outcome in (INFO, INVOKE):
                if times:
                    anomalies["recovered"].add(mid)
                elif drained:
                    anomalies["unconfirmed_lost"].add(mid)
        for mid in self.redelivered:
            anomalies["redelivered"].add(mid)
        for mid, times in self.consumed.items():
            if times > 1:
                resent = self.epochs.in_flight_at_change(mid)
                anomalies["resent_after_epoch_bump" if resent else "duplicated"].add(mid)
            if mid not in status:
                anomalies["unexpected"].add(mid)
            elif status[mid] == FAIL:
                anomalies["failed_but_delivered"].add(mid)
        outcomes = Counter(status.values())
        expiry = self._judge_expiry(never_consumed, deleted, anomalies)
        expired, undecided, undecided_why = expiry.expired, expiry.undecided, expiry.why
        if expired or undecided:
            never_consumed = [mid for mid in never_consumed if mid not in expired and mid not in undecided]
        compacted = self._judge_compaction(never_consumed, superseded, anomalies)
        if compacted.expired or compacted.undecided:
            never_consumed = [m for m in never_consumed if m not in compacted.expired and m not in compacted.undecided]
            expired, undecided = expired | compacted.expired, undecided | compacted.undecided
            undecided_why = "; ".join(w for w in (undecided_why, compacted.why) if w)
        lost, maybe_trimmed, maybe_why = self._judge_trimming(
            never_consumed, outcomes[INFO] + outcomes[INVOKE], deleted, anomalies
        )
        expired = expired | self.trimmed_by_size  # the size cap's deletions: neither lost by offset nor skipped
        acknowledged = sum(1 for mid, o in status.items() if o == OK and mid not in self.ignored)
        incomplete = self._incomplete(anomalies, acknowledged)
        if undecided:
            why = (
                f"{len(undecided)} acknowledged messages were never consumed, and whether the log's policy "
                f"was allowed to delete them cannot be told: {undecided_why}"
            )
            for kind in ("lost", "lost_by_offset", "skipped"):
                incomplete.setdefault(kind, why)
            expired = expired | undecided  # neither lost by offset nor skipped, as far as is known
        if maybe_trimmed and "lost" not in incomplete:
            incomplete["lost"] = f"{maybe_trimmed} acknowledged messages never consumed {maybe_why}"
        lost_at = {}
        if self.positions is not None:
            lost_at = self._judge_positions(self.positions, status, expired, anomalies, incomplete)
        if self.sessions is not None and self.positions is not None:
            self._judge_sessions(self.sessions, self.positions, frozenset(expired), anomalies, incomplete)
        valid, reason = decide(anomalies, incomplete)
        stats: dict[str, Any] = {
            "sent": len(status),
            "send_ok": outcomes[OK],
            "send_fail": outcomes[FAIL],
            "send_info": outcomes[INFO] + outcomes[INVOKE],
            "consumed_distinct": len(self.consumed),
            "consumed_total": sum(self.consumed.values()) + sum(self.redelivered.values()),
            "redelivered_copies": sum(self.redelivered.values()),
            "drain_complete": drained,
            "audited": self.retained is not None,
        }
        if self.cap is not None:
            stats |= {"keep_newest": self.cap.keep_newest, "maybe_trimmed": maybe_trimmed}
            stats |= {"trim_tolerated": self.trim_tolerated, "lost_within_length_cap": self.lost_within_cap}
        if self.trim_reason is not None:
            stats |= {"trimmed_as": self.trim_reason, "maybe_trimmed": maybe_trimmed}
        if self.size_cap is not None:
            stats |= {"retention_bytes": self.size_cap.retention_bytes, "record_bytes_max": self.size_cap.largest}
        if self.front.starts is not None:
            stats["deleted_after_read"] = deleted_after_read
        if compaction is not None:
            stats |= {"compaction_tolerated": compaction.tolerated, "compacted_after_read": compacted_after_read}
            stats["lost_superseded"] = sum(1 for mid in lost if mid in superseded)
            stats["compaction_undecided"] = len(compacted.undecided)
        if self.expire_after_ns is not None:
            stats |= {"may_expire_after_s": self.expire_after_ns / 1e9, "deleted_too_soon": expiry.too_soon}
            stats["expiry_undecided"] = len(expiry.undecided)
        reasons = self.dead_letters.reason
        lost_dead_lettered = Counter(reasons[mid] for mid in lost if mid in reasons)
        if lost_dead_lettered:  # where the lost went: a policy the profile does not tolerate (maxlen, ...)
            stats["lost_dead_lettered"] = dict(sorted(lost_dead_lettered.items()))
        if self.positions is not None:
            stats |= {"positions_acknowledged": len(self.positions.acked_at), "positions_read": self.positions.reads}
            stats["lost_by_offset_at"] = lost_at
        return Verdict(self.name, valid, anomalies, stats, reason, incomplete)

    def _judge_expiry(
        self, never_consumed: list[object], deleted: set[object], anomalies: dict[str, Anomaly]
    ) -> Expiry:
        """Under a stated expiry (``expire_after_ns``), the acknowledged messages never consumed that the
        broker deleted by its policy once they were old enough: ``expired`` (reported, failing nothing).
        The rest were deleted sooner (they stay ``lost``), or cannot be told (``undecided``, with why)."""
        if self.expire_after_ns is None:
            return Expiry()
        anomalies["expired"] = Anomaly("expired", blocks_validity=False)
        after_ns = self.expire_after_ns
        if self.expiry_evidence == "dead_letter":
            judged = self._expired_by_dead_letters(never_consumed, after_ns)
        elif self.minid is not None:
            judged = self._expired_by_minid(self.minid, never_consumed, after_ns)
        else:
            judged = self._expired_by_log_start(never_consumed, deleted, after_ns)
        for mid in never_consumed:  # in the order they were sent
            if mid in judged.expired:
                anomalies["expired"].add(mid)
        return judged

    def _judge_compaction(
        self, never_consumed: list[object], superseded: set[object], anomalies: dict[str, Anomaly]
    ) -> Expiry:
        """Under a tolerated compaction, the acknowledged messages never consumed that a later record of
        their key superseded: ``compacted`` (reported, failing nothing). Without a completed final log
        read, none can be told compacted or lost (``undecided``)."""
        compaction = self.compaction
        if compaction is None or not compaction.tolerated:
            return Expiry()
        anomalies["compacted"] = Anomaly("compacted", blocks_validity=False)
        if compaction.latest is None:
            why = "no completed final log read showed which records of each key compaction kept"
            return Expiry(undecided=set(never_consumed), why=why)
        judged = Expiry()
        for mid in never_consumed:
            if mid in superseded:
                anomalies["compacted"].add(mid)
                judged.expired.add(mid)
        return judged

    def _expired_by_log_start(self, never_consumed: list[object], deleted: set[object], after_ns: int) -> Expiry:
        """Retention: deleted below the partition's final start, old enough by the first sign it was gone
        (a reader jumping past it, else the final log read)."""
        if self.front.starts is None:
            why = "no final log read reported where each partition starts"
            return Expiry(undecided=set(never_consumed), why=why)
        candidates = [mid for mid in never_consumed if mid in deleted]
        if not candidates:
            return Expiry()
        gone_by = dict.fromkeys(candidates, self.front.seen_at)
        if self.sessions is not None and self.positions is not None:
            for (_process, _partition, _before, _after, at), mids in self.sessions.passed(self.positions.acked_at):
                for mid in mids:
                    if mid in gone_by and at < gone_by[mid]:
                        gone_by[mid] = at
        judged = Expiry()
        ok_time = self.sends.ok_time
        for mid in candidates:
            if gone_by[mid] - ok_time.get(mid, gone_by[mid]) >= after_ns:
                judged.expired.add(mid)
            else:
                judged.too_soon += 1
        return judged

    def _expired_by_dead_letters(self, never_consumed: list[object], after_ns: int) -> Expiry:
        """A TTL: dead-lettered as ``expired``, and old enough when it was. The broker gives the time to the
        second, rounded down, so a message is old enough when that time is at least the tolerance after its
        acknowledgement, too young when a second later is still short of it counted from its first send,
        and undecided in between."""
        letters = self.dead_letters
        if letters.unread():
            why = f"the dead-letter queue was not read to its end ({letters.unread()})"
            return Expiry(undecided=set(never_consumed), why=why)
        judged, undated = Expiry(), 0
        ok_time, invoke_time = self.sends.ok_time, self.sends.invoke_time
        for mid in never_consumed:
            if letters.reason.get(mid) != DeadLetters.EXPIRED:
                continue  # not dead-lettered, or for another reason: lost
            at = letters.at.get(mid)
            if at is None or mid not in ok_time:
                undated += 1
                judged.undecided.add(mid)
            else:
                gone = (at, at + DeadLetters.RESOLUTION_NS)
                judged.place(mid, gone, ok_time[mid], invoke_time.get(mid, ok_time[mid]), after_ns)
        if judged.undecided:
            judged.why = (
                f"{len(judged.undecided) - undated} expired within a second of the stated "
                f"{after_ns / 1e9:g} s (the broker dates a dead letter to the second), "
                f"{undated} with no time"
            )
        return judged

    def _expired_by_minid(self, minid: MinIdThresholds, never_consumed: list[object], after_ns: int) -> Expiry:
        """Redis MINID: trimmable by a command (XADD or XTRIM) whose threshold was above the entry's id; old
        enough when even the first such command was sent at least the tolerance after the entry's
        acknowledgement, too young when the last command's completion (every trim done by then) is still
        short of it from its first send, and undecided in between — or where only commands of unknown
        outcome could have trimmed it."""
        judged, unsure = Expiry(), 0
        status, ok_time, invoke_time = self.sends.status, self.sends.ok_time, self.sends.invoke_time
        for mid in never_consumed:
            entry_ms = minid.entry_ms(mid)
            if entry_ms is None or mid not in ok_time:
                continue  # no entry id to place it: lost
            cover, earliest = minid.covering(entry_ms, status)
            if cover == MinIdThresholds.NONE or earliest is None:
                continue  # no command could have trimmed it: lost
            if cover == MinIdThresholds.MAYBE:
                unsure += 1
                judged.undecided.add(mid)
            else:
                gone = (earliest, minid.last_send_ns)
                judged.place(mid, gone, ok_time[mid], invoke_time.get(mid, ok_time[mid]), after_ns)
        if judged.undecided:
            judged.why = (
                f"{len(judged.undecided) - unsure} trimmable by MINID commands sent less than the stated "
                f"{after_ns / 1e9:g} s after their acknowledgement, {unsure} only by MINID commands of unknown "
                "outcome"
            )
        return judged

    def _judge_trimming(
        self, never_consumed: list[object], uncertain: int, deleted: set[object], anomalies: dict[str, Anomaly]
    ) -> tuple[list[object], int, str]:
        """Sort the acknowledged messages never consumed into ``lost`` and, under a tolerated length cap,
        ``trimmed``; returns the lost, how many may or may not have been trimmed, and why that cannot be
        told (see the module's docstring). ``deleted``: those below their partition's final log start."""
        if self.trim_reason is not None:
            return self._trimmed_by_dead_letters(never_consumed, anomalies)
        if self.size_cap is not None:
            return self._trimmed_by_size(self.size_cap, never_consumed, deleted, anomalies)
        if self.cap is None or not self.trim_tolerated:
            for mid in never_consumed:
                anomalies["lost"].add(mid)
            if self.cap is not None:  # the cap may have dropped them, and the profile does not tolerate it
                cap = self.cap
                self.lost_within_cap = sum(cap.fate(m, uncertain) != LengthCap.NOT_ALLOWED for m in never_consumed)
            return never_consumed, 0, ""
        anomalies["trimmed"] = Anomaly("trimmed", blocks_validity=False)
        maybe, lost = 0, []
        for mid in never_consumed:
            fate = self.cap.fate(mid, uncertain)
            if fate == LengthCap.TRIMMED:
                anomalies["trimmed"].add(mid)
            elif fate == LengthCap.MAYBE:
                maybe += 1
            else:
                anomalies["lost"].add(mid)
                lost.append(mid)
        why = "had fewer acknowledged entries after them than the length cap keeps, but enough sends of unknown "
        return lost, maybe, why + "outcome to have been trimmed"

    def _trimmed_by_size(
        self, cap: SizeCap, never_consumed: list[object], deleted: set[object], anomalies: dict[str, Anomaly]
    ) -> tuple[list[object], int, str]:
        """A partition's size cap (Kafka retention.bytes) deletes from the log's front: a record below its
        partition's final start with enough records after it is ``trimmed``; the rest are lost. Without the
        final log read's start offsets, none can be told."""
        anomalies["trimmed"] = Anomaly("trimmed", blocks_validity=False)
        if self.front.starts is None or self.positions is None:
            why = (
                "cannot be told trimmed by the size cap or lost: no final log read reported where each partition starts"
            )
            return [], len(never_consumed), why
        ends, acked_at = self.positions.ends(), self.positions.acked_at
        lost = []
        for mid in never_consumed:
            at = acked_at.get(mid)
            if mid in deleted and at is not None and cap.allowed(at, ends):
                anomalies["trimmed"].add(mid)
                self.trimmed_by_size.add(mid)
            else:
                anomalies["lost"].add(mid)
                lost.append(mid)
        return lost, 0, ""

    def _trimmed_by_dead_letters(
        self, never_consumed: list[object], anomalies: dict[str, Anomaly]
    ) -> tuple[list[object], int, str]:
        """A queue's length limit that drops its oldest (RabbitMQ drop-head) dead-letters each with the
        broker's reason (``maxlen``): those are ``trimmed``; the rest are lost. Without a dead-letter queue
        read to its end, none can be told."""
        anomalies["trimmed"] = Anomaly("trimmed", blocks_validity=False)
        letters = self.dead_letters
        if letters.unread():
            why = f"cannot be told trimmed or lost: the dead-letter queue was not read ({letters.unread()})"
            return [], len(never_consumed), why
        lost = []
        for mid in never_consumed:
            if letters.reason.get(mid) == self.trim_reason:
                anomalies["trimmed"].add(mid)
            else:
                anomalies["lost"].add(mid)
                lost.append(mid)
        return lost, 0, ""

    def _judge_sessions(
        self,
        sessions: ReadSessions,
        positions: Positions,
        expired: frozenset[object],
        anomalies: dict[str, Anomaly],
        incomplete: dict[str, str],
    ) -> None:
        for kind in SESSION_KINDS:
            anomalies[kind] = Anomaly(kind)
        for what in sessions.backwards:
            anomalies["nonmonotonic"].add(what)
        for what in sessions.skips(positions.acked_at, allowed=expired):
            anomalies["skipped"].add(what)
        if not sessions.reads:
            why = "no consumer recorded its session events (assign, revoke, seek) and read with positions"
            for kind in SESSION_KINDS:
                incomplete.setdefault(kind, why)
        if not self.drain.complete:
            for kind in SESSION_KINDS:
                incomplete.setdefault(kind, self.drain.missing())
        if self.commits:
            self._judge_commits(sessions, anomalies, incomplete)

    def _judge_commits(self, sessions: ReadSessions, anomalies: dict[str, Anomaly], incomplete: dict[str, str]) -> None:
        """``rewound``: needs a commit recorded, and the session kinds' evidence."""
        anomalies["rewound"] = Anomaly("rewound")
        for what in sessions.rewinds:
            anomalies["rewound"].add(what)
        if not sessions.commits:
            incomplete.setdefault("rewound", "no consumer recorded a commit the coordinator accepted")
        elif "nonmonotonic" in incomplete:  # the session kinds' evidence: reads with positions, a full drain
            incomplete.setdefault("rewound", incomplete["nonmonotonic"])

    def _judge_positions(
        self,
        positions: Positions,
        status: dict[Any, str],
        expired: set[object],
        anomalies: dict[str, Anomaly],
        incomplete: dict[str, str],
    ) -> dict[str, str]:
        """The position kinds (see the module's docstring), each with its evidence rule; returns where the
        first messages lost by offset were acknowledged (their ids carry the timelines)."""
        for kind in POSITION_KINDS:
            anomalies[kind] = Anomaly(kind)
        for (partition, offset), (first, other) in positions.conflicts.items():
            anomalies["inconsistent_offsets"].add(f"{partition}:{offset} held {first} and {other}")
        if not positions.acked_at or not positions.reads:
            side = "no acknowledgement" if not positions.acked_at else "no read"
            for kind in POSITION_KINDS:
                incomplete.setdefault(kind, f"{side} carried a partition and offset")
        if not self.drain.complete:
            incomplete.setdefault("inconsistent_offsets", self.drain.missing())
        if not (self.drain.complete or self.retained is not None):
            incomplete.setdefault("lost_by_offset", "neither the final drain nor the audit completed")
            return {}
        where: dict[str, str] = {}
        lost = anomalies["lost_by_offset"]
        for mid, (partition, offset) in positions.acked_at.items():
            if status.get(mid) != OK or mid in self.ignored or mid in positions.returned or mid in expired:
                continue
            if offset <= positions.read_high.get(partition, -1):
                lost.add(mid)
                if len(where) < len(lost.ids):
                    where[str(mid)] = f"{partition}:{offset} (readers reached {positions.read_high[partition]})"
        return where
