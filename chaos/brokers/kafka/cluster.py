"""Kafka (KRaft, no ZooKeeper): three nodes, each broker and controller, behind Toxiproxy.

Clients only ever see ``127.0.0.1:<proxy port>``: every broker advertises its client listener
(``EXTERNAL``) at the host port of its own proxy, created before the configs are written. Inter-broker
(``INTERNAL``) and controller traffic stays on the cluster network, un-proxied, so partitions between
brokers are done with iptables, not Toxiproxy.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import struct
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

from confluent_kafka import ElectionType, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from chaos.brokers.kafka.clients import Consumer, Producer
from chaos.cluster.base import Cluster, NotReady, PlannedNode
from chaos.cluster.node import Endpoint, Node, NodeSpec
from chaos.errors import BrokerChaosError, ClusterNotReadyError, UsageError

log = logging.getLogger("brokerchaos.cluster")
LIBRDKAFKA_LOG = logging.getLogger("brokerchaos.librdkafka")  # connection churn under faults is expected
LIBRDKAFKA_LOG.setLevel(logging.WARNING)

CLIENT_PORT = 9092
INTERNAL_PORT = 19092
CONTROLLER_PORT = 9093
CONFIG_DIR = "/opt/kafka/config/brokerchaos"
READY_TOPIC = "__brokerchaos_ready"
KEY_CACHE = Path.home() / ".cache" / "brokerchaos"

# The production checklist: what the seed's safe profile (catalogue K0) assumes of the brokers.
DEFAULTS = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "unclean.leader.election.enable": "false",
    "auto.create.topics.enable": "false",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "num.partitions": "3",
    "group.initial.rebalance.delay.ms": "0",
    "log.flush.interval.messages": "9223372036854775807",
    # How often brokers delete segments past a topic's retention.ms / retention.bytes, and how long after
    # start they first do (Kafka's defaults: 5 min, and 30 s): a retention a profile sets acts within a
    # run, on a cluster just started too. Nothing is deleted sooner than the retention allows.
    "log.retention.check.interval.ms": "1000",
    "log.initial.task.delay.ms": "1000",
}
# Keys a user may pass that DescribeConfigs does not list.
ALLOWED_PREFIXES = ("listener.name.", "log4j", "confluent.")
# Internal settings the broker reads but never describes (checked in the 3.9.1 and 4.1.1 jars):
# how often the KRaft controller looks for leaderless partitions to elect uncleanly (default 5 min).
INTERNAL_KEYS = frozenset({"unclean.leader.election.interval.ms"})

LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""
LOG4J1 = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.state.change.logger=WARN
"""


def _log_client_error(err: Any) -> None:
    """Client-level errors (connection churn under faults, fatal producer states): logged only; the
    workloads see their consequences in the delivery reports."""
    LIBRDKAFKA_LOG.log(logging.ERROR if err.fatal() else logging.DEBUG, "client error: %s", err)


def new_cluster_id() -> str:
    """Like Kafka's own Uuid: URL-safe base64 of 16 random bytes, never starting with '-' (which a
    command line would take for an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaCluster(Cluster):
    """``brokers`` KRaft nodes; ``server_properties`` override any ``server.properties`` key."""

    broker = "kafka"
    ready_timeout = 90.0
    single_node: ClassVar[dict[str, object]] = {"brokers": 1}
    leader_role = "leader"
    follower_role = "follower"
    replication_port = INTERNAL_PORT  # followers fetch from leaders here; controllers use CONTROLLER_PORT

    def __init__(
        self,
        *args: Any,
        brokers: int = 3,
        server_properties: dict[str, Any] | None = None,
        heap: str = "512m",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.brokers = brokers
        self.overrides = {
            k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (server_properties or {}).items()
        }
        self.heap = heap
        self.cluster_id = new_cluster_id()
        self._ready_topic_checked = False
        self._admin: AdminClient | None = None
        # Admin clients replaced while a request of theirs may still be pending: kept for the cluster's
        # life, since librdkafka destroys a handle's pending requests with it.
        self._retired_admins: list[AdminClient] = []
        self.validate_known_keys(cached_only=True)

    # topology ------------------------------------------------------------------------------------
    def node_name(self, broker_id: int) -> str:
        return f"kafka-{broker_id}"

    def planned_nodes(self) -> list[PlannedNode]:
        return [PlannedNode(self.node_name(i), "broker", CLIENT_PORT) for i in range(1, self.brokers + 1)]

    def server_properties(self, broker_id: int, endpoint: Endpoint) -> dict[str, str]:
        name = self.node_name(broker_id)
        voters = ",".join(f"{i}@{self.node_name(i)}:{CONTROLLER_PORT}" for i in range(1, self.brokers + 1))
        props = {
            "process.roles": "broker,controller",
            "node.id": str(broker_id),
            "controller.quorum.voters": voters,
            "listeners": f"INTERNAL://0.0.0.0:{INTERNAL_PORT},CONTROLLER://0.0.0.0:{CONTROLLER_PORT},"
            f"EXTERNAL://0.0.0.0:{CLIENT_PORT}",
            "advertised.listeners": f"INTERNAL://{name}:{INTERNAL_PORT},EXTERNAL://{endpoint.host}:{endpoint.port}",
            "listener.security.protocol.map": "INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT",
            "inter.broker.listener.name": "INTERNAL",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": self.image_spec.data_dir,
            **DEFAULTS,
            **self._fit_to_size(),
            **self.overrides,
        }
        return props

    def _fit_to_size(self) -> dict[str, str]:
        """A smaller cluster (benchmark peers) cannot honour replication defaults of 3."""
        if self.brokers >= 3:
            return {}
        rf = str(self.brokers)
        isr = str(max(1, self.brokers - 1))
        return {
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
        }

    def node_specs(self, endpoints: dict[str, Endpoint]) -> list[NodeSpec]:
        specs = []
        for broker_id in range(1, self.brokers + 1):
            name = self.node_name(broker_id)
            props = self.server_properties(broker_id, endpoints[name])
            conf = f"{CONFIG_DIR}/server.properties"
            java = (
                f"java -Xms{self.heap} -Xmx{self.heap} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true "
                f"-Dlog4j2.configurationFile={CONFIG_DIR}/log4j2.properties "
                f"-Dlog4j.configuration=file:{CONFIG_DIR}/log4j.properties -cp '/opt/kafka/libs/*'"
            )
            script = (
                f"{java.replace(self.heap, '128m')} kafka.tools.StorageTool format --cluster-id={self.cluster_id} "
                f"-c {conf} --ignore-formatted >/dev/null && exec {java} kafka.Kafka {conf}"
            )
            specs.append(
                NodeSpec(
                    name=name,
                    role="broker",
                    image=self.image.ref,
                    command=["sh", "-c", script],
                    user=self.image_spec.user,
                    files={
                        conf: "".join(f"{k}={v}\n" for k, v in props.items()),
                        f"{CONFIG_DIR}/log4j2.properties": LOG4J2,
                        f"{CONFIG_DIR}/log4j.properties": LOG4J1,
                    },
                    client_port=CLIENT_PORT,
                    mem_limit="1536m",
                )
            )
        return specs

    # clients -------------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return ",".join(str(n.endpoint) for n in self.nodes if n.endpoint)

    def client_config(self, **extra: Any) -> dict[str, Any]:
        """Client errors go to our log through ``error_cb`` (connection churn under faults is expected)."""
        return {
            "bootstrap.servers": self.bootstrap,
            "socket.timeout.ms": 5000,
            "logger": LIBRDKAFKA_LOG,
            "error_cb": _log_client_error,
            **extra,
        }

    def admin(self) -> AdminClient:
        """One admin client per cluster (librdkafka reconnects by itself); keep a reference while a
        future is pending, or librdkafka destroys the handle under it."""
        if self._admin is None:
            self._admin = AdminClient(self.client_config())
        return self._admin

    def _retire_admin(self) -> None:
        """The next ``admin()`` is a new client; the old one is kept alive, not destroyed under a request."""
        if self._admin is not None:
            self._retired_admins.append(self._admin)
            self._admin = None

    def node_by_id(self, broker_id: int) -> Node:
        return self.node(self.node_name(broker_id))

    def create_topic(self, topic: str, partitions: int = 3, replication: int = 3, **config: str) -> None:
        """Create ``topic`` and wait until every broker's metadata gives each partition a leader: each
        broker updates its metadata cache on its own, and a client asks whichever broker it likes."""
        futures = self.admin().create_topics(
            [NewTopic(topic, partitions, replication, config=config)], operation_timeout=30, request_timeout=30
        )
        futures[topic].result(timeout=60)
        deadline = time.monotonic() + 30
        waiting = [n for n in self.nodes if n.endpoint]
        while waiting and time.monotonic() < deadline:
            waiting = [n for n in waiting if not self._knows(n, topic, partitions)]
            if waiting:
                time.sleep(0.1)
        if waiting:
            names = ", ".join(n.name for n in waiting)
            raise ClusterNotReadyError(f"topic {topic} was created but {names} knew no leader for it within 30 s")

    def _knows(self, node: Node, topic: str, partitions: int) -> bool:
        """Whether ``node`` itself (a client bootstrapped to it alone asks it first) knows a leader for
        every partition of ``topic``."""
        admin = AdminClient(self.client_config(**{"bootstrap.servers": str(node.endpoint)}))
        try:
            info = admin.list_topics(topic, timeout=5).topics.get(topic)
        except KafkaException:
            return False
        if info is None or info.error is not None or len(info.partitions) != partitions:
            return False
        return all(p.leader >= 0 for p in info.partitions.values())

    def _partition(self, topic: str, partition: int) -> Any:
        try:
            meta = self.admin().list_topics(topic, timeout=10)
        except KafkaException as exc:  # e.g. right after a heal: the question has no answer yet
            raise LookupError(f"metadata for {topic} unavailable: {exc}") from None
        info = meta.topics.get(topic)
        if info is None or info.error is not None or partition not in info.partitions:
            raise LookupError(f"{topic}-{partition} is not known to the cluster")
        return info.partitions[partition]

    # roles ---------------------------------------------------------------------------------------
    def leader(self, topic: str, partition: int = 0) -> Node:
        """The node leading ``topic-partition`` now (raises LookupError when it has no leader)."""
        leader = self._partition(topic, partition).leader
        if leader < 0:
            raise LookupError(f"{topic}-{partition} has no leader")
        return self.node_by_id(leader)

    def isr(self, topic: str, partition: int = 0) -> list[Node]:
        return [self.node_by_id(i) for i in self._partition(topic, partition).isrs]

    def replicas(self, topic: str, partition: int = 0) -> list[Node]:
        return [self.node_by_id(i) for i in self._partition(topic, partition).replicas]

    def group_coordinator(self, group: str) -> Node:
        """The broker coordinating consumer group ``group`` now: the leader of the ``__consumer_offsets``
        partition the group id hashes to (raises LookupError when the group has none)."""
        future = self.admin().describe_consumer_groups([group], request_timeout=10)[group]
        try:
            coordinator = future.result(timeout=15).coordinator
        except KafkaException as exc:  # e.g. the coordinator's broker is down and nobody took over
            raise LookupError(f"consumer group {group} has no coordinator: {exc}") from None
        if coordinator is None or coordinator.id < 0:
            raise LookupError(f"consumer group {group} has no coordinator")
        return self.node_by_id(coordinator.id)

    def role_nodes(self, role: str, subject: str | None = None) -> list[Node]:
        """``leader`` / ``follower`` (in sync) / ``replica`` (any) of ``subject`` ("topic-partition",
        e.g. "orders-0"), ``controller``, ``coordinator`` of a consumer group (``subject``: the group id)."""
        if role == "controller":
            return [self.active_controller()]
        if role == "coordinator":
            if not subject:
                raise UsageError("Kafka role 'coordinator' needs a consumer group id as its subject")
            return [self.group_coordinator(subject)]
        if role in ("leader", "follower", "replica"):
            topic, partition = self._subject(role, subject)
            if role == "replica":
                return self.replicas(topic, partition)
            leader = self.leader(topic, partition)
            if role == "leader":
                return [leader]
            return [n for n in self.isr(topic, partition) if n is not leader]
        return super().role_nodes(role, subject)

    @staticmethod
    def _subject(role: str, subject: str | None) -> tuple[str, int]:
        if not subject or "-" not in subject:
            raise UsageError(f"Kafka role {role!r} needs a subject like 'orders-0' (got {subject!r})")
        topic, _, partition = subject.rpartition("-")
        return topic, int(partition)

    def force_election(self, subject: str) -> None:
        """``kafka-leader-election --election-type unclean`` for ``subject``: the controller makes a live
        replica leader even when it is out of sync (unclean.leader.election.enable does not gate it)."""
        topic, partition = self._subject("replica", subject)
        future = self.admin().elect_leaders(ElectionType.UNCLEAN, [TopicPartition(topic, partition)])
        try:
            errors = future.result(timeout=30)
        except KafkaException as exc:
            raise BrokerChaosError(f"unclean election of {subject} failed: {exc}") from None
        for tp, error in errors.items():
            # ELECTION_NOT_NEEDED: it has a leader already (the cluster elected one by itself)
            if error is not None and error.name() != "ELECTION_NOT_NEEDED":
                raise BrokerChaosError(f"unclean election of {tp.topic}-{tp.partition} failed: {error}")

    def active_controller(self) -> Node:
        """The KRaft quorum leader (DescribeCluster only names a random broker under KRaft, so ask the
        quorum itself from a running node)."""
        for node in self.nodes:
            if node.status() != "running":
                continue
            code, out = self._tool(
                node,
                "MetadataQuorumCommand",
                "--bootstrap-server",
                f"{node.name}:{INTERNAL_PORT}",
                "describe",
                "--status",
            )
            found = re.search(r"LeaderId:\s*(\d+)", out)
            if code == 0 and found:
                return self.node_by_id(int(found.group(1)))
        raise LookupError("no running node could describe the metadata quorum")

    def _tool(self, node: Node, tool: str, *args: str) -> tuple[int, str]:
        """Run one of Kafka's command-line tools (by class) inside ``node`` against its own listener."""
        return node.exec(["java", "-Xmx128m", "-cp", "/opt/kafka/libs/*", f"org.apache.kafka.tools.{tool}", *args])

    # rolling upgrades ----------------------------------------------------------------------------
    def upgrade_order(self) -> list[Node]:
        """Brokers first, the active controller last: one controller election, at the end."""
        try:
            controller = self.active_controller()
        except LookupError:
            return list(self.members)
        return [n for n in self.members if n is not controller] + [controller]

    def finalize_upgrade(self) -> None:
        """Raise metadata.version to the new release's, as Kafka's upgrade notes ask once every broker
        runs it (until then the cluster keeps the old version's metadata format and can be rolled back)."""
        release = ".".join(self.version.split(".")[:2])
        node = next(n for n in self.nodes if n.status() == "running")
        bootstrap = f"{node.name}:{INTERNAL_PORT}"
        code, out = self._tool(
            node, "FeatureCommand", "--bootstrap-server", bootstrap, "upgrade", "--release-version", release
        )
        if code != 0:
            raise BrokerChaosError(f"metadata.version upgrade to {release} failed: {out.strip()[-400:]}")
        log.info("kafka metadata.version upgraded for release %s", release)

    def settings_snapshot(self) -> dict[str, str]:
        resource = ConfigResource(ResourceType.BROKER, "1")
        try:
            described = self.admin().describe_configs([resource])[resource].result(timeout=30)
        except KafkaException:
            return {}
        return {k: str(entry.value) for k, entry in sorted(described.items())}

    # readiness -----------------------------------------------------------------------------------
    @staticmethod
    def answers(node: Node, timeout: float = 1.0) -> bool:
        """Whether the broker itself answers an ApiVersions request through its proxy.

        Cluster metadata alone is not enough: a restarted broker stays "registered" until its session
        times out, while it is still booting."""
        if node.endpoint is None:
            return False
        client_id = b"brokerchaos"
        body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id  # ApiVersions v0, correlation 1
        try:
            with socket.create_connection((node.endpoint.host, node.endpoint.port), timeout=timeout) as sock:
                sock.sendall(struct.pack(">i", len(body)) + body)
                header = sock.recv(8)
        except OSError:
            return False
        return len(header) == 8 and struct.unpack(">ii", header)[1] == 1

    def check_ready(self) -> None:
        for node in self.nodes:
            if not self.answers(node):
                raise NotReady(node.name, "does not answer ApiVersions through its proxy")
        try:
            meta = self.admin().list_topics(timeout=3)
        except KafkaException as exc:
            raise NotReady(self.nodes[0].name, f"metadata request failed: {exc}") from None
        registered = set(meta.brokers)
        for broker_id in range(1, self.brokers + 1):
            if broker_id not in registered:
                raise NotReady(self.node_name(broker_id), "not registered with the cluster")
        for topic in meta.topics.values():
            for p in topic.partitions.values():
                if p.leader < 0 and p.replicas and set(p.replicas) <= registered:
                    # Every replica is up, answering and registered, yet none leads: its log is gone and
                    # with it the partition (replication factor 1, or no replica left in sync). The
                    # controller elects as soon as it can, so only a lasting state counts (NotReady.final).
                    nodes = ", ".join(self.node_name(r) for r in p.replicas)
                    why = f"{topic.topic}-{p.id} has no leader although its replicas ({nodes}) are up"
                    raise NotReady(self.node_name(p.replicas[0]), why, final=True)
                if p.leader < 0 or len(p.isrs) < len(p.replicas):
                    raise NotReady(self.node_name(p.replicas[0]), f"{topic.topic}-{p.id} under-replicated")
        if not self._ready_topic_checked:
            self._write_and_read_ready_topic(meta)
            self._ready_topic_checked = True

    def _write_and_read_ready_topic(self, meta: Any) -> None:
        try:
            if READY_TOPIC not in meta.topics:
                self.create_topic(READY_TOPIC, partitions=1, replication=min(3, self.brokers))
            producer = Producer(self.client_config(acks="all", **{"message.timeout.ms": 10000}))
            delivered: list[Any] = []
            producer.produce(READY_TOPIC, b"ready", on_delivery=lambda err, msg: delivered.append(err))
            producer.flush(15)
            if not delivered or delivered[0] is not None:
                raise NotReady(self.nodes[0].name, f"could not write {READY_TOPIC}: {delivered}")
            consumer = Consumer(
                self.client_config(**{"group.id": f"bc-ready-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest"})
            )
            try:
                consumer.subscribe([READY_TOPIC])
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    msg = consumer.poll(0.5)
                    if msg is not None and not msg.error():
                        return
            finally:
                consumer.close()
            raise NotReady(self.nodes[0].name, f"could not read back {READY_TOPIC}")
        except KafkaException as exc:
            raise NotReady(self.nodes[0].name, f"ready topic: {exc}") from None

    def after_ready(self) -> None:
        self.validate_known_keys(cached_only=False)

    # config validation ---------------------------------------------------------------------------
    def _key_cache(self) -> Path:
        return KEY_CACHE / f"kafka-{self.version}-broker-keys.json"

    def _describe_broker_configs(self, attempts: int = 3) -> dict[str, Any]:
        """Broker 1's settings (DescribeConfigs goes to that broker alone). Session 22's CI had one such
        request time out after 30 s on a 3.9.1 cluster that had just written and read its ready topic;
        each retry uses a new admin client, in case the old one's connection to broker 1 is the stuck
        part. The key check is never skipped: after the last attempt the cluster is not ready."""
        resource = ConfigResource(ResourceType.BROKER, "1")
        for attempt in range(1, attempts + 1):
            try:
                return dict(self.admin().describe_configs([resource])[resource].result(timeout=30))
            except KafkaException as exc:
                log.warning("describing broker 1's settings failed (attempt %d of %d): %s", attempt, attempts, exc)
                self._retire_admin()
        raise ClusterNotReadyError(
            f"kafka {self.version}: broker 1 did not describe its settings in {attempts} attempts of 30 s, so "
            "the profile's server.properties keys could not be checked"
        )

    def validate_known_keys(self, cached_only: bool) -> None:
        """Reject unknown ``server.properties`` keys (Kafka itself only logs a warning and starts).

        The key list comes from DescribeConfigs on a running broker of this version, cached per version;
        with a cache the check happens before anything starts."""
        if not self.overrides:
            return
        cache = self._key_cache()
        if cache.exists():
            known = set(json.loads(cache.read_text()))
        elif cached_only:
            return
        else:
            described = self._describe_broker_configs()
            # The broker echoes keys it does not know among its settings, with no value: drop those.
            known = {k for k, entry in described.items() if not (k in self.overrides and entry.value is None)}
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(sorted(known)))
        known |= INTERNAL_KEYS
        unknown = [k for k in self.overrides if k not in known and not k.startswith(ALLOWED_PREFIXES)]
        if unknown:
            raise UsageError(f"unknown Kafka {self.version} server.properties key {unknown[0]!r}")
