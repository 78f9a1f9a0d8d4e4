"""Bringing brokers up and down: :class:`Cluster` of :class:`Node`, what every broker folder shares."""

from chaos.cluster.base import Cluster, NotReady, PlannedNode, Platform
from chaos.cluster.node import Endpoint, Node, NodeSpec

__all__ = ["Cluster", "Endpoint", "Node", "NodeSpec", "NotReady", "PlannedNode", "Platform"]
