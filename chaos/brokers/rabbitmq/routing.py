"""Where RabbitMQ routes a message: the queues an exchange's bindings give its routing key.

The checkers judge each bound queue on the messages this says it should hold, so a model that is wrong
can only fail a run, never pass one: a message the broker put in a queue this left out is read there as
``unexpected``, and one it left out of a queue this named is ``lost`` there.

- ``direct``: the queues bound with exactly the routing key;
- ``fanout``: every bound queue, whatever the key;
- ``topic``: the queues with a binding pattern that matches the key, word by word (words are separated
  by dots; ``*`` stands for exactly one word, ``#`` for zero or more);
- ``headers``: the routing key is ignored; a message's headers are written ``name=value,name=value``
  (the profile's ``routing_keys``), and a binding ``name=value,...`` matches when every pair is among the
  message's headers (``x-match = all``), or ``any:name=value,...`` when one is (``x-match = any``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers")
# the audience of what no queue is bound for (and no alternate exchange takes): no consumer can read it
UNROUTABLE = "unroutable"
# the alternate exchange's one queue (client.alternate_exchange): it gets what no binding routes
UNROUTED = "unrouted"


def topic_matches(pattern: str, key: str) -> bool:
    """Whether a topic binding ``pattern`` matches routing ``key`` (RabbitMQ's topic exchange rules)."""
    return _match(pattern.split("."), key.split("."))


def _match(pattern: Sequence[str], words: Sequence[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


def header_pairs(spec: str) -> dict[str, str]:
    """``name=value,name=value`` (an ``any:`` prefix aside) as a dict of headers."""
    pairs = spec.removeprefix("any:")
    return dict(pair.split("=", 1) for pair in pairs.split(",") if pair)


def header_binding(spec: str) -> dict[str, str]:
    """A headers binding's arguments: its pairs and ``x-match``."""
    return {**header_pairs(spec), "x-match": "any" if spec.startswith("any:") else "all"}


def headers_match(binding: str, headers: Mapping[str, str]) -> bool:
    """Whether a headers binding (``[any:]name=value,...``) matches a message's ``headers``."""
    wanted = header_pairs(binding).items()
    hits = [headers.get(name) == value for name, value in wanted]
    return any(hits) if binding.startswith("any:") else all(hits)


def routed_queues(exchange_type: str, bindings: Mapping[str, Sequence[str]], key: str) -> list[str]:
    """The queues (``bindings``: queue -> its binding keys) an exchange of ``exchange_type`` routes ``key``
    to, in the bindings' order."""
    if exchange_type == "fanout":
        return list(bindings)
    if exchange_type == "direct":
        return [queue for queue, keys in bindings.items() if key in keys]
    if exchange_type == "topic":
        return [queue for queue, keys in bindings.items() if any(topic_matches(p, key) for p in keys)]
    if exchange_type == "headers":
        headers = header_pairs(key)
        return [queue for queue, specs in bindings.items() if any(headers_match(b, headers) for b in specs)]
    raise ValueError(f"unknown exchange type {exchange_type!r} (known: {', '.join(EXCHANGE_TYPES)})")


def queues_for(
    exchange_type: str, bindings: Mapping[str, Sequence[str]], key: str, *, alternate_exchange: bool
) -> list[str]:
    """The queues that get a message published with ``key``: those the bindings route it to, else the
    alternate exchange's queue; none when there is no alternate exchange (the broker then returns the
    message to a mandatory publisher, or drops it)."""
    return routed_queues(exchange_type, bindings, key) or ([UNROUTED] if alternate_exchange else [])
