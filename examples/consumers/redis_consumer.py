#!/usr/bin/env python3
"""An application's Redis Streams consumer, as brokerchaos runs it: ``[workload] consumer_command``.

What a team ships: read with XREADGROUP, process, XACK after processing; on (re)connect re-read its own
pending entries first; a message whose processing fails is retried with backoff and, past the delivery
limit, dead-lettered and acknowledged in one MULTI/EXEC. Every step is reported to the harness as one
JSON line on stdout (the command protocol, see the README); logs go to stderr.

Seeded bugs, for the integration tests that prove the suite catches them (``--bug``):
  ack-before-processing   XACK as soon as read: a consumer killed mid-processing loses the message
  drop-after-retries      past the limit, acknowledge and drop instead of dead-lettering
  process-after-retries   past the limit, let the message through as if it were good
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

ENV = os.environ
CLAIM_IDLE_MS = 2000  # pending this long: its consumer is gone


def report(kind: str, f: str, value: dict[str, object]) -> None:
    print(json.dumps({"type": kind, "f": f, "value": value}), flush=True)


def log(text: str) -> None:
    print(f"{ENV.get('BROKERCHAOS_PROCESS', 'consumer')}: {text}", file=sys.stderr, flush=True)


def primary() -> redis.Redis | None:
    """The node that says it is the primary (the harness gives every data node's address)."""
    for endpoint in ENV["BROKERCHAOS_ENDPOINTS"].split(","):
        host, port = endpoint.rsplit(":", 1)
        # No retries inside redis-py (its default resends a failed command for seconds): an error ends the
        # batch at once, and the consumer re-reads its own pending entries, marked redelivered.
        conn = redis.Redis(
            host=host, port=int(port), socket_timeout=1.0, retry=Retry(NoBackoff(), 0), decode_responses=True
        )
        try:
            if conn.execute_command("ROLE")[0] == "master":
                return conn
        except (redis.RedisError, OSError):
            pass
        conn.close()
    return None


class Consumer:
    def __init__(self, bug: str) -> None:
        self.bug = bug
        self.name = ENV["BROKERCHAOS_PROCESS"]
        self.stream = ENV["BROKERCHAOS_STREAM"]
        self.group = ENV["BROKERCHAOS_GROUP"]
        self.dead_letters = ENV["BROKERCHAOS_DEAD_LETTER_STREAM"]
        self.max_deliveries = int(ENV.get("BROKERCHAOS_MAX_DELIVERIES", "3"))
        self.process_s = float(ENV.get("BROKERCHAOS_PROCESS_MS", "0")) / 1000
        self.running = True

    def run(self) -> None:
        conn, pending_first, last_claim = None, True, 0.0
        while self.running:
            if conn is None:
                conn, pending_first = primary(), True
                if conn is None:
                    time.sleep(0.2)
                    continue
            try:
                redelivered = pending_first
                if pending_first:  # what this consumer read before a reconnect and did not acknowledge
                    entries = self.read(conn, "0")
                    pending_first = bool(entries)
                elif time.monotonic() - last_claim > 1.0 and (entries := self.claim(conn)):
                    last_claim, redelivered = time.monotonic(), True
                else:
                    entries = self.read(conn, ">")
                for entry_id, fields in entries:
                    self.handle(conn, entry_id, fields, redelivered)
            except (redis.RedisError, OSError) as exc:  # a lost link or a demoted primary: find it again
                log(f"reconnecting after {exc!r}")
                conn = None
                time.sleep(0.1)

    def read(self, conn: redis.Redis, start: str) -> list[tuple[str, dict[str, str]]]:
        batches = conn.xreadgroup(self.group, self.name, {self.stream: start}, count=50, block=100)
        return [entry for _, batch in batches or [] for entry in batch]

    def claim(self, conn: redis.Redis) -> list[tuple[str, dict[str, str]]]:
        """Entries a dead consumer left pending (a restarted pod comes back under another name)."""
        claimed = conn.xautoclaim(self.stream, self.group, self.name, CLAIM_IDLE_MS, "0-0", count=50)
        return [entry for entry in claimed[1] if entry and entry[1] is not None]

    def handle(self, conn: redis.Redis, entry_id: str, fields: dict[str, str], redelivered: bool) -> None:
        message: dict[str, object] = {k: v for k, v in fields.items() if k != "payload"}
        message["seq"] = int(fields.get("seq", -1))
        message["entry"] = entry_id  # the record: a second read of one entry is a redelivery, not a duplicate
        if redelivered:
            message["redelivered"] = True
        if self.bug == "ack-before-processing":
            conn.xack(self.stream, self.group, entry_id)
        report("ok", "receive", message)  # handed to the handler
        if message.get("kind") == "poison":
            self.poison(conn, entry_id, message)
            return
        time.sleep(self.process_s)  # the work
        report("ok", "process", message)
        conn.xack(self.stream, self.group, entry_id)

    def poison(self, conn: redis.Redis, entry_id: str, message: dict[str, object]) -> None:
        """Processing fails: leave it pending for a retry, until the delivery limit says give up."""
        pending = conn.xpending_range(self.stream, self.group, min=entry_id, max=entry_id, count=1)
        deliveries = int(pending[0]["times_delivered"]) if pending else 0
        if deliveries < self.max_deliveries:
            time.sleep(0.05 * deliveries)  # backoff before the retry
            return
        if self.bug == "process-after-retries":  # the last attempt "succeeds": the error was swallowed
            report("ok", "process", message)
            conn.xack(self.stream, self.group, entry_id)
            return
        with conn.pipeline(transaction=True) as both:
            if self.bug != "drop-after-retries":
                both.xadd(
                    self.dead_letters,
                    {"id": str(message["id"]), "reason": "delivery_limit", "delivery_count": str(deliveries)},
                )
            both.xack(self.stream, self.group, entry_id)
            both.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bugs = ["none", "ack-before-processing", "drop-after-retries", "process-after-retries"]
    parser.add_argument("--bug", choices=bugs, default="none")
    consumer = Consumer(parser.parse_args().bug)

    def stop(*_: object) -> None:
        consumer.running = False

    signal.signal(signal.SIGTERM, stop)
    consumer.run()


if __name__ == "__main__":
    main()
