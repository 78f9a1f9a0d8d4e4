"""Redis (and Valkey) Streams: a primary, replicas and Sentinels."""

from chaos.cluster.redis.cluster import RedisPersistence, RedisSentinelCluster, ValkeySentinelCluster

__all__ = ["RedisPersistence", "RedisSentinelCluster", "ValkeySentinelCluster"]
