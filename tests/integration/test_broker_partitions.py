"""What each broker does when a partition cuts one of its nodes off, and after the heal."""

from __future__ import annotations

import random
import time

import pika
import pika.exceptions
import pytest

from chaos.brokers.kafka.cluster import KafkaCluster
from chaos.brokers.rabbitmq.cluster import RabbitMQCluster
from chaos.brokers.redis.cluster import RedisSentinelCluster
from chaos.faults import Partition, applied
from chaos.net.partition import isolate


def _eventually(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (LookupError, RuntimeError, ConnectionError):
            last = None
        if last:
            return last
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_kafka_isolated_leader_loses_leadership_and_rejoins_the_isr_after_heal(
    kafka_cluster: KafkaCluster, unique_name: str
) -> None:
    kafka_cluster.create_topic(unique_name, partitions=1, replication=3)
    old = kafka_cluster.leader(unique_name, 0)
    # Clients are cut from the isolated side too: a broker fenced off from the quorum keeps answering
    # metadata requests with its stale view, as it would to a real client on its side.
    with applied(Partition(kafka_cluster, isolate(old.name), random.Random(1), cut_clients=True)):
        new = _eventually(
            lambda: (lambda n: n if n is not old else None)(kafka_cluster.leader(unique_name, 0)),
            60,
            "leadership to move to the majority side",
        )
        assert new is not old
    _eventually(lambda: old in kafka_cluster.isr(unique_name, 0), 90, "the old leader to rejoin the ISR")


def test_rabbitmq_pause_minority_pauses_the_isolated_node_and_the_quorum_queue_stays_available(
    rabbitmq_cluster: RabbitMQCluster, unique_name: str
) -> None:
    conn = rabbitmq_cluster.connect()
    channel = conn.channel()
    channel.queue_declare(unique_name, durable=True, arguments={"x-queue-type": "quorum"})
    conn.close()
    victim = rabbitmq_cluster.queue_leader(unique_name)
    majority = [n for n in rabbitmq_cluster.nodes if n is not victim]
    fault = Partition(rabbitmq_cluster, isolate(victim.name), random.Random(1), cut_clients=True)
    with applied(fault):

        def paused() -> bool:
            code, out = victim.exec(["rabbitmq-diagnostics", "-q", "is_running"])
            return code != 0 or "not running" in out or "is not" in out

        _eventually(paused, 60, f"{victim.name} to pause (pause_minority)")

        def publish_and_get() -> bytes | None:
            conn = rabbitmq_cluster.connect(majority[0])
            try:
                channel = conn.channel()
                channel.confirm_delivery()
                channel.basic_publish("", unique_name, b"during", pika.BasicProperties(delivery_mode=2), mandatory=True)
                for _ in range(20):
                    method, _, body = channel.basic_get(unique_name, auto_ack=True)
                    if method is not None:
                        return bytes(body)
                    time.sleep(0.25)
                return None
            except pika.exceptions.AMQPError:
                return None  # the queue elects a new leader on the majority side: try again
            finally:
                if conn.is_open:
                    conn.close()

        assert _eventually(publish_and_get, 60, "the quorum queue to serve on the majority") == b"during"
    rabbitmq_cluster.wait_ready(120)


def test_redis_isolating_the_primary_fails_over_and_the_old_primary_returns_as_a_replica(
    redis_cluster: RedisSentinelCluster,
) -> None:
    old = redis_cluster.current_primary()
    with applied(Partition(redis_cluster, isolate(old.name), random.Random(1))):
        new = _eventually(
            lambda: (lambda n: n if n is not old else None)(redis_cluster.current_primary()),
            30,
            "Sentinel to promote a replica on the majority side",
        )
        assert redis_cluster.role_of(new) == "master"
    _eventually(lambda: redis_cluster.role_of(old) == "slave", 60, "the old primary to be demoted after the heal")
