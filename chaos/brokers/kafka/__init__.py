"""Apache Kafka in KRaft mode: three combined broker+controller nodes, a confluent-kafka workload."""

from __future__ import annotations

from chaos.brokers import BrokerKit
from chaos.brokers.kafka.cluster import KafkaCluster
from chaos.brokers.kafka.images import DEFAULT_VERSION, IMAGES, build_kafka
from chaos.brokers.kafka.settings import KafkaClientSettings, KafkaClusterSettings, KafkaProfile, check
from chaos.brokers.kafka.workload import KafkaWorkload
from chaos.cluster.base import Cluster, Platform
from chaos.faults.families import FAMILIES
from chaos.history import Recorder
from chaos.workloads.base import Workload, budget_for, load_kwargs


def _make_cluster(platform: Platform, profile: KafkaProfile, proxy_base_port: int | None) -> Cluster:
    return KafkaCluster(
        platform,
        version=profile.version,
        name=f"kafka-{profile.name}"[:40],
        proxy_base_port=proxy_base_port,
        image=profile.image,
        server_properties=profile.cluster.server_properties or {},
        brokers=profile.cluster.brokers,
    )


def _make_workload(cluster: Cluster, profile: KafkaProfile, history: Recorder, subject: str) -> Workload:
    w = profile.workload
    return KafkaWorkload(
        cluster,  # type: ignore[arg-type]
        subject,
        history,
        budget_for(w),
        profile.client,
        profile.cluster,
        **load_kwargs(w),
    )


def _librdkafka() -> dict[str, str | None]:
    import confluent_kafka

    return {"librdkafka": confluent_kafka.libversion()[0]}


KIT = BrokerKit(
    broker="kafka",
    image="kafka",
    cluster_class=KafkaCluster,
    cluster_settings=KafkaClusterSettings,
    client_settings=KafkaClientSettings,
    make_cluster=_make_cluster,
    make_workload=_make_workload,
    default_families=("kill-leader", "isolate-leader", "link-responses-lost", "crash-consumer"),
    images=IMAGES,
    default_version=DEFAULT_VERSION,
    families=frozenset(FAMILIES) - {"proxy-down"},
    check=check,
    builders={"kafka": build_kafka},
    default_profile="kafka-safe",
    libraries=("confluent-kafka",),
    library_versions=_librdkafka,
    consumer_keys=frozenset(
        {"commit", "auto_commit_interval_ms", "retry_backoff_ms", "transform", "consumer_groups", "transaction_topics"}
    ),
    # K5 and its twin took 46 s each at once against 23 s alone (session 19)
    cpu_bound=lambda profile: bool(profile.client.transform),
)
KITS = (KIT,)

__all__ = ["KIT", "KITS", "KafkaCluster"]
