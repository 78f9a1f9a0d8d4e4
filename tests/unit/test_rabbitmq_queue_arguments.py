"""The queue a RabbitMQ profile declares: its length limit and overflow as the profile names them, the
overflow at-least-once dead-lettering needs, and its TTLs; what a dead letter records of itself. Pure: the
arguments are computed from the profile alone."""

from __future__ import annotations

import datetime
import time
from types import SimpleNamespace
from typing import Any

import pytest

from chaos.brokers.rabbitmq.workload import RabbitMQWorkload, dead_letter_record
from chaos.profiles import parse_profile
from chaos.settings import ProfileError


def arguments(client: dict[str, Any]) -> dict[str, Any]:
    profile = parse_profile({"name": "q", "broker": "rabbitmq", "client": client})
    workload = SimpleNamespace(client=profile.client, dead_letters={"q": ("q.dlx", "q.dlq")})
    return RabbitMQWorkload._arguments(workload, "q")  # type: ignore[arg-type]


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


def test_the_dead_letter_exchange_is_the_profiles_choice_apart_from_the_poison_mode() -> None:
    args = arguments({"dead_letter_exchange": False})  # a delivery limit, and nowhere to dead-letter to
    assert args["x-delivery-limit"] == 3 and "x-dead-letter-exchange" not in args
    assert "x-dead-letter-strategy" not in args and "x-overflow" not in args
    args = arguments({"poison": "requeue", "dead_letter_exchange": True, "message_ttl_ms": 1000})
    assert args["x-dead-letter-exchange"] == "q.dlx" and "x-delivery-limit" not in args


def test_a_policy_that_needs_dead_letters_is_refused_without_a_dead_letter_exchange() -> None:
    with pytest.raises(ProfileError, match=r"client\.dead_letter_exchange = true"):
        parse_profile(
            {
                "name": "q",
                "broker": "rabbitmq",
                "client": {"message_ttl_ms": 1000, "dead_letter_exchange": False},
                "guarantees": {"may_expire_after_s": 2.0},
            }
        )


def properties(client: dict[str, Any]) -> Any:
    profile = parse_profile({"name": "q", "broker": "rabbitmq", "client": client})
    return RabbitMQWorkload._properties(SimpleNamespace(client=profile.client), {"id": "m1"})  # type: ignore[arg-type]


def test_a_ttl_is_declared_as_x_message_ttl_and_a_per_message_one_as_each_message_expiration() -> None:
    assert arguments({"message_ttl_ms": 4000})["x-message-ttl"] == 4000
    assert "x-message-ttl" not in arguments({})
    published = properties({"expiration_ms": 2500})
    assert (published.expiration, published.message_id, published.delivery_mode) == ("2500", "m1", 2)
    assert properties({}).expiration is None


def test_a_dead_letter_records_when_the_broker_dead_lettered_it_on_the_history_clock() -> None:
    died = datetime.datetime.fromtimestamp(int(time.time()) - 3, datetime.UTC)
    headers = {"x-death": [{"reason": "expired", "count": 1, "time": died}], "x-first-death-reason": "expired"}
    record = dead_letter_record({"id": "m1"}, SimpleNamespace(headers=headers))
    assert record["reason"] == "expired" and record["times_dead_lettered"] == 1
    ago_s = (time.monotonic_ns() - record["dead_lettered_at"]) / 1e9
    assert 3.0 <= ago_s < 4.1  # whole seconds, rounded down: 3-4 s ago


def test_a_byte_limit_is_declared_as_x_max_length_bytes_with_its_overflow() -> None:
    args = arguments({"max_length_bytes": 20000, "overflow": "drop-head", "dead_letter_strategy": "at-most-once"})
    assert (args["x-max-length-bytes"], args["x-overflow"]) == (20000, "drop-head")
    assert "x-max-length" not in args
    both = arguments({"max_length": 50, "max_length_bytes": 20000, "overflow": "reject-publish"})
    assert (both["x-max-length"], both["x-max-length-bytes"], both["x-overflow"]) == (50, 20000, "reject-publish")


def test_a_lazy_or_versioned_classic_queue_declares_x_queue_mode_and_x_queue_version() -> None:
    args = arguments({"queue_type": "classic", "poison": "reject", "queue_mode": "lazy", "queue_version": 2})
    assert (args["x-queue-mode"], args["x-queue-version"]) == ("lazy", 2)
    assert "x-queue-mode" not in arguments({}) and "x-queue-version" not in arguments({})


@pytest.mark.parametrize(
    ("client", "version", "says"),
    [
        ({"queue_mode": "lazy"}, "3.10.8", "classic queue's"),
        ({"queue_type": "classic", "poison": "reject", "queue_mode": "lazy"}, "4.3.6", "ignores x-queue-mode"),
        ({"queue_type": "classic", "poison": "reject", "queue_version": 1}, "4.0.5", "only version 2"),
        ({"queue_type": "classic", "poison": "reject", "queue_version": 3}, "3.10.8", "1 or 2"),
        ({"queue_version": 2}, "3.10.8", "classic queue's"),
    ],
)
def test_storage_settings_the_queue_would_ignore_are_refused_at_load(
    client: dict[str, Any], version: str, says: str
) -> None:
    with pytest.raises(ProfileError, match=says):
        parse_profile({"name": "q", "broker": "rabbitmq", "version": version, "client": client})
