"""RabbitMQ: three nodes formed into one cluster by classic-config peer discovery.

The nodes share a random Erlang cookie and a random administrator (the default ``guest`` is never
used). Management is enabled only after the cluster formed, because it slows joins. Clients reach the
nodes only through their proxies; any node's proxy serves any queue.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pika
import pika.exceptions
from pika.adapters.utils.connection_workflow import AMQPConnectorException

from chaos.cluster.base import Cluster, NotReady, PlannedNode
from chaos.cluster.node import Endpoint, Node, NodeSpec
from chaos.errors import UsageError

log = logging.getLogger("brokerchaos.cluster")

AMQP_PORT = 5672
PARTITION_HANDLING = ("pause_minority", "autoheal", "ignore")
HOME = "/var/lib/rabbitmq"
LOGGERS_QUIET = ("pika",)
ERL_ARGS = "+sbwt none +sbwtdcpu none +sbwtdio none"
NET_TICKTIME_S = 10


def _node_of_pid(pid: str) -> str:
    """``<rabbit@rabbitmq-1.1795769553.895.0>`` -> ``rabbit@rabbitmq-1``."""
    inner = pid.strip().strip("<>")
    return inner.split(".", 1)[0] if "@" in inner else ""


def _partition_peers(status: dict[str, Any], me: str) -> list[str]:
    """The peers ``me`` says it is partitioned from, in ``cluster_status --formatter json``."""
    partitions = status.get("partitions") or {}
    if isinstance(partitions, dict):
        return [str(p) for p in partitions.get(me, [])]
    return [str(p) for row in partitions for p in (row.get("partitions") or []) if row.get("node") == me]


def losing_sides(partitioned: dict[str, set[str]]) -> list[str]:
    """The nodes an operator restarts to end a split brain, given which peers each node reports it is
    partitioned from: every node outside the largest side (the side holding the first node by name on
    a tie). Nodes of one side report none of each other; an empty answer means nothing is split."""
    nodes = sorted(partitioned)
    sides: list[list[str]] = []
    for node in nodes:
        side = next(
            (s for s in sides if all(node not in partitioned[o] and o not in partitioned[node] for o in s)), None
        )
        if side is None:
            sides.append([node])
        else:
            side.append(node)
    if len(sides) < 2:
        return []
    winner = max(sides, key=len)  # max keeps the first of equals: the side of the first node by name
    return [n for n in nodes if n not in winner]


class RabbitMQCluster(Cluster):
    """``nodes`` RabbitMQ nodes; ``extra_config`` adds any ``rabbitmq.conf`` line."""

    broker = "rabbitmq"
    ready_timeout = 120.0
    single_node: ClassVar[dict[str, object]] = {"nodes": 1, "management": False}
    leader_role = "leader"
    follower_role = "follower"
    # DETS tables (ra's names.dets and meta.dets, Mnesia's *.DAT) are updated in place.
    rewritten_in_place = ("*.dets", "*.DAT")

    def __init__(
        self,
        *args: Any,
        nodes: int = 3,
        partition_handling: str = "pause_minority",
        management: bool = True,
        extra_config: dict[str, str] | None = None,
        memory: str = "1GB",
        dead_letter_retry_ms: int | None = None,
        **kwargs: Any,
    ) -> None:
        if partition_handling not in PARTITION_HANDLING:
            choices = ", ".join(PARTITION_HANDLING)
            raise UsageError(f"cluster_partition_handling must be one of {choices} (got {partition_handling!r})")
        super().__init__(*args, **kwargs)
        self.size = nodes
        self.partition_handling = partition_handling
        self.management = management
        self.extra_config = extra_config or {}
        self.memory = memory
        self.dead_letter_retry_ms = dead_letter_retry_ms
        self.username = f"bc-{secrets.token_hex(4)}"
        self.password = secrets.token_urlsafe(18)
        self.cookie = secrets.token_hex(20).upper()
        self._formed = False
        for noisy in LOGGERS_QUIET:
            logging.getLogger(noisy).setLevel(logging.CRITICAL)

    # topology ------------------------------------------------------------------------------------
    def node_name(self, index: int) -> str:
        return f"rabbitmq-{index}"

    def erlang_name(self, node: Node | str) -> str:
        return f"rabbit@{node if isinstance(node, str) else node.name}"

    def planned_nodes(self) -> list[PlannedNode]:
        return [PlannedNode(self.node_name(i), "broker", AMQP_PORT) for i in range(1, self.size + 1)]

    def rabbitmq_conf(self) -> str:
        settings = {
            "cluster_formation.peer_discovery_backend": "classic_config",
            **{
                f"cluster_formation.classic_config.nodes.{i}": self.erlang_name(self.node_name(i))
                for i in range(1, self.size + 1)
            },
            "cluster_partition_handling": self.partition_handling,
            # Notice a lost peer in ~10 s instead of ~60 s, so partition faults act within a test.
            "net_ticktime": str(NET_TICKTIME_S),
            "default_user": self.username,
            "default_pass": self.password,
            "loopback_users": "none",
            "listeners.tcp.default": str(AMQP_PORT),
            "total_memory_available_override_value": self.memory,
            "disk_free_limit.absolute": "50MB",
            "log.console": "true",
            "log.console.level": "info",
            "log.file": "false",
            **self.extra_config,
        }
        return "".join(f"{k} = {v}\n" for k, v in settings.items())

    def _app_env_args(self) -> str:
        """Settings with no rabbitmq.conf key, as Erlang application environment.

        The at-least-once dead-letter worker re-sends an unconfirmed hop only after this timeout
        (180 s by default; the key gained an ``_ms`` suffix in later releases: both are set)."""
        if self.dead_letter_retry_ms is None:
            return ""
        ms = int(self.dead_letter_retry_ms)
        return "".join(
            f" -rabbit {key} {ms}"
            for key in (
                "dead_letter_worker_publisher_confirm_timeout",
                "dead_letter_worker_publisher_confirm_timeout_ms",
            )
        )

    def node_specs(self, endpoints: dict[str, Endpoint]) -> list[NodeSpec]:
        # The cookie file must belong to the node's user with no group/other bits: write it from the node,
        # on every start — Debian's package ships one (read-only) in the data directory, and a node
        # restarted on a blank disk must still share the others' cookie.
        cookie = f"{HOME}/.erlang.cookie"
        start = f'umask 077; rm -f {cookie}; printf %s "$BC_COOKIE" > {cookie}; exec rabbitmq-server'

        specs = []
        for i in range(1, self.size + 1):
            name = self.node_name(i)
            specs.append(
                NodeSpec(
                    name=name,
                    role="broker",
                    image=self.image.ref,
                    command=["sh", "-c", start],
                    user=self.image_spec.user,
                    files={"/etc/rabbitmq/brokerchaos.conf": self.rabbitmq_conf()},
                    env={
                        "HOME": HOME,
                        "BC_COOKIE": self.cookie,
                        "RABBITMQ_NODENAME": self.erlang_name(name),
                        "RABBITMQ_CONFIG_FILE": "/etc/rabbitmq/brokerchaos.conf",
                        # No scheduler busy-waiting: three nodes share two cores with the other brokers.
                        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": ERL_ARGS + self._app_env_args(),
                        "RABBITMQ_CTL_ERL_ARGS": ERL_ARGS,
                    },
                    client_port=AMQP_PORT,
                    mem_limit="1280m",
                )
            )
        return specs

    # clients -------------------------------------------------------------------------------------
    def parameters(self, node: Node, **overrides: Any) -> pika.ConnectionParameters:
        assert node.endpoint is not None, f"{node.name} has no proxy"
        options: dict[str, Any] = {
            "heartbeat": 10,
            "blocked_connection_timeout": 10,
            "socket_timeout": 5,
            "connection_attempts": 1,
            "stack_timeout": 10,
            **overrides,
        }
        options.setdefault("host", node.endpoint.host)
        options.setdefault("port", node.endpoint.port)
        return pika.ConnectionParameters(credentials=pika.PlainCredentials(self.username, self.password), **options)

    def connect(self, node: Node | None = None, **overrides: Any) -> pika.BlockingConnection:
        """A connection through ``node``'s proxy (default: the first node that accepts)."""
        candidates = [node] if node else [n for n in self.nodes if n.status() == "running"]
        last: Exception | None = None
        for candidate in candidates:
            try:
                return pika.BlockingConnection(self.parameters(candidate, **overrides))
            except (pika.exceptions.AMQPError, AMQPConnectorException) as exc:  # a handshake timeout is the latter
                last = exc
        raise ConnectionError(f"no RabbitMQ node of {self.name} accepted a connection: {last!r}")

    def settings_snapshot(self) -> dict[str, str]:
        """Feature flags and their state: what changes between RabbitMQ versions and gates upgrades."""
        try:
            rows = json.loads(self.ctl("list_feature_flags", "--formatter", "json", "name", "state"))
        except (RuntimeError, ValueError):
            return {}
        return {f"feature_flag.{r['name']}": str(r["state"]) for r in rows}

    def ctl(self, *args: str, node: Node | None = None) -> str:
        """Run ``rabbitmqctl`` on a running node; returns stdout, raises RuntimeError on failure."""
        candidates = [node] if node else [n for n in self.nodes if n.status() == "running"]
        last = ""
        for candidate in candidates:
            code, out = candidate.exec(["rabbitmqctl", "-q", *args])
            if code == 0:
                return out
            last = f"{candidate.name}: {out.strip()[-300:]}"
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {last}")

    def restart_blank(self, node: Node) -> None:
        """RabbitMQ's node replacement: a blank node under a known name is refused ("inconsistent
        cluster") until the others forget it; forgetting also removes it from quorum queues and deletes
        the classic queues it hosted. Then it boots and joins through peer discovery like a new node."""
        if node.status() == "running":
            return
        survivor = next((n for n in self.nodes if n is not node and n.status() == "running"), None)
        if survivor is None:
            node.ensure_running()
            return
        self.ctl("forget_cluster_node", self.erlang_name(node), node=survivor)
        node.ensure_running()
        # Peer discovery may let a blank node boot as a cluster of its own: join it by hand.
        self._await_startup(node, timeout_s=90.0)
        status = json.loads(self.ctl("cluster_status", "--formatter", "json", node=survivor))
        if self.erlang_name(node) in status.get("running_nodes", []):
            return
        self.ctl("stop_app", node=node)
        code, out = node.exec(["rabbitmqctl", "-q", "join_cluster", self.erlang_name(survivor)])
        self.ctl("start_app", node=node)
        if code != 0 and "already a member" not in out:  # peer discovery got there first
            raise RuntimeError(f"{node.name} could not rejoin the cluster: {out.strip()[-300:]}")

    def _await_startup(self, node: Node, timeout_s: float) -> None:
        """``rabbitmqctl await_startup`` waits only once the Erlang VM has registered with epmd; asked
        earlier it fails at once ("node 'rabbit' not running at all"). So ask again until it succeeds or
        the deadline passes, and say what the node last answered if it never does."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = max(1, int(deadline - time.monotonic()))
            code, out = node.exec(["rabbitmqctl", "-q", "await_startup", "--timeout", str(remaining)])
            if code == 0:
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"{node.name} did not start within {timeout_s:.0f} s: {out.strip()[-300:]}")
            time.sleep(1.0)

    def partition_settle_s(self) -> float:
        """A peer silent for 0.75-1.25 net_ticktime is declared down (Erlang's net_kernel): a partition shorter
        than that may be noticed only after it healed, and acted on then."""
        tick = float(self.extra_config.get("net_ticktime", NET_TICKTIME_S))
        return 1.25 * tick + 2.0

    def repair(self) -> None:
        """Under ``cluster_partition_handling = ignore`` a healed partition stays split: each side keeps
        serving its own queue masters. RabbitMQ's documented recovery is the operator's: keep the side
        they trust (here the larger), restart every node of the others — which resync from it and drop
        whatever only they held. The other modes end a split themselves; this leaves them alone."""
        if self.partition_handling != "ignore":
            return
        partitioned: dict[str, set[str]] = {}
        for node in self.nodes:
            if node.status() != "running":
                return  # a node still starting: not a split yet
            try:
                status = json.loads(self.ctl("cluster_status", "--formatter", "json", node=node))
            except (RuntimeError, ValueError):
                return
            partitioned[node.name] = {p.split("@", 1)[-1] for p in _partition_peers(status, self.erlang_name(node))}
        for name in losing_sides(partitioned):
            log.warning("%s: split brain after a partition (ignore mode); restarting %s", self.name, name)
            loser = self.node(name)
            held = self._messages_led_by(loser)
            self.ctl("stop_app", node=loser)
            self.ctl("start_app", node=loser)
            self.operator(f"restarted {name}'s RabbitMQ application (losing side of a split brain; {held})", name)

    def _messages_led_by(self, node: Node) -> str:
        """What the queues ``node`` leads held as it was restarted, said for the operator event: the
        evidence of what a split brain's repair could discard (a side whose consumers had read it all
        loses nothing, and the event says so)."""
        try:
            rows = json.loads(self.ctl("list_queues", "--local", "name", "messages", "--formatter", "json", node=node))
        except (RuntimeError, ValueError) as exc:
            return f"what its queues held is unknown: {str(exc)[:120]}"
        held = sum(int(row.get("messages") or 0) for row in rows)
        return f"the {len(rows)} queue(s) it led held {held} message(s)"

    def _queue_info(self, queue: str, vhost: str = "/") -> dict[str, Any]:
        rows = json.loads(
            self.ctl("list_queues", "-p", vhost, "--formatter", "json", "name", "type", "leader", "members")
        )
        for row in rows:
            if row.get("name") == queue:
                return dict(row)
        raise LookupError(f"queue {queue!r} not found in vhost {vhost!r}")

    def _classic_queue_node(self, queue: str, vhost: str) -> str:
        """A classic queue lives on the node of its process; only the plain-text listing names it
        (``<rabbit@rabbitmq-1.1795.895.0>``; JSON prints the pid without its node)."""
        for line in self.ctl("list_queues", "-p", vhost, "name", "pid").splitlines():
            name, _, pid = line.partition("\t")
            if name == queue:
                return _node_of_pid(pid.strip())
        return ""

    def _node_from_erlang(self, erlang: str) -> Node:
        return self.node(erlang.split("@", 1)[1])

    # roles ---------------------------------------------------------------------------------------
    def queue_leader(self, queue: str, vhost: str = "/") -> Node:
        """The node hosting the quorum queue's leader now."""
        info = self._queue_info(queue, vhost)
        leader = info.get("leader") or self._classic_queue_node(queue, vhost)
        if not leader:
            raise LookupError(f"queue {queue!r} has no leader (is it a quorum queue?)")
        return self._node_from_erlang(str(leader))

    def queue_members(self, queue: str, vhost: str = "/") -> list[Node]:
        members = self._queue_info(queue, vhost).get("members") or []
        if not members:  # a classic queue lives on one node
            return [self.queue_leader(queue, vhost)]
        return [self._node_from_erlang(str(m)) for m in members]

    def role_nodes(self, role: str, subject: str | None = None) -> list[Node]:
        """``leader`` / ``follower`` of the quorum queue ``subject``."""
        if role in ("leader", "follower"):
            if not subject:
                raise UsageError(f"RabbitMQ role {role!r} needs a queue name as subject")
            leader = self.queue_leader(subject)
            if role == "leader":
                return [leader]
            return [n for n in self.queue_members(subject) if n is not leader]
        return super().role_nodes(role, subject)

    # readiness -----------------------------------------------------------------------------------
    def check_ready(self) -> None:
        for node in self.nodes:
            try:
                self.connect(node, socket_timeout=2, stack_timeout=4).close()
            except ConnectionError as exc:
                raise NotReady(node.name, f"AMQP through its proxy fails: {exc}") from None
        try:
            status = json.loads(self.ctl("cluster_status", "--formatter", "json"))
        except (RuntimeError, ValueError) as exc:
            raise NotReady(self.nodes[0].name, str(exc)) from None
        running = set(status.get("running_nodes", []))
        for node in self.nodes:
            if self.erlang_name(node) not in running:
                raise NotReady(node.name, f"not a running member of the cluster ({sorted(running)})")
        if status.get("partitions"):
            raise NotReady(self.nodes[0].name, f"partitions reported: {status['partitions']}")
        if status.get("alarms"):  # publishers would be blocked: the next run would test nothing
            raise NotReady(self.nodes[0].name, f"resource alarm: {status['alarms']}")

    def after_ready(self) -> None:
        if self.management and not self._formed:
            with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
                outcomes = list(
                    pool.map(lambda n: n.exec(["rabbitmq-plugins", "-q", "enable", "rabbitmq_management"]), self.nodes)
                )
            for node, (code, out) in zip(self.nodes, outcomes, strict=True):
                if code != 0:
                    log.warning("enabling management on %s failed: %s", node.name, out.strip()[-200:])
        self._formed = True
