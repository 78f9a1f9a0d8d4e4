"""The RabbitMQ cluster on real containers: one cluster, random credentials, quorum-queue leader kill."""

from __future__ import annotations

import time

import pika
import pika.exceptions
import pytest

from chaos.brokers.rabbitmq.cluster import RabbitMQCluster


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
