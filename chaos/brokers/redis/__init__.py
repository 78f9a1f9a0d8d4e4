"""Redis (and Valkey) Streams: a primary, replicas and Sentinels; a redis-py consumer-group workload."""

from __future__ import annotations

from chaos.brokers import BrokerKit
from chaos.brokers.redis.cluster import RedisPersistence, RedisSentinelCluster, ValkeySentinelCluster
from chaos.brokers.redis.images import REDIS_DEFAULT_VERSION, REDIS_IMAGES, VALKEY_DEFAULT_VERSION, VALKEY_IMAGES
from chaos.brokers.redis.settings import RedisClientSettings, RedisClusterSettings, RedisProfile, check
from chaos.brokers.redis.workload import RedisStreamsWorkload
from chaos.cluster.base import Cluster, Platform
from chaos.history import Recorder
from chaos.workloads.base import Workload, budget_for, load_kwargs


def _make_cluster(platform: Platform, profile: RedisProfile, proxy_base_port: int | None) -> Cluster:
    s: RedisClusterSettings = profile.cluster
    cls = ValkeySentinelCluster if profile.broker == "valkey" else RedisSentinelCluster
    extra = dict(s.extra or {})
    if s.min_replicas_to_write:
        extra["min-replicas-to-write"] = str(s.min_replicas_to_write)
    return cls(
        platform,
        version=profile.version,
        name=f"{profile.broker}-{profile.name}"[:40],
        proxy_base_port=proxy_base_port,
        image=profile.image,
        persistence=RedisPersistence(s.appendonly, s.appendfsync, s.save),
        replicas=s.replicas,
        sentinels=s.sentinels,
        extra_config=extra,
    )


def _make_workload(cluster: Cluster, profile: RedisProfile, history: Recorder, subject: str) -> Workload:
    w = profile.workload
    return RedisStreamsWorkload(
        cluster,  # type: ignore[arg-type]
        subject,
        history,
        budget_for(w),
        client=profile.client,
        **load_kwargs(w),
    )


_FAMILIES = frozenset(
    {
        "rolling-upgrade",
        "kill-leader",
        "stop-leader",
        "pause-leader",
        "kill-follower",
        "isolate-leader",
        "isolate-leader-clients-stay",
        "link-blackhole",
        "link-reset",
        "link-latency",
        "proxy-down",
        "crash-consumer",
        "scale-consumers",
        "pause-consumers",
        "packet-loss",
        "power-loss-leader",
        "power-loss-all",
    }
)
KIT = BrokerKit(
    broker="redis",
    image="redis",
    cluster_class=RedisSentinelCluster,
    cluster_settings=RedisClusterSettings,
    client_settings=RedisClientSettings,
    make_cluster=_make_cluster,
    make_workload=_make_workload,
    default_families=("kill-leader", "isolate-leader", "link-blackhole", "crash-consumer"),
    images=REDIS_IMAGES,
    default_version=REDIS_DEFAULT_VERSION,
    families=_FAMILIES,
    check=check,
    default_profile="redis-safe",
    libraries=("redis",),
    consumer_keys=frozenset({"ack", "reclaim", "reclaim_idle_ms", "reclaim_with", "consumer_groups"}),
)
# Valkey runs the same kit on its own image; it has no default profile of its own.
VALKEY_KIT = BrokerKit(
    **{
        **KIT.__dict__,
        "broker": "valkey",
        "image": "valkey",
        "cluster_class": ValkeySentinelCluster,
        "images": VALKEY_IMAGES,
        "default_version": VALKEY_DEFAULT_VERSION,
        "default_profile": None,
    }
)
KITS = (KIT, VALKEY_KIT)

__all__ = ["KIT", "KITS", "VALKEY_KIT", "RedisPersistence", "RedisSentinelCluster", "ValkeySentinelCluster"]
