"""The RabbitMQ sections of a profile (``[cluster]``, ``[client]``) and the checks a profile passes at
load: settings a queue type cannot have, and features a version has removed."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.brokers.rabbitmq.images import DEFAULT_VERSION
from chaos.brokers.rabbitmq.routing import UNROUTED, queues_for
from chaos.brokers.rabbitmq.upgrade import series
from chaos.profiles import Profile
from chaos.settings import ProfileError, at_least, choice, used_only


@dataclass(frozen=True)
class RabbitMQClusterSettings:
    # cluster_partition_handling
    partition_handling: str = choice("pause_minority", "pause_minority", "autoheal", "ignore")
    management: bool = False  # enable the management plugin
    dead_letter_retry_ms: int = at_least(180_000, 100)  # the broker's default: 3 minutes
    extra: dict[str, str] | None = None  # more rabbitmq.conf lines, as RabbitMQ names them


@dataclass(frozen=True)
class RabbitMQClientSettings:
    queue_type: str = choice("quorum", "quorum", "classic")  # x-queue-type
    mirrored: bool = False  # classic queue mirrored on every node (ha-mode all; removed in RabbitMQ 4.0)
    durable: bool = True  # the queue survives a broker restart
    persistent: bool = True  # messages are published persistent (delivery_mode 2)
    confirms: bool = True  # publisher confirms
    # when consumers ack: after processing, before it, or auto_ack
    ack: str = choice("after_processing", "after_processing", "before_processing", "auto")
    # basic.qos prefetch_count
    prefetch: int = used_only(at_least(50, 1), lambda c: c.ack != "auto", "client.ack is not 'auto'")
    # publisher: messages in flight awaiting their confirm
    window: int = used_only(at_least(256, 1), lambda c: c.confirms, "client.confirms = true")
    # how consumers treat poison: dead-letter it (x-delivery-limit), nack(requeue) or reject
    poison: str = choice("dead_letter", "dead_letter", "requeue", "reject")
    # x-delivery-limit: deliveries a quorum queue allows before it dead-letters a message
    delivery_limit: int = used_only(
        at_least(3, 1), lambda c: c.poison == "dead_letter", "client.poison = 'dead_letter' (x-delivery-limit)"
    )
    # x-dead-letter-exchange: whether the queue has one (None: as client.poison decides — 'dead_letter' and
    # 'reject' declare one, 'requeue' none). Without one a quorum queue drops a message at its
    # x-delivery-limit, and an expired or overflowed message leaves no trace
    dead_letter_exchange: bool | None = None
    dead_letter_strategy: str = used_only(  # x-dead-letter-strategy of a quorum queue
        choice("at-least-once", "at-least-once", "at-most-once"),
        lambda c: c.queue_type == "quorum" and c.dead_letters,
        "a quorum queue with a dead-letter exchange (client.dead_letter_exchange)",
    )
    # x-max-length: the queue holds at most this many ready messages (None: no limit)
    max_length: int | None = None
    # x-max-length-bytes: the queue holds at most this many bytes of ready message bodies (None: no limit)
    max_length_bytes: int | None = None
    # x-overflow: what a full queue does — drop its oldest message (dead-lettered where the queue has a
    # dead-letter exchange), or refuse the publish (a nack), or refuse it and dead-letter it (classic queues)
    overflow: str = used_only(
        choice("drop-head", "drop-head", "reject-publish", "reject-publish-dlx"),
        lambda c: c.length_limited,
        "client.max_length (x-max-length) or client.max_length_bytes (x-max-length-bytes)",
    )
    # x-message-ttl: milliseconds a message may wait in the queue before it expires (dead-lettered with
    # reason "expired" where the queue has a dead-letter exchange, else discarded); None: no limit
    message_ttl_ms: int | None = None
    # the ``expiration`` property on every published message, in milliseconds (per-message TTL; where the
    # queue has x-message-ttl too, the lower applies); None: messages carry none
    expiration_ms: int | None = None
    # x-queue-mode: "lazy" keeps a classic queue's messages on disk rather than in memory (the production
    # checklist's setting for large backlogs); RabbitMQ 3.12 made every classic queue so and ignores it since
    queue_mode: str = choice("default", "default", "lazy")
    # x-queue-version: a classic queue's storage, 1 or 2 (3.10+; from 4.0 every classic queue is version 2,
    # and 1 is refused); None: the broker's default
    queue_version: int | None = None
    # x-max-priority: a classic queue's highest message priority, 1-255 (a higher one counts as this);
    # None: the classic queue ignores priorities. Quorum queues take none here: theirs are always on from
    # 4.0 (two levels on 4.0-4.2, 32 strict ones from 4.3); on 3.x they ignore priorities
    max_priority: int | None = None
    # the ``priority`` property of the published messages, in turn (e.g. [0, 5]): the report measures how
    # often a lower one was delivered while a higher one waited; None: messages carry none
    priorities: list[int] | None = None
    # The exchange producers publish to: "default" (the default exchange, straight to the one queue), or an
    # exchange of this type (direct, fanout, topic, headers) routing to the queues client.bindings declares
    exchange_type: str = choice("default", "default", "direct", "fanout", "topic", "headers")
    # queue name -> its binding keys on the exchange (e.g. { eu-orders = ["orders.eu.*"] }; fanout takes
    # none: []; headers: "name=value,..." matching all of them, "any:name=value,..." one of them). Each
    # queue is declared with the queue settings above and read by workload.consumers consumers; client
    # faults and the queue-leader faults work on the first; each queue has its own dead-letter exchange and
    # queue, and is judged on the messages its bindings route to it and on its own dead letters
    bindings: dict[str, list[str]] | None = None
    # the routing keys of the published messages, in turn (direct and topic exchanges; headers: each
    # message's headers, "name=value,...")
    routing_keys: list[str] | None = None
    # basic.publish's mandatory flag: the broker returns a message no queue is bound for (the publish
    # fails); without it the broker confirms the message and drops it
    mandatory: bool = True
    # the exchange's alternate-exchange: a fanout exchange with one queue, "unrouted", that gets what no
    # binding routes (read and judged as one more queue)
    alternate_exchange: bool = False
    # Seconds between declaring the queue and its first use (0: publish at once). Ra leaves a new quorum
    # queue's registration on each node to DETS, which writes it out within 0.5-3 s; a cluster killed
    # before that recovers the queue empty (R7).
    declare_ahead_s: float = at_least(0.0, 0)

    @property
    def length_limited(self) -> bool:
        """Whether the queue has a length limit, in messages or in bytes (``overflow`` says what it does)."""
        return self.max_length is not None or self.max_length_bytes is not None

    @property
    def dead_letters(self) -> bool:
        """Whether the queue gets a dead-letter exchange: as ``dead_letter_exchange`` says, else where the
        poison mode dead-letters."""
        if self.dead_letter_exchange is not None:
            return self.dead_letter_exchange
        return self.poison in ("dead_letter", "reject")


def priority_rank(client: RabbitMQClientSettings, version: str, priority: int) -> int:
    """Where the queue ranks a message of ``priority`` (order holds within a rank only): a classic queue's
    level, capped at x-max-priority; a quorum queue's two on RabbitMQ 4.0-4.2 (1: priority 5 and above,
    served 2:1 with the rest, not strictly), and from 4.3 one per priority up to 31, served strictly."""
    if client.queue_type == "classic":
        return min(priority, client.max_priority or 0)
    if series(version) < (4, 3):
        return int(priority > 4)
    return min(priority, 31)


# What this folder's code reads of a profile: its own [cluster] and [client] tables, typed.
RabbitMQProfile = Profile[RabbitMQClusterSettings, RabbitMQClientSettings]


def check(profile: RabbitMQProfile) -> None:
    c = profile.client
    _check_expiry(profile)
    _check_trimming(profile)
    if profile.guarantees.may_compact:
        raise ProfileError("guarantees.may_compact: a RabbitMQ queue is never compacted (client.max_length drops)")
    if c.queue_type == "quorum" and not c.durable:
        raise ProfileError("client.durable = false is impossible for a quorum queue (use queue_type = 'classic')")
    if c.poison == "dead_letter" and c.queue_type != "quorum":
        raise ProfileError("client.poison = 'dead_letter' relies on x-delivery-limit, which needs a quorum queue")
    _check_overflow(c)
    _check_priorities(profile)
    _check_classic_storage(profile)
    _check_routing(profile)
    if c.mirrored and c.queue_type != "classic":
        raise ProfileError("client.mirrored = true mirrors a classic queue (a quorum queue replicates by itself)")
    at_least_once = c.queue_type == "quorum" and c.dead_letters and (c.dead_letter_strategy == "at-least-once")
    g = profile.guarantees
    if at_least_once and g.dead_letter and not g.dead_letter_duplicates_allowed:
        raise ProfileError(
            "client.dead_letter_strategy = 'at-least-once' forwards a dead-lettered message at least once (a hop "
            "whose confirm a fault lost is sent again): set guarantees.dead_letter_duplicates_allowed = true, "
            "or use 'at-most-once' (which may lose it instead)"
        )
    if c.mirrored and series(profile.version or DEFAULT_VERSION)[0] >= 4:
        raise ProfileError(f"client.mirrored = true: RabbitMQ {profile.version} has no classic queue mirroring")


def _check_expiry(profile: RabbitMQProfile) -> None:
    """A TTL must be a time, and a stated expiry needs both a TTL that can expire messages and a
    dead-letter exchange to show which ones did: without one an expired message leaves no trace, and
    the checkers could not tell it from a lost one."""
    c = profile.client
    for key, value in (("message_ttl_ms", c.message_ttl_ms), ("expiration_ms", c.expiration_ms)):
        if value is not None and value < 0:
            raise ProfileError(f"client.{key} must be >= 0 milliseconds (got {value})")
    if profile.guarantees.may_expire_after_s is None:
        return
    if c.message_ttl_ms is None and c.expiration_ms is None:
        raise ProfileError(
            "guarantees.may_expire_after_s tolerates expiry, and this profile sets no TTL: "
            "set client.message_ttl_ms (x-message-ttl) or client.expiration_ms (per-message expiration)"
        )
    if not c.dead_letters:
        raise ProfileError(
            "guarantees.may_expire_after_s needs a dead-letter exchange to tell an expired message from a lost "
            "one (RabbitMQ discards expired messages without one): set client.dead_letter_exchange = true"
        )


def _check_trimming(profile: RabbitMQProfile) -> None:
    """Tolerating drops by length needs a limit that drops confirmed messages (drop-head; reject-publish
    refuses the publish instead) and a dead-letter exchange to show which ones it dropped."""
    c = profile.client
    if not profile.guarantees.may_trim_to_length:
        return
    if not c.length_limited or c.overflow != "drop-head":
        raise ProfileError(
            "guarantees.may_trim_to_length tolerates a length limit's drops: it needs client.max_length or "
            "client.max_length_bytes with client.overflow = 'drop-head' (reject-publish refuses a publish "
            "instead of dropping a confirmed one)"
        )
    if not c.dead_letters:
        raise ProfileError(
            "guarantees.may_trim_to_length needs a dead-letter exchange to tell a message the limit dropped from "
            "a lost one: set client.dead_letter_exchange = true"
        )


def _check_overflow(c: RabbitMQClientSettings) -> None:
    """What RabbitMQ refuses when the queue is declared, said before any cluster starts."""
    for key, limit in (("max_length", c.max_length), ("max_length_bytes", c.max_length_bytes)):
        if limit is not None and limit < 1:
            raise ProfileError(f"client.{key} must be >= 1 (got {limit})")
    if not c.length_limited:
        return
    if c.queue_type == "quorum" and c.overflow == "reject-publish-dlx":
        raise ProfileError("client.overflow = 'reject-publish-dlx' is for classic queues (a quorum queue refuses it)")
    at_least_once = c.queue_type == "quorum" and c.dead_letters and c.dead_letter_strategy == "at-least-once"
    if at_least_once and c.overflow != "reject-publish":
        raise ProfileError(
            "client.dead_letter_strategy = 'at-least-once' needs client.overflow = 'reject-publish' "
            "(RabbitMQ falls back to at-most-once otherwise): set it, or dead_letter_strategy = 'at-most-once'"
        )


def _check_priorities(profile: RabbitMQProfile) -> None:
    """Priorities the queue would ignore are refused: a classic queue without x-max-priority, a quorum
    queue before 4.0; and x-max-priority is taken for a classic queue only (a quorum queue's priorities are
    always on from 4.0)."""
    c = profile.client
    if c.max_priority is not None:
        if not 1 <= c.max_priority <= 255:
            raise ProfileError(f"client.max_priority (x-max-priority) must be 1-255 (got {c.max_priority})")
        if c.queue_type != "classic":
            raise ProfileError(
                "client.max_priority (x-max-priority) is a classic queue's here: a quorum queue's priorities are "
                "always on from RabbitMQ 4.0 (set client.priorities alone)"
            )
    if c.priorities is None:
        return
    if not c.priorities or any(not 0 <= p <= 255 for p in c.priorities):
        raise ProfileError(f"client.priorities must list message priorities of 0-255 (got {c.priorities})")
    if c.queue_type == "classic" and c.max_priority is None:
        raise ProfileError(
            "client.priorities: a classic queue without x-max-priority ignores them: set client.max_priority"
        )
    if c.queue_type == "quorum" and series(profile.version or DEFAULT_VERSION)[0] < 4:
        raise ProfileError(f"client.priorities: quorum queues on RabbitMQ {profile.version} ignore priorities (4.0+)")


def _check_routing(profile: RabbitMQProfile) -> None:
    """An exchange needs queues bound to it, and (direct, topic) keys to route by. Each bound queue has its
    own dead-letter exchange and queue, so dead letters and policy drops are judged queue by queue."""
    c = profile.client
    if c.exchange_type == "default":
        for key in ("bindings", "routing_keys", "alternate_exchange"):
            if getattr(c, key) not in (None, False):
                raise ProfileError(f"client.{key} routes through an exchange: set client.exchange_type")
        return
    if not c.bindings:
        raise ProfileError(f"client.exchange_type = '{c.exchange_type}' needs client.bindings (queue -> binding keys)")
    if UNROUTED in c.bindings:
        raise ProfileError(
            f"client.bindings: {UNROUTED!r} is the alternate exchange's queue (client.alternate_exchange)"
        )
    if c.exchange_type == "fanout":
        if c.routing_keys or any(c.bindings.values()):
            raise ProfileError("client.exchange_type = 'fanout' routes to every bound queue: it takes no keys")
    elif not c.routing_keys:
        raise ProfileError(f"client.exchange_type = '{c.exchange_type}' needs client.routing_keys to publish with")
    if c.exchange_type == "headers":
        specs = [*(c.routing_keys or []), *(b for keys in c.bindings.values() for b in keys)]
        bad = [s for s in specs if not all("=" in pair for pair in s.removeprefix("any:").split(","))]
        if bad:
            raise ProfileError(f"client.exchange_type = 'headers': write headers as name=value,... (got {bad[0]!r})")
    _check_poison_reaches_every_queue(profile)


def _check_poison_reaches_every_queue(profile: RabbitMQProfile) -> None:
    """Each producer publishes with the routing keys in turn and makes every ``poison_every``-th message
    poison: where the two periods line up, some bound queue never gets a poison message, and its dead
    letters could never be judged (``dead_letter`` unknown on every run). Refused at load instead."""
    c, every = profile.client, profile.workload.poison_every
    if not (every and profile.guarantees.dead_letter and c.bindings and c.routing_keys):
        return
    keys = c.routing_keys

    def queues_of(key: str) -> list[str]:
        return queues_for(c.exchange_type, c.bindings or {}, key, alternate_exchange=c.alternate_exchange)

    poison_keys = {keys[(k * every + every - 1) % len(keys)] for k in range(len(keys))}
    reached = {q for key in poison_keys for q in queues_of(key)}
    missed = [q for q in dict.fromkeys(q for key in keys for q in queues_of(key)) if q not in reached]
    if missed:
        raise ProfileError(
            f"workload.poison_every = {every} with {len(keys)} client.routing_keys in turn: every poison message "
            f"is published with {', '.join(sorted(poison_keys))}, so queue {missed[0]} never gets one and its "
            "dead letters cannot be judged (a poison_every that shares no factor with the number of keys "
            "reaches them all)"
        )


def _check_classic_storage(profile: RabbitMQProfile) -> None:
    """A classic queue's storage settings, refused where the queue or the version would ignore them."""
    c = profile.client
    version = profile.version or DEFAULT_VERSION
    if c.queue_mode == "lazy":
        if c.queue_type != "classic":
            raise ProfileError("client.queue_mode = 'lazy' (x-queue-mode) is a classic queue's")
        if series(version) >= (3, 12):
            raise ProfileError(
                f"client.queue_mode = 'lazy': RabbitMQ {version} ignores x-queue-mode (since 3.12 every classic "
                "queue keeps its messages on disk)"
            )
    if c.queue_version is None:
        return
    if c.queue_type != "classic":
        raise ProfileError("client.queue_version (x-queue-version) is a classic queue's")
    if c.queue_version not in (1, 2):
        raise ProfileError(f"client.queue_version (x-queue-version) must be 1 or 2 (got {c.queue_version})")
    if series(version) < (3, 10):
        raise ProfileError(f"client.queue_version: RabbitMQ {version} has no classic queue version 2 (3.10+)")
    if c.queue_version == 1 and series(version) >= (4, 0):
        raise ProfileError(f"client.queue_version = 1: RabbitMQ {version} has only version 2 classic queues")
