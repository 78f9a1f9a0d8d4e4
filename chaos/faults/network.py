"""Network faults between brokers: partitions (real packets dropped, iptables in each node's namespace),
random packet loss, rate limits, and netem delay where the kernel has it."""

from __future__ import annotations

import random
from collections.abc import Callable

from chaos.cluster.base import Cluster
from chaos.cluster.node import Node
from chaos.faults.base import Fault
from chaos.net.helpers import CHAIN, NetemUnavailableError
from chaos.net.partition import ALL, Grudge, Shape

Universe = Callable[[], list[Node]]


def _drop_rule(source_ip: str, mode: str) -> str:
    match = "" if mode == ALL else "-m conntrack --ctstate NEW "
    return f"iptables -A {CHAIN} -s {source_ip} {match}-j DROP"


def _flush_rules(cluster: Cluster, touched: list[Node]) -> None:
    """Heal of the iptables faults: flush our chain on each node they touched that still runs (a node
    killed meanwhile comes back with a fresh network namespace)."""
    cluster.net.run_all({node: f"iptables -F {CHAIN}" for node in touched if node.status() == "running"})


class Partition(Fault):
    """Cut the cluster's nodes (or ``universe``) along ``shape``; with ``cut_clients`` the nodes outside
    the largest side also drop Toxiproxy, so clients lose them too — as in a real partition."""

    network = True

    def __init__(
        self,
        cluster: Cluster,
        shape: Shape,
        rng: random.Random | None = None,
        universe: Universe | None = None,
        cut_clients: bool = False,
    ) -> None:
        super().__init__()
        self.cluster = cluster
        self.shape = shape
        self.rng = rng or random.Random()
        self.universe = universe or (lambda: [n for n in cluster.nodes if n.status() == "running"])
        self.cut_clients = cut_clients
        self.name = f"partition-{getattr(shape, '__name__', 'shape')}"
        self.grudge: Grudge = {}
        self._touched: list[Node] = []

    def _apply(self) -> None:
        nodes = self.universe()
        by_name = {n.name: n for n in nodes}
        self.grudge = self.shape(sorted(by_name), self.rng)
        net = self.cluster.net
        ips = {name: net.ip(node) for name, node in by_name.items()}
        scripts: dict[Node, str] = {}
        for dropper, sources in self.grudge.items():
            rules = [_drop_rule(ips[src], mode) for src, mode in sources.items()]
            if rules:
                scripts[by_name[dropper]] = " && ".join(rules)
        if self.cut_clients:
            for node in self._minority(nodes):
                rule = _drop_rule(self.cluster.toxiproxy_ip(), ALL)
                scripts[node] = f"{scripts[node]} && {rule}" if node in scripts else rule
        self._touched = list(scripts)
        cut_off = [n.name for n in self._minority(nodes)]
        self.targets = sorted(cut_off or (n.name for n in scripts))
        net.run_all(scripts)

    def _minority(self, nodes: list[Node]) -> list[Node]:
        """Nodes that cannot see more than half of the cluster (the side clients lose)."""
        half = len(nodes) / 2
        return [n for n in nodes if len(nodes) - len(self.grudge.get(n.name, {})) <= half]

    def _heal(self) -> None:
        _flush_rules(self.cluster, self._touched)
        self._touched = []

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "grudge": self.grudge}


class PacketLoss(Fault):
    """Each target drops a random share of the packets it receives from the other nodes (iptables
    statistic), in both directions when every node is a target."""

    network = True

    def __init__(self, cluster: Cluster, target: Universe, probability: float) -> None:
        super().__init__()
        if not 0 < probability <= 1:
            raise ValueError("probability must be in (0, 1]")
        self.cluster = cluster
        self.target = target
        self.probability = probability
        self.name = f"packet-loss-{int(probability * 100)}pct"
        self._touched: list[Node] = []

    def _apply(self) -> None:
        net = self.cluster.net
        victims = self.target()
        others = [n for n in self.cluster.nodes if n.status() == "running"]
        scripts = {}
        for node in victims:
            loss = f"-m statistic --mode random --probability {self.probability} -j DROP"
            rules = [f"iptables -A {CHAIN} -s {net.ip(o)} {loss}" for o in others if o is not node]
            scripts[node] = " && ".join(rules)
        self._touched = list(scripts)
        self.targets = [n.name for n in scripts]
        net.run_all(scripts)

    def _heal(self) -> None:
        _flush_rules(self.cluster, self._touched)
        self._touched = []


class _QdiscFault(Fault):
    """A root qdisc on each target's interface, removed on heal."""

    qdisc = ""

    def __init__(self, cluster: Cluster, target: Universe) -> None:
        super().__init__()
        self.cluster = cluster
        self.target = target
        self._touched: list[Node] = []

    def _apply(self) -> None:
        nodes = self.target()
        self._touched = nodes
        self.targets = [n.name for n in nodes]
        self.cluster.net.run_all({n: f"tc qdisc replace dev eth0 root {self.qdisc}" for n in nodes})

    def _heal(self) -> None:
        self.cluster.net.run_all(
            {n: "tc qdisc del dev eth0 root 2>/dev/null || true" for n in self._touched if n.status() == "running"}
        )
        self._touched = []


class RateLimit(_QdiscFault):
    """Egress of each target limited to ``rate`` (tc tbf), e.g. ``"1mbit"``."""

    def __init__(self, cluster: Cluster, target: Universe, rate: str = "1mbit") -> None:
        super().__init__(cluster, target)
        self.name = f"rate-limit-{rate}"
        self.qdisc = f"tbf rate {rate} burst 32kbit latency 400ms"


class Delay(_QdiscFault):
    """Egress delay with jitter (netem). Raises :class:`NetemUnavailableError` where the kernel has no
    netem (as on this project's CI machines): the caller skips with that reason."""

    def __init__(self, cluster: Cluster, target: Universe, delay_ms: int = 100, jitter_ms: int = 20) -> None:
        super().__init__(cluster, target)
        self.name = f"delay-{delay_ms}ms"
        self.qdisc = f"netem delay {delay_ms}ms {jitter_ms}ms"


def netem_available(cluster: Cluster) -> tuple[bool, str]:
    """Probe one running node: can a netem qdisc be added (and removed) there?"""
    node = next(n for n in cluster.nodes if n.status() == "running")
    try:
        cluster.net.run(node, "tc qdisc replace dev eth0 root netem delay 0ms && tc qdisc del dev eth0 root")
    except NetemUnavailableError as exc:
        return False, str(exc)
    return True, ""


class ReplicationCut(Fault):
    """Each receiver drops what the senders send to its replication port: followers stop copying from
    the leader while every node stays a member, votes and heartbeats (e.g. Kafka's ISR shrinks to the
    leader while the controllers still see every broker alive)."""

    network = True

    def __init__(self, cluster: Cluster, receivers: Universe, senders: Universe) -> None:
        super().__init__()
        if cluster.replication_port is None:
            raise ValueError(f"{cluster.broker} names no replication port")
        self.cluster = cluster
        self.receivers = receivers
        self.senders = senders
        self.name = "replication-cut"
        self._touched: list[Node] = []

    def _apply(self) -> None:
        net = self.cluster.net
        senders = self.senders()
        port = self.cluster.replication_port
        scripts = {}
        for node in self.receivers():
            rules = [
                f"iptables -A {CHAIN} -s {net.ip(s)} -p tcp --dport {port} -j DROP" for s in senders if s is not node
            ]
            if rules:
                scripts[node] = " && ".join(rules)
        self._touched = list(scripts)
        self.targets = sorted(s.name for s in senders)
        net.run_all(scripts)

    def _heal(self) -> None:
        _flush_rules(self.cluster, self._touched)
        self._touched = []
