"""The queue a RabbitMQ profile declares: its length limit and overflow as the profile names them, and the
overflow at-least-once dead-lettering needs. Pure: the arguments are computed from the profile alone."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from chaos.brokers.rabbitmq.workload import RabbitMQWorkload
from chaos.profiles import parse_profile


def arguments(client: dict[str, Any]) -> dict[str, Any]:
    profile = parse_profile({"name": "q", "broker": "rabbitmq", "client": client})
    return RabbitMQWorkload._arguments(SimpleNamespace(client=profile.client, dlx="q.dlx"))  # type: ignore[arg-type]


def test_a_length_limit_declares_its_overflow() -> None:
    args = arguments({"max_length": 100, "overflow": "drop-head", "dead_letter_strategy": "at-most-once"})
    assert (args["x-max-length"], args["x-overflow"]) == (100, "drop-head")
    assert "x-dead-letter-strategy" not in args and args["x-dead-letter-exchange"] == "q.dlx"


def test_at_least_once_dead_lettering_declares_reject_publish_with_or_without_a_limit() -> None:
    assert arguments({})["x-overflow"] == "reject-publish" and "x-max-length" not in arguments({})
    args = arguments({"max_length": 10, "overflow": "reject-publish"})
    assert (args["x-max-length"], args["x-overflow"], args["x-dead-letter-strategy"]) == (
        10,
        "reject-publish",
        "at-least-once",
    )


def test_without_dead_lettering_nothing_about_overflow_is_declared() -> None:
    args = arguments({"poison": "requeue"})
    assert "x-overflow" not in args and "x-dead-letter-exchange" not in args
