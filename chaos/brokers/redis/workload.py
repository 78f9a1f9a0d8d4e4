"""Redis Streams workload: XADD through the primary's proxy; a consumer group reads, processes, acks.

Every entry carries its message id, producer and sequence, so a retried XADD that lands twice shows up
as a duplicate rather than disappearing. Errors are classified: a refused connection, a read-only
replica or a server error means the XADD definitely did not happen (``fail``); a timeout or a dropped
connection after sending means we cannot know (``info``).

Consumers follow the profile: ack after processing (safe), before processing, or ``NOACK``; claim
other consumers' idle pending entries (XAUTOCLAIM, or XPENDING then XCLAIM) or not; dead-letter an entry to
``<stream>:dlq`` once its delivery count passes ``max_deliveries`` (0: retry poison forever).

A length or age cap (``client.maxlen``, ``client.minid_age_ms``) is each XADD's own argument, or, with
``client.trim_with = "xtrim"``, a trimmer's: one more client that runs ``XTRIM`` every
``client.xtrim_interval_ms`` while the producers write, each command a ``trim`` op in the history.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

import redis

from chaos.brokers.redis.cluster import RedisSentinelCluster
from chaos.brokers.redis.settings import RedisClientSettings
from chaos.brokers.redis.xadd import RetryingLink, WriteAheadLink, XaddLink, maxlen_args, minid_args
from chaos.checkers.base import TRIM_F
from chaos.history import FAIL, INFO, INVOKE, OK, Recorder
from chaos.workloads.base import DEAD_LETTER_READER, LoadBudget, Workload

log = logging.getLogger("brokerchaos.workloads")

GROUP = "brokerchaos"


def classify(exc: Exception) -> str:
    """``fail`` when the write certainly did not happen, ``info`` when it may have."""
    if isinstance(exc, redis.ReadOnlyError | redis.ResponseError | redis.AuthenticationError):
        return FAIL
    if isinstance(exc, redis.TimeoutError):
        return INFO
    if isinstance(exc, redis.ConnectionError) and "connecting" in str(exc).lower():
        return FAIL
    return INFO


def trim_args(c: RedisClientSettings, values: list[dict[str, Any]]) -> tuple[str, ...]:
    """The profile's cap as a command's arguments: ``MAXLEN [~|=] N``, or ``MINID [~|=] <now - age>`` with
    the threshold recorded on each value (``minid``) for the checkers."""
    if not c.minid_age_ms:
        return maxlen_args(c.maxlen, c.maxlen_approximate)
    threshold = int(time.time() * 1000) - c.minid_age_ms
    for value in values:
        value["minid"] = threshold
    return minid_args(threshold, c.minid_approximate)


class RedisStreamsWorkload(Workload):
    """Producers XADD to one stream; consumers of one group read, process, and acknowledge."""

    def __init__(
        self,
        cluster: RedisSentinelCluster,
        stream: str,
        history: Recorder,
        budget: LoadBudget | None = None,
        producers: int = 1,
        consumers: int = 1,
        client: RedisClientSettings | None = None,
        poison_every: int = 0,
        process_ms: float = 0.0,
    ) -> None:
        super().__init__(history, budget or LoadBudget(), producers, consumers)
        self.cluster = cluster
        self.stream = stream
        self.dlq = f"{stream}:dlq"
        self.settings = client or RedisClientSettings()
        # dead-lettered by the consumer once XPENDING counts max_deliveries deliveries
        limit, acks_after = self.settings.max_deliveries, self.settings.ack == "after_processing"
        self.dead_letter_after = limit if limit and acks_after else None
        self.keep_newest = self.settings.maxlen or None  # XADD ... MAXLEN: older entries may be trimmed
        if self.settings.minid_age_ms:  # XADD ... MINID: each send records its threshold
            self.expiry_evidence = "minid"
        self.poison_every = poison_every
        self.process_ms = process_ms
        # every consumer group reading the stream: the first, then the others (client.consumer_groups)
        self.groups = [GROUP] + [f"{GROUP}-g{k}" for k in range(2, self.settings.consumer_groups + 1)]
        with self._primary_client() as conn:
            for group in self.groups:
                conn.xgroup_create(stream, group, id="0", mkstream=True)

    @property
    def retries(self) -> int:
        return self.settings.retries

    def command_env(self) -> dict[str, str]:
        """Where a command consumer connects (``BROKERCHAOS_*``): the data nodes' proxies (ask each its
        ``ROLE`` for the primary: Sentinel answers with container addresses, which no fault reaches), the
        stream, its group (created already), the dead-letter stream and the profile's delivery limit."""
        return {
            "broker": "redis",
            "endpoints": ",".join(str(n.endpoint) for n in self.cluster.data_nodes if n.endpoint),
            "stream": self.stream,
            "group": GROUP,
            "dead_letter_stream": self.dlq,
            "max_deliveries": str(self.settings.max_deliveries),
        }

    def _primary_client(self) -> redis.Redis:
        primary = self.cluster.current_primary()
        return self.cluster.client(primary, retries=self.settings.retries, timeout=self.settings.timeout_s)

    def _connect(self) -> tuple[redis.Redis | None, str | None]:
        try:
            primary = self.cluster.current_primary()
        except LookupError:
            return None, None
        return self.cluster.client(
            primary, retries=self.settings.retries, timeout=self.settings.timeout_s
        ), primary.name

    # producing -------------------------------------------------------------------------------------
    def produce(self, index: int) -> None:
        """XADD in batches of ``client.pipeline`` entries, up to ``client.in_flight`` batches written ahead
        of their replies (see redis_xadd); each entry is still its own invoke/ok. An entry the server
        refused is classified alone; a lost connection makes every batch in flight indeterminate (any
        prefix of them may have been applied)."""
        process = f"producer-{index + 1}"
        link, node = self._link()
        in_flight: deque[list[dict[str, Any]]] = deque()
        seq = 0
        while True:
            more = self.producing and not self.out_of_budget(seq)
            if not more and not in_flight:
                break
            if link is None:
                if more:
                    seq = self._refuse_batch(process, seq, "no primary known")
                time.sleep(0.1)
                link, node = self._link()
                continue
            batch: list[dict[str, Any]] = []
            try:
                if more and len(in_flight) < link.depth and not self.ahead_of_rate(seq):
                    batch = self._next_batch_of(process, seq)
                    seq += len(batch)
                    cap = self._trim_by(batch)
                    for value in batch:
                        self.history.record(process, INVOKE, "send", value, node=node)
                    link.send([self._fields(value) for value in batch], cap)
                    in_flight.append(batch)
                    batch = []
                elif in_flight:  # read replies as soon as they come: an ok not read is not an ok yet
                    oldest = in_flight[0]
                    replies = link.replies(len(oldest))
                    in_flight.popleft()
                    self._record_replies(process, node, oldest, replies)
                else:
                    self.pace(seq)  # ahead of the profile's rate with nothing on the wire
            except (redis.RedisError, OSError) as exc:
                outcome, error = classify(exc), repr(exc)[:200]
                for value in [v for b in in_flight for v in b] + batch:
                    self.history.record(process, outcome, "send", value, node=node, error=error)
                in_flight.clear()
                link.close()
                time.sleep(0.05)
                link, node = self._link()
        if link is not None:
            link.close()

    def _link(self) -> tuple[XaddLink | None, str | None]:
        client, node = self._connect()
        if client is None:
            return None, None
        if self.settings.retries:
            return RetryingLink(client, self.stream), node
        return WriteAheadLink(client, self.stream, self.settings.in_flight), node

    def _trim_by(self, batch: list[dict[str, Any]]) -> tuple[str, ...]:
        """The XADDs' trimming arguments: MAXLEN, or MINID at the producer's clock minus the profile's age
        — a threshold recorded on each value (``minid``), as the checker needs to know what it allowed.
        None where the trimmer trims."""
        if self.settings.trim_with == "xtrim":
            return ()
        return trim_args(self.settings, batch)

    # trimming --------------------------------------------------------------------------------------
    def start(self) -> None:
        super().start()
        if self.settings.trim_with == "xtrim" and (self.settings.maxlen or self.settings.minid_age_ms):
            self._spawn("trimmer", self.trim, 0)

    def trim(self, _index: int) -> None:
        """``XTRIM`` every ``client.xtrim_interval_ms`` while the producers write, as a job beside the
        application would: each command a ``trim`` op (its ``minid`` threshold, or its ``maxlen``), ``ok``
        with the count it ``removed``; a refused one ``fail``, one whose reply was lost ``info``."""
        interval_s = self.settings.xtrim_interval_ms / 1000
        client, node = self._connect()
        n = 0
        while self.producing:
            began = time.monotonic()
            if client is None:
                client, node = self._connect()
            value: dict[str, Any] = {"id": f"trimmer-{n}"}
            n += 1
            cap = trim_args(self.settings, [value])
            if "minid" not in value:
                value["maxlen"] = self.settings.maxlen
            self.history.record("trimmer", INVOKE, TRIM_F, value, node=node)
            if client is None:
                self.history.record("trimmer", FAIL, TRIM_F, value, error="no primary known")
            else:
                try:
                    removed = client.execute_command("XTRIM", self.stream, *cap)
                    self.history.record("trimmer", OK, TRIM_F, {**value, "removed": int(removed)}, node=node)
                except (redis.RedisError, OSError) as exc:
                    self.history.record("trimmer", classify(exc), TRIM_F, value, node=node, error=repr(exc)[:200])
                    client.close()
                    client = None
            while self.producing and time.monotonic() - began < interval_s:
                time.sleep(min(0.05, interval_s))
        if client is not None:
            client.close()

    def _batch_size(self, seq: int) -> int:
        return max(1, min(self.settings.pipeline, self.budget.max_messages - seq))

    def _next_batch_of(self, process: str, seq: int) -> list[dict[str, Any]]:
        return [self._message(process, seq + i) for i in range(self._batch_size(seq))]

    def _refuse_batch(self, process: str, seq: int, error: str) -> int:
        """A batch that could not be sent at all: each entry a definite ``fail``."""
        batch = self._next_batch_of(process, seq)
        for value in batch:
            self.history.record(process, INVOKE, "send", value)
            self.history.record(process, FAIL, "send", value, error=error)
        return seq + len(batch)

    def _record_replies(self, process: str, node: str | None, batch: list[dict[str, Any]], replies: list[Any]) -> None:
        for value, entry in zip(batch, replies, strict=True):
            if isinstance(entry, Exception):  # this XADD was refused; the others stand
                self.history.record(process, classify(entry), "send", value, node=node, error=repr(entry)[:200])
            else:
                self.history.record(process, OK, "send", {**value, "entry": entry}, node=node)
                self.sent_ok += 1

    def _message(self, process: str, seq: int) -> dict[str, Any]:
        kind = self.message_kind(seq)
        return {"id": f"{process}-{seq}", "group": self.stream, "producer": process, "seq": seq, "kind": kind}

    @staticmethod
    def _fields(value: dict[str, Any]) -> dict[str, str]:
        fields = {k: str(v) for k, v in value.items() if k != "minid"}  # the threshold is the XADD's own
        fields["payload"] = "{not json" if value["kind"] == "poison" else '{"ok": true}'
        return fields

    settling_metrics = ("replication_lag_bytes",)

    def observe(self) -> dict[str, float | None]:
        """XLEN and pending entries on the node that says it is the primary; each data node's replication
        offset and the spread between them (replication lag in bytes: 0 with no replicas, None while a
        data node cannot be read)."""
        metrics: dict[str, float | None] = {"xlen": None, "pending": None, "replication_lag_bytes": None}
        offsets: dict[str, int] = {}
        for node in self.cluster.data_nodes:
            conn = self.cluster.direct_client(node)
            metrics[f"repl_offset {node.name}"] = None
            if conn is None:
                continue
            try:
                info = conn.info("replication")
                offsets[node.name] = int(info.get("master_repl_offset", 0))
                metrics[f"repl_offset {node.name}"] = offsets[node.name]
                if info.get("role") == "master" and metrics["xlen"] is None:
                    metrics["xlen"] = int(conn.xlen(self.stream))
                    metrics["pending"] = sum(int(conn.xpending(self.stream, g)["pending"]) for g in self.groups)
            except (redis.RedisError, OSError, KeyError, TypeError):
                pass
            finally:
                conn.close()
        if offsets and len(offsets) == len(self.cluster.data_nodes):
            metrics["replication_lag_bytes"] = max(offsets.values()) - min(offsets.values())
        return metrics

    # consuming -------------------------------------------------------------------------------------
    def consume(self, index: int) -> None:
        self.consume_in(f"consumer-{index + 1}", GROUP)

    def consume_in(self, process: str, group: str) -> None:
        """Read, process, ack as the profile says, as a member of ``group``. After every (re)connect this
        consumer first re-reads its own pending entries (id ``0``); with ``reclaim`` it also claims others'
        idle ones. The first group is the one the client faults work on; another only reads alongside it."""
        worked = group == GROUP
        conn, node = self._connect()
        own_pending_first = True
        last_reclaim = 0.0
        while self.consuming_as(process):
            if worked:
                self.hold_while_paused(process)
            if conn is None:
                time.sleep(0.1)
                conn, node = self._connect()
                own_pending_first = True
                continue
            try:
                entries, redelivered = self._next_batch(conn, group, process, own_pending_first, last_reclaim)
                if redelivered == "reclaim":
                    last_reclaim = time.monotonic()
                if own_pending_first and redelivered == "own" and not entries:
                    own_pending_first = False
                if not self._handle(conn, group, process, node, entries, redelivered != ""):
                    return  # crashed mid-batch
            except (redis.RedisError, OSError) as exc:
                if isinstance(exc, redis.ResponseError) and "NOGROUP" in str(exc):
                    self._ensure_group(conn, group)  # the primary lost the stream (no persistence): start over
                    continue
                # A dropped link, or a demoted primary (READONLY): find the primary again.
                conn.close()
                time.sleep(0.05)
                conn, node = self._connect()
                own_pending_first = True

    def _ensure_group(self, conn: redis.Redis, group: str) -> None:
        try:
            conn.xgroup_create(self.stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _next_batch(
        self, conn: redis.Redis, group: str, process: str, own_first: bool, last_reclaim: float
    ) -> tuple[list[tuple[str, dict[str, str]]], str]:
        if own_first and self.settings.ack != "noack":
            batches: Any = conn.xreadgroup(group, process, {self.stream: "0"}, count=200)
            return self._existing(conn, group, [e for _, b in batches or [] for e in b]), "own"
        idle_ms = self.settings.reclaim_idle_ms
        if self.settings.reclaim and time.monotonic() - last_reclaim > idle_ms / 2000:
            entries = self._claim_idle(conn, group, process, idle_ms)
            if entries:
                return entries, "reclaim"
        noack = self.settings.ack == "noack"
        batches = conn.xreadgroup(group, process, {self.stream: ">"}, count=100, block=100, noack=noack)
        return [e for _, b in batches or [] for e in b], ""

    def _existing(self, conn: redis.Redis, group: str, entries: list[Any]) -> list[Any]:
        """A consumer's own pending entries as they still exist: one trimmed away since its delivery (a
        ``maxlen`` cap) comes back from the pending list with no fields. There is nothing left to process,
        so it is acknowledged, clearing the pending list, as an application must."""
        gone = [entry_id for entry_id, fields in entries if not fields]
        if gone:
            conn.xack(self.stream, group, *gone)
        return [(entry_id, fields) for entry_id, fields in entries if fields]

    def _claim_idle(self, conn: redis.Redis, group: str, process: str, idle_ms: int) -> list[Any]:
        """Entries pending longer than ``idle_ms`` with another consumer, now this one's (their delivery
        counts go up). An entry trimmed or deleted meanwhile comes back empty: left out."""
        if self.settings.reclaim_with == "xautoclaim":
            claimed = conn.xautoclaim(self.stream, group, process, idle_ms, "0-0", count=100)[1]
        else:
            pending = conn.xpending_range(self.stream, group, min="-", max="+", count=100, idle=idle_ms)
            ids: list[Any] = [p["message_id"] for p in pending]
            claimed = conn.xclaim(self.stream, group, process, idle_ms, ids) if ids else []
        return [e for e in claimed if e and e[1] is not None]

    def _handle(
        self, conn: redis.Redis, group: str, process: str, node: str | None, entries: list[Any], redelivered: bool
    ) -> bool:
        for entry_id, fields in entries:
            value = _value(fields, entry_id)
            if redelivered:
                value["redelivered"] = True
            self.history.record(process, OK, "receive", value, node=node)
            self.count_received(process)
            if group == GROUP and self.should_crash(process):
                return False
            if self.settings.ack == "before_processing":
                conn.xack(self.stream, group, entry_id)
            if value.get("kind") == "poison":
                self._poison(conn, group, entry_id, value)
                continue
            self.processing_pause()
            self.history.record(process, OK, "process", value, node=node)
            if self.settings.ack == "after_processing":
                conn.xack(self.stream, group, entry_id)
        return True

    def _poison(self, conn: redis.Redis, group: str, entry_id: str, value: dict[str, Any]) -> None:
        """The handler fails on a malformed payload: leave it pending, or dead-letter it past the limit."""
        limit = self.settings.max_deliveries
        if not limit or self.settings.ack != "after_processing":
            return
        pending = conn.xpending_range(self.stream, group, min=entry_id, max=entry_id, count=1)
        deliveries = int(pending[0]["times_delivered"]) if pending else 0
        if deliveries >= limit:
            # One MULTI/EXEC: the dead letter and the ack happen together or not at all. As two commands, a
            # primary killed between them left the entry pending, and it was dead-lettered again.
            with conn.pipeline(transaction=True) as both:
                both.xadd(self.dlq, {"id": value["id"], "reason": "delivery_limit", "delivery_count": str(deliveries)})
                both.xack(self.stream, group, entry_id)
                both.execute()

    def backlog(self) -> int | None:
        """Entries not yet delivered plus those delivered but unacknowledged, over every group."""
        try:
            with self._primary_client() as conn:
                if not conn.exists(self.stream):
                    return 0  # the stream is gone (a primary without persistence restarted): nothing to drain
                groups = {g["name"]: g for g in conn.xinfo_groups(self.stream)}
                last = conn.xinfo_stream(self.stream)["last-generated-id"]
        except (redis.RedisError, OSError, LookupError):
            return None
        total = 0
        for name in self.groups:
            group = groups.get(name)
            if group is None:
                return None
            lag = group.get("lag")
            if lag is None:  # Redis cannot compute it (e.g. after a failover): compare ids instead
                lag = 0 if last == group.get("last-delivered-id") else 1
            total += int(group.get("pending", 0)) + int(lag)
        return total

    def observe_after_drain(self) -> None:
        """Record what the dead-letter stream holds (the broker's word, not the consumer's intent)."""
        try:
            with self._primary_client() as conn:
                for _, fields in conn.xrange(self.dlq):
                    value = {
                        "id": fields.get("id"),
                        "reason": fields.get("reason"),
                        "delivery_count": int(fields.get("delivery_count", 0)),
                    }
                    self.history.record(DEAD_LETTER_READER, OK, "dead_letter", value)
        except (redis.RedisError, OSError, LookupError) as exc:
            self.history.record(DEAD_LETTER_READER, INFO, "dead_letter_read", error=repr(exc)[:200])
            return
        self.history.record(DEAD_LETTER_READER, OK, "dead_letter_read")


def _value(fields: dict[str, Any], entry_id: str) -> dict[str, Any]:
    value: dict[str, Any] = {k: v for k, v in fields.items() if k != "payload"}
    if "seq" in value:
        value["seq"] = int(value["seq"])
    value["entry"] = entry_id
    return value
