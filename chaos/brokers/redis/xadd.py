"""XADD batches to a Redis primary, a few batches written ahead of their replies.

Why: a pipeline of XADDs costs one round trip through Toxiproxy, and with one batch at a time the
producer spends about half its time waiting for replies. Redis answers the commands of one connection
in order, so writing the next batch before reading the last one's replies changes nothing about what
each reply means — a reply is still the outcome of exactly one XADD — while the wire stays busy.

A link that breaks leaves every batch in flight indeterminate (any prefix of them may have been
applied): the producer records those as ``info``. With client retries (``client.retries``) redis-py must
resend a failed batch itself, so that link sends one batch at a time through redis-py's own pipeline.
"""

from __future__ import annotations

from typing import Any, Protocol

import redis


class NotConnectedError(redis.ConnectionError):
    """The link could not be opened: nothing of the batch reached the server (a definite failure)."""


def xadd_args(stream: str, fields: dict[str, str], cap: tuple[str, ...] = ()) -> tuple[str, ...]:
    """``cap``: the trimming arguments (:func:`maxlen_args`, :func:`minid_args`)."""
    flat = [part for pair in fields.items() for part in pair]
    return ("XADD", stream, *cap, "*", *flat)


def maxlen_args(maxlen: int, approximate: bool) -> tuple[str, ...]:
    """XADD's ``MAXLEN [~|=] N`` (nothing when ``maxlen`` is 0: no cap)."""
    return ("MAXLEN", "~" if approximate else "=", str(maxlen)) if maxlen else ()


def minid_args(threshold_ms: int, approximate: bool) -> tuple[str, ...]:
    """XADD's ``MINID [~|=] <ms>``: the entries whose ids are below ``threshold_ms`` may be trimmed."""
    return ("MINID", "~" if approximate else "=", str(threshold_ms))


class XaddLink(Protocol):
    depth: int  # batches that may await their replies at once

    def send(self, batch: list[dict[str, str]], cap: tuple[str, ...] = ()) -> None:
        """Write one batch of XADDs, each trimming by ``cap``."""
        ...

    def replies(self, size: int) -> list[Any]:
        """The outcomes of the oldest batch sent: an entry id, or the error Redis answered with."""
        ...

    def close(self) -> None: ...


class WriteAheadLink:
    """One connection of ``client``'s pool; batches written ahead, replies read in order."""

    def __init__(self, client: redis.Redis, stream: str, depth: int) -> None:
        self.client = client
        self.stream = stream
        self.depth = depth
        self._connection: Any = None

    @property
    def connection(self) -> Any:
        """The pool's connection, opened (and handshaken) on first use."""
        if self._connection is None:
            try:
                self._connection = self.client.connection_pool.get_connection()
            except (redis.RedisError, OSError) as exc:
                raise NotConnectedError(f"Error connecting: {exc!r}"[:200]) from exc
        return self._connection

    def send(self, batch: list[dict[str, str]], cap: tuple[str, ...] = ()) -> None:
        connection = self.connection
        commands = [xadd_args(self.stream, fields, cap) for fields in batch]
        connection.send_packed_command(connection.pack_commands(commands), check_health=False)

    def replies(self, size: int) -> list[Any]:
        out: list[Any] = []
        for _ in range(size):
            try:
                out.append(self.connection.read_response())
            except redis.ResponseError as exc:  # this XADD was refused; the reply stream goes on
                out.append(exc)
        return out

    def close(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()
        self.client.close()


class RetryingLink:
    """One batch at a time through redis-py's pipeline, so its retry policy resends what failed."""

    depth = 1

    def __init__(self, client: redis.Redis, stream: str) -> None:
        self.client = client
        self.stream = stream
        self.cap: tuple[str, ...] = ()
        self._batch: list[dict[str, str]] = []

    def send(self, batch: list[dict[str, str]], cap: tuple[str, ...] = ()) -> None:
        self._batch, self.cap = batch, cap

    def replies(self, size: int) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for fields in self._batch[:size]:
            pipe.execute_command(*xadd_args(self.stream, fields, self.cap))
        return list(pipe.execute(raise_on_error=False))

    def close(self) -> None:
        self.client.close()
