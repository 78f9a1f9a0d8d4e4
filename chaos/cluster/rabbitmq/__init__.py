"""RabbitMQ: three nodes on one Erlang cookie, one cluster, clients through Toxiproxy."""

from chaos.cluster.rabbitmq.cluster import RabbitMQCluster

__all__ = ["RabbitMQCluster"]
