"""Apache Kafka in KRaft mode: three combined broker+controller nodes."""

from chaos.cluster.kafka.cluster import KafkaCluster

__all__ = ["KafkaCluster"]
