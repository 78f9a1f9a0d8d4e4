"""Kafka under faults: the guarantees of the profile's producers and consumer group, for each fault
family it draws from (killed or isolated partition leader, lost responses, crashed consumer, ...)."""

import pytest

from chaos.plugin import ChaosCase

pytestmark = pytest.mark.broker("kafka")


def test_no_acknowledged_message_is_lost(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("no_loss")


def test_no_message_is_written_twice(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("no_duplicates")


def test_each_key_is_consumed_in_order(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("order")


def test_exactly_once_no_aborted_or_duplicated_records_are_read(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("exactly_once")


def test_poison_messages_end_in_the_dead_letter_topic_once(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("dead_letter")


def test_producing_resumes_after_every_heal(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("recovery")


def test_no_partition_stays_under_replicated_after_every_heal(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("broker_health")
