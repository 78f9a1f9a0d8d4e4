"""Redis Streams workload: XADD through the primary's proxy, XREADGROUP + XACK in a consumer group.

Every entry carries its message id, producer and sequence, so a retried XADD that lands twice shows up
as a duplicate rather than disappearing. Errors are classified: a refused connection, a read-only
replica or a server error means the XADD definitely did not happen (``fail``); a timeout or a dropped
connection after sending means we cannot know (``info``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

from chaos.cluster.redis import RedisSentinelCluster
from chaos.history import FAIL, INFO, INVOKE, OK, Recorder
from chaos.workloads.base import LoadBudget, Workload

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


class RedisStreamsWorkload(Workload):
    """Producers XADD to one stream; consumers of one group read with ``>`` and XACK after processing."""

    def __init__(
        self,
        cluster: RedisSentinelCluster,
        stream: str,
        history: Recorder,
        budget: LoadBudget | None = None,
        producers: int = 1,
        consumers: int = 1,
        retries: int = 0,
        timeout: float = 1.0,
    ) -> None:
        super().__init__(history, budget or LoadBudget(), producers, consumers)
        self.cluster = cluster
        self.stream = stream
        self.retries = retries
        self.timeout = timeout
        with self._primary_client() as conn:
            conn.xgroup_create(stream, GROUP, id="0", mkstream=True)

    def _primary_client(self) -> redis.Redis:
        primary = self.cluster.current_primary()
        return self.cluster.client(primary, retries=self.retries, timeout=self.timeout)

    def _connect(self) -> tuple[redis.Redis | None, str | None]:
        try:
            primary = self.cluster.current_primary()
        except LookupError:
            return None, None
        return self.cluster.client(primary, retries=self.retries, timeout=self.timeout), primary.name

    # producing -------------------------------------------------------------------------------------
    def produce(self, index: int) -> None:
        process = f"producer-{index + 1}"
        conn, node = self._connect()
        seq = 0
        while self.producing and not self.out_of_budget(seq):
            value = {"id": f"{process}-{seq}", "group": self.stream, "producer": process, "seq": seq}
            seq += 1
            if conn is None:
                self.history.record(process, INVOKE, "send", value)
                self.history.record(process, FAIL, "send", value, error="no primary known")
                time.sleep(0.1)
                conn, node = self._connect()
                continue
            self.history.record(process, INVOKE, "send", value, node=node)
            try:
                entry = conn.xadd(self.stream, {k: str(v) for k, v in value.items()})
            except (redis.RedisError, OSError) as exc:
                self.history.record(process, classify(exc), "send", value, node=node, error=repr(exc)[:200])
                conn.close()
                time.sleep(0.05)
                conn, node = self._connect()
                continue
            self.history.record(process, OK, "send", {**value, "entry": entry}, node=node)
            self.sent_ok += 1
            self.pace(seq)
        if conn is not None:
            conn.close()

    # consuming -------------------------------------------------------------------------------------
    def consume(self, index: int) -> None:
        """Read, process, XACK. After every (re)connect, first re-read this consumer's own pending
        entries (id ``0``): an XACK lost in a fault leaves them there, and they must not be stranded."""
        process = f"consumer-{index + 1}"
        conn, node = self._connect()
        own_pending_first = True
        while self.consuming:
            if conn is None:
                time.sleep(0.1)
                conn, node = self._connect()
                own_pending_first = True
                continue
            start = "0" if own_pending_first else ">"
            try:
                batches = conn.xreadgroup(GROUP, process, {self.stream: start}, count=200, block=100)
                entries = [e for _, batch in batches or [] for e in batch]
                if own_pending_first and not entries:
                    own_pending_first = False
                for entry_id, fields in entries:
                    value = _value(fields, entry_id)
                    if start == "0":
                        value["redelivered"] = True
                    self.history.record(process, OK, "receive", value, node=node)
                    self.received += 1
                if entries:
                    conn.xack(self.stream, GROUP, *[entry_id for entry_id, _ in entries])
            except (redis.RedisError, OSError):
                conn.close()
                time.sleep(0.05)
                conn, node = self._connect()
                own_pending_first = True
        if conn is not None:
            conn.close()

    def backlog(self) -> int | None:
        """Entries not yet delivered to the group plus delivered-but-unacknowledged ones."""
        try:
            with self._primary_client() as conn:
                groups = {g["name"]: g for g in conn.xinfo_groups(self.stream)}
        except (redis.RedisError, OSError, LookupError):
            return None
        group = groups.get(GROUP)
        if group is None:
            return None
        lag = group.get("lag")
        if lag is None:  # Redis cannot compute it (e.g. after XDEL): compare ids instead
            try:
                with self._primary_client() as conn:
                    last = conn.xinfo_stream(self.stream)["last-generated-id"]
            except (redis.RedisError, OSError, LookupError):
                return None
            lag = 0 if last == group.get("last-delivered-id") else None
            if lag is None:
                return None
        return int(group.get("pending", 0)) + int(lag)


def _value(fields: dict[str, Any], entry_id: str) -> dict[str, Any]:
    value: dict[str, Any] = dict(fields)
    if "seq" in value:
        value["seq"] = int(value["seq"])
    value["entry"] = entry_id
    return value
