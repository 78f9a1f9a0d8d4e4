#!/usr/bin/env python3
"""An application's Kafka consumer, as brokerchaos runs it: ``[workload] consumer_command``.

What a team ships: a consumer group member that polls a batch, processes each record, and commits the
batch's offsets synchronously after processing (auto-commit off); a record whose processing fails is
retried with backoff and, past the retry limit, written to the dead-letter topic — acknowledged by the
broker before the offset moves on. Every step is reported to the harness as one JSON line on stdout
(the command protocol, see the README); logs go to stderr.

A seeded bug, for the integration test that proves the suite catches it (``--bug``):
  commit-before-processing   commit the batch as soon as it is polled: a consumer killed mid-batch
                             has already committed what it never processed, and nobody reads it again
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer

ENV = os.environ


def report(kind: str, f: str, value: dict[str, Any]) -> None:
    print(json.dumps({"type": kind, "f": f, "value": value}), flush=True)


def log(text: str) -> None:
    print(f"{ENV.get('BROKERCHAOS_PROCESS', 'consumer')}: {text}", file=sys.stderr, flush=True)


class Application:
    def __init__(self, bug: str) -> None:
        self.bug = bug
        self.topic = ENV["BROKERCHAOS_TOPIC"]
        self.dead_letter_topic = ENV.get("BROKERCHAOS_DEAD_LETTER_TOPIC")
        self.max_retries = int(ENV.get("BROKERCHAOS_MAX_RETRIES", "3"))
        self.process_s = float(ENV.get("BROKERCHAOS_PROCESS_MS", "0")) / 1000
        common = {"bootstrap.servers": ENV["BROKERCHAOS_BOOTSTRAP"], "socket.timeout.ms": 5000}
        self.consumer = Consumer(
            {
                **common,
                "group.id": ENV["BROKERCHAOS_GROUP"],
                "enable.auto.commit": False,
                "auto.offset.reset": ENV.get("BROKERCHAOS_AUTO_OFFSET_RESET", "earliest"),
                "isolation.level": ENV.get("BROKERCHAOS_ISOLATION_LEVEL", "read_committed"),
                # a killed member's partitions move to the others after this, not after the default 45 s
                "session.timeout.ms": int(ENV.get("BROKERCHAOS_SESSION_TIMEOUT_MS", "6000")),
                "heartbeat.interval.ms": int(ENV.get("BROKERCHAOS_HEARTBEAT_INTERVAL_MS", "1000")),
                "partition.assignment.strategy": ENV.get(
                    "BROKERCHAOS_PARTITION_ASSIGNMENT_STRATEGY", "range,roundrobin"
                ),
                **self._static_member(),
            }
        )
        self.dead_letters = Producer({**common, "acks": "all", "enable.idempotence": True, "linger.ms": 0})
        self.running = True

    @staticmethod
    def _static_member() -> dict[str, str]:
        """Static membership, when the profile asks for it: a fixed group.instance.id per process."""
        if ENV.get("BROKERCHAOS_STATIC_MEMBERSHIP") != "true":
            return {}
        return {"group.instance.id": f"{ENV['BROKERCHAOS_GROUP']}-{ENV['BROKERCHAOS_PROCESS']}"}

    def run(self) -> None:
        self.consumer.subscribe([self.topic])
        try:
            while self.running:
                try:
                    batch = [m for m in self.consumer.consume(num_messages=100, timeout=0.2) if not m.error()]
                except KafkaException as exc:
                    log(f"poll failed: {exc}")
                    time.sleep(0.1)
                    continue
                if not batch:
                    continue
                if self.bug == "commit-before-processing":
                    self.commit()
                try:
                    for msg in batch:
                        self.handle(msg)
                except KafkaException as exc:  # not committed: read the batch again from the last commit
                    log(f"processing failed, rewinding: {exc}")
                    self.rewind()
                    continue
                self.commit()
        finally:
            self.consumer.close()

    def handle(self, msg: Message) -> None:
        value = json.loads(msg.value())
        value.update(partition=msg.partition(), offset=msg.offset(), source=value["id"])
        value["record"] = f"{msg.partition()}:{msg.offset()}"  # a second read of one record is a redelivery
        report("ok", "receive", value)
        if value.get("kind") == "poison":
            self.poison(value)
            return
        time.sleep(self.process_s)  # the work
        report("ok", "process", value)

    def poison(self, value: dict[str, Any]) -> None:
        """Processing fails every time: retry with backoff, then dead-letter (and wait for the broker)."""
        for attempt in range(1, self.max_retries + 1):
            time.sleep(0.01 * attempt)
        if not self.dead_letter_topic:
            return
        outcome: list[KafkaError | None] = []
        self.dead_letters.produce(
            self.dead_letter_topic,
            key=value["id"],
            value=json.dumps(value),
            headers=[("reason", b"handler_failed"), ("delivery_count", str(self.max_retries).encode())],
            on_delivery=lambda error, _msg: outcome.append(error),
        )
        self.dead_letters.flush(15)
        if not outcome or outcome[0] is not None:
            raise KafkaException(outcome[0] if outcome else KafkaError(KafkaError._TIMED_OUT))

    def commit(self) -> None:
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:  # a rebalance or a fault: the batch is read again (at-least-once)
            log(f"commit refused: {exc}")

    def rewind(self) -> None:
        try:
            for partition in self.consumer.committed(self.consumer.assignment(), timeout=10):
                if partition.offset >= 0:
                    self.consumer.seek(partition)
        except KafkaException as exc:
            log(f"rewind failed: {exc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bug", choices=["none", "commit-before-processing"], default="none")
    app = Application(parser.parse_args().bug)

    def stop(*_: object) -> None:
        app.running = False

    signal.signal(signal.SIGTERM, stop)
    app.run()


if __name__ == "__main__":
    main()
