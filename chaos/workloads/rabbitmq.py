"""RabbitMQ workload on pika: publish through any node's proxy, consume, process, acknowledge.

Producers publish asynchronously with publisher confirms (``rabbitmq_publisher``): a confirm makes a
send ``ok``, a nack or an unroutable return a definite ``fail``, a connection lost with the message
unconfirmed ``info``. Without confirms every publish is ``info`` (unconfirmed): the checker reports loss
of those apart (catalogue R4). Consumers use pika's BlockingConnection, one per thread (it is not
thread-safe).

Poison handling follows the profile: ``dead_letter`` nacks with requeue and lets the quorum queue's
``x-delivery-limit`` dead-letter it through a DLX; ``requeue`` nacks with requeue and no limit
(catalogue R5: endless redelivery); ``reject`` dead-letters at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions

from chaos.brokers import BrokerKit
from chaos.cluster.base import Cluster, Platform
from chaos.cluster.rabbitmq import RabbitMQCluster
from chaos.cluster.rabbitmq.upgrade import series, upgrade_problem
from chaos.faults.families import FAMILIES
from chaos.history import INFO, OK, Recorder
from chaos.images.catalogue import DEFAULT_VERSIONS
from chaos.settings import ProfileError, at_least, choice
from chaos.workloads.base import LoadBudget, Workload, budget_for, load_kwargs
from chaos.workloads.rabbitmq_publisher import ConfirmingPublisher, PublishPlan

log = logging.getLogger("brokerchaos.workloads")
PIKA_ERRORS = (pika.exceptions.AMQPError, OSError, AssertionError)
# How many (node, unreachable peer) pairs the running nodes report as partitioned.
PARTITIONS_SEEN = (
    "lists:sum([length(P) || {_, P} <- "
    "element(1, rpc:multicall(rabbit_mnesia:cluster_nodes(running), rabbit_node_monitor, partitions, [], 5000))])."
)


@dataclass(frozen=True)
class RabbitMQClusterSettings:
    partition_handling: str = choice("pause_minority", "pause_minority", "autoheal", "ignore")
    management: bool = False
    dead_letter_retry_ms: int = at_least(180_000, 100)  # the broker's default: 3 minutes
    extra: dict[str, str] | None = None


@dataclass(frozen=True)
class RabbitMQClientSettings:
    queue_type: str = choice("quorum", "quorum", "classic")
    mirrored: bool = False  # classic queue mirrored on every node (ha-mode all; removed in RabbitMQ 4.0)
    durable: bool = True
    persistent: bool = True
    confirms: bool = True
    ack: str = choice("after_processing", "after_processing", "before_processing", "auto")
    prefetch: int = at_least(50, 1)
    window: int = at_least(256, 1)  # publisher: messages in flight awaiting their confirm
    poison: str = choice("dead_letter", "dead_letter", "requeue", "reject")
    delivery_limit: int = at_least(3, 1)
    dead_letter_strategy: str = choice("at-least-once", "at-least-once", "at-most-once")
    # Seconds between declaring the queue and its first use (0: publish at once). Ra leaves a new quorum
    # queue's registration on each node to DETS, which writes it out within 0.5-3 s; a cluster killed
    # before that recovers the queue empty (R7).
    declare_ahead_s: float = at_least(0.0, 0)


class RabbitMQWorkload(Workload):
    consume_f = "process"

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
        self.dlq = f"{queue}.dlq"
        self.dlx = f"{queue}.dlx"
        self.client = client
        self.poison_every = poison_every
        self.process_ms = process_ms
        if "x-dead-letter-strategy" in self._arguments():
            # An at-least-once dead-letter hop whose confirm a fault lost is re-sent only after the
            # broker's retry interval: until then the backlog does not move, and that is not a stall.
            retry_s = (getattr(cluster, "dead_letter_retry_ms", None) or 180_000) / 1000
            self.drain_stall_s = max(self.drain_stall_s, retry_s + 5)
        if client.mirrored:
            self._mirror_everywhere()

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

    def _arguments(self) -> dict[str, Any]:
        c = self.client
        args: dict[str, Any] = {"x-queue-type": c.queue_type}
        if c.poison in ("dead_letter", "reject"):
            args["x-dead-letter-exchange"] = self.dlx
        if c.queue_type == "quorum" and c.poison == "dead_letter":
            args["x-delivery-limit"] = c.delivery_limit
        if c.queue_type == "quorum" and c.dead_letter_strategy == "at-least-once" and "x-dead-letter-exchange" in args:
            args["x-dead-letter-strategy"] = "at-least-once"
            args["x-overflow"] = "reject-publish"
        return args

    def _mirror_everywhere(self) -> None:
        """Classic queue mirroring is a policy, not a queue argument: a copy on every node, new mirrors
        synchronised at once. Set before the queue is declared, so no message predates its mirrors."""
        definition = json.dumps({"ha-mode": "all", "ha-sync-mode": "automatic"})
        self.cluster.ctl("set_policy", "--apply-to", "queues", f"{self.queue}-mirrored", f"^{self.queue}$", definition)

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
        """The dead-letter exchange and queue, their binding, and the queue: (channel method, args, kwargs)."""
        return [
            ("exchange_declare", (self.dlx, "fanout"), {"durable": True}),
            ("queue_declare", (self.dlq,), {"durable": True, "arguments": {"x-queue-type": "quorum"}}),
            ("queue_bind", (self.dlq, self.dlx), {}),
            ("queue_declare", (self.queue,), {"durable": self.client.durable, "arguments": self._arguments()}),
        ]

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
            value["kind"] = self.message_kind(seq)
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
        )
        attempt = index
        while self.producing and not self.out_of_budget(seq):
            running = [n for n in self.cluster.nodes if n.status() == "running"]
            if not running:
                time.sleep(0.2)
                continue
            node = running[attempt % len(running)]
            attempt += 1
            publisher = ConfirmingPublisher(self.cluster.parameters(node), plan, self.history)
            publisher.run()
            if publisher.exhausted:
                break
            if publisher.error:
                log.debug("%s: %s", process, publisher.error)
                time.sleep(0.2)

    def _properties(self, value: dict[str, Any]) -> pika.BasicProperties:
        return pika.BasicProperties(delivery_mode=2 if self.client.persistent else 1, message_id=value["id"])

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
        process = f"consumer-{index + 1}"
        attempt = index
        while self.consuming:
            conn = self._connect(attempt)
            attempt += 1
            if conn is None:
                time.sleep(0.2)
                continue
            try:
                if not self._consume_on(conn, process):
                    return  # crashed: the connection dies with unacknowledged deliveries
            except PIKA_ERRORS:
                time.sleep(0.1)
            finally:
                _close(conn)

    def _consume_on(self, conn: pika.BlockingConnection, process: str) -> bool:
        channel = conn.channel()
        self._declare(channel)
        channel.basic_qos(prefetch_count=self.client.prefetch)
        auto_ack = self.client.ack == "auto"
        for method, _props, body in channel.consume(self.queue, auto_ack=auto_ack, inactivity_timeout=0.2):
            if not self.consuming:
                return True
            if method is None:
                continue
            value = json.loads(body)
            value["redelivered"] = bool(method.redelivered)
            self.history.record(process, OK, "receive", value)
            self.received += 1
            if self.should_crash(process):
                return False
            if self.client.ack == "before_processing":
                channel.basic_ack(method.delivery_tag)
            if value.get("kind") == "poison":
                if not auto_ack and self.client.ack != "before_processing":
                    channel.basic_nack(method.delivery_tag, requeue=self.client.poison != "reject")
                continue
            if self.process_ms:
                time.sleep(self.process_ms / 1000)
            self.history.record(process, OK, "process", value)
            if self.client.ack == "after_processing":
                channel.basic_ack(method.delivery_tag)
        return True

    def backlog(self) -> int | None:
        """Messages not yet processed: the larger of the broker's listing (ready + unacknowledged) and the
        queue's own ready count (a passive declare answered by its leader).

        Right after a whole-cluster restart the listing says 0 for a quorum queue that still holds its
        messages; the leader's count does not. Unknown (None) while either cannot be read."""
        try:
            out = self.cluster.ctl("list_queues", "--formatter", "json", "name", "messages")
        except RuntimeError:
            return None
        listed = next((int(r.get("messages", 0)) for r in json.loads(out) if r.get("name") == self.queue), None)
        if listed is None:
            return None  # not recovered yet, or gone for good; consumers re-declare it on connect
        conn = self._connect(0)
        if conn is None:
            return None
        try:
            ready = conn.channel().queue_declare(self.queue, passive=True).method.message_count
        except PIKA_ERRORS:
            return None
        finally:
            _close(conn)
        return max(listed, int(ready))

    settling_metrics = ("partitions_seen",)
    observe_every_s = 5.0  # each sample is a rabbitmqctl run: an Erlang VM start on a shared core

    def observe(self) -> dict[str, float | None]:
        """Queue depth (ready, unacknowledged), the dead-letter queue's depth, and the network partitions
        the running nodes report (``rabbit_node_monitor``)."""
        metrics: dict[str, float | None] = {
            "ready": None,
            "unacked": None,
            "dead_lettered": None,
            "partitions_seen": None,
        }
        with contextlib.suppress(RuntimeError, ValueError):
            out = self.cluster.ctl(
                "list_queues", "--formatter", "json", "name", "messages_ready", "messages_unacknowledged"
            )
            for row in json.loads(out):
                if row.get("name") == self.queue:
                    metrics["ready"] = int(row.get("messages_ready") or 0)
                    metrics["unacked"] = int(row.get("messages_unacknowledged") or 0)
                elif row.get("name") == self.dlq:
                    metrics["dead_lettered"] = int(row.get("messages_ready") or 0)
        with contextlib.suppress(RuntimeError, ValueError):
            out = self.cluster.ctl("eval", PARTITIONS_SEEN)
            metrics["partitions_seen"] = int(out.strip().splitlines()[-1])
        return metrics

    def observe_after_drain(self) -> None:
        conn = self._connect(0)
        if conn is None:
            self.history.record("dlq-reader", INFO, "dead_letter", error="no node accepted a connection")
            return
        try:
            channel = conn.channel()
            while True:
                method, props, body = channel.basic_get(self.dlq, auto_ack=True)
                if method is None:
                    break
                value = json.loads(body)
                headers = props.headers or {}
                deaths = headers.get("x-death") or [{}]
                reason = headers.get("x-first-death-reason") or deaths[0].get("reason")
                count = headers.get("x-delivery-count") or deaths[0].get("count", 0)
                self.history.record(
                    "dlq-reader",
                    OK,
                    "dead_letter",
                    {"id": value["id"], "reason": str(reason) if reason else None, "delivery_count": int(count)},
                )
        except PIKA_ERRORS as exc:
            self.history.record("dlq-reader", INFO, "dead_letter", error=repr(exc)[:200])
        finally:
            _close(conn)


def _close(conn: pika.BlockingConnection | None) -> None:
    if conn is not None and conn.is_open:
        with contextlib.suppress(PIKA_ERRORS):
            conn.close()


# the kit ------------------------------------------------------------------------------------------
def _make_cluster(platform: Platform, profile: Any, proxy_base_port: int | None) -> Cluster:
    s: RabbitMQClusterSettings = profile.cluster
    return RabbitMQCluster(
        platform,
        version=profile.version,
        name=f"rabbitmq-{profile.name}"[:40],
        proxy_base_port=proxy_base_port,
        partition_handling=s.partition_handling,
        management=s.management,
        extra_config=s.extra or {},
        dead_letter_retry_ms=s.dead_letter_retry_ms,
    )


def _make_workload(cluster: Cluster, profile: Any, history: Recorder, subject: str) -> Workload:
    w = profile.workload
    return RabbitMQWorkload(
        cluster,  # type: ignore[arg-type]
        subject,
        history,
        budget_for(w),
        profile.client,
        **load_kwargs(w),
    )


def _check(profile: Any) -> None:
    c = profile.client
    if c.queue_type == "quorum" and not c.durable:
        raise ProfileError("client.durable = false is impossible for a quorum queue (use queue_type = 'classic')")
    if c.poison == "dead_letter" and c.queue_type != "quorum":
        raise ProfileError("client.poison = 'dead_letter' relies on x-delivery-limit, which needs a quorum queue")
    if c.mirrored and c.queue_type != "classic":
        raise ProfileError("client.mirrored = true mirrors a classic queue (a quorum queue replicates by itself)")
    if c.mirrored and series(profile.version or DEFAULT_VERSIONS["rabbitmq"])[0] >= 4:
        raise ProfileError(f"client.mirrored = true: RabbitMQ {profile.version} has no classic queue mirroring")


KIT = BrokerKit(
    broker="rabbitmq",
    image="rabbitmq",
    cluster_settings=RabbitMQClusterSettings,
    client_settings=RabbitMQClientSettings,
    make_cluster=_make_cluster,
    make_workload=_make_workload,
    default_families=("kill-leader", "isolate-leader", "link-blackhole", "crash-consumer"),
    # leader-alone-lost, stale-replica-left: staged around an in-sync replica set (Kafka's ISR).
    families=frozenset(FAMILIES) - {"link-responses-lost", "leader-alone-lost", "stale-replica-left"},
    check=_check,
    upgrade_problem=upgrade_problem,
)
