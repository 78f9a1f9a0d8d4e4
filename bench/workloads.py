"""Benchmark: each workload's recorded send rate through Toxiproxy against the broker's own tool on the
same cluster in the same run (goals: Kafka >= 10k msg/s, Redis >= 10k, RabbitMQ with confirms >= 2k, and
>= 50 % of the native tool). Printed, never asserted. Usage: python -m bench.workloads [--brokers ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import tempfile
import time
import uuid
from pathlib import Path

import pika

from chaos.cluster import Platform
from chaos.cluster.kafka import KafkaCluster
from chaos.cluster.rabbitmq import RabbitMQCluster
from chaos.cluster.redis import RedisSentinelCluster
from chaos.history import JsonlHistory
from chaos.workloads.base import LoadBudget, Workload
from chaos.workloads.kafka import KafkaClientSettings, KafkaClusterSettings, KafkaWorkload
from chaos.workloads.rabbitmq import RabbitMQClientSettings, RabbitMQWorkload
from chaos.workloads.redis import RedisClientSettings, RedisStreamsWorkload

MESSAGES = {"kafka": 50_000, "redis": 30_000, "rabbitmq": 10_000}


def workload_rate(make: type[Workload], directory: Path, **kwargs: object) -> float:
    with JsonlHistory(directory / f"{uuid.uuid4().hex[:6]}.jsonl") as history:
        workload = make(history=history, **kwargs)  # type: ignore[call-arg]
        workload.start()
        workload.wait_producers(timeout=300)
        workload.stop()
        return workload.rate()


def kafka(platform: Platform, out: Path) -> tuple[float, float]:
    with KafkaCluster(platform) as cluster:
        n = MESSAGES["kafka"]
        ours = workload_rate(
            KafkaWorkload,
            out,
            cluster=cluster,
            topic="bench-ours",
            budget=LoadBudget(n, 120.0, None),
            client=KafkaClientSettings(),
            settings=KafkaClusterSettings(),
            consumers=1,
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
        return ours, float(found[-1]) if code == 0 and found else float("nan")


def redis(platform: Platform, out: Path) -> tuple[float, float]:
    with RedisSentinelCluster(platform) as cluster:
        n = MESSAGES["redis"]
        ours = workload_rate(
            RedisStreamsWorkload,
            out,
            cluster=cluster,
            stream="bench-ours",
            budget=LoadBudget(n, 120.0, None),
            client=RedisClientSettings(),
            consumers=1,
        )
        primary = cluster.current_primary()
        code, text = primary.exec(
            ["redis-benchmark", "-h", "127.0.0.1", "-c", "1", "-n", str(n), "-q", "XADD", "bench-native", "*", "f", "v"]
        )
        found = re.findall(r"([\d.]+) requests per second", text)
        return ours, float(found[-1]) if code == 0 and found else float("nan")


def rabbitmq(platform: Platform, out: Path) -> tuple[float, float]:
    with RabbitMQCluster(platform, management=False) as cluster:
        n = MESSAGES["rabbitmq"]
        ours = workload_rate(
            RabbitMQWorkload,
            out,
            cluster=cluster,
            queue="bench-ours",
            budget=LoadBudget(n, 120.0, None),
            client=RabbitMQClientSettings(),
            consumers=1,
        )
        conn = cluster.connect()
        channel = conn.channel()
        channel.queue_declare("bench-native", durable=True, arguments={"x-queue-type": "quorum"})
        channel.confirm_delivery()
        began = time.perf_counter()
        for i in range(n):
            channel.basic_publish(
                "", "bench-native", json.dumps({"i": i}).encode(), pika.BasicProperties(delivery_mode=2)
            )
        native = n / (time.perf_counter() - began)
        conn.close()
        return ours, native


BENCHES = {"kafka": kafka, "redis": redis, "rabbitmq": rabbitmq}
PEERS = {"kafka": "kafka-producer-perf-test", "redis": "redis-benchmark -c 1", "rabbitmq": "plain pika + confirms"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="redis,kafka,rabbitmq")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    platform = Platform.default()
    out = Path(tempfile.mkdtemp(prefix="brokerchaos-bench-"))
    for broker in [b.strip() for b in args.brokers.split(",") if b.strip()]:
        ours, native = BENCHES[broker](platform, out)
        print(
            f"{broker:<9} recorded workload {ours:9.0f} msg/s   {PEERS[broker]:<26} {native:9.0f} msg/s   "
            f"ratio {ours / native:5.0%}"
        )


if __name__ == "__main__":
    main()
