"""Benchmark: each workload's recorded send rate through Toxiproxy against the broker's own tool on the
same cluster in the same run (goals: Kafka >= 10k msg/s, Redis >= 10k, RabbitMQ with confirms >= 2k, and
>= 50 % of the native tool). Printed, never asserted. Usage: python -m bench.workloads [--brokers ...]

The ratio compares like with like: our producers alone against the native producer tool (which runs no
consumer). The rate with one consumer reading at the same time is printed beside it: on two cores the
consumer's per-message acknowledgements take their share of the same CPUs.
"""

from __future__ import annotations

import argparse
import logging
import re
import tempfile
import time
import uuid
from pathlib import Path

import pika

from chaos.brokers.kafka.cluster import KafkaCluster
from chaos.brokers.kafka.settings import KafkaClientSettings, KafkaClusterSettings
from chaos.brokers.kafka.workload import KafkaWorkload
from chaos.brokers.rabbitmq.cluster import RabbitMQCluster
from chaos.brokers.rabbitmq.publisher import ConfirmingPublisher, PublishPlan
from chaos.brokers.rabbitmq.settings import RabbitMQClientSettings
from chaos.brokers.rabbitmq.workload import RabbitMQWorkload
from chaos.brokers.redis.cluster import RedisSentinelCluster
from chaos.brokers.redis.settings import RedisClientSettings
from chaos.brokers.redis.workload import RedisStreamsWorkload
from chaos.cluster import Platform
from chaos.history import JsonlHistory
from chaos.workloads.base import LoadBudget, Workload

MESSAGES = {"kafka": 50_000, "redis": 30_000, "rabbitmq": 10_000}


Rates = tuple[float, float, float]  # producers alone, with one consumer, the native tool


def workload_rates(make: type[Workload], directory: Path, subject: str, **kwargs: object) -> tuple[float, float]:
    """The recorded send rate with no consumer, then with one (each on a subject of its own)."""
    rates = []
    for consumers in (0, 1):
        with JsonlHistory(directory / f"{uuid.uuid4().hex[:6]}.jsonl") as history:
            named = {subject: f"bench-ours-{consumers}"}
            workload = make(history=history, consumers=consumers, **named, **kwargs)  # type: ignore[call-arg]
            workload.start()
            workload.wait_producers(timeout=300)
            workload.stop()
            rates.append(workload.rate())
    return rates[0], rates[1]


def kafka(platform: Platform, out: Path) -> Rates:
    with KafkaCluster(platform) as cluster:
        n = MESSAGES["kafka"]
        ours = workload_rates(
            KafkaWorkload,
            out,
            "topic",
            cluster=cluster,
            budget=LoadBudget(n, 120.0, None),
            client=KafkaClientSettings(),
            settings=KafkaClusterSettings(),
        )
        cluster.create_topic("bench-native", 3, 3)
        code, text = cluster.nodes[0].exec(
            [
                "java",
                "-Xmx256m",
                "-cp",
                "/opt/kafka/libs/*",
                "org.apache.kafka.tools.ProducerPerformance",
                "--topic",
                "bench-native",
                "--num-records",
                str(n),
                "--record-size",
                "100",
                "--throughput",
                "-1",
                "--producer-props",
                "bootstrap.servers=kafka-1:19092",
                "acks=all",
                "enable.idempotence=true",
            ]
        )
        found = re.findall(r"([\d.]+) records/sec", text)
        return *ours, float(found[-1]) if code == 0 and found else float("nan")


def redis(platform: Platform, out: Path) -> Rates:
    with RedisSentinelCluster(platform) as cluster:
        n = MESSAGES["redis"]
        ours = workload_rates(
            RedisStreamsWorkload,
            out,
            "stream",
            cluster=cluster,
            budget=LoadBudget(n, 120.0, None),
            client=RedisClientSettings(),
        )
        primary = cluster.current_primary()
        code, text = primary.exec(
            [
                "redis-benchmark",
                "-h",
                "127.0.0.1",
                "-c",
                "1",
                "-P",
                str(RedisClientSettings().pipeline),
                "-n",
                str(n),
                "-q",
                "XADD",
                "bench-native",
                "*",
                "f",
                "v",
            ]
        )
        found = re.findall(r"([\d.]+) requests per second", text)
        return *ours, float(found[-1]) if code == 0 and found else float("nan")


def rabbitmq(platform: Platform, out: Path) -> Rates:
    with RabbitMQCluster(platform, management=False) as cluster:
        n = MESSAGES["rabbitmq"]
        ours = workload_rates(
            RabbitMQWorkload,
            out,
            "queue",
            cluster=cluster,
            budget=LoadBudget(n, 120.0, None),
            client=RabbitMQClientSettings(),
        )
        return *ours, _plain_confirming_rate(cluster, n)


class _Unrecorded:
    """A recorder that keeps nothing: the peer measures pika and the broker, not our history."""

    def record(self, *args: object, **kwargs: object) -> None:
        pass


def _plain_confirming_rate(cluster: RabbitMQCluster, n: int) -> float:
    """The same asynchronous confirm window as the workload, straight to the broker's own listener
    (no Toxiproxy) and without recording: what pika and RabbitMQ alone can do."""
    sent = 0

    def next_message() -> dict[str, object] | None:
        nonlocal sent
        sent += 1
        return {"id": str(sent)} if sent <= n else None

    def declare(channel: object, done: object) -> None:
        channel.queue_declare(  # type: ignore[attr-defined]
            "bench-native", durable=True, arguments={"x-queue-type": "quorum"}, callback=lambda _f: done()
        )

    node = cluster.nodes[0]
    params = cluster.parameters(node, host=node.ip(cluster.network_name), port=5672)
    plan = PublishPlan(
        process="peer",
        queue="bench-native",
        next_message=next_message,
        producing=lambda: True,
        ahead_of_rate=lambda: False,
        properties=lambda _v: pika.BasicProperties(delivery_mode=2),
        declare=declare,  # type: ignore[arg-type]
        window=RabbitMQClientSettings().window,
    )
    publisher = ConfirmingPublisher(params, plan, _Unrecorded())  # type: ignore[arg-type]
    began = time.perf_counter()
    publisher.run()
    return publisher.confirmed / (time.perf_counter() - began)


BENCHES = {"kafka": kafka, "redis": redis, "rabbitmq": rabbitmq}
PEERS = {
    "kafka": "kafka-producer-perf-test",
    "redis": "redis-benchmark -c 1 -P 50",
    "rabbitmq": "pika async confirms, direct",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="redis,kafka,rabbitmq")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    platform = Platform.default()
    out = Path(tempfile.mkdtemp(prefix="brokerchaos-bench-"))
    for broker in [b.strip() for b in args.brokers.split(",") if b.strip()]:
        alone, with_consumer, native = BENCHES[broker](platform, out)
        print(
            f"{broker:<9} recorded producers {alone:7.0f} msg/s   {PEERS[broker]:<26} {native:7.0f} msg/s   "
            f"ratio {alone / native:5.0%}   (with a consumer reading: {with_consumer:7.0f} msg/s)"
        )


if __name__ == "__main__":
    main()
