"""The Kafka cluster on real containers: KRaft, clients only through the proxies, leader kill."""

from __future__ import annotations

import sys
import time
import uuid

import confluent_kafka
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException

from chaos.brokers.kafka.clients import Producer
from chaos.brokers.kafka.cluster import KafkaCluster
from chaos.brokers.kafka.workload import KafkaWorkload
from chaos.cluster.node import Node
from tests.integration.helpers import read_by_each_audience

GROUPS = ["group-1", "group-2"]


def _wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except LookupError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_clients_are_only_ever_handed_proxy_addresses_on_loopback(kafka_cluster: KafkaCluster) -> None:
    meta = kafka_cluster.admin().list_topics(timeout=10)
    advertised = {(b.host, b.port) for b in meta.brokers.values()}
    proxies = {(n.endpoint.host, n.endpoint.port) for n in kafka_cluster.nodes if n.endpoint}
    assert len(meta.brokers) == 3
    assert advertised == proxies
    assert all(host == "127.0.0.1" for host, _ in advertised)


def test_roles_name_the_nodes_leading_and_replicating_a_partition(
    kafka_cluster: KafkaCluster, unique_name: str
) -> None:
    kafka_cluster.create_topic(unique_name, partitions=3, replication=3)
    leader = kafka_cluster.leader(unique_name, 0)
    assert isinstance(leader, Node) and leader in kafka_cluster.nodes
    assert sorted(n.name for n in kafka_cluster.isr(unique_name, 0)) == ["kafka-1", "kafka-2", "kafka-3"]
    assert kafka_cluster.active_controller() in kafka_cluster.nodes


def _offsets_partition(group: str, partitions: int = 50) -> int:
    """Kafka's choice of the ``__consumer_offsets`` partition for a group: ``Utils.abs(group.hashCode())``
    modulo offsets.topic.num.partitions (50 by default). Java's String.hashCode is a signed 32-bit int and
    Kafka's ``Utils.abs`` is ``Math.abs`` (Integer.MIN_VALUE gives 0), not the sign-bit mask of
    ``Utils.toPositive``: the mask picks another partition for every group whose hash is negative."""
    code = 0
    for char in group:
        code = (31 * code + ord(char)) & 0xFFFFFFFF
    signed = code - (1 << 32) if code >= 1 << 31 else code
    return (0 if signed == -(1 << 31) else abs(signed)) % partitions


def test_the_offsets_partition_is_java_hash_code_under_kafkas_abs() -> None:
    assert _offsets_partition("abc") == 96354 % 50  # "abc".hashCode() = 96354
    assert _offsets_partition("polygenelubricants") == 0  # hashCode() = Integer.MIN_VALUE
    assert _offsets_partition("hello-world-group") == 1292619767 % 50  # hashCode() = -1292619767


def test_the_coordinator_role_names_the_leader_of_the_groups_offsets_partition(
    kafka_cluster: KafkaCluster, unique_name: str
) -> None:
    group = f"{unique_name}-group"
    consumer = Consumer(kafka_cluster.client_config(**{"group.id": group}))
    try:
        consumer.subscribe([unique_name])
        consumer.poll(5)  # joins: the coordinator's broker creates __consumer_offsets if need be
        coordinator = _wait_for(lambda: kafka_cluster.role_nodes("coordinator", group), 30, "a coordinator")
        offsets_leader = kafka_cluster.leader("__consumer_offsets", _offsets_partition(group))
    finally:
        consumer.close()
    assert coordinator == [offsets_leader]


def test_acks_all_writes_survive_a_sigkill_of_the_partition_leader(
    kafka_cluster: KafkaCluster, unique_name: str
) -> None:
    topic = unique_name
    kafka_cluster.create_topic(topic, partitions=3, replication=3)
    acked: set[str] = set()
    errors: list[KafkaError] = []

    def delivered(err: KafkaError | None, msg: object) -> None:
        if err is None:
            acked.add(msg.value().decode())  # type: ignore[attr-defined]
        else:
            errors.append(err)

    producer = Producer(
        kafka_cluster.client_config(
            acks="all", **{"enable.idempotence": True, "message.timeout.ms": 60000, "linger.ms": 5}
        )
    )
    old_leader = kafka_cluster.leader(topic, 0)
    acked_at_kill = 0
    for i in range(10_000):
        producer.produce(topic, key=f"key-{i % 64}", value=str(i), on_delivery=delivered)
        producer.poll(0)
        if i % 500 == 499:
            producer.flush(30)  # spread the stream over time, so the kill lands mid-stream
        if i == 3000:
            acked_at_kill = len(acked)
            old_leader.kill()
    new_leader = _wait_for(
        lambda: (lambda n: n if n is not old_leader else None)(kafka_cluster.leader(topic, 0)),
        timeout=30,
        what="a new leader of partition 0",
    )
    assert new_leader is not old_leader
    assert producer.flush(90) == 0
    assert len(acked) > acked_at_kill + 5000, "producing did not resume after the kill"
    assert not errors, errors[:3]

    old_leader.start()
    kafka_cluster.wait_ready(90)
    assert old_leader in kafka_cluster.isr(topic, 0)

    consumer = Consumer(
        kafka_cluster.client_config(
            **{
                "group.id": f"verify-{uuid.uuid4().hex[:6]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
    )
    consumer.subscribe([topic])
    read: set[str] = set()
    deadline = time.monotonic() + 60
    try:
        while not acked <= read and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=1.0):
                if not msg.error():
                    read.add(msg.value().decode())
    finally:
        consumer.close()
    missing = acked - read
    assert not missing, f"{len(missing)} acknowledged messages not read back, e.g. {sorted(missing)[:5]}"


def test_two_consumer_groups_each_read_every_record_and_the_backlog_counts_both(
    kafka_cluster: KafkaCluster, unique_name: str
) -> None:
    """``client.consumer_groups = 2`` on real Kafka: both groups read all of it, each judged on its own
    reads; a record written afterwards is backlog twice (once per group's committed offset)."""
    from chaos.brokers.kafka.settings import KafkaClientSettings, KafkaClusterSettings
    from chaos.checkers.guarantees import CheckerOptions
    from chaos.history import MemoryHistory
    from chaos.workloads.base import LoadBudget

    history = MemoryHistory()
    budget = LoadBudget(max_messages=300, max_seconds=10, rate=300)
    client, cluster = KafkaClientSettings(consumer_groups=2), KafkaClusterSettings()
    workload = KafkaWorkload(kafka_cluster, unique_name, history, budget, client, cluster, consumers=2)
    options = CheckerOptions(positions=True, sessions=True, commits=True, exclusive_groups=True)
    consumed = read_by_each_audience(workload, history, options, GROUPS)
    assert consumed == {"delivery@group-1": 300, "delivery@group-2": 300}
    producer = Producer(kafka_cluster.client_config(acks="all"))
    producer.produce(unique_name, key="late", value=b"{}")
    assert producer.flush(10) == 0
    assert workload.backlog() == 2


def test_a_transaction_over_two_topics_shows_in_both_or_neither(kafka_cluster: KafkaCluster, unique_name: str) -> None:
    """``client.transaction_topics = 2`` on real Kafka: each committed transaction's orders and inventory
    records are read from both topics (each by its own group), each aborted one (it held poison) from
    neither; exactly-once, judged on the whole history, passes."""
    from chaos.brokers.kafka.settings import KafkaClientSettings, KafkaClusterSettings
    from chaos.checkers.guarantees import CheckerOptions
    from chaos.history import MemoryHistory
    from chaos.workloads.base import LoadBudget

    history = MemoryHistory()
    budget = LoadBudget(max_messages=200, max_seconds=20, rate=300)  # a first transaction waits for its coordinator
    client = KafkaClientSettings(transactional=True, transaction_topics=2, dead_letter_topic=False)
    workload = KafkaWorkload(
        kafka_cluster, unique_name, history, budget, client, KafkaClusterSettings(), consumers=1, poison_every=50
    )
    options = CheckerOptions(positions=True, sessions=True, commits=True, exclusive_groups=True)
    consumed = read_by_each_audience(workload, history, options, ["topic-1", "topic-2"], exactly_once=True, seconds=5)
    assert consumed["delivery@topic-1"] == consumed["delivery@topic-2"] > 0
    aborted = {op.value["txn"] for op in history if op.f == "txn" and op.type == "fail"}
    assert aborted  # every fifth transaction held poison: read in neither topic


def _flush_a_fenced_transaction(cluster: KafkaCluster, topic: str, producer_class: type) -> object:
    """What ``flush`` raises (None: nothing) for a transactional producer of ``producer_class`` fenced by
    a newer one with its transactional.id: its write is refused, and librdkafka makes that a fatal error."""
    config = cluster.client_config(**{"transactional.id": f"{topic}-{uuid.uuid4().hex[:6]}"})
    fenced = producer_class(config)
    fenced.init_transactions(30)
    newer = confluent_kafka.Producer(config)
    newer.init_transactions(30)  # the coordinator bumps the id's epoch: the first producer is fenced
    fenced.begin_transaction()
    reports: list[object] = []
    for i in range(20):  # as the workload sends: each with a delivery report
        fenced.produce(topic, key=f"k{i}", value=b"{}", on_delivery=lambda err, _msg: reports.append(err))
    try:
        fenced.flush(30)
    except:  # noqa: E722 — the one clause that sees whatever the library raises
        return sys.exc_info()[1]
    return None


def test_a_fenced_producers_fatal_error_reaches_the_workload_as_a_kafka_exception(
    kafka_cluster: KafkaCluster, unique_name: str
) -> None:
    """A fatal error made on purpose: the library's own Producer raises it from ``flush`` as something
    ``except KafkaException`` never sees (here a SystemError, as its delivery reports ran with the error
    pending; in CI's K3 row the bare ``KafkaError``), and the thread that meets it dies. Through the
    workload's Producer it is a fatal KafkaException."""
    kafka_cluster.create_topic(unique_name, partitions=1)
    library = _flush_a_fenced_transaction(kafka_cluster, unique_name, confluent_kafka.Producer)
    assert library is not None and not isinstance(library, KafkaException), repr(library)
    ours = _flush_a_fenced_transaction(kafka_cluster, unique_name, Producer)
    assert isinstance(ours, KafkaException), repr(ours)
    assert ours.args[0].fatal()
