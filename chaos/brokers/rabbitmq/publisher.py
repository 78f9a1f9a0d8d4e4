"""A RabbitMQ publisher with asynchronous publisher confirms (pika's SelectConnection).

Why not BlockingConnection: its ``basic_publish`` in confirm mode waits for each confirm, one network
round trip (through Toxiproxy) per message — a few hundred msgs/s. Here up to ``window`` messages are in
flight; the broker's ``basic.ack`` (possibly ``multiple``) turns each into ``ok``, ``basic.nack`` into
``fail``, a ``basic.return`` (mandatory, unroutable) into ``fail``; a connection that closes with
messages unconfirmed turns each of those into ``info`` (it may or may not have been enqueued).

One publisher runs one connection's I/O loop in the calling thread and returns when the connection ends
(fault, stop, or budget spent); the caller reconnects, to another node if it likes. Each connection is a
``connect`` operation in the history (``ok`` once the queue is declared and publishing may begin, else
``fail``): a producer that cannot reach any broker is still trying, and recovery is judged on that.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
from pika.adapters.select_connection import SelectConnection

from chaos.history import FAIL, INFO, INVOKE, OK, Recorder

log = logging.getLogger("brokerchaos.workloads")

TICK_S = 0.05
STOP_GRACE_S = 5.0  # how long a stopping publisher waits for its last confirms (or its queue's declare)
# why a stopping publisher gave up: each message still unconfirmed is info with the first, its connect the second
NO_CONFIRM_AFTER_STOP = f"no confirm within {STOP_GRACE_S:.0f} s after producing stopped"
NO_DECLARE_AFTER_STOP = f"the queue's declare still unanswered {STOP_GRACE_S:.0f} s after producing stopped"


@dataclass
class PublishPlan:
    """What one producer publishes: the queue, the next message, and when to stop."""

    process: str
    queue: str
    next_message: Callable[[], dict[str, Any] | None]  # None: budget spent (or producing stopped)
    producing: Callable[[], bool]
    ahead_of_rate: Callable[[], bool]  # True: the profile's rate says wait a little
    properties: Callable[[dict[str, Any]], pika.BasicProperties]
    declare: Callable[[Any, Callable[[], None]], None]  # (channel, on_done): declare the queue asynchronously
    on_confirmed: Callable[[], None] = lambda: None
    confirms: bool = True
    window: int = 256
    exchange: str = ""  # "" the default exchange: the routing key is the queue's name
    mandatory: bool = True  # basic.publish's mandatory flag: an unroutable message comes back (a failed send)


class ConfirmingPublisher:
    """Publishes until the plan says stop or the connection ends; records every message's outcome."""

    def __init__(
        self, parameters: pika.ConnectionParameters, plan: PublishPlan, history: Recorder, node: str = ""
    ) -> None:
        self.parameters = parameters
        self.node = node
        self.plan = plan
        self.history = history
        self.confirmed = 0
        self._unconfirmed: dict[int, dict[str, Any]] = {}
        self._returned: set[str] = set()
        self._next_tag = 1
        self._channel: Any = None
        self._connection: SelectConnection | None = None
        self._stopping_since: float | None = None
        self._exhausted = False
        self._declared = False
        self.error: str | None = None

    @property
    def exhausted(self) -> bool:
        """True once the plan has no more messages: the caller need not reconnect."""
        return self._exhausted

    def run(self) -> None:
        """Connect, publish, and return when the connection has closed."""
        self.history.record(self.plan.process, INVOKE, "connect", node=self.node or None)
        self._connection = SelectConnection(
            self.parameters,
            on_open_callback=self._on_open,
            on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_closed,
        )
        try:
            self._connection.ioloop.start()
        finally:
            if not self._declared:
                error = self.error or "closed before the queue was declared"
                self.history.record(self.plan.process, FAIL, "connect", node=self.node or None, error=error)
            self._abandon_unconfirmed(self.error or "connection closed with the message unconfirmed")

    # connection and channel ------------------------------------------------------------------------
    def _on_open(self, connection: SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel)
        connection.ioloop.call_later(TICK_S, self._watch_declare)

    def _watch_declare(self) -> None:
        """Until the queue is declared nothing ticks, and a declare may go unanswered (a new quorum queue
        without a quorum): once producing has stopped for the grace, give up on it rather than keep
        whatever waits for this producer waiting."""
        if self._declared or self._connection is None or not self._connection.is_open:
            return
        stopped_for = self._stopped_for()
        if stopped_for is not None and stopped_for > STOP_GRACE_S:
            self.error = self.error or NO_DECLARE_AFTER_STOP
            self._close()
            return
        self._connection.ioloop.call_later(TICK_S, self._watch_declare)

    def _on_open_error(self, _connection: SelectConnection, exc: BaseException) -> None:
        self.error = f"connect: {exc!r}"[:200]
        self._stop_loop()

    def _on_closed(self, _connection: SelectConnection, reason: BaseException) -> None:
        if self.error is None and not isinstance(reason, pika.exceptions.ConnectionClosedByClient):
            self.error = repr(reason)[:200]
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._connection is not None:
            self._connection.ioloop.stop()

    def _on_channel(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        self.plan.declare(channel, self._on_declared)

    def _on_channel_closed(self, _channel: Any, reason: BaseException) -> None:
        self.error = self.error or repr(reason)[:200]
        self._close()

    def _on_declared(self) -> None:
        self._declared = True
        self.history.record(self.plan.process, OK, "connect", node=self.node or None)
        if self.plan.confirms:
            self._channel.confirm_delivery(self._on_confirm, callback=lambda _frame: self._tick())
        else:
            self._tick()

    # publishing ------------------------------------------------------------------------------------
    def _tick(self) -> None:
        """Publish what the window allows; stop when the plan is done and every confirm is in.

        Producing may stop while the window is full (a queue that withholds its confirms): that is
        noticed here, not only when the window has room, or the publisher would wait for confirms
        that may never come and hold up whatever waits for it (the repair, the drain)."""
        if self._connection is None or not self._connection.is_open:
            return
        if self._stopped_for() is None:
            self._publish_some()
        stopped_for = self._stopped_for()
        if stopped_for is not None:
            if stopped_for > STOP_GRACE_S:
                self._abandon_unconfirmed(NO_CONFIRM_AFTER_STOP)
            if not self._unconfirmed:
                self._close()
                return
        self._connection.ioloop.call_later(TICK_S, self._tick)

    def _stopped_for(self) -> float | None:
        """Seconds since this publisher began to stop (producing ended, the budget spent, a send failed),
        noting the moment producing is first seen to have ended; None while it is still publishing."""
        if self._stopping_since is None and not self.plan.producing():
            self._stopping_since = time.monotonic()
        return None if self._stopping_since is None else time.monotonic() - self._stopping_since

    def _publish_some(self) -> None:
        budget = self.plan.window - len(self._unconfirmed)
        for _ in range(max(0, budget)):
            if not self.plan.producing():
                self._stopping_since = time.monotonic()
                return
            if self.plan.ahead_of_rate():
                return
            value = self.plan.next_message()
            if value is None:
                self._exhausted = True
                self._stopping_since = time.monotonic()
                return
            self._publish(value)

    def _publish(self, value: dict[str, Any]) -> None:
        process = self.plan.process
        self.history.record(process, INVOKE, "send", value)
        try:
            self._channel.basic_publish(
                self.plan.exchange,
                value.get("routing_key", self.plan.queue),
                json.dumps(value).encode(),
                self.plan.properties(value),
                mandatory=self.plan.mandatory,
            )
        except (pika.exceptions.AMQPError, OSError) as exc:
            self.history.record(process, INFO, "send", value, error=repr(exc)[:200])
            self._stopping_since = time.monotonic()
            return
        if self.plan.confirms:
            self._unconfirmed[self._next_tag] = value
            self._next_tag += 1
        else:
            self.history.record(process, INFO, "send", value, error="unconfirmed (no publisher confirms)")

    def _on_return(self, _channel: Any, _method: Any, properties: Any, _body: bytes) -> None:
        if properties.message_id:
            self._returned.add(properties.message_id)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tags = [t for t in self._unconfirmed if t <= method.delivery_tag] if method.multiple else [method.delivery_tag]
        for tag in sorted(tags):
            value = self._unconfirmed.pop(tag, None)
            if value is None:
                continue
            if not acked:
                self.history.record(self.plan.process, FAIL, "send", value, error="nacked by the broker")
            elif value["id"] in self._returned:
                self._returned.discard(value["id"])
                self.history.record(self.plan.process, FAIL, "send", value, error="returned unroutable")
            else:
                self.history.record(self.plan.process, OK, "send", value)
                self.confirmed += 1
                self.plan.on_confirmed()
        if self._stopping_since is None:
            self._publish_some()

    def _close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
        elif self._connection is not None and self._connection.is_closed:
            self._stop_loop()

    def _abandon_unconfirmed(self, error: str) -> None:
        for tag in sorted(self._unconfirmed):
            self.history.record(self.plan.process, INFO, "send", self._unconfirmed[tag], error=error)
        self._unconfirmed.clear()
