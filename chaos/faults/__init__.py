"""The nemesis: faults with ``apply()`` / ``heal()``, recorded in the history and always healed."""

from chaos.faults.base import Fault, FaultLog, applied, nodes
from chaos.faults.link import ClientLinkFault, ProxyDown
from chaos.faults.network import Delay, PacketLoss, Partition, RateLimit, netem_available
from chaos.faults.process import NodeFault, RollingRestart

__all__ = [
    "ClientLinkFault",
    "Delay",
    "Fault",
    "FaultLog",
    "NodeFault",
    "PacketLoss",
    "Partition",
    "ProxyDown",
    "RateLimit",
    "RollingRestart",
    "applied",
    "netem_available",
    "nodes",
]
