"""The nemesis: faults with ``apply()`` / ``heal()``, recorded in the history and always healed."""

from chaos.faults.base import Fault, FaultLog, applied
from chaos.faults.link import ClientLinkFault, ProxyDown
from chaos.faults.process import NodeFault

__all__ = ["ClientLinkFault", "Fault", "FaultLog", "NodeFault", "ProxyDown", "applied"]
