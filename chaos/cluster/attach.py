"""Attach to a cluster another process started, to inject faults into it without owning it.

Used by fault tools run beside a suite (and by the heal-on-interrupt test): the attached view knows the
nodes, their proxies and the network, but no broker specifics, and never removes the cluster — only the
helper containers it created itself.
"""

from __future__ import annotations

from typing import Any

from chaos.cluster.base import TOXIPROXY_API_PORT, Cluster, PlannedNode, Platform
from chaos.cluster.node import Endpoint, Node, NodeSpec
from chaos.errors import UsageError
from chaos.net.toxiproxy import ToxiproxyClient
from chaos.resources import CLUSTER_LABEL, OWNER, OWNER_LABEL, ROLE_LABEL, RUN_LABEL

NODE_LABEL = "io.brokerchaos.node"


class AttachedCluster(Cluster):
    """Nodes, proxies and network of a running cluster; lifecycle and network faults work on it."""

    broker = "attached"

    def __init__(self, platform: Platform, run_id: str, name: str) -> None:
        """Deliberately not Cluster.__init__: nothing is resolved, built or started."""
        self.platform = platform
        self.name = name
        self.owner_run_id = run_id
        self.nodes = []
        self._net = None
        selector = {"label": [f"{OWNER_LABEL}={OWNER}", f"{RUN_LABEL}={run_id}", f"{CLUSTER_LABEL}={name}"]}
        containers = platform.client.containers.list(filters=selector)
        toxiproxy = next((c for c in containers if c.labels.get(ROLE_LABEL) == "toxiproxy"), None)
        if toxiproxy is None:
            raise UsageError(f"no running cluster {name!r} of run {run_id}")
        ports = toxiproxy.attrs["NetworkSettings"]["Ports"]
        self.toxiproxy = ToxiproxyClient(f"http://127.0.0.1:{ports[f'{TOXIPROXY_API_PORT}/tcp'][0]['HostPort']}")
        self._toxiproxy_ip = next(iter(toxiproxy.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
        self._network = next(iter(toxiproxy.attrs["NetworkSettings"]["Networks"]))
        proxies = self.toxiproxy.proxies()
        for container in containers:
            node_name = container.labels.get(NODE_LABEL)
            if not node_name or container.labels.get(ROLE_LABEL) == "nethelper":
                continue
            proxy = proxies.get(node_name)
            endpoint = None
            if proxy is not None:
                port = int(proxy.listen.rsplit(":", 1)[1])
                endpoint = Endpoint(node_name, "127.0.0.1", int(ports[f"{port}/tcp"][0]["HostPort"]))
            spec = NodeSpec(node_name, container.labels.get(ROLE_LABEL, "node"), container.attrs["Config"]["Image"], [])
            self.nodes.append(Node(spec, container, endpoint))
        self.nodes.sort(key=lambda n: n.name)

    @property
    def network_name(self) -> str:
        return self._network

    def toxiproxy_ip(self) -> str:
        return str(self._toxiproxy_ip)

    def planned_nodes(self) -> list[PlannedNode]:
        raise NotImplementedError("an attached cluster is not started from here")

    def node_specs(self, endpoints: dict[str, Endpoint]) -> list[NodeSpec]:
        raise NotImplementedError("an attached cluster is not started from here")

    def check_ready(self) -> None:
        return None

    def destroy(self) -> None:
        """Detach: remove only our own helpers, never the cluster."""
        if self._net is not None:
            self._net.close()
            self._net = None

    def __enter__(self) -> AttachedCluster:
        return self  # already running: nothing to start

    def __exit__(self, *exc: Any) -> None:
        self.destroy()
