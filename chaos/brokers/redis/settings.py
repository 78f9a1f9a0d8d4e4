"""The Redis Streams sections of a profile (``[cluster]``, ``[client]``) and the checks a profile passes at
load (Valkey takes the same)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaos.settings import ProfileError, at_least, choice, used_only


@dataclass(frozen=True)
class RedisClusterSettings:
    replicas: int = at_least(2, 0)
    sentinels: int = at_least(3, 1)
    appendonly: bool = True
    appendfsync: str = choice("always", "always", "everysec", "no")
    save: str = ""
    min_replicas_to_write: int = at_least(0, 0)
    extra: dict[str, str] | None = None


@dataclass(frozen=True)
class RedisClientSettings:
    retries: int = at_least(0, 0)
    timeout_s: float = at_least(1.0, 0.1)
    ack: str = choice("after_processing", "after_processing", "before_processing", "noack")
    reclaim: bool = True
    max_deliveries: int = at_least(3, 0)  # 0: no limit (poison retried forever)
    pipeline: int = at_least(50, 1)  # XADDs per round trip
    # batches written ahead of their replies (one at a time when redis-py may resend: client.retries)
    in_flight: int = used_only(at_least(4, 1), lambda c: c.retries == 0, "client.retries = 0")


def check(profile: Any) -> None:
    if profile.client.ack == "noack" and profile.guarantees.dead_letter:
        raise ProfileError("client.ack = 'noack' cannot dead-letter (nothing stays pending)")
