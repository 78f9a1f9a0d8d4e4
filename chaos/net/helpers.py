"""Helper containers that share a node's network namespace, to run iptables and tc "inside" the node.

Official broker images carry no iptables, so each node gets a small helper
(``--network container:<node> --cap-add NET_ADMIN``). A restarted node has a new namespace: the helper
notices (the node's start time changed) and is recreated before use. Rules live in one chain,
``BROKERCHAOS``, jumped to from ``INPUT``, so healing is one flush and touches nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from docker.errors import APIError, NotFound
from docker.models.containers import Container

from chaos.cluster.node import Node
from chaos.errors import BrokerChaosError

log = logging.getLogger("brokerchaos.net")

CHAIN = "BROKERCHAOS"
SETUP = f"iptables -N {CHAIN} 2>/dev/null; iptables -C INPUT -j {CHAIN} 2>/dev/null || iptables -I INPUT -j {CHAIN}"


class NetFaultError(BrokerChaosError):
    """A command in a node's network namespace failed."""


class NetemUnavailableError(NetFaultError):
    """This kernel has no netem qdisc: delay, duplication and reordering cannot be injected here."""


@dataclass
class _Helper:
    container: Container
    node_started_at: str


class NetHelpers:
    """One helper per node, created on first use and removed by :meth:`close` (or with the cluster)."""

    def __init__(
        self,
        client: object,
        image: str,
        network: str,
        labels: Callable[[str, str], dict[str, str]],
    ) -> None:
        self.client = client
        self.image = image
        self.network = network
        self.labels = labels
        self._helpers: dict[str, _Helper] = {}
        self._lock = threading.Lock()

    def _started_at(self, node: Node) -> str:
        node.container.reload()
        return str(node.container.attrs["State"]["StartedAt"])

    def helper(self, node: Node) -> Container:
        """The live helper for ``node``, (re)created when missing or when the node restarted."""
        if node.status() != "running":
            raise NetFaultError(f"{node.name} is not running: its network namespace cannot be changed")
        started = self._started_at(node)
        with self._lock:
            current = self._helpers.get(node.name)
        if current is not None and current.node_started_at == started:
            return current.container
        if current is not None:
            self._remove(current.container)
        container = self.client.containers.run(  # type: ignore[attr-defined]
            self.image,
            ["tail", "-f", "/dev/null"],
            entrypoint=["/usr/bin/env"],
            network_mode=f"container:{node.container.id}",
            cap_add=["NET_ADMIN"],
            labels=self.labels("nethelper", node.name),
            detach=True,
        )
        self._run(container, node, SETUP)
        with self._lock:
            self._helpers[node.name] = _Helper(container, started)
        return container

    def _run(self, container: Container, node: Node, script: str) -> str:
        result = container.exec_run(["sh", "-c", script])
        output = result.output.decode(errors="replace")
        if result.exit_code != 0:
            if "qdisc kind is unknown" in output or ("netem" in script and "not found" in output.lower()):
                raise NetemUnavailableError("this kernel has no netem qdisc (tc ... netem): delay/duplicate/reorder")
            raise NetFaultError(f"on {node.name}: `{script}` failed: {output.strip()[-300:]}")
        return output

    def run(self, node: Node, script: str) -> str:
        return self._run(self.helper(node), node, script)

    def run_all(self, scripts: dict[Node, str]) -> dict[str, str]:
        """Run one script per node, concurrently (partition apply/heal latency is one exec, not three)."""
        if not scripts:
            return {}
        with ThreadPoolExecutor(max_workers=len(scripts)) as pool:
            futures = {node.name: pool.submit(self.run, node, script) for node, script in scripts.items()}
            return {name: future.result() for name, future in futures.items()}

    def ip(self, node: Node) -> str:
        address = node.ip(self.network)
        if not address:
            raise NetFaultError(f"{node.name} has no address on {self.network} (is it running?)")
        return address

    def heal_everything(self, nodes: list[Node]) -> dict[str, int]:
        """Flush our chain and remove any root qdisc on every node that has a helper (per-test reset).
        Returns, per node where something was left, how many rules and qdiscs were removed."""
        with self._lock:
            known = set(self._helpers)
        script = (
            f"n=$(iptables -S {CHAIN} | grep -c '^-A'); "
            "tc qdisc show dev eth0 root | grep -qE 'netem|tbf|htb' && n=$((n + 1)); "
            f"iptables -F {CHAIN}; tc qdisc del dev eth0 root 2>/dev/null; echo $n"
        )
        found = self.run_all({n: script for n in nodes if n.name in known})
        counts = {name: int(out.strip().splitlines()[-1]) for name, out in found.items() if out.strip()}
        return {name: count for name, count in counts.items() if count}

    def rules(self, node: Node) -> list[str]:
        """The rules of our chain in the node's namespace now (for tests and diagnostics)."""
        out = self.run(node, f"iptables -S {CHAIN}")
        return [line for line in out.splitlines() if line.startswith("-A ")]

    def _remove(self, container: Container) -> None:
        with contextlib.suppress(NotFound, APIError):
            container.remove(force=True)

    def close(self) -> None:
        with self._lock:
            helpers = list(self._helpers.values())
            self._helpers.clear()
        for helper in helpers:
            self._remove(helper.container)
