"""Profiles are validated on load: one clear error naming the key; every shipped profile loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.errors import UsageError
from chaos.profiles import default_profiles, load_profile, parse_profile, shipped_profiles
from chaos.settings import ProfileError

BASE = {"name": "p", "broker": "kafka"}


def test_every_shipped_profile_loads_and_the_defaults_are_the_safe_ones() -> None:
    profiles = [load_profile(p) for p in shipped_profiles()]
    assert {p.catalogue for p in profiles} >= {f"K{i}" for i in range(9)} | {f"R{i}" for i in range(8)} | {
        f"S{i}" for i in range(7)
    }
    assert [load_profile(p).expect for p in default_profiles()] == ["pass", "pass", "pass"]
    assert all(p.expect_anomalies for p in profiles if p.expect == "fail")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**BASE, "colour": "red"}, "unknown key colour"),
        ({**BASE, "client": {"ackz": "all"}}, "unknown key client.ackz"),
        ({**BASE, "client": {"acks": 1}}, "client.acks must be str"),
        ({**BASE, "client": {"acks": "2"}}, "client.acks must be one of all, 1, 0"),
        ({**BASE, "workload": {"rate": -5}}, "workload.rate must be >= 1"),
        ({**BASE, "client": {"acks": "1"}}, "idempotence = true requires client.acks = 'all'"),
        ({**BASE, "guarantees": {"exactly_once": True}}, "exactly_once needs client.transactional"),
        ({**BASE, "faults": {"families": ["meteor"]}}, "'meteor' is not a kafka fault family"),
        ({**BASE, "client": {"consumer_groups": 0}}, "client.consumer_groups must be >= 1"),
        ({**BASE, "client": {"transaction_topics": 2}}, "has no effect unless client.transactional = true"),
        (
            {**BASE, "client": {"transactional": True, "transaction_topics": 2}, "workload": {"poison_every": 9}},
            "each topic's readers would dead-letter their copy",
        ),
        (
            {
                **BASE,
                "cluster": {"topic_config": {"cleanup.policy": "compact"}},
                "client": {"transactional": True, "transaction_topics": 2},
                "workload": {"poison_every": 0},
            },
            "cleanup.policy = compact: a policy that deletes part of a transaction would read as a torn",
        ),
        (
            {**BASE, "client": {"consumer_groups": 2}, "workload": {"poison_every": 50}},
            "every group would write the same poison message to the one dead-letter topic",
        ),
        (
            {**BASE, "client": {"consumer_groups": 2, "transform": True, "transactional": True}},
            "the exactly-once pipeline (client.transform) runs one group",
        ),
        ({**BASE, "broker": "rabbitmq", "client": {"consumer_groups": 2}}, "unknown key client.consumer_groups"),
        ({**BASE, "broker": "rabbitmq", "client": {"bindings": {"q": ["k"]}}}, "set client.exchange_type"),
        ({**BASE, "broker": "rabbitmq", "client": {"exchange_type": "topic"}}, "needs client.bindings"),
        (
            {**BASE, "broker": "rabbitmq", "client": {"exchange_type": "topic", "bindings": {"q": ["a.*"]}}},
            "needs client.routing_keys",
        ),
        (
            {**BASE, "broker": "rabbitmq", "client": {"exchange_type": "fanout", "bindings": {"q": ["a"]}}},
            "it takes no keys",
        ),
        (
            {**BASE, "broker": "rabbitmq", "client": {"exchange_type": "direct", "bindings": {"q": "a"}}},
            "client.bindings must be dict[str, list[str]]",
        ),
        (
            {
                **BASE,
                "broker": "rabbitmq",
                "client": {
                    "exchange_type": "direct",
                    "bindings": {"eu": ["orders.eu"], "all": ["orders.eu", "orders.us"]},
                    "routing_keys": ["orders.eu", "orders.us"],
                },
                "workload": {"poison_every": 50},
                "guarantees": {"dead_letter": True},
            },
            "so queue eu never gets one",
        ),
        (
            {
                **BASE,
                "broker": "rabbitmq",
                "client": {
                    "exchange_type": "direct",
                    "bindings": {"eu": ["orders.eu"]},
                    "routing_keys": ["audit.log", "orders.eu"],
                    "alternate_exchange": True,
                },
                "workload": {"poison_every": 10},
                "guarantees": {"dead_letter": True},
            },
            "so queue unrouted never gets one",
        ),
        (
            {**BASE, "broker": "redis", "client": {"consumer_groups": 3}, "workload": {"poison_every": 20}},
            "every group would write the same poison entry to the one dead-letter stream",
        ),
        ({**BASE, "expect": "fail"}, "needs expect_anomalies"),
        ({**BASE, "broker": "kafkaesque"}, "unknown broker 'kafkaesque'"),
        ({**BASE, "version": "0.8"}, "unknown kafka version '0.8'"),
        ({"broker": "redis"}, "name is required"),
        ({**BASE, "broker": "rabbitmq", "client": {"queue_type": "quorum", "durable": False}}, "quorum queue"),
        ({**BASE, "broker": "redis", "guarantees": {"dead_letter": True}}, "needs poison messages"),
        ({**BASE, "faults": {"families": ["stale-replica-left"]}}, "cluster.brokers = 5"),
        ({**BASE, "cluster": {"brokers": 2}}, "cluster.brokers must be >= 3"),
        ({**BASE, "broker": "rabbitmq", "client": {"mirrored": True}}, "mirrors a classic queue"),
        (
            {
                **BASE,
                "broker": "rabbitmq",
                "version": "4.0.5",
                "client": {"queue_type": "classic", "mirrored": True, "poison": "reject"},
            },
            "RabbitMQ 4.0.5 has no classic queue mirroring",
        ),
        ({**BASE, "workload": {"duration_s": 10, "consumers_start_after_s": 10}}, "shorter than workload.duration_s"),
        ({**BASE, "faults": {"min_duration_s": 9}}, "faults.min_duration_s = 9 does not fit"),
        ({**BASE, "faults": {"min_duration_s": 0.5}}, "faults.min_duration_s must be >= 1"),
        ({**BASE, "client": {"heartbeat_interval_ms": 6000}}, "must be below client.session_timeout_ms (6000)"),
        ({**BASE, "client": {"session_timeout_ms": 3000}}, "the brokers accept 6000..1800000"),
        (
            {**BASE, "cluster": {"server_properties": {"group.min.session.timeout.ms": "6s"}}},
            "group.min.session.timeout.ms must be a number of milliseconds",
        ),
        (
            {**BASE, "client": {"partition_assignment_strategy": "sticky"}},
            "client.partition_assignment_strategy must be one of",
        ),
        ({**BASE, "broker": "redis", "client": {"reclaim": False, "reclaim_idle_ms": 500}}, "client.reclaim = true"),
        ({**BASE, "broker": "redis", "client": {"reclaim_with": "xclaim"}}, "client.reclaim_with must be one of"),
        ({**BASE, "guarantees": {"may_expire_after_s": 2.0}}, "tolerates deletion by retention, and this profile"),
        (
            {**BASE, "cluster": {"topic_config": {"retention.ms": "1000"}}, "guarantees": {"may_expire_after_s": 0.0}},
            "may_expire_after_s must be above 0",
        ),
        ({**BASE, "broker": "redis", "guarantees": {"may_expire_after_s": 2.0}}, "sets no client.minid_age_ms"),
        (
            {**BASE, "broker": "redis", "client": {"maxlen": 100, "minid_age_ms": 5000}},
            "an XADD trims by MAXLEN or by MINID, not both",
        ),
        ({**BASE, "broker": "redis", "client": {"minid_approximate": False}}, "unless client.minid_age_ms > 0"),
        (
            {**BASE, "broker": "rabbitmq", "client": {"max_length": 100, "overflow": "drop-head"}},
            "'at-least-once' needs client.overflow = 'reject-publish'",
        ),
        (
            {**BASE, "broker": "rabbitmq", "client": {"max_length": 100, "overflow": "reject-publish-dlx"}},
            "is for classic queues",
        ),
        ({**BASE, "broker": "rabbitmq", "client": {"overflow": "reject-publish"}}, "client.max_length (x-max-length)"),
        ({**BASE, "broker": "rabbitmq", "client": {"max_length": 0}}, "client.max_length must be >= 1"),
        ({**BASE, "broker": "rabbitmq", "guarantees": {"may_expire_after_s": 2.0}}, "this profile sets no TTL"),
        (
            {
                **BASE,
                "broker": "rabbitmq",
                "client": {"message_ttl_ms": 5000, "poison": "requeue"},
                "guarantees": {"may_expire_after_s": 2.0},
            },
            "needs a dead-letter exchange",
        ),
        (
            {**BASE, "broker": "rabbitmq", "client": {"expiration_ms": 5000}, "guarantees": {"may_expire_after_s": 0}},
            "must be above 0",
        ),
        ({**BASE, "broker": "rabbitmq", "client": {"message_ttl_ms": -1}}, "client.message_ttl_ms must be >= 0"),
        ({**BASE, "broker": "redis", "guarantees": {"may_trim_to_length": True}}, "sets no client.maxlen"),
        ({**BASE, "meta_attempts": 0}, "meta_attempts must be a whole number from 1 to 5"),
        ({**BASE, "client": {"max_poll_interval_ms": 5000}}, "must be at least client.session_timeout_ms (6000)"),
        ({**BASE, "broker": "redis", "faults": {"families": ["stall-consumer"]}}, "not a redis fault family"),
        ({**BASE, "meta_attempts": 2}, "meta_attempts is for a catalogue row"),
        (
            {
                **BASE,
                "broker": "rabbitmq",
                "client": {"max_length": 10, "overflow": "reject-publish"},
                "guarantees": {"may_trim_to_length": True},
            },
            "client.overflow = 'drop-head' (reject-publish refuses",
        ),
        (
            {
                **BASE,
                "broker": "rabbitmq",
                "client": {"max_length": 10, "poison": "requeue"},
                "guarantees": {"may_trim_to_length": True},
            },
            "may_trim_to_length needs a dead-letter exchange",
        ),
        ({**BASE, "guarantees": {"may_trim_to_length": True}}, "set cluster.topic_config retention.bytes"),
        ({**BASE, "broker": "rabbitmq", "client": {"max_length_bytes": 0}}, "client.max_length_bytes must be >= 1"),
        (
            {**BASE, "broker": "rabbitmq", "client": {"overflow": "reject-publish"}},
            "client.overflow has no effect unless client.max_length (x-max-length) or client.max_length_bytes",
        ),
        (
            {**BASE, "broker": "rabbitmq", "faults": {"families": ["lose-disk-coordinator"]}},
            "'lose-disk-coordinator' is not a rabbitmq fault family",
        ),
        (
            {**BASE, "guarantees": {"no_loss": False, "may_expire_after_s": 2.0}},
            "has no effect unless guarantees.no_loss = true",
        ),
    ],
)
def test_bad_profiles_name_the_key(data: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(UsageError, match=None) as caught:
        parse_profile(data)
    assert message in str(caught.value)


def test_a_broken_file_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nbroker = "redis"\n[client]\nack = "sometimes"\n')
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert str(caught.value).startswith(f"profile {path}: client.ack must be one of")
    path.write_text("name = ")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(path)
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(tmp_path / "missing.toml")


def test_a_fault_longer_than_the_budget_s_workload_is_refused_not_cut() -> None:
    from chaos.plugin.suites import check_budget
    from chaos.schedule.budget import BUDGETS

    profile = parse_profile({**BASE, "workload": {"duration_s": 25}, "faults": {"min_duration_s": 15}})
    check_budget([profile], BUDGETS["nightly"])
    with pytest.raises(UsageError, match=r"min_duration_s = 15 does not fit.*smoke budget's workload"):
        check_budget([profile], BUDGETS["smoke"])


def test_a_session_timeout_the_brokers_allow_loads() -> None:
    data = {
        **BASE,
        "cluster": {"server_properties": {"group.min.session.timeout.ms": "2000"}},
        "client": {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500, "static_membership": True},
    }
    client = parse_profile(data).client
    assert (client.session_timeout_ms, client.heartbeat_interval_ms, client.static_membership) == (3000, 500, True)


def test_a_stated_expiry_with_a_retention_loads() -> None:
    for cluster in (
        {"topic_config": {"retention.ms": "1000"}},
        {"server_properties": {"log.retention.ms": "60000"}},
    ):
        profile = parse_profile({**BASE, "cluster": cluster, "guarantees": {"may_expire_after_s": 1.0}})
        assert profile.guarantees.may_expire_after_s == 1.0
