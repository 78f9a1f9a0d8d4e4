"""RabbitMQ: three nodes on one Erlang cookie, one cluster, a pika workload through Toxiproxy."""

from __future__ import annotations

from chaos.brokers import BrokerKit
from chaos.brokers.rabbitmq.cluster import RabbitMQCluster
from chaos.brokers.rabbitmq.images import DEFAULT_VERSION, IMAGES
from chaos.brokers.rabbitmq.settings import RabbitMQClientSettings, RabbitMQClusterSettings, RabbitMQProfile, check
from chaos.brokers.rabbitmq.upgrade import upgrade_problem
from chaos.brokers.rabbitmq.workload import RabbitMQWorkload
from chaos.cluster.base import Cluster, Platform
from chaos.faults.families import FAMILIES
from chaos.history import Recorder
from chaos.workloads.base import Workload, budget_for, load_kwargs


def _make_cluster(platform: Platform, profile: RabbitMQProfile, proxy_base_port: int | None) -> Cluster:
    s: RabbitMQClusterSettings = profile.cluster
    return RabbitMQCluster(
        platform,
        version=profile.version,
        name=f"rabbitmq-{profile.name}"[:40],
        proxy_base_port=proxy_base_port,
        image=profile.image,
        partition_handling=s.partition_handling,
        management=s.management,
        extra_config=s.extra or {},
        dead_letter_retry_ms=s.dead_letter_retry_ms,
    )


def _make_workload(cluster: Cluster, profile: RabbitMQProfile, history: Recorder, subject: str) -> Workload:
    w = profile.workload
    return RabbitMQWorkload(
        cluster,  # type: ignore[arg-type]
        subject,
        history,
        budget_for(w),
        profile.client,
        **load_kwargs(w),
    )


KIT = BrokerKit(
    broker="rabbitmq",
    image="rabbitmq",
    cluster_class=RabbitMQCluster,
    cluster_settings=RabbitMQClusterSettings,
    client_settings=RabbitMQClientSettings,
    make_cluster=_make_cluster,
    make_workload=_make_workload,
    default_families=("kill-leader", "isolate-leader", "link-blackhole", "crash-consumer"),
    images=IMAGES,
    default_version=DEFAULT_VERSION,
    # leader-alone-lost, stale-replica-left: staged around an in-sync replica set (Kafka's ISR).
    # stall-consumer: its consumers do not stop mid-batch yet; lose-disk-coordinator: Kafka's group coordinator
    families=frozenset(FAMILIES)
    - {"link-responses-lost", "leader-alone-lost", "stale-replica-left", "stall-consumer", "lose-disk-coordinator"},
    check=check,
    upgrade_problem=upgrade_problem,
    default_profile="rabbitmq-safe",
    libraries=("pika",),
    consumer_keys=frozenset({"ack", "prefetch", "bindings"}),
)
KITS = (KIT,)

__all__ = ["KIT", "KITS", "RabbitMQCluster"]
