"""Bringing brokers up and down: :class:`Cluster` of :class:`Node`; one folder per broker."""

from chaos.cluster.base import Cluster, NotReady, PlannedNode, Platform
from chaos.cluster.node import Endpoint, Node, NodeSpec
from chaos.cluster.registry import cluster_class

__all__ = ["Cluster", "Endpoint", "Node", "NodeSpec", "NotReady", "PlannedNode", "Platform", "cluster_class"]
