"""Redis primary + replicas + Sentinels, every node reached through its own proxy.

Nodes announce host names (``replica-announce-ip``, Sentinel ``announce-hostnames``) rather than IPs,
because a restarted container may get a new address; :meth:`RedisSentinelCluster.current_primary` maps
the Sentinels' answer back to a :class:`~chaos.cluster.node.Node` and so to its proxy on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaos.cluster.base import Cluster, NotReady, PlannedNode
from chaos.cluster.node import Endpoint, Node, NodeSpec
from chaos.errors import ClusterNotReadyError, UsageError

REDIS_PORT = 6379
SENTINEL_PORT = 26379
MASTER_NAME = "mymaster"
FSYNC_MODES = ("always", "everysec", "no")


@dataclass(frozen=True)
class RedisPersistence:
    """Durability settings: the knobs catalogue rows S1/S2 turn (``appendonly``, ``appendfsync``)."""

    appendonly: bool = True
    appendfsync: str = "always"
    save: str = ""  # RDB snapshots, e.g. "60 1000"; "" disables them

    def __post_init__(self) -> None:
        if self.appendfsync not in FSYNC_MODES:
            raise UsageError(f"appendfsync must be one of {', '.join(FSYNC_MODES)} (got {self.appendfsync!r})")

    def config(self) -> dict[str, str]:
        return {
            "appendonly": "yes" if self.appendonly else "no",
            "appendfsync": self.appendfsync,
            "save": f'"{self.save}"' if self.save == "" else self.save,
        }


def _conf(settings: dict[str, str]) -> str:
    return "".join(f"{key} {value}\n" for key, value in settings.items())


class RedisSentinelCluster(Cluster):
    """``replicas`` replicas follow ``redis-1``; ``sentinels`` Sentinels watch them with quorum 2."""

    broker = "redis"
    ready_timeout = 30.0
    single_node: ClassVar[dict[str, object]] = {"replicas": 0, "sentinels": 1}
    leader_role = "primary"
    follower_role = "replica"

    def __init__(
        self,
        *args: Any,
        persistence: RedisPersistence | None = None,
        replicas: int = 2,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
        extra_config: dict[str, str] | None = None,
        maxmemory: str = "256mb",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.persistence = persistence or RedisPersistence()
        self.replicas = replicas
        self.sentinels = sentinels
        self.quorum = sentinels // 2 + 1
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.extra_config = extra_config or {}
        self.maxmemory = maxmemory
        self._server = self.image_spec.extras.get("server", "redis-server")
        # a Sentinel's failover of a primary that is up takes a few seconds
        self.handover_timeout_s = 60.0

    # topology ------------------------------------------------------------------------------------
    @property
    def data_names(self) -> list[str]:
        return [f"{self.broker}-{i}" for i in range(1, self.replicas + 2)]

    @property
    def sentinel_names(self) -> list[str]:
        return [f"sentinel-{i}" for i in range(1, self.sentinels + 1)]

    def planned_nodes(self) -> list[PlannedNode]:
        data = [PlannedNode(name, "data", REDIS_PORT) for name in self.data_names]
        watchers = [PlannedNode(name, "sentinel", SENTINEL_PORT) for name in self.sentinel_names]
        return data + watchers

    def node_specs(self, endpoints: dict[str, Endpoint]) -> list[NodeSpec]:
        data_dir = self.image_spec.data_dir
        first = self.data_names[0]
        specs = []
        for name in self.data_names:
            settings = {
                "port": str(REDIS_PORT),
                "bind": "0.0.0.0",
                "protected-mode": "no",
                "dir": data_dir,
                "repl-diskless-sync": "yes",
                "repl-diskless-sync-delay": "0",
                "replica-announce-ip": name,
                "maxmemory": self.maxmemory,
                "maxmemory-policy": "noeviction",
                **self.persistence.config(),
                **self.extra_config,
            }
            if name != first:
                settings["replicaof"] = f"{first} {REDIS_PORT}"
            conf = f"{data_dir}/brokerchaos-{name}.conf"
            specs.append(self._spec(name, "data", [self._server, conf], {conf: _conf(settings)}))
        for name in self.sentinel_names:
            conf = f"{data_dir}/sentinel.conf"
            text = _conf(
                {
                    "port": str(SENTINEL_PORT),
                    "dir": data_dir,
                    "sentinel resolve-hostnames": "yes",
                    "sentinel announce-hostnames": "yes",
                    "sentinel announce-ip": name,
                    f"sentinel monitor {MASTER_NAME}": f"{first} {REDIS_PORT} {self.quorum}",
                    f"sentinel down-after-milliseconds {MASTER_NAME}": str(self.down_after_ms),
                    f"sentinel failover-timeout {MASTER_NAME}": str(self.failover_timeout_ms),
                    f"sentinel parallel-syncs {MASTER_NAME}": "1",
                }
            )
            specs.append(self._spec(name, "sentinel", [self._server, conf, "--sentinel"], {conf: text}))
        return specs

    def _spec(self, name: str, role: str, command: list[str], files: dict[str, str]) -> NodeSpec:
        port = REDIS_PORT if role == "data" else SENTINEL_PORT
        return NodeSpec(
            name=name,
            role=role,
            image=self.image.ref,
            command=command,
            user=self.image_spec.user,
            files=files,
            client_port=port,
            mem_limit="384m" if role == "data" else "64m",
            wave=0 if role == "data" else 1,  # Sentinels resolve the data nodes' names at start
        )

    # rolling upgrades ----------------------------------------------------------------------------
    def on_image_changed(self) -> None:
        self._server = self.image_spec.extras.get("server", "redis-server")

    def upgrade_order(self) -> list[Node]:
        """Replicas first, the primary last (a newer replica can follow an older primary, not the
        reverse): the Sentinels then promote an upgraded replica (:meth:`hand_over`)."""
        try:
            primary = self.current_primary()
        except LookupError:
            return list(self.data_nodes)
        return [n for n in self.data_nodes if n is not primary] + [primary]

    def replace_node(self, node: Node, stop_timeout: int = 30) -> Node:
        """Every node comes back as a replica of the primary the Sentinels name; the primary is handed
        over first (:meth:`hand_over`)."""
        primary = self.current_primary()
        if node is primary:
            primary = self.hand_over(node, self.handover_timeout_s)
        node.stop(stop_timeout)
        return self.recreate_node(node, ("--replicaof", primary.name, str(REDIS_PORT)))

    def hand_over(self, primary: Node, timeout: float) -> Node:
        """Make a replica primary while ``primary`` still runs, losing no acknowledged write: pause its
        writes, wait for the replicas to hold everything it has, and have a Sentinel fail over
        (SENTINEL FAILOVER). Returns the new primary; the old one stays paused until it is stopped, so
        nothing is written there after the promotion (its paused writers are cut off unexecuted).

        Why not simpler: started again at once after a stop, the old primary raced the Sentinels'
        failover and, one of two primaries for ~10 s, took writes the resync discarded (CI, session 9).
        Stopped until the Sentinels promote, it is never replaced: a stopped container's name no longer
        resolves, and Sentinels with ``resolve-hostnames`` then never agree that the primary is down
        (seen here on both upgrade paths; redis/redis#12753)."""
        deadline = time.monotonic() + timeout
        with self.client(primary, timeout=2.0) as conn:
            conn.execute_command("CLIENT", "PAUSE", str(int(timeout * 1000)), "WRITE")
            target = int(conn.info("replication").get("master_repl_offset", 0))
        try:
            self._wait_replicas_reach(primary, target, deadline)
            with self.client(self.sentinel_nodes[0], timeout=2.0) as conn:
                conn.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
            return self._wait_for_successor(primary, deadline - time.monotonic())
        except BaseException:  # no hand-over: the primary takes writes again (the pause would end by itself)
            with contextlib.suppress(redis.RedisError, OSError), self.client(primary, timeout=2.0) as conn:
                conn.execute_command("CLIENT", "UNPAUSE")
            raise

    def _wait_for_successor(self, old: Node, timeout: float) -> Node:
        """The replica the Sentinel majority names as primary instead of ``old``, once it says so itself."""
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            try:
                candidate = self.current_primary()
            except LookupError as exc:
                seen = str(exc)
            else:
                seen = f"the Sentinels name {candidate.name}"
                if candidate is not old and self.role_of(candidate) == "master":
                    return candidate
            time.sleep(0.25)
        sentinel = self.sentinel_nodes[0]
        what = f"promoted no replica of {old.name} in {timeout:.0f} s ({seen})"
        raise ClusterNotReadyError(self._not_ready_message(sentinel.name, what, sentinel))

    def wait_caught_up(self, timeout: float) -> None:
        """Healthy (Sentinels agree on one primary) and every replica's link up with the offset the
        primary had when we started waiting."""
        deadline = time.monotonic() + timeout
        self.wait_ready(timeout, repair=True)
        primary = self.current_primary()
        with self.client(primary, timeout=2.0) as conn:
            target = int(conn.info("replication").get("master_repl_offset", 0))
        self._wait_replicas_reach(primary, target, deadline)

    def _wait_replicas_reach(self, primary: Node, offset: int, deadline: float) -> None:
        """Every replica of ``primary`` linked and at ``offset`` or past it, by ``deadline``."""
        lagging = [n for n in self.data_nodes if n is not primary]
        while lagging and time.monotonic() < deadline:
            lagging = [n for n in lagging if not self._replica_reached(n, offset)]
            if lagging:
                time.sleep(0.1)
        if lagging:
            raise ClusterNotReadyError(f"{self.name}: {lagging[0].name} did not catch up with {primary.name}")

    def _replica_reached(self, node: Node, offset: int) -> bool:
        try:
            with self.client(node, timeout=1.0) as conn:
                info = conn.info("replication")
        except (redis.RedisError, OSError):
            return False
        return info.get("master_link_status") == "up" and int(info.get("slave_repl_offset", -1)) >= offset

    def settings_snapshot(self) -> dict[str, str]:
        try:
            with self.client(self.current_primary(), timeout=2.0) as conn:
                return {str(k): str(v) for k, v in sorted(conn.config_get("*").items())}
        except (redis.RedisError, OSError, LookupError):
            return {}

    # clients ---------------------------------------------------------------------------------------
    def client(self, node: Node, *, retries: int = 0, timeout: float = 2.0, **kwargs: Any) -> redis.Redis:
        """A redis-py client through ``node``'s proxy. Retries default to 0: redis-py resends a command
        whose connection failed after it was sent, so a retried XADD may be applied twice; a workload
        sets them deliberately."""
        assert node.endpoint is not None, f"{node.name} has no proxy"
        return redis.Redis(
            host=node.endpoint.host,
            port=node.endpoint.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), retries),
            decode_responses=True,
            **kwargs,
        )

    def direct_client(self, node: Node, timeout: float = 1.0) -> redis.Redis | None:
        """A client straight to the node's container address, around Toxiproxy: an observer's view, not a
        client's (a proxy fault must not blind the monitoring). None when the node has no address now."""
        ip = node.ip(self.network_name) if node.status() == "running" else None
        if ip is None:
            return None
        return redis.Redis(host=ip, port=REDIS_PORT, socket_timeout=timeout, socket_connect_timeout=timeout)

    @property
    def data_nodes(self) -> list[Node]:
        return self.nodes_with_role("data")

    @property
    def sentinel_nodes(self) -> list[Node]:
        return self.nodes_with_role("sentinel")

    @property
    def members(self) -> list[Node]:
        return self.data_nodes

    def role_nodes(self, role: str, subject: str | None = None) -> list[Node]:
        """``primary`` (as the Sentinels say), ``replica``, ``sentinel``."""
        if role == "primary":
            return [self.current_primary()]
        if role == "replica":
            primary = self.current_primary()
            return [n for n in self.data_nodes if n is not primary]
        if role == "sentinel":
            return self.sentinel_nodes
        return super().role_nodes(role, subject)

    def node_for_address(self, host: str) -> Node:
        """Map an address a Sentinel or replica reports (host name or container IP) to our node."""
        for node in self.nodes:
            if host == node.name:
                return node
        for node in self.nodes:
            if self.network and node.status() == "running" and node.ip(self.network_name) == host:
                return node
        raise LookupError(f"no node of {self.name} has address {host}")

    def sentinel_view(self) -> dict[str, str | None]:
        """Each reachable Sentinel's idea of the primary (node name), None where it did not answer."""
        view: dict[str, str | None] = {}
        for sentinel in self.sentinel_nodes:
            try:
                with self.client(sentinel, timeout=1.0) as conn:
                    addr = conn.execute_command("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
                view[sentinel.name] = self.node_for_address(addr[0]).name if addr else None
            except (redis.RedisError, LookupError, OSError):
                view[sentinel.name] = None
        return view

    def current_primary(self) -> Node:
        """The primary the Sentinel majority names; raises LookupError when there is no majority."""
        votes = Counter(name for name in self.sentinel_view().values() if name)
        if not votes:
            raise LookupError(f"no Sentinel of {self.name} answered")
        name, count = votes.most_common(1)[0]
        if count < self.quorum:
            raise LookupError(f"Sentinels of {self.name} disagree on the primary: {dict(votes)}")
        return self.node(name)

    def role_of(self, node: Node) -> str:
        """What the node itself says: ``master``, ``slave``, or ``down``."""
        try:
            with self.client(node, timeout=1.0) as conn:
                return str(conn.execute_command("ROLE")[0])
        except (redis.RedisError, OSError):
            return "down"

    def before_wave(self, wave: int, deadline: float) -> None:
        """Start Sentinels only once every replica is attached: a Sentinel learns replicas from the
        primary's INFO every 10 s, so one started early can take that long to see them all."""
        primary = self.data_nodes[0]
        while time.monotonic() < deadline:
            try:
                with self.client(primary, timeout=1.0) as conn:
                    if conn.info("replication").get("connected_slaves", 0) >= self.replicas:
                        return
            except (redis.RedisError, OSError):
                pass
            time.sleep(0.05)

    def repair(self) -> None:
        """Demote a restarted stale primary at once (Sentinel would take ~10 s to do the same)."""
        try:
            primary = self.current_primary()
        except LookupError:
            return
        for node in self.data_nodes:
            if node is not primary and self.role_of(node) == "master":
                try:
                    with self.client(node, timeout=1.0) as conn:
                        conn.replicaof(primary.name, REDIS_PORT)
                except (redis.RedisError, OSError):
                    continue
                self.operator(f"REPLICAOF {primary.name}: demoted {node.name}, a stale primary", node.name)

    # readiness -------------------------------------------------------------------------------------
    def check_ready(self) -> None:
        infos: dict[str, dict[str, Any]] = {}
        for node in self.data_nodes:
            try:
                with self.client(node, timeout=1.0) as conn:
                    infos[node.name] = conn.info("replication")
            except (redis.RedisError, OSError) as exc:
                raise NotReady(node.name, f"does not answer: {exc}") from None
        primaries = [name for name, info in infos.items() if info.get("role") == "master"]
        if len(primaries) != 1:
            raise NotReady(primaries[0] if primaries else self.data_names[0], f"primaries: {primaries}")
        primary = primaries[0]
        if infos[primary].get("connected_slaves", 0) < self.replicas:
            raise NotReady(primary, f"only {infos[primary].get('connected_slaves')} replicas connected")
        for name, info in infos.items():
            if name != primary and info.get("master_link_status") != "up":
                raise NotReady(name, "replication link is not up")
        for sentinel in self.sentinel_nodes:
            self._check_sentinel(sentinel, primary)

    def _check_sentinel(self, sentinel: Node, primary: str) -> None:
        try:
            with self.client(sentinel, timeout=1.0) as conn:
                state = conn.sentinel_master(MASTER_NAME)
        except (redis.RedisError, OSError) as exc:
            raise NotReady(sentinel.name, f"does not answer: {exc}") from None
        if state.get("ip") != primary and self._safe_lookup(state.get("ip")) != primary:
            raise NotReady(sentinel.name, f"watches {state.get('ip')}, primary is {primary}")
        if state.get("num-other-sentinels", 0) < self.sentinels - 1:
            raise NotReady(sentinel.name, f"sees {state.get('num-other-sentinels')} other sentinels")
        if state.get("num-slaves", 0) < self.replicas:
            raise NotReady(sentinel.name, f"knows {state.get('num-slaves')} replicas")
        if state.get("is_odown") or state.get("is_sdown") or state.get("is_failover_in_progress"):
            raise NotReady(sentinel.name, "primary is down or a failover is in progress")

    def _safe_lookup(self, host: str | None) -> str | None:
        try:
            return self.node_for_address(host).name if host else None
        except LookupError:
            return None


class ValkeySentinelCluster(RedisSentinelCluster):
    """The same topology on Valkey (a Redis fork with the same protocol and configuration)."""

    broker = "valkey"
