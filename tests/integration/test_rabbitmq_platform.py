"""The RabbitMQ cluster on real containers: one cluster, random credentials, quorum-queue leader kill."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pika
import pika.exceptions
import pytest

from chaos.brokers.rabbitmq.cluster import RabbitMQCluster
from tests.integration.helpers import play_and_judge, read_by_each_audience


def test_three_nodes_form_one_cluster_with_random_credentials(rabbitmq_cluster: RabbitMQCluster) -> None:
    assert rabbitmq_cluster.username != "guest"
    for node in rabbitmq_cluster.nodes:
        rabbitmq_cluster.connect(node).close()  # through each node's proxy
    guest = pika.ConnectionParameters(
        host="127.0.0.1",
        port=rabbitmq_cluster.nodes[0].endpoint.port,  # type: ignore[union-attr]
        credentials=pika.PlainCredentials("guest", "guest"),
        connection_attempts=1,
        socket_timeout=5,
    )
    with pytest.raises(pika.exceptions.AMQPError):
        pika.BlockingConnection(guest)


def test_confirmed_messages_survive_a_sigkill_of_the_quorum_queue_leader(
    rabbitmq_cluster: RabbitMQCluster, unique_name: str
) -> None:
    queue = unique_name
    conn = rabbitmq_cluster.connect()
    channel = conn.channel()
    channel.confirm_delivery()
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    confirmed: set[str] = set()
    for i in range(1000):
        channel.basic_publish("", queue, str(i).encode(), pika.BasicProperties(delivery_mode=2), mandatory=True)
        confirmed.add(str(i))  # basic_publish returns only once the broker confirmed it
    conn.close()

    old_leader = rabbitmq_cluster.queue_leader(queue)
    assert old_leader in rabbitmq_cluster.queue_members(queue)
    old_leader.kill()
    deadline = time.monotonic() + 30
    new_leader = None
    while time.monotonic() < deadline:
        try:
            candidate = rabbitmq_cluster.queue_leader(queue)
        except (LookupError, RuntimeError):
            candidate = None
        if candidate is not None and candidate is not old_leader:
            new_leader = candidate
            break
        time.sleep(0.2)
    assert new_leader is not None, "no new leader was elected"

    conn = rabbitmq_cluster.connect(new_leader)
    channel = conn.channel()
    consumed: set[str] = set()
    deadline = time.monotonic() + 60
    while consumed != confirmed and time.monotonic() < deadline:
        method, _, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            time.sleep(0.1)
            continue
        consumed.add(body.decode())
        channel.basic_ack(method.delivery_tag)
    conn.close()
    assert consumed == confirmed


TOPIC = {
    "exchange_type": "topic",
    "bindings": {"eu-orders": ["orders.eu.*"], "all-orders": ["orders.#"], "cancellations": ["*.*.cancelled"]},
    "routing_keys": ["orders.eu.created", "orders.us.created", "orders.eu.cancelled", "audit.log"],
    "poison": "requeue",
}


def _workload(
    cluster: RabbitMQCluster,
    name: str,
    history: Any,
    *,
    seconds: float = 10,
    rate: int = 300,
    poison_every: int = 0,
    **client: Any,
) -> Any:
    """A RabbitMQ workload of 200 messages at most, one consumer, with the client settings given."""
    from chaos.brokers.rabbitmq.settings import RabbitMQClientSettings
    from chaos.brokers.rabbitmq.workload import RabbitMQWorkload
    from chaos.workloads.base import LoadBudget

    budget = LoadBudget(max_messages=200, max_seconds=seconds, rate=rate)
    settings = RabbitMQClientSettings(**client)
    return RabbitMQWorkload(cluster, name, history, budget, settings, consumers=1, poison_every=poison_every)


def _topic_workload(cluster: RabbitMQCluster, name: str, history: Any, **client: Any) -> Any:
    return _workload(cluster, name, history, **{**TOPIC, **client})


def test_a_topic_exchange_routes_each_message_to_the_queues_its_key_binds_and_the_rest_to_the_alternate(
    rabbitmq_cluster: RabbitMQCluster, unique_name: str
) -> None:
    """Real routing against the model: every queue holds exactly what its bindings route to it (a copy
    missing would be lost there, a misrouted one unexpected), and audit.log reaches the alternate exchange's
    queue. 200 messages, four keys in turn."""
    from chaos.checkers.guarantees import CheckerOptions
    from chaos.history import MemoryHistory

    history = MemoryHistory()
    workload = _topic_workload(rabbitmq_cluster, unique_name, history, alternate_exchange=True)
    audiences = ["eu-orders", "all-orders", "cancellations", "unrouted"]
    consumed = read_by_each_audience(workload, history, CheckerOptions(), audiences)
    assert consumed == {
        "delivery@eu-orders": 100,
        "delivery@all-orders": 150,
        "delivery@cancellations": 50,
        "delivery@unrouted": 50,
    }


def test_without_an_alternate_exchange_or_mandatory_the_broker_confirms_an_unroutable_message_and_drops_it(
    rabbitmq_cluster: RabbitMQCluster, unique_name: str
) -> None:
    """The loss the catalogue's topic-exchange row is about, on a real broker: audit.log binds no queue;
    published without mandatory, each is confirmed and lost (judged as the unroutable audience)."""
    from chaos.checkers.guarantees import CheckerOptions
    from chaos.history import MemoryHistory
    from chaos.profiles import Guarantees

    history = MemoryHistory()
    workload = _topic_workload(rabbitmq_cluster, unique_name, history, mandatory=False)
    guarantees = Guarantees(no_loss=True, order=False, recovery=False)
    verdicts, cells = play_and_judge(workload, history, guarantees, CheckerOptions(), seconds=1.0)
    assert workload.audiences == ["eu-orders", "all-orders", "cancellations", "unroutable"]
    lost = {v.checker: v.anomaly("lost").count for v in verdicts if v.checker.startswith("delivery")}
    assert lost == {
        "delivery@eu-orders": 0,
        "delivery@all-orders": 0,
        "delivery@cancellations": 0,
        "delivery@unroutable": 50,
    }
    assert cells["no_loss"].valid is False and cells["no_loss"].checker == "delivery@unroutable"


def _fanout_poison_run(cluster: RabbitMQCluster, name: str, **client: Any) -> tuple[Any, list[Any], dict[str, Any]]:
    """A fanout to billing and shipping, poison every 10th of 200 messages, dead-lettered after one
    return: played, drained (each queue's dead letters read), and judged on dead letters per queue. The
    history, the verdicts and the cells."""
    from chaos.checkers.guarantees import CheckerOptions
    from chaos.history import MemoryHistory
    from chaos.profiles import Guarantees

    history = MemoryHistory()
    fanout = {"exchange_type": "fanout", "bindings": {"billing": [], "shipping": []}}
    poison = {"poison": "dead_letter", "delivery_limit": 1}
    workload = _workload(cluster, name, history, poison_every=10, queue_type="quorum", **fanout, **poison, **client)
    guarantees = Guarantees(no_loss=True, dead_letter=True, order=False, recovery=False)
    options = CheckerOptions(consume_f="receive", dead_letter_after=workload.dead_letter_after)
    verdicts, cells = play_and_judge(workload, history, guarantees, options, seconds=1.0)
    return history, verdicts, cells


def test_behind_a_fanout_each_queue_dead_letters_its_own_copy_of_poison_into_its_own_queue(
    rabbitmq_cluster: RabbitMQCluster, unique_name: str
) -> None:
    """Each bound queue's poison is in that queue's dead letters, once, read for that queue's audience;
    and without a dead-letter exchange (catalogue R9, per queue) both queues drop it, caught in each."""
    history, verdicts, cells = _fanout_poison_run(rabbitmq_cluster, unique_name)
    poison = {op.value["id"] for op in history if op.f == "send" and op.type == "ok" and op.value["kind"] == "poison"}
    assert len(poison) == 20
    for reader in ("g1-dlq-reader", "g2-dlq-reader"):
        read = [op.value for op in history if op.process == reader and op.f == "dead_letter"]
        assert sorted(v["id"] for v in read) == sorted(poison)
        assert {v["reason"] for v in read} == {"delivery_limit"}
    assert cells["dead_letter"].valid is True and cells["no_loss"].valid is True, cells

    _, verdicts, cells = _fanout_poison_run(rabbitmq_cluster, f"{unique_name}-nodlx", dead_letter_exchange=False)
    assert cells["dead_letter"].valid is False
    missing = {
        v.checker: v.anomaly("poison_not_dead_lettered").count for v in verdicts if v.checker.startswith("dead_")
    }
    assert missing == {"dead_letter@billing": 20, "dead_letter@shipping": 20}


def test_mirroring_behind_an_exchange_puts_every_bound_queue_and_no_other_under_one_policy(
    rabbitmq_cluster: RabbitMQCluster, unique_name: str
) -> None:
    """client.mirrored with a fanout: the broker applies the one ha-mode policy to both bound queues, as
    its own listing says, and to neither dead-letter queue."""
    import json

    from chaos.history import MemoryHistory

    fanout = {"exchange_type": "fanout", "bindings": {"a": [], "b": []}}
    settings = {"queue_type": "classic", "poison": "reject", "mirrored": True, **fanout}
    workload = _workload(rabbitmq_cluster, unique_name, MemoryHistory(), seconds=1, rate=10, **settings)
    workload._declare()
    rows = json.loads(rabbitmq_cluster.ctl("list_queues", "--formatter", "json", "name", "policy"))
    policies = {r["name"]: r.get("policy") or None for r in rows if r["name"].startswith(unique_name)}
    policy = f"{unique_name}.a-mirrored"
    assert policies == {
        f"{unique_name}.a": policy,
        f"{unique_name}.b": policy,
        f"{unique_name}.a.dlq": None,
        f"{unique_name}.b.dlq": None,
    }


def _quorum_publisher(cluster: RabbitMQCluster, queue: str, window: int) -> tuple[Any, Any, Any]:
    """A publisher of numbered messages to the quorum queue ``queue`` through the first node, running in a
    thread of its own: the publisher, its thread, and the event that says it is still producing."""
    import threading

    from chaos.brokers.rabbitmq.publisher import ConfirmingPublisher, PublishPlan
    from chaos.history import MemoryHistory

    producing, seq = threading.Event(), iter(range(1_000_000))
    producing.set()

    def declare(channel: Any, done: Any) -> None:
        arguments = {"x-queue-type": "quorum"}
        channel.queue_declare(queue, durable=True, arguments=arguments, callback=lambda _f: done())

    plan = PublishPlan(
        process="producer-1",
        queue=queue,
        next_message=lambda: {"id": f"m-{next(seq)}"},
        producing=producing.is_set,
        ahead_of_rate=lambda: False,
        properties=lambda value: pika.BasicProperties(delivery_mode=2, message_id=value["id"]),
        declare=declare,
        window=window,
    )
    node = cluster.nodes[0]
    publisher = ConfirmingPublisher(cluster.parameters(node), plan, MemoryHistory(), node.name)
    return publisher, threading.Thread(target=publisher.run, name="producer-1", daemon=True), producing


def test_a_publisher_told_to_stop_while_its_confirms_are_withheld_stops_and_calls_them_unknown(
    rabbitmq_cluster: RabbitMQCluster, unique_name: str
) -> None:
    """A quorum queue whose other two nodes are paused has no quorum: it withholds every confirm and the
    publisher's window fills. Told to stop, the publisher must give up on those confirms after its grace,
    each message ``info`` (it may or may not be enqueued), while the queue is still without quorum. It
    once noticed a stop only when its window had room: it waited for the quorum, and a run's repair and
    drain waited on it (inferred as why a CI's R6 repaired 30 s late, after its consumer had read what
    the losing side held)."""
    from chaos.brokers.rabbitmq.publisher import NO_CONFIRM_AFTER_STOP
    from chaos.history import FAIL, INFO

    window = 20
    publisher, thread, producing = _quorum_publisher(rabbitmq_cluster, unique_name, window)
    thread.start()
    deadline = time.monotonic() + 30
    while publisher.confirmed < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert publisher.confirmed >= 100, "the quorum queue confirmed too little before the pause"
    with _paused(rabbitmq_cluster.nodes[1:]):
        withheld = _window_withheld(publisher, window, quiet_s=3.0, within_s=30.0)
        assert withheld, "the window never filled with confirms withheld for 3 s"
        stopped = _stops_within_its_grace(thread, producing)
        assert stopped, "the publisher waited on withheld confirms after it was told to stop"
    thread.join(30)
    sends = [op for op in publisher.history if op.f == "send"]
    unknown = [op for op in sends if op.type == INFO]
    assert len(unknown) == window and not [op for op in sends if op.type == FAIL]
    # given up by the publisher itself, not ended by the node (pause_minority closes it once it notices)
    assert {op.error for op in unknown} == {NO_CONFIRM_AFTER_STOP}


def test_a_publisher_told_to_stop_while_its_queue_declare_goes_unanswered_gives_up_on_it(
    rabbitmq_cluster: RabbitMQCluster, unique_name: str
) -> None:
    """A new quorum queue cannot be declared without a quorum (the other two nodes paused): the broker
    leaves the declare unanswered, and nothing is published. Told to stop, the publisher must give up on
    the declare after its grace, its ``connect`` failed with that reason, not wait until the node
    notices it is a minority and closes the connection."""
    from chaos.brokers.rabbitmq.publisher import NO_DECLARE_AFTER_STOP
    from chaos.history import FAIL

    publisher, thread, producing = _quorum_publisher(rabbitmq_cluster, unique_name, window=20)
    with _paused(rabbitmq_cluster.nodes[1:]):
        thread.start()
        time.sleep(2.0)
        stopped = _stops_within_its_grace(thread, producing)
        assert stopped, "the publisher waited on the declare after it was told to stop"
    thread.join(30)
    connects = [(op.type, op.error) for op in publisher.history if op.f == "connect" and op.type != "invoke"]
    assert connects == [(FAIL, NO_DECLARE_AFTER_STOP)]
    assert not [op for op in publisher.history if op.f == "send"]


@contextmanager
def _paused(nodes: list[Any]) -> Iterator[None]:
    """``nodes`` paused for the block (their Erlang VMs frozen, their containers up), resumed however it ends."""
    for node in nodes:
        node.pause()
    try:
        yield
    finally:
        for node in nodes:
            node.resume()


def _stops_within_its_grace(thread: Any, producing: Any) -> bool:
    """Tell the publisher running in ``thread`` to stop: whether it ended within its grace (and 10 s)."""
    from chaos.brokers.rabbitmq.publisher import STOP_GRACE_S

    producing.clear()
    thread.join(STOP_GRACE_S + 10)
    return not thread.is_alive()


def _window_withheld(publisher: Any, window: int, quiet_s: float, within_s: float) -> bool:
    """Whether ``publisher``'s window became full and no confirm came for ``quiet_s`` (within ``within_s``):
    a confirm still in flight when the nodes paused would end its wait on its own."""
    deadline = time.monotonic() + within_s
    confirmed, since = publisher.confirmed, time.monotonic()
    while time.monotonic() < deadline:
        if publisher.confirmed != confirmed or len(publisher._unconfirmed) < window:
            confirmed, since = publisher.confirmed, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return True
        time.sleep(0.05)
    return False
