#!/usr/bin/env python3
"""An application's RabbitMQ consumer, as brokerchaos runs it: ``[workload] consumer_command``.

What a team ships: manual acknowledgements after processing with a bounded prefetch; a message whose
processing fails is rejected back to the queue, and the quorum queue's delivery limit dead-letters it
(the queue and its dead-letter exchange are declared by the harness, as a deployment would); a lost
connection moves on to the next node. Every step is reported to the harness as one JSON line on stdout
(the command protocol, see the README); logs go to stderr.

A seeded bug, for the integration test that proves the suite catches it (``--bug``):
  ack-before-processing   acknowledge on receipt: a consumer killed while processing has already
                          acknowledged the message, and the broker has forgotten it
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from typing import Any

import pika
import pika.exceptions

ENV = os.environ
PREFETCH = 50


def report(kind: str, f: str, value: dict[str, Any]) -> None:
    print(json.dumps({"type": kind, "f": f, "value": value}), flush=True)


def log(text: str) -> None:
    print(f"{ENV.get('BROKERCHAOS_PROCESS', 'consumer')}: {text}", file=sys.stderr, flush=True)


class Application:
    def __init__(self, bug: str) -> None:
        self.bug = bug
        self.queue = ENV["BROKERCHAOS_QUEUE"]
        self.endpoints = ENV["BROKERCHAOS_ENDPOINTS"].split(",")
        self.credentials = pika.PlainCredentials(ENV["BROKERCHAOS_USERNAME"], ENV["BROKERCHAOS_PASSWORD"])
        self.process_s = float(ENV.get("BROKERCHAOS_PROCESS_MS", "0")) / 1000
        self.running = True

    def connect(self, attempt: int) -> pika.BlockingConnection | None:
        """The next node that accepts a connection, starting from a different one each attempt."""
        for offset in range(len(self.endpoints)):
            host, port = self.endpoints[(attempt + offset) % len(self.endpoints)].rsplit(":", 1)
            parameters = pika.ConnectionParameters(
                host=host,
                port=int(port),
                credentials=self.credentials,
                heartbeat=10,
                blocked_connection_timeout=10,
                socket_timeout=5,
                connection_attempts=1,
            )
            try:
                return pika.BlockingConnection(parameters)
            except pika.exceptions.AMQPError as exc:
                log(f"{host}:{port} refused: {exc!r}")
        return None

    def run(self) -> None:
        attempt = int(ENV.get("BROKERCHAOS_PROCESS", "consumer-1").rsplit("-", 1)[-1])
        while self.running:
            conn = self.connect(attempt)
            attempt += 1
            if conn is None:
                time.sleep(0.2)
                continue
            try:
                self.consume_on(conn)
            except pika.exceptions.AMQPError as exc:
                log(f"connection lost: {exc!r}")
                time.sleep(0.1)
            finally:
                if conn.is_open:
                    with contextlib.suppress(pika.exceptions.AMQPError):
                        conn.close()

    def consume_on(self, conn: pika.BlockingConnection) -> None:
        channel = conn.channel()
        channel.basic_qos(prefetch_count=PREFETCH)
        for method, props, body in channel.consume(self.queue, inactivity_timeout=0.2):
            if not self.running:
                return
            if method is None:
                continue
            value = json.loads(body)
            value["redelivered"] = bool(method.redelivered)
            headers = props.headers or {}
            if headers.get("x-delivery-count") is not None:
                value["delivery_count"] = int(headers["x-delivery-count"])
            if self.bug == "ack-before-processing":
                channel.basic_ack(method.delivery_tag)
            report("ok", "receive", value)  # handed to the handler
            if value.get("kind") == "poison":  # the handler fails: back to the queue, until the limit
                if self.bug != "ack-before-processing":
                    channel.basic_reject(method.delivery_tag, requeue=True)
                continue
            time.sleep(self.process_s)  # the work
            report("ok", "process", value)
            if self.bug != "ack-before-processing":
                channel.basic_ack(method.delivery_tag)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bug", choices=["none", "ack-before-processing"], default="none")
    app = Application(parser.parse_args().bug)

    def stop(*_: object) -> None:
        app.running = False

    signal.signal(signal.SIGTERM, stop)
    app.run()


if __name__ == "__main__":
    main()
