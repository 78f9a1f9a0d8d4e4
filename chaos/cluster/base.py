"""A cluster of real broker nodes in containers, on its own Docker network, behind one Toxiproxy.

Each broker folder (``chaos/brokers/<broker>/cluster.py``) says *what* to run through three hooks:
:meth:`Cluster.planned_nodes`, :meth:`Cluster.node_specs` and :meth:`Cluster.check_ready`. This module
owns *how*: network, proxies, labels, start order, readiness with a deadline, per-test restore and
teardown that leaves nothing behind — on success, on an exception and on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

import docker
from docker.errors import APIError, NotFound
from docker.models.networks import Network

from chaos.cluster import syncjournal
from chaos.cluster.node import DockerContainer, Endpoint, Node, NodeSpec
from chaos.errors import BrokerChaosError, ClusterNotReadyError, PortTakenError, UsageError
from chaos.images import ImageResolver
from chaos.images.catalogue import ImageSpec
from chaos.net.helpers import NetHelpers
from chaos.net.toxiproxy import ProxyInfo, ToxiproxyClient
from chaos.resources import CLUSTER_LABEL, OWNER, OWNER_LABEL, RUN_LABEL, RunContext, current_run

log = logging.getLogger("brokerchaos.cluster")

TOXIPROXY_API_PORT = 8474
MAX_RESTARTS_WHILE_REPAIRING = 3
FIRST_PROXY_PORT = 20000


@dataclass(frozen=True)
class PlannedNode:
    """A node known before anything starts, so its proxy (and client address) can exist first."""

    name: str
    role: str
    client_port: int | None


@dataclass
class Platform:
    """What every cluster needs from the outside: the engine, images, and the run's identity."""

    client: docker.DockerClient
    images: ImageResolver
    run: RunContext

    @classmethod
    def default(cls, images: ImageResolver | None = None) -> Platform:
        from chaos.engine import engine
        from chaos.reaper import watch_run

        client = engine()
        platform = cls(client=client, images=images or ImageResolver(client), run=current_run())
        watch_run(platform)  # even a kill -9 of this process leaves nothing behind
        return platform


@dataclass(frozen=True)
class _NetworkRef:
    """Stands in for testcontainers' ``Network``: we create (and label) the network ourselves."""

    name: str


class NotReady(Exception):
    """Raised by :meth:`Cluster.check_ready` while a node is not ready yet.

    ``final``: the broker itself will not get out of this state (e.g. a partition whose only replica
    came back without its log, with every node up): once it has held for :data:`FINAL_AFTER_S`, waiting
    longer only delays the verdict, so readiness gives up then rather than at its deadline."""

    def __init__(self, node: str, reason: str, final: bool = False) -> None:
        super().__init__(f"{node}: {reason}")
        self.node = node
        self.reason = reason
        self.final = final


# How long a state the broker will not leave on its own (NotReady.final) must hold before readiness gives up.
FINAL_AFTER_S = 15.0


ERROR_LINE = re.compile(r"error|exception|invalid|fatal|failed|unknown", re.IGNORECASE)


def log_excerpt(text: str, causes: int = 6, tail: int = 12) -> str:
    """The first error-looking lines of the log's end (usually the cause) and then its last lines."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    last = lines[-tail:]
    first_errors = [line for line in lines[:-tail] if ERROR_LINE.search(line)][:causes]
    return "\n".join([*first_errors, *(["..."] if first_errors else []), *last])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def log_operator(action: str, node: str | None) -> None:
    """Where operator events go when no run records them."""
    log.warning("operator: %s", action)


class Cluster(ABC):
    """Base of the broker clusters; use as a context manager."""

    broker: ClassVar[str]
    ready_timeout: float = 90.0  # a broker class may set its own; a cluster may be given another
    # Constructor arguments for the one-node variant (a benchmark peer measured in the same run).
    single_node: ClassVar[dict[str, object]] = {}
    # Role names the fault families use for "the leader" and "a follower" (see role_nodes).
    leader_role: ClassVar[str] = "leader"
    follower_role: ClassVar[str] = "follower"
    # The port replicas copy data over (a replication-only cut leaves membership and votes alone).
    replication_port: ClassVar[int | None] = None
    # Files the broker rewrites in place (file-name patterns): a power loss keeps them whole, see
    # chaos.cluster.syncjournal (cutting them back is only one of the outcomes a real crash allows).
    rewritten_in_place: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        platform: Platform | None = None,
        *,
        version: str | None = None,
        name: str | None = None,
        proxy_base_port: int | None = None,
        ready_timeout: float | None = None,
        image: str | None = None,
    ) -> None:
        self.platform = platform or Platform.default()
        # ``image``: a team's own image of this broker version (derived from ours: same user, data
        # directory and binaries), instead of the catalogue's.
        self.image = (
            self.platform.images.resolve_own(image, self.broker, version)
            if image
            else self.platform.images.resolve(self.broker, version)
        )
        self.version = self.image.spec.version
        self.name = name or self.broker
        self.proxy_base_port = proxy_base_port
        if ready_timeout is not None:
            self.ready_timeout = ready_timeout
        self.nodes: list[Node] = []
        self._endpoints: dict[str, Endpoint] = {}
        self.network: Network | None = None
        self.toxiproxy: ToxiproxyClient | None = None
        self._toxiproxy_container: DockerContainer | None = None
        self._net: NetHelpers | None = None
        self.started_in: float | None = None
        self.upgraded = False  # a rolling upgrade replaced its nodes: not the version it started as
        # Nodes record what they fsync (the syncjournal shim), so a power loss can drop the rest.
        # Set before start() when the profile draws a power-loss fault.
        self.track_syncs = False
        # With track_syncs: each fsync the shim journals first waits this long (a busy disk).
        self.sync_delay_ms = 0
        # Told of every repair the harness makes (restart a node, end a split brain...): an operator
        # event in the history, so recovery is judged on what the cluster did before it.
        self.on_operator: Callable[[str, str | None], None] = log_operator
        # The runs in progress on this cluster, each told of every repair too: two runs may share it at
        # once (a catalogue row and its twin under faults on their own clients), and a repair of the
        # cluster they share is an operator event in both histories.
        self.operator_listeners: list[Callable[[str, str | None], None]] = []
        # held while a run restores the cluster after its faults: two runs sharing it must not both
        # repair one node
        self.restoring = threading.Lock()

    # hooks for the broker folders ---------------------------------------------------------------
    @abstractmethod
    def planned_nodes(self) -> list[PlannedNode]:
        """Every node, in start order, with the container port clients use (None: no proxy)."""

    @abstractmethod
    def node_specs(self, endpoints: dict[str, Endpoint]) -> list[NodeSpec]:
        """Full specs once each node's client address (its proxy on 127.0.0.1) is known."""

    @abstractmethod
    def check_ready(self) -> None:
        """Return when the cluster serves clients; raise :class:`NotReady` naming the node otherwise."""

    def before_wave(self, wave: int, deadline: float) -> None:  # noqa: B027 - optional hook
        """Wait, until ``deadline``, for what nodes of ``wave`` need from earlier waves."""

    @property
    def members(self) -> list[Node]:
        """The nodes that hold data and vote (what "a minority" or "a majority" is counted over)."""
        return list(self.nodes)

    def role_nodes(self, role: str, subject: str | None = None) -> list[Node]:
        """Nodes playing ``role`` now (e.g. the leader of ``subject``); broker folders override this."""
        if role == "any":
            return list(self.nodes)
        raise UsageError(f"{self.broker} has no role {role!r}")

    def force_election(self, subject: str) -> None:
        """The operator's break-glass: make any live replica of ``subject`` its leader, in sync or not
        (what a team does to restore service when the in-sync ones are gone for good)."""
        raise UsageError(f"{self.broker} has no forced leader election")

    def partition_settle_s(self) -> float:
        """How long after a network fault healed the nodes may still notice it (and act on it): ready
        earlier is not ready yet. 0 where a broker notices at once or not at all."""
        return 0.0

    def repair(self) -> None:  # noqa: B027 - optional hook
        """Nudge a restarted cluster back to health faster than it would heal alone (per-test reset).
        Report each thing done with :meth:`operator`."""

    def operator(self, action: str, node: str | None = None) -> None:
        """The harness helped the cluster: ``action`` (e.g. "started rabbitmq-2 (exited)")."""
        self.on_operator(action, node)
        for listener in list(self.operator_listeners):
            listener(action, node)

    def after_ready(self) -> None:  # noqa: B027 - optional hook
        """Work that must wait for a formed cluster (e.g. enabling management plugins)."""

    # names and labels ----------------------------------------------------------------------------
    @property
    def image_spec(self) -> ImageSpec:
        return self.image.spec

    @property
    def network_name(self) -> str:
        return f"bc-{self.platform.run.run_id[-6:]}-{self.name}"

    def _container_name(self, node: str) -> str:
        return f"{self.network_name}-{node}"

    def _labels(self, role: str, node: str = "") -> dict[str, str]:
        extra = {"node": node} if node else {}
        return self.platform.run.labels(cluster=self.name, role=role, broker=self.broker, **extra)

    @property
    def net(self) -> NetHelpers:
        """Helpers in the nodes' network namespaces (iptables, tc), created on first use."""
        if self._net is None:
            image = self.platform.images.resolve("netutils").ref
            self._net = NetHelpers(self.platform.client, image, self.network_name, self._labels)
        return self._net

    def toxiproxy_ip(self) -> str:
        """Toxiproxy's address on the cluster network: client traffic reaches nodes from there."""
        wrapped = self.platform.client.containers.get(self._container_name("toxiproxy"))
        return str(wrapped.attrs["NetworkSettings"]["Networks"][self.network_name]["IPAddress"])

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"{self.name} has no node {name!r} (nodes: {', '.join(n.name for n in self.nodes)})")

    def nodes_with_role(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    # lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def start(self) -> None:
        """Bring the whole cluster up; on any failure (or Ctrl-C) remove what was created, then raise."""
        began = time.monotonic()
        try:
            # Every image a run may need, before anything starts: an image built mid-run (the network
            # helpers' on the first partition) would run unlabelled build containers during a fault.
            self.platform.images.resolve("netutils")
            planned = self.planned_nodes()
            self._check_ports(len(planned))
            self._create_network()
            endpoints = self._start_toxiproxy(planned)
            self._start_nodes(self.node_specs(endpoints), endpoints)
            self.wait_ready(self.ready_timeout)
            self.after_ready()
        except BaseException:
            self.destroy()
            raise
        self.started_in = time.monotonic() - began
        log.info("%s %s cluster ready in %.1f s (%s)", self.broker, self.version, self.started_in, self.image.ref)

    def _check_ports(self, count: int) -> None:
        if self.proxy_base_port is None:
            return
        wanted = [self.proxy_base_port + i for i in range(count)]
        taken = [p for p in wanted if not port_is_free(p)]
        if taken:
            raise PortTakenError(
                f"port {taken[0]} on 127.0.0.1 is already in use; choose another --proxy-base-port or free it"
            )

    def _create_network(self) -> None:
        client = self.platform.client
        self.network = client.networks.create(
            self.network_name, driver="bridge", labels=self._labels("network"), check_duplicate=True
        )

    def _start_toxiproxy(self, planned: list[PlannedNode]) -> dict[str, Endpoint]:
        image = self.platform.images.resolve("toxiproxy")
        proxied = [p for p in planned if p.client_port is not None]
        container = DockerContainer(
            image.ref,
            name=self._container_name("toxiproxy"),
            labels=self._labels("toxiproxy"),
            mem_limit="128m",
        )
        container.with_network(_NetworkRef(self.network_name))  # type: ignore[arg-type]
        # Published on loopback only; docker-py reads (ip, None) as "any free port".
        container.ports[f"{TOXIPROXY_API_PORT}/tcp"] = ("127.0.0.1", None)  # type: ignore[assignment]
        for index, _ in enumerate(proxied):
            host_port = None if self.proxy_base_port is None else self.proxy_base_port + index
            container.ports[f"{FIRST_PROXY_PORT + index}/tcp"] = ("127.0.0.1", host_port)  # type: ignore[assignment]
        self._toxiproxy_container = container
        try:
            container.start()
        except APIError as exc:
            if "port is already allocated" in str(exc) or "address already in use" in str(exc):
                raise PortTakenError(f"a proxy port on 127.0.0.1 is already in use: {exc.explanation}") from None
            raise
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        ports = wrapped.attrs["NetworkSettings"]["Ports"]

        def host_port_of(container_port: int) -> int:
            return int(ports[f"{container_port}/tcp"][0]["HostPort"])

        self.toxiproxy = ToxiproxyClient(f"http://127.0.0.1:{host_port_of(TOXIPROXY_API_PORT)}")
        self._wait_toxiproxy()
        infos = [
            ProxyInfo(name=p.name, listen=f"0.0.0.0:{FIRST_PROXY_PORT + i}", upstream=f"{p.name}:{p.client_port}")
            for i, p in enumerate(proxied)
        ]
        self.toxiproxy.populate(infos)
        return {
            p.name: Endpoint(proxy=p.name, host="127.0.0.1", port=host_port_of(FIRST_PROXY_PORT + i))
            for i, p in enumerate(proxied)
        }

    def _wait_toxiproxy(self, timeout: float = 15.0) -> None:
        assert self.toxiproxy is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.toxiproxy.version()
                return
            except BrokerChaosError:
                if time.monotonic() > deadline:
                    raise ClusterNotReadyError(
                        f"{self.name}: toxiproxy did not answer within {timeout:.0f} s"
                    ) from None
                time.sleep(0.1)

    def _start_nodes(self, specs: list[NodeSpec], endpoints: dict[str, Endpoint]) -> None:
        """Start nodes wave by wave (``NodeSpec.wave``), the nodes of one wave concurrently.

        On Ctrl-C the pool is drained before the caller tears down, so no container is created after
        the teardown has listed what to remove.
        """
        for wave in sorted({s.wave for s in specs}):
            if wave > 0:
                self.before_wave(wave, time.monotonic() + self.ready_timeout)
            members = [s for s in specs if s.wave == wave]
            self._endpoints.update(endpoints)
            nodes = [self._prepare_node(s, endpoints.get(s.name)) for s in members]
            self.nodes.extend(nodes)
            pool = ThreadPoolExecutor(max_workers=len(nodes), thread_name_prefix=f"start-{self.name}")
            try:
                for future in [pool.submit(n.create_and_start) for n in nodes]:
                    future.result()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def _data_volume(self, node: str) -> str:
        """The node's data directory lives in a named, labelled volume: a replacement container (a rolling
        upgrade) finds the data where the old one left it; ``destroy`` and ``cleanup`` remove it."""
        name = f"{self._container_name(node)}-data"
        client = self.platform.client
        try:
            client.volumes.get(name)
        except NotFound:
            client.volumes.create(name, labels=self._labels("data", node))
        return name

    def _prepare_node(self, spec: NodeSpec, endpoint: Endpoint | None, keep_data: bool = False) -> Node:
        """A node's container, not started. ``keep_data``: the volume already holds the node's data
        directory, and config files the broker rewrites there (Redis, Sentinel) are not overwritten."""
        data_dir = self.image_spec.data_dir
        env = {**spec.env, **syncjournal.node_env(self.sync_delay_ms)} if self.track_syncs else spec.env
        container = DockerContainer(
            spec.image,
            command=spec.command,  # type: ignore[arg-type]  # docker-py takes a list; testcontainers says str
            env=env,
            name=self._container_name(spec.name),
            labels=self._labels(spec.role, spec.name),
            hostname=spec.name,
            user=spec.user,
            mem_limit=spec.mem_limit,
            cap_add=spec.cap_add or None,
            # Explicit commands, not the official images' entrypoint scripts: one path for both image kinds.
            entrypoint=["/usr/bin/env"],
        )
        container.with_network(_NetworkRef(self.network_name))  # type: ignore[arg-type]
        container.with_network_aliases(spec.name)
        container.with_volume_mapping(self._data_volume(spec.name), data_dir, "rw")
        for path, text in spec.files.items():
            if keep_data and self._in_data_dir(path):
                continue
            container.with_copy_into_container(text.encode(), path, 0o666)
        if self.track_syncs:
            container.with_copy_into_container(syncjournal.library(), syncjournal.LIBRARY_IN_NODE, 0o755)
        return Node(spec, container, endpoint)

    def wipe_data(self, node: Node) -> None:
        """Erase a stopped node's data directory (its disk died), keeping the config files we wrote
        there: it restarts as a blank member of the cluster."""
        self._on_data_volume(node, f"find {self.image_spec.data_dir} -mindepth 1 -delete", "wipe")
        for path, text in node.spec.files.items():
            if self._in_data_dir(path):
                node.put_file(path, text)

    def sync_journal_problem(self, node: Node) -> str:
        """Why ``node``'s fsyncs are not being journalled ("" when they are): a cluster started without
        ``track_syncs``, or a broker process that did not load the shim (e.g. a musl-based image)."""
        if not self.track_syncs:
            return "the cluster was not started with the fsync journal (track_syncs)"
        if node.status() != "running":
            return f"{node.name} is not running"
        # The probe runs without the shim (so only the broker's processes can name it) and as the broker's
        # own user: a container's root may not read another user's memory maps.
        probe = f"grep -ls {syncjournal.LIBRARY_NAME} /proc/[0-9]*/maps"
        user = node.spec.user or "0"
        result = node.container.exec_run(["sh", "-c", probe], user=user, environment={"LD_PRELOAD": ""})
        if not result.output.strip():
            return f"no process on {node.name} loaded the fsync journal shim ({syncjournal.LIBRARY_IN_NODE})"
        return ""

    def drop_unsynced(self, node: Node) -> syncjournal.Unsynced:
        """A killed node's power loss: cut each file it synced back to its size at the last fsync (see
        :mod:`chaos.cluster.syncjournal`). Returns the bytes dropped per file, and the files kept whole
        because the node never synced them."""
        return self._unsynced(node, cut=True)

    def measure_unsynced(self, node: Node) -> syncjournal.Unsynced:
        """What a power loss would drop from ``node`` now; nothing is cut. On a killed node the tails are
        what the kill kept although the broker never made them durable (the page cache survives)."""
        return self._unsynced(node, cut=False)

    def _unsynced(self, node: Node, *, cut: bool) -> syncjournal.Unsynced:
        purpose = "power-loss" if cut else "measure-unsynced"
        if not self.track_syncs:
            raise BrokerChaosError(f"{purpose} needs a cluster started with track_syncs = True")
        journal = syncjournal.read_journal(node.container)
        data_dir = self.image_spec.data_dir
        cuts = syncjournal.unsynced_tails(journal.sizes, data_dir, self.rewritten_in_place)
        # listed after the cuts: the sizes a restart starts from
        script = syncjournal.cut_script(cuts, measure_only=not cut) + "\n" + syncjournal.listing_script(data_dir)
        output = self._on_data_volume(node, script, purpose)
        tails = syncjournal.parse_cuts(output)
        # config files this harness wrote before the broker started are provisioning, not the broker's writes
        files = {p: f for p, f in syncjournal.parse_listing(output).items() if p not in node.spec.files}
        return syncjournal.Unsynced(tails, syncjournal.never_synced(files, journal, self.rewritten_in_place))

    def _on_data_volume(self, node: Node, script: str, purpose: str) -> str:
        """Run ``script`` as root in a labelled helper container (the cluster's image) that mounts the
        node's data volume where the node does; returns its output. The node itself may be down."""
        output = self.platform.client.containers.run(
            self.image.ref,
            ["sh", "-c", script],
            entrypoint=["/usr/bin/env"],
            user="0:0",
            volumes={self._data_volume(node.name): {"bind": self.image_spec.data_dir, "mode": "rw"}},
            labels=self._labels(purpose, node.name),
            remove=True,
        )
        return bytes(output).decode(errors="replace")

    def restart_blank(self, node: Node) -> None:
        """Start a node whose disk was erased. Brokers that refuse a blank member under an old name
        first make the cluster forget it (the operator's node-replacement procedure)."""
        node.ensure_running()

    def _in_data_dir(self, path: str) -> bool:
        """Whether a config file we write lives on the node's data volume (Redis and Sentinel confs do)."""
        return path.startswith(self.image_spec.data_dir.rstrip("/") + "/")

    # rolling upgrades ----------------------------------------------------------------------------
    def switch_image(self, image: str, version: str) -> None:
        """Nodes (re)created from now on run ``image:version``; nodes already running are untouched."""
        self.image = self.platform.images.resolve(image, version)
        self.version = self.image.spec.version
        self.on_image_changed()

    def on_image_changed(self) -> None:  # noqa: B027 - optional hook
        """Recompute whatever a subclass derived from the image (e.g. the server binary's name)."""

    def replace_node(self, node: Node, stop_timeout: int = 30) -> Node:
        """One step of a rolling upgrade: stop ``node`` cleanly, remove its container but keep its data
        volume, and start the same node (name, network alias, proxy) from the current image."""
        node.stop(stop_timeout)
        return self.recreate_node(node)

    def recreate_node(self, node: Node, extra_args: tuple[str, ...] = ()) -> Node:
        """Replace stopped ``node``'s container with a new one from the current image on the same data
        volume, started with ``extra_args`` after its command."""
        spec = next(s for s in self.node_specs(dict(self._endpoints)) if s.name == node.name)
        spec.command = [*spec.command, *extra_args]
        node.container.remove(force=True)
        fresh = self._prepare_node(spec, node.endpoint, keep_data=True)
        self.nodes[self.nodes.index(node)] = fresh
        fresh.create_and_start()
        return fresh

    def upgrade_order(self) -> list[Node]:
        """The order a rolling upgrade replaces nodes in (brokers refine it: followers before leaders)."""
        return list(self.members)

    def wait_caught_up(self, timeout: float) -> None:
        """After a node was replaced: healthy, and (brokers refine it) its replicas caught up."""
        self.wait_ready(timeout, repair=True)

    def finalize_upgrade(self) -> None:  # noqa: B027 - optional hook
        """After every node runs the new version (e.g. Kafka's metadata.version bump)."""

    def settings_snapshot(self) -> dict[str, str]:
        """The broker's effective settings (defaults included) as it reports them, for drift between
        versions. Empty where the broker cannot tell."""
        return {}

    def wait_ready(self, timeout: float, repair: bool = False, stable_s: float = 0.0) -> None:
        """Poll :meth:`check_ready` until it passes — and keeps passing for ``stable_s`` (a partition a node
        notices only after it healed makes a cluster that looked ready split a few seconds later); a
        node that exits or a deadline ends it with its log."""
        deadline = time.monotonic() + timeout + stable_s
        last: NotReady | None = None
        restarts: dict[str, int] = {}
        ready_since: float | None = None
        final_since: float | None = None
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.status() in ("exited", "dead"):
                    # Recovering from a fault, nodes booting together may trip over each other (RabbitMQ:
                    # node_not_running while its peers start): start it again, a few times at most.
                    if repair and restarts.get(node.name, 0) < MAX_RESTARTS_WHILE_REPAIRING:
                        restarts[node.name] = restarts.get(node.name, 0) + 1
                        log.warning("%s exited while the cluster recovers: starting it again", node.name)
                        node.start()
                        self.operator(f"started {node.name} again (it exited while the cluster recovered)", node.name)
                        continue
                    raise ClusterNotReadyError(self._not_ready_message(node.name, "its process exited", node))
            try:
                if repair:
                    self.repair()
                self.check_ready()
                ready_since = ready_since or time.monotonic()
                if time.monotonic() - ready_since >= stable_s:
                    return
            except NotReady as exc:
                same = last is not None and last.final and exc.final and last.reason == exc.reason
                last, ready_since = exc, None
                final_since = (final_since if same else time.monotonic()) if exc.final else None
                if final_since is not None and time.monotonic() - final_since >= FINAL_AFTER_S:
                    what = f"will not recover on its own (for {FINAL_AFTER_S:.0f} s): {exc.reason}"
                    culprit = next((n for n in self.nodes if n.name == exc.node), None)
                    raise ClusterNotReadyError(self._not_ready_message(exc.node, what, culprit)) from None
            time.sleep(0.25)
        node_name = last.node if last else self.nodes[0].name
        reason = last.reason if last else "never answered"
        culprit = next((n for n in self.nodes if n.name == node_name), None)
        raise ClusterNotReadyError(
            self._not_ready_message(node_name, f"not ready after {timeout:.0f} s: {reason}", culprit)
        )

    def save_logs(self, directory: Path) -> list[Path]:
        """Every node's whole log (and Toxiproxy's) into ``directory``: the evidence of an example that
        did not pass, kept with it. Never fails the run."""
        saved = []
        try:
            directory.mkdir(parents=True, exist_ok=True)
            containers = [(n.name, n.container) for n in self.nodes]
            if self._toxiproxy_container is not None:
                containers.append(("toxiproxy", self._toxiproxy_container.get_wrapped_container()))
            for name, container in containers:
                path = directory / f"{name}.log"
                try:
                    path.write_bytes(container.logs(timestamps=True))
                except (APIError, NotFound) as exc:
                    path.write_text(f"<no log: {exc}>\n")
                saved.append(path)
        except Exception as exc:  # evidence is best effort
            log.warning("could not save the nodes' logs into %s: %r", directory, exc)
        return saved

    def _not_ready_message(self, node: str, what: str, culprit: Node | None) -> str:
        excerpt = log_excerpt(culprit.logs(tail=300)) if culprit else ""
        return f"{self.broker} cluster {self.name!r}: node {node} {what}\n--- last lines of {node}'s log ---\n{excerpt}"

    def restore(self, timeout: float | None = None, stable_s: float = 0.0) -> float:
        """Per-test reset: remove toxics, re-enable proxies, thaw/start every node, wait until healthy
        (and, with ``stable_s``, healthy for that long). Everything it finds to undo (a fault not healed,
        a node down) is an operator event."""
        began = time.monotonic()
        if self.toxiproxy is not None:
            left = {name: p for name, p in self.toxiproxy.proxies().items() if p.toxics or not p.enabled}
            if left:
                self.toxiproxy.reset()
                self.operator(f"reset toxiproxy (toxics or disabled proxies left on {', '.join(sorted(left))})")
        if self._net is not None:
            for name, rules in self._net.heal_everything([n for n in self.nodes if n.status() == "running"]).items():
                self.operator(f"flushed {rules} network rule(s) left on {name}", name)
        for node in self.nodes:
            action = node.ensure_running()
            if action:
                self.operator(action, node.name)
        self.wait_ready(timeout or self.ready_timeout, repair=True, stable_s=stable_s)
        return time.monotonic() - began

    def destroy(self) -> None:
        """Remove every container and the network of this cluster (by label, so partial starts too)."""
        client = self.platform.client
        if self._net is not None:
            self._net.close()
            self._net = None
        selector = {
            "label": [
                f"{OWNER_LABEL}={OWNER}",
                f"{RUN_LABEL}={self.platform.run.run_id}",
                f"{CLUSTER_LABEL}={self.name}",
            ]
        }
        for container in client.containers.list(all=True, filters=selector, ignore_removed=True):
            with contextlib.suppress(NotFound):
                container.remove(force=True, v=True)
        for network in client.networks.list(filters=selector):
            try:
                network.remove()
            except (NotFound, APIError) as exc:
                log.warning("could not remove network %s: %s", network.name, exc)
        for volume in client.volumes.list(filters=selector):
            try:
                volume.remove(force=True)
            except (NotFound, APIError) as exc:
                log.warning("could not remove volume %s: %s", volume.name, exc)
        self.nodes.clear()
        self.network = None
