"""The Redis Streams sections of a profile (``[cluster]``, ``[client]``) and the checks a profile passes at
load (Valkey takes the same)."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.profiles import Profile
from chaos.settings import ProfileError, at_least, choice, refuse_shared_dead_letters, used_only


@dataclass(frozen=True)
class RedisClusterSettings:
    replicas: int = at_least(2, 0)  # replicas of the primary
    sentinels: int = at_least(3, 1)  # Sentinel processes watching the primary
    appendonly: bool = True  # appendonly
    appendfsync: str = choice("always", "always", "everysec", "no")  # appendfsync
    save: str = ""  # save (RDB snapshots), e.g. "60 1000"; "" disables them
    min_replicas_to_write: int = at_least(0, 0)  # min-replicas-to-write (0: off)
    extra: dict[str, str] | None = None  # more redis.conf lines, as Redis names them


@dataclass(frozen=True)
class RedisClientSettings:
    retries: int = at_least(0, 0)  # redis-py's retries of a command that failed on the connection
    timeout_s: float = at_least(1.0, 0.1)  # redis-py's socket timeout
    # when consumers XACK: after processing, before it, or NOACK
    ack: str = choice("after_processing", "after_processing", "before_processing", "noack")
    reclaim: bool = True  # consumers claim other consumers' idle pending entries
    # how long an entry stays pending before another consumer may claim it (the min-idle-time argument)
    reclaim_idle_ms: int = used_only(at_least(1000, 1), lambda c: c.reclaim, "client.reclaim = true")
    # XAUTOCLAIM (Redis 6.2+), or XPENDING with IDLE then XCLAIM of what it listed (the older recipe)
    reclaim_with: str = used_only(
        choice("xautoclaim", "xautoclaim", "xpending_xclaim"), lambda c: c.reclaim, "client.reclaim = true"
    )
    max_deliveries: int = at_least(3, 0)  # 0: no limit (poison retried forever)
    pipeline: int = at_least(50, 1)  # XADDs per round trip
    # XADD ... MAXLEN: the stream keeps about its newest maxlen entries, older ones are trimmed (0: no cap)
    maxlen: int = at_least(0, 0)
    # MAXLEN ~ (trims whole macro nodes, keeping at least maxlen) rather than MAXLEN = (exactly maxlen)
    maxlen_approximate: bool = used_only(True, lambda c: c.maxlen > 0, "client.maxlen > 0")
    # XADD ... MINID: entries older than this many milliseconds may be trimmed — each XADD's threshold is
    # the producer's clock minus this (0: none; an XADD takes MAXLEN or MINID, not both)
    minid_age_ms: int = at_least(0, 0)
    # MINID ~ (trims whole macro nodes, keeping at least what is newer) rather than MINID = (exactly)
    minid_approximate: bool = used_only(True, lambda c: c.minid_age_ms > 0, "client.minid_age_ms > 0")
    # who trims by client.maxlen / client.minid_age_ms: each XADD (its own MAXLEN / MINID argument), or a
    # trimmer of its own that runs XTRIM every xtrim_interval_ms while the producers write
    trim_with: str = used_only(
        choice("xadd", "xadd", "xtrim"),
        lambda c: c.maxlen > 0 or c.minid_age_ms > 0,
        "client.maxlen > 0 or client.minid_age_ms > 0",
    )
    # milliseconds between the trimmer's XTRIM commands
    xtrim_interval_ms: int = used_only(
        at_least(1000, 10), lambda c: c.trim_with == "xtrim", "client.trim_with = 'xtrim'"
    )
    # consumer groups reading the stream (XGROUP CREATE), each of workload.consumers members: each must
    # read every entry. Client faults work on the first group; the others read alongside it, and are
    # judged apart (a group's reads are no evidence for another's)
    consumer_groups: int = at_least(1, 1)
    # batches written ahead of their replies (one at a time when redis-py may resend: client.retries)
    in_flight: int = used_only(at_least(4, 1), lambda c: c.retries == 0, "client.retries = 0")


# What this folder's code reads of a profile: its own [cluster] and [client] tables, typed.
RedisProfile = Profile[RedisClusterSettings, RedisClientSettings]


def check(profile: RedisProfile) -> None:
    if profile.client.maxlen and profile.client.minid_age_ms:
        raise ProfileError("client.maxlen and client.minid_age_ms: an XADD trims by MAXLEN or by MINID, not both")
    if profile.guarantees.may_expire_after_s is not None and not profile.client.minid_age_ms:
        raise ProfileError(
            "guarantees.may_expire_after_s tolerates trimming by age, and this profile sets no client.minid_age_ms "
            "(client.maxlen trims by length: guarantees.may_trim_to_length tolerates that)"
        )
    if profile.guarantees.may_compact:
        raise ProfileError("guarantees.may_compact: a Redis stream is never compacted (it trims: client.maxlen)")
    if profile.guarantees.may_trim_to_length and not profile.client.maxlen:
        raise ProfileError("guarantees.may_trim_to_length tolerates trimming, and this profile sets no client.maxlen")
    refuse_shared_dead_letters(
        profile.client.consumer_groups,
        profile.workload.poison_every,
        profile.client.max_deliveries > 0,
        target="dead-letter stream",
        off="client.max_deliveries = 0",
        message="entry",
    )
    if profile.client.ack == "noack" and profile.guarantees.dead_letter:
        raise ProfileError("client.ack = 'noack' cannot dead-letter (nothing stays pending)")
