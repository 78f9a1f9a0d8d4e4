"""Client-link faults through Toxiproxy: toxics on a node's proxy, or the proxy switched off."""

from __future__ import annotations

import contextlib
import dataclasses

from chaos.cluster.base import Cluster
from chaos.errors import ToxiproxyError
from chaos.faults.base import Fault, Target
from chaos.net.toxiproxy import Toxic


class ClientLinkFault(Fault):
    """Put a toxic on the client link of each target node (e.g. a ``Timeout`` blackhole, ``Latency``)."""

    def __init__(self, cluster: Cluster, target: Target, toxic: Toxic) -> None:
        super().__init__()
        self.cluster = cluster
        self.target = target
        self.toxic = toxic
        self.name = f"link-{toxic.type}"
        self._placed: list[tuple[str, str]] = []

    def _apply(self) -> None:
        assert self.cluster.toxiproxy is not None
        for node in self.target():
            if node.endpoint is None:
                continue
            toxic = dataclasses.replace(self.toxic, name=self.toxic.name or f"bc-{self.toxic.type}-{self.toxic.stream}")
            self.cluster.toxiproxy.add_toxic(node.endpoint.proxy, toxic)
            self._placed.append((node.endpoint.proxy, toxic.name))
            self.targets.append(node.name)

    def _heal(self) -> None:
        assert self.cluster.toxiproxy is not None
        for proxy, name in self._placed:
            with contextlib.suppress(ToxiproxyError):
                self.cluster.toxiproxy.remove_toxic(proxy, name)
        self._placed.clear()


class ProxyDown(Fault):
    """Disable the target nodes' proxies: connections drop and new ones are refused."""

    name = "proxy-down"

    def __init__(self, cluster: Cluster, target: Target) -> None:
        super().__init__()
        self.cluster = cluster
        self.target = target
        self._disabled: list[str] = []

    def _apply(self) -> None:
        assert self.cluster.toxiproxy is not None
        for node in self.target():
            if node.endpoint is not None:
                self.cluster.toxiproxy.set_enabled(node.endpoint.proxy, False)
                self._disabled.append(node.endpoint.proxy)
                self.targets.append(node.name)

    def _heal(self) -> None:
        assert self.cluster.toxiproxy is not None
        for proxy in self._disabled:
            self.cluster.toxiproxy.set_enabled(proxy, True)
        self._disabled.clear()
