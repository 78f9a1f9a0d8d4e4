"""RabbitMQ workload on pika: publish through any node's proxy, consume, process, acknowledge.

Producers publish asynchronously with publisher confirms (``rabbitmq_publisher``): a confirm makes a
send ``ok``, a nack or an unroutable return a definite ``fail``, a connection lost with the message
unconfirmed ``info``. Without confirms every publish is ``info`` (unconfirmed): the checker reports loss
of those apart (catalogue R4). Consumers use pika's BlockingConnection, one per thread (it is not
thread-safe).

Poison handling follows the profile: ``dead_letter`` rejects with requeue and lets the quorum queue's
``x-delivery-limit`` dead-letter it through a DLX; ``requeue`` rejects with requeue and no limit
(catalogue R5: endless redelivery); ``reject`` dead-letters at once. A poison message is a failed
delivery, so the consumer says so with ``basic.reject``: since RabbitMQ 4.3 a ``basic.nack`` with
requeue is a return that does not count toward ``x-delivery-limit`` (measured here: 17,901 deliveries in
20 s, never dead-lettered, on 4.3.6), while ``basic.reject`` does on every version.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pika
import pika.exceptions

from chaos.brokers.rabbitmq.cluster import RabbitMQCluster
from chaos.brokers.rabbitmq.publisher import ConfirmingPublisher, PublishPlan
from chaos.brokers.rabbitmq.routing import UNROUTABLE, UNROUTED, header_binding, header_pairs, queues_for
from chaos.brokers.rabbitmq.settings import RabbitMQClientSettings, priority_rank
from chaos.history import INFO, OK, Recorder
from chaos.workloads.base import DEAD_LETTER_READER, LoadBudget, Workload, group_process

log = logging.getLogger("brokerchaos.workloads")
PIKA_ERRORS: tuple[type[Exception], ...] = (pika.exceptions.AMQPError, OSError, AssertionError)
# How many (node, unreachable peer) pairs the nodes report as partitioned: asked of every node the
# Erlang distribution reaches (not Mnesia's running list, which 4.x's Khepri clusters do not keep).
PARTITIONS_SEEN = (
    "lists:sum([length(P) || P <- element(1, rpc:multicall([node() | nodes()], rabbit_node_monitor, "
    "partitions, [], 5000)), is_list(P)])."
)


class RabbitMQWorkload(Workload):
    def __init__(
        self,
        cluster: RabbitMQCluster,
        queue: str,
        history: Recorder,
        budget: LoadBudget,
        client: RabbitMQClientSettings,
        producers: int = 1,
        consumers: int = 2,
        poison_every: int = 0,
        process_ms: float = 0.0,
    ) -> None:
        super().__init__(history, budget, producers, consumers)
        self.cluster = cluster
        self.queue = queue
        self.client = client
        self._route_through_exchange(queue)
        # each queue's own dead-letter exchange and queue: with an exchange, a message routed to several
        # queues is dead-lettered from each, and each copy is its own queue's audience's evidence
        self.dead_letters = {q: (f"{q}.dlx", f"{q}.dlq") for q in self.queues}
        self.dlx, self.dlq = self.dead_letters[self.queue]
        # a quorum queue dead-letters a message returned more often than x-delivery-limit: limit + 1 deliveries
        self.dead_letter_after = client.delivery_limit + 1 if client.poison == "dead_letter" else None
        self.poison_every = poison_every
        self.process_ms = process_ms
        if "x-dead-letter-exchange" in self._arguments(self.queue):
            self.expiry_evidence = "dead_letter"  # an expired message is dead-lettered with its reason and time
            if client.length_limited and client.overflow == "drop-head":
                self.trim_reason = "maxlen"  # what a full queue drops from its head is dead-lettered so
            if client.length_limited and client.overflow == "reject-publish-dlx":
                self.refusal_reason = "maxlen"  # and a publish it refuses, nacked, is dead-lettered so
        if "x-dead-letter-strategy" in self._arguments(self.queue):
            # An at-least-once dead-letter hop whose confirm a fault lost is re-sent only after the
            # broker's retry interval: until then the backlog does not move, and that is not a stall.
            retry_s = (getattr(cluster, "dead_letter_retry_ms", None) or 180_000) / 1000
            self.drain_stall_s = max(self.drain_stall_s, retry_s + 5)
        self.prioritised = bool(client.priorities)
        if client.mirrored:
            self._mirror_everywhere()

    def _route_through_exchange(self, subject: str) -> None:
        """With an exchange (``client.exchange_type``): one queue per binding, named ``<subject>.<name>``
        (and ``<subject>.unrouted`` behind the alternate exchange), each read by its own consumers; the first
        is the one the client and queue-leader faults work on."""
        c = self.client
        self.exchange = "" if c.exchange_type == "default" else f"{subject}.x"
        self.audience_labels = [*(c.bindings or {}), *([UNROUTED] if c.alternate_exchange else [])]
        if not self.exchange:
            self.queues = [subject]
            return
        self.queues = [f"{subject}.{label}" for label in self.audience_labels]
        self.queue = self.queues[0]
        self.groups = list(self.queues)
        keys = c.routing_keys or [""]
        self._routes = {key: self._labels_for(key) for key in keys}

    def _labels_for(self, key: str) -> list[str]:
        """The queues (their labels) the exchange routes ``key`` to. What none is bound for goes to the
        alternate exchange's queue; else, published mandatory, the broker returns it (a failed send, shown to
        every queue: one the broker confirmed instead would be lost in each); else it is confirmed and
        dropped (``unroutable``: an audience no consumer reads, where it is lost)."""
        c = self.client
        queues = queues_for(c.exchange_type, c.bindings or {}, key, alternate_exchange=c.alternate_exchange)
        if queues:
            return queues
        return list(self.audience_labels) if c.mandatory else [UNROUTABLE]

    @property
    def audiences(self) -> list[str]:
        """One audience per queue of the exchange (by its binding's name), and ``unroutable`` where a routing
        key reaches no queue: the messages no consumer can ever read."""
        if not self.exchange:
            return [""]
        unroutable = any(UNROUTABLE in labels for labels in self._routes.values())
        return [*self.audience_labels, *([UNROUTABLE] if unroutable else [])]

    def routes(self, value: dict[str, Any]) -> list[str] | None:
        """The audiences a sent message is for: the queues its routing key binds (None: the one queue)."""
        if not self.exchange:
            return None
        return self._routes.get(value.get("routing_key", ""), [UNROUTABLE])

    def start(self) -> None:
        """Declare the queue as the workload starts, as an application does when it deploys, and use it
        ``declare_ahead_s`` later: a fault at the lead-in meets a queue only that old (R7: a whole-cluster
        kill within half a second of the declaration, before Ra has written the new members out)."""
        self._declare()
        time.sleep(self.client.declare_ahead_s)
        super().start()

    @property
    def fault_subject(self) -> str:
        return self.queue

    def command_env(self) -> dict[str, str]:
        """Where a command consumer connects (``BROKERCHAOS_*``): every node's proxy, the credentials, the
        queue (declared already, dead-letter exchange included) and the profile's delivery limit."""
        return {
            "broker": "rabbitmq",
            "endpoints": ",".join(str(n.endpoint) for n in self.cluster.nodes if n.endpoint),
            "username": self.cluster.username,
            "password": self.cluster.password,
            "queue": self.queue,
            "dead_letter_queue": self.dlq,
            "delivery_limit": str(self.client.delivery_limit),
        }

    def _arguments(self, queue: str) -> dict[str, Any]:
        """``queue``'s declaration arguments: the profile's, and its own dead-letter exchange."""
        c = self.client
        args: dict[str, Any] = {"x-queue-type": c.queue_type}
        if c.dead_letters:
            args["x-dead-letter-exchange"] = self.dead_letters[queue][0]
        if c.queue_type == "quorum" and c.poison == "dead_letter":
            args["x-delivery-limit"] = c.delivery_limit
        if c.queue_type == "quorum" and c.dead_letter_strategy == "at-least-once" and "x-dead-letter-exchange" in args:
            args["x-dead-letter-strategy"] = "at-least-once"
            args["x-overflow"] = "reject-publish"
        if c.max_length is not None:
            args["x-max-length"] = c.max_length
        if c.max_length_bytes is not None:
            args["x-max-length-bytes"] = c.max_length_bytes
        if c.length_limited:
            args["x-overflow"] = c.overflow
        if c.message_ttl_ms is not None:
            args["x-message-ttl"] = c.message_ttl_ms
        if c.max_priority is not None:
            args["x-max-priority"] = c.max_priority
        if c.queue_mode != "default":
            args["x-queue-mode"] = c.queue_mode
        if c.queue_version is not None:
            args["x-queue-version"] = c.queue_version
        return args

    def _mirror_everywhere(self) -> None:
        """Classic queue mirroring is a policy, not a queue argument: a copy on every node, new mirrors
        synchronised at once. Set before the queue is declared, so no message predates its mirrors."""
        definition = json.dumps({"ha-mode": "all", "ha-sync-mode": "automatic"})
        pattern = "^(" + "|".join(re.escape(q) for q in self.queues) + ")$"
        self.cluster.ctl("set_policy", "--apply-to", "queues", f"{self.queue}-mirrored", pattern, definition)

    def _declare(self, channel: Any = None) -> None:
        """Declare (idempotently) the queue and its dead-letter plumbing, as an application does on every
        connect: a non-durable queue lost with its node comes back empty, and that loss shows."""
        conn = None if channel is not None else self.cluster.connect()
        try:
            ch = channel or conn.channel()  # type: ignore[union-attr]
            for method, args, kwargs in self._declarations():
                getattr(ch, method)(*args, **kwargs)
        finally:
            _close(conn)

    def _declarations(self) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        """Each queue's dead-letter exchange and queue, their binding, and the queue(s) — with an exchange,
        the exchange, its alternate exchange and every binding too: (channel method, args, kwargs)."""
        durable = self.client.durable
        steps: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        for queue, (dlx, dlq) in self.dead_letters.items():
            steps += [
                ("exchange_declare", (dlx, "fanout"), {"durable": True}),
                ("queue_declare", (dlq,), {"durable": True, "arguments": {"x-queue-type": "quorum"}}),
                ("queue_bind", (dlq, dlx), {}),
                ("queue_declare", (queue,), {"durable": durable, "arguments": self._arguments(queue)}),
            ]
        if not self.exchange:
            return steps
        arguments = {}
        if self.client.alternate_exchange:
            alternate = f"{self.exchange}.ae"
            arguments["alternate-exchange"] = alternate
            steps += [
                ("exchange_declare", (alternate, "fanout"), {"durable": True}),
                ("queue_bind", (self.queues[-1], alternate), {}),
            ]
        steps.append(
            ("exchange_declare", (self.exchange, self.client.exchange_type), {"durable": True, "arguments": arguments})
        )
        for queue, keys in zip(self.queues, (self.client.bindings or {}).values(), strict=False):
            if self.client.exchange_type == "headers":
                steps += [("queue_bind", (queue, self.exchange), {"arguments": header_binding(b)}) for b in keys]
                continue
            steps += [("queue_bind", (queue, self.exchange), {"routing_key": key}) for key in keys or [""]]
        return steps

    def _connect(self, attempt: int) -> pika.BlockingConnection | None:
        running = [n for n in self.cluster.nodes if n.status() == "running"]
        for offset in range(len(running)):
            node = running[(attempt + offset) % len(running)]
            try:
                return self.cluster.connect(node)
            except ConnectionError:
                continue
        return None

    # producing -------------------------------------------------------------------------------------
    def produce(self, index: int) -> None:
        """Publish with up to ``client.window`` unconfirmed messages in flight (see rabbitmq_publisher);
        after a lost connection, reconnect through the next running node."""
        process = f"producer-{index + 1}"
        seq = 0

        def next_message() -> dict[str, Any] | None:
            nonlocal seq
            if self.out_of_budget(seq):
                return None
            value = {"id": f"{process}-{seq}", "group": self.queue, "producer": process, "seq": seq}
            if self.client.routing_keys:
                value["routing_key"] = self.client.routing_keys[seq % len(self.client.routing_keys)]
            value["kind"] = self.message_kind(seq)
            if self.client.priorities:
                self._prioritise(value, self.client.priorities[seq % len(self.client.priorities)])
            seq += 1
            return value

        def counted() -> None:
            self.sent_ok += 1

        plan = PublishPlan(
            process=process,
            queue=self.queue,
            next_message=next_message,
            producing=lambda: self.producing,
            ahead_of_rate=lambda: self.ahead_of_rate(seq),
            properties=self._properties,
            declare=self._declare_async,
            confirms=self.client.confirms,
            window=self.client.window,
            on_confirmed=counted,
            exchange=self.exchange,
            mandatory=self.client.mandatory,
        )
        attempt = index
        while self.producing and not self.out_of_budget(seq):
            running = [n for n in self.cluster.nodes if n.status() == "running"]
            if not running:
                time.sleep(0.2)
                continue
            node = running[attempt % len(running)]
            attempt += 1
            publisher = ConfirmingPublisher(self.cluster.parameters(node), plan, self.history, node.name)
            publisher.run()
            if publisher.exhausted:
                break
            if publisher.error:
                log.debug("%s: %s", process, publisher.error)
                time.sleep(0.2)

    def _prioritise(self, value: dict[str, Any], priority: int) -> None:
        """A message's ``priority`` and its ``rank`` in the queue; the queue keeps order within a rank only,
        so the rank is part of its order group."""
        rank = priority_rank(self.client, self.cluster.version, priority)
        value.update(priority=priority, rank=rank, group=f"{self.queue}:rank-{rank}")

    def _properties(self, value: dict[str, Any]) -> pika.BasicProperties:
        expiration = None if self.client.expiration_ms is None else str(self.client.expiration_ms)
        return pika.BasicProperties(
            delivery_mode=2 if self.client.persistent else 1,
            message_id=value["id"],
            expiration=expiration,
            priority=value.get("priority"),
            headers=header_pairs(value["routing_key"]) if self.client.exchange_type == "headers" else None,
        )

    def _declare_async(self, channel: Any, done: Callable[[], None]) -> None:
        """The same declarations as :meth:`_declare`, chained on an asynchronous channel."""
        steps = self._declarations()

        def run(i: int) -> None:
            if i == len(steps):
                done()
                return
            method, args, kwargs = steps[i]
            getattr(channel, method)(*args, **kwargs, callback=lambda _frame: run(i + 1))

        run(0)

    # consuming -------------------------------------------------------------------------------------
    def consume(self, index: int) -> None:
        self.consume_in(f"consumer-{index + 1}", self.queue)

    def consume_in(self, process: str, queue: str) -> None:
        """Read ``queue`` as ``process`` (with an exchange, each bound queue has consumers of its own)."""
        attempt = self.consumer_index(process)
        while self.consuming_as(process):
            conn = self._connect(attempt)
            attempt += 1
            if conn is None:
                time.sleep(0.2)
                continue
            try:
                if not self._consume_on(conn, process, queue):
                    return  # crashed: the connection dies with unacknowledged deliveries
            except PIKA_ERRORS:
                time.sleep(0.1)
            finally:
                _close(conn)

    def _consume_on(self, conn: pika.BlockingConnection, process: str, queue: str) -> bool:
        channel = conn.channel()
        self._declare(channel)
        channel.basic_qos(prefetch_count=self.client.prefetch)
        auto_ack = self.client.ack == "auto"
        for method, props, body in channel.consume(queue, auto_ack=auto_ack, inactivity_timeout=0.2):
            if not self.consuming_as(process):
                return True
            if queue == self.queue:
                self.hold_while_paused(process)
            if method is None:
                continue
            value = json.loads(body)
            value["redelivered"] = bool(method.redelivered)
            headers = props.headers or {}
            for header, key in (("x-delivery-count", "delivery_count"), ("x-acquired-count", "acquired_count")):
                if headers.get(header) is not None:  # the broker's own counts (quorum queues; acquired: 4.3+)
                    value[key] = int(headers[header])
            self.history.record(process, OK, "receive", value)
            self.count_received(process)
            if queue == self.queue and self.should_crash(process):
                return False
            if self.client.ack == "before_processing":
                channel.basic_ack(method.delivery_tag)
            if value.get("kind") == "poison":
                if not auto_ack and self.client.ack != "before_processing":
                    channel.basic_reject(method.delivery_tag, requeue=self.client.poison != "reject")
                continue
            self.processing_pause()
            self.history.record(process, OK, "process", value)
            if self.client.ack == "after_processing":
                channel.basic_ack(method.delivery_tag)
        return True

    def backlog(self) -> int | None:
        """Messages not yet processed, over every queue: per queue, the larger of the broker's listing
        (ready + unacknowledged) and the queue's own ready count (a passive declare answered by its leader).

        Right after a whole-cluster restart the listing says 0 for a quorum queue that still holds its
        messages; the leader's count does not. Unknown (None) while either cannot be read."""
        try:
            out = self.cluster.ctl("list_queues", "--formatter", "json", "name", "messages")
        except RuntimeError:
            return None
        rows = {r.get("name"): int(r.get("messages", 0)) for r in json.loads(out)}
        if any(queue not in rows for queue in self.queues):
            return None  # not recovered yet, or gone for good; consumers re-declare it on connect
        conn = self._connect(0)
        if conn is None:
            return None
        total = 0
        try:
            channel = conn.channel()
            for queue in self.queues:
                ready = channel.queue_declare(queue, passive=True).method.message_count
                total += max(rows[queue], int(ready))
        except PIKA_ERRORS:
            return None
        finally:
            _close(conn)
        return total

    settling_metrics = ("partitions_seen", "nodes_refusing_clients")
    observe_every_s = 5.0  # each sample is a rabbitmqctl run: an Erlang VM start on a shared core

    def observe(self) -> dict[str, float | None]:
        """Queue depth (ready, unacknowledged), the dead-letter queues' depth, the network partitions the
        running nodes report (``rabbit_node_monitor``), and the nodes that refuse an AMQP connection
        through their proxy: a node paused by ``pause_minority`` closes its listeners, and the others
        may list it as running all the same."""
        metrics: dict[str, float | None] = {
            "ready": None,
            "unacked": None,
            "dead_lettered": None,
            "partitions_seen": None,
            "nodes_refusing_clients": self._nodes_refusing_clients(),
        }
        dead_letter_queues = {dlq for _dlx, dlq in self.dead_letters.values()}
        with contextlib.suppress(RuntimeError, ValueError):
            out = self.cluster.ctl(
                "list_queues", "--formatter", "json", "name", "messages_ready", "messages_unacknowledged"
            )
            for row in json.loads(out):  # every queue's, summed; and every dead-letter queue's
                if row.get("name") in self.queues:
                    metrics["ready"] = (metrics["ready"] or 0) + int(row.get("messages_ready") or 0)
                    metrics["unacked"] = (metrics["unacked"] or 0) + int(row.get("messages_unacknowledged") or 0)
                elif row.get("name") in dead_letter_queues:
                    metrics["dead_lettered"] = (metrics["dead_lettered"] or 0) + int(row.get("messages_ready") or 0)
        with contextlib.suppress(RuntimeError, ValueError):
            out = self.cluster.ctl("eval", PARTITIONS_SEEN)
            metrics["partitions_seen"] = int(out.strip().splitlines()[-1])
        return metrics

    def _nodes_refusing_clients(self) -> int:
        refusing = 0
        for node in self.cluster.nodes:
            try:
                self.cluster.connect(node, socket_timeout=2, stack_timeout=3).close()
            except PIKA_ERRORS:  # OSError among them: a refused connection too
                refusing += 1
        return refusing

    def observe_after_drain(self) -> None:
        """Read each queue's dead-letter queue to its end, as that queue's reader (:meth:`dead_letter_reader`)."""
        for queue, (_dlx, dlq) in self.dead_letters.items():
            self._read_dead_letters(dlq, self.dead_letter_reader(queue))

    def dead_letter_reader(self, queue: str) -> str:
        """The process that reads ``queue``'s dead letters: ``dlq-reader`` for the one queue; with an
        exchange, ``gK-dlq-reader`` for the K-th, so its reads are that queue's audience's evidence alone."""
        if len(self.queues) == 1:
            return DEAD_LETTER_READER
        return group_process(self.queues.index(queue) + 1, DEAD_LETTER_READER)

    def _read_dead_letters(self, dlq: str, reader: str) -> None:
        """One ``dead_letter`` op per message in ``dlq``, then one ``dead_letter_read`` (``ok`` once the
        queue answered empty; ``info`` when it could not be read)."""
        conn = self._connect(0)
        if conn is None:
            self.history.record(reader, INFO, "dead_letter_read", error="no node accepted a connection")
            return
        try:
            channel = conn.channel()
            while True:
                method, props, body = channel.basic_get(dlq, auto_ack=True)
                if method is None:
                    break
                self.history.record(reader, OK, "dead_letter", dead_letter_record(json.loads(body), props))
        except PIKA_ERRORS as exc:
            self.history.record(reader, INFO, "dead_letter_read", error=repr(exc)[:200])
            return
        finally:
            _close(conn)
        self.history.record(reader, OK, "dead_letter_read")


def dead_letter_record(value: dict[str, Any], props: Any) -> dict[str, Any]:
    """What a dead-lettered message says of itself. ``x-death``'s ``count`` is how many times the message
    was dead-lettered from that queue for that reason (1 the first time), not how often it was
    delivered: it is ``times_dead_lettered``. ``delivery_count`` is the ``x-delivery-count`` header the
    copy carries, where it carries one — not always the count of deliveries (measured here with
    x-delivery-limit 3 and four deliveries before dead-lettering: the copy carries ``x-delivery-count``
    0 on 3.10.8, none on 4.0.5, and 4 on 4.3.6). The consumers' own deliveries, and the counts the
    broker sends with each (``delivery_count``, ``acquired_count`` on ``receive`` ops), are the evidence.
    ``dead_lettered_at`` is when the broker dead-lettered it (x-death's ``time``, whole seconds rounded
    down) on the history's clock: how old an expired message was, at the least, when it expired."""
    headers = props.headers or {}
    deaths = headers.get("x-death") or [{}]
    reason = headers.get("x-first-death-reason") or deaths[0].get("reason")
    record: dict[str, Any] = {"id": value["id"], "reason": str(reason) if reason else None}
    if deaths[0].get("count") is not None:
        record["times_dead_lettered"] = int(deaths[0]["count"])
    if isinstance(deaths[0].get("time"), datetime.datetime):
        record["dead_lettered_at"] = on_history_clock(deaths[0]["time"])
    if headers.get("x-delivery-count") is not None:
        record["delivery_count"] = int(headers["x-delivery-count"])
    return record


def on_history_clock(when: datetime.datetime) -> int:
    """A broker's wall-clock time (x-death's ``time``: whole seconds, rounded down) on the history's
    monotonic clock, in ns. The brokers' containers share this host's clock."""
    return time.monotonic_ns() - (time.time_ns() - int(when.timestamp() * 1e9))


def _close(conn: pika.BlockingConnection | None) -> None:
    if conn is not None and conn.is_open:
        with contextlib.suppress(*PIKA_ERRORS):
            conn.close()
