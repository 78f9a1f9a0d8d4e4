"""The Kafka sections of a profile (``[cluster]``, ``[client]``) and the checks a profile passes at load,
before any cluster starts: property names Kafka does not define, combinations librdkafka refuses."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from chaos.brokers.kafka.images import DEFAULT_VERSION
from chaos.profiles import Profile
from chaos.settings import ProfileError, at_least, choice, per_run, refuse_shared_dead_letters, used_only

# The brokers' defaults for the session timeouts a consumer may ask for (Kafka's broker configs).
GROUP_MIN_SESSION_TIMEOUT_MS = 6000
GROUP_MAX_SESSION_TIMEOUT_MS = 1800000


@dataclass(frozen=True)
class KafkaClusterSettings:
    server_properties: dict[str, str] | None = None  # server.properties lines for every broker, as Kafka names them
    # KRaft nodes, each broker and controller: five keep a controller quorum while two replicas are down
    brokers: int = at_least(3, 3)
    partitions: int = per_run(at_least(3, 1))  # partitions of the topic
    replication: int = per_run(at_least(3, 1))  # replication factor of the topic
    # topic-level configs at creation (e.g. min.insync.replicas, retention.ms), as Kafka names them;
    # brokers apply retention every second (log.retention.check.interval.ms = 1000)
    topic_config: dict[str, str] | None = per_run(None)


@dataclass(frozen=True)
class KafkaClientSettings:
    acks: str = choice("all", "all", "1", "0")  # the producer's acks
    idempotence: bool = True  # enable.idempotence
    retries: int = at_least(1000, 0)  # the producer's retries
    request_timeout_ms: int = at_least(5000, 100)  # request.timeout.ms
    delivery_timeout_ms: int = at_least(30000, 1000)  # librdkafka message.timeout.ms (Java: delivery.timeout.ms)
    max_in_flight: int = at_least(5, 1)  # max.in.flight.requests.per.connection
    # the consumers' isolation.level
    isolation_level: str = choice("read_committed", "read_committed", "read_uncommitted")
    # when consumers commit offsets: after processing, before it, or enable.auto.commit
    commit: str = choice("after_processing", "after_processing", "before_processing", "auto")
    # auto.commit.interval.ms
    auto_commit_interval_ms: int = used_only(at_least(1000, 10), lambda c: c.commit == "auto", "client.commit = 'auto'")
    auto_offset_reset: str = choice("earliest", "earliest", "latest")  # auto.offset.reset of the consumer group
    transactional: bool = False  # the producer writes in small transactions (transactional.id)
    # processing attempts of one message before the dead-letter topic
    max_retries: int = used_only(at_least(3, 0), lambda c: c.dead_letter_topic, "client.dead_letter_topic = true")
    # the pause before each processing attempt of a message
    retry_backoff_ms: int = used_only(at_least(10, 0), lambda c: c.dead_letter_topic, "client.dead_letter_topic = true")
    dead_letter_topic: bool = True  # a message that fails max_retries times goes to <topic>.dlq
    transform: bool = False  # consumers are consume-transform-produce processors (exactly-once pipeline)
    # session.timeout.ms of each consumer (the broker's group.min.session.timeout.ms, 6000, is the floor)
    session_timeout_ms: int = at_least(6000, 1000)
    heartbeat_interval_ms: int = at_least(1000, 100)  # heartbeat.interval.ms, below session_timeout_ms
    # max.poll.interval.ms: a member that does not poll for this long leaves the group and its partitions
    # go to another (librdkafka's default: 5 min; at least session_timeout_ms)
    max_poll_interval_ms: int = at_least(300_000, 1)
    # partition.assignment.strategy (librdkafka's default, "range,roundrobin", is an eager protocol)
    partition_assignment_strategy: str = choice(
        "range,roundrobin", "range,roundrobin", "range", "roundrobin", "cooperative-sticky"
    )
    # static membership: each consumer joins with its own group.instance.id, so a member that returns
    # within session_timeout_ms gets its partitions back without a rebalance
    static_membership: bool = False
    # consumer groups reading the topic, each of workload.consumers members (group.id): each must read
    # every message. Client faults work on the first group; the others read alongside it, and are judged
    # apart (a group's reads are no evidence for another's)
    consumer_groups: int = at_least(1, 1)
    # topics each transaction writes (the production checklist's orders and inventory, written together):
    # every message goes to each, as <id>@t<K> in topic K, in the same transaction; each topic is read by
    # a consumer group of its own, and a transaction must become visible in all of them or none
    transaction_topics: int = used_only(at_least(1, 1), lambda c: c.transactional, "client.transactional = true")


# What this folder's code reads of a profile: its own [cluster] and [client] tables, typed.
KafkaProfile = Profile[KafkaClusterSettings, KafkaClientSettings]


def known_configs(version: str) -> dict[str, frozenset[str]]:
    """The broker and topic configuration names Kafka ``version`` defines ({} when not listed here)."""
    listing = Path(__file__).with_name(f"configs-{version}.txt")
    if not listing.exists():
        return {}
    names: dict[str, set[str]] = {"broker": set(), "topic": set()}
    for line in listing.read_text().splitlines():
        scope, _, name = line.partition(" ")
        if scope in names and name:
            names[scope].add(name)
    return {scope: frozenset(found) for scope, found in names.items()}


def _check_config_names(profile: KafkaProfile) -> None:
    """A misspelt property would reach the broker, which ignores or refuses it at start: refuse it here,
    before any cluster starts, with the nearest real name."""
    version = profile.version or DEFAULT_VERSION
    known = known_configs(version)
    for key, scope, given in (
        ("cluster.server_properties", "broker", profile.cluster.server_properties),
        ("cluster.topic_config", "topic", profile.cluster.topic_config),
    ):
        if not known or not given:
            continue
        for name in given:
            if name not in known[scope]:
                near = difflib.get_close_matches(name, known[scope], n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ProfileError(f"{key}: Kafka {version} has no {scope} setting {name!r}{hint}")


def check(profile: KafkaProfile) -> None:
    _check_config_names(profile)
    c = profile.client
    if c.idempotence and c.acks != "all":
        raise ProfileError("client.idempotence = true requires client.acks = 'all' (set idempotence = false)")
    if c.transactional and not c.idempotence:
        raise ProfileError("client.transactional = true requires client.idempotence = true")
    if profile.guarantees.exactly_once and not c.transactional:
        raise ProfileError("guarantees.exactly_once needs client.transactional = true")
    if c.transform and c.commit != "after_processing":
        raise ProfileError("client.transform = true commits offsets in the transaction: leave client.commit unset")
    _check_group_timing(profile)
    _check_consumer_groups(profile)
    if c.transaction_topics > 1 and (c.transform or (profile.workload.poison_every and c.dead_letter_topic)):
        raise ProfileError(
            "client.transaction_topics > 1: not with client.transform, nor with poison dead-lettered "
            "(each topic's readers would dead-letter their copy): set workload.poison_every = 0 or "
            "client.dead_letter_topic = false"
        )
    _check_torn_transactions(profile)
    _check_expiry(profile)
    if profile.guarantees.may_trim_to_length and "retention.bytes" not in (profile.cluster.topic_config or {}):
        raise ProfileError(
            "guarantees.may_trim_to_length tolerates a size cap's deletions: set cluster.topic_config "
            "retention.bytes (retention by time is guarantees.may_expire_after_s)"
        )
    policies = (profile.cluster.topic_config or {}).get("cleanup.policy", "delete").split(",")
    if profile.guarantees.may_compact and "compact" not in policies:
        raise ProfileError(
            "guarantees.may_compact tolerates compaction's removals: set cluster.topic_config cleanup.policy "
            "to compact (or compact,delete)"
        )
    if "stale-replica-left" in profile.faults.families and profile.cluster.brokers < 5:
        raise ProfileError(
            "faults.families stale-replica-left kills two replicas: cluster.brokers = 5 keeps the KRaft quorum"
        )


def _check_torn_transactions(profile: KafkaProfile) -> None:
    """A transaction across topics is judged torn when some of its records were read and others never
    were: a policy that deletes records (retention, compaction) could remove half of one before it is
    read, and the checker could not tell that from the broker tearing it. Refused until that is judged."""
    config = profile.cluster.topic_config or {}
    deleting: list[str] = [k for k in ("retention.ms", "retention.bytes") if k in config]
    if "compact" in config.get("cleanup.policy", "delete").split(","):
        deleting.append("cleanup.policy = compact")
    if profile.client.transaction_topics > 1 and deleting:
        raise ProfileError(
            f"client.transaction_topics > 1 with cluster.topic_config {', '.join(deleting)}: a policy that "
            "deletes part of a transaction would read as a torn transaction (leave the topics' retention "
            "at the broker's defaults)"
        )


def _check_consumer_groups(profile: KafkaProfile) -> None:
    """What several consumer groups cannot do here yet, said before any cluster starts."""
    c = profile.client
    if c.consumer_groups == 1:
        return
    refuse_shared_dead_letters(
        c.consumer_groups,
        profile.workload.poison_every,
        c.dead_letter_topic,
        target="dead-letter topic",
        off="client.dead_letter_topic = false",
    )
    if c.transform:
        raise ProfileError("client.consumer_groups > 1: the exactly-once pipeline (client.transform) runs one group")
    if c.transaction_topics > 1:
        raise ProfileError("client.consumer_groups > 1 with client.transaction_topics > 1: one group per topic here")


def _check_group_timing(profile: KafkaProfile) -> None:
    """What the broker and librdkafka would refuse when the group forms, said before any cluster starts."""
    c = profile.client
    if c.heartbeat_interval_ms >= c.session_timeout_ms:
        raise ProfileError(
            f"client.heartbeat_interval_ms ({c.heartbeat_interval_ms}) must be below "
            f"client.session_timeout_ms ({c.session_timeout_ms})"
        )
    if c.max_poll_interval_ms < c.session_timeout_ms:
        raise ProfileError(
            f"client.max_poll_interval_ms ({c.max_poll_interval_ms}) must be at least "
            f"client.session_timeout_ms ({c.session_timeout_ms}): librdkafka refuses it otherwise"
        )
    brokers = profile.cluster.server_properties or {}
    low = _milliseconds(brokers, "group.min.session.timeout.ms", GROUP_MIN_SESSION_TIMEOUT_MS)
    high = _milliseconds(brokers, "group.max.session.timeout.ms", GROUP_MAX_SESSION_TIMEOUT_MS)
    if not low <= c.session_timeout_ms <= high:
        raise ProfileError(
            f"client.session_timeout_ms = {c.session_timeout_ms}: the brokers accept {low}..{high} "
            "(group.min.session.timeout.ms / group.max.session.timeout.ms in cluster.server_properties)"
        )


RETENTION_SETTINGS = (
    ("cluster.topic_config", ("retention.ms", "retention.bytes")),
    (
        "cluster.server_properties",
        ("log.retention.ms", "log.retention.minutes", "log.retention.hours", "log.retention.bytes"),
    ),
)


def _check_expiry(profile: KafkaProfile) -> None:
    """A tolerated expiry needs a retention that deletes something: said when the profile sets none."""
    after = profile.guarantees.may_expire_after_s
    if after is None:
        return
    tables = {
        "cluster.topic_config": profile.cluster.topic_config,
        "cluster.server_properties": profile.cluster.server_properties,
    }
    if not any(name in (tables[key] or {}) for key, names in RETENTION_SETTINGS for name in names):
        raise ProfileError(
            "guarantees.may_expire_after_s tolerates deletion by retention, and this profile sets none "
            "(cluster.topic_config retention.ms or retention.bytes)"
        )


def _milliseconds(properties: dict[str, str], name: str, default: int) -> int:
    try:
        return int(properties.get(name, default))
    except ValueError:
        raise ProfileError(f"cluster.server_properties: {name} must be a number of milliseconds") from None
