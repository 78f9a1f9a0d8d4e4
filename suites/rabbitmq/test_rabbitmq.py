"""RabbitMQ under faults: the guarantees of the profile's queue, publishers and consumers, for each
fault family it draws from (killed or isolated queue leader, blackholed link, crashed consumer, ...)."""

import pytest

from chaos.plugin import ChaosCase

pytestmark = pytest.mark.broker("rabbitmq")


def test_no_confirmed_message_is_lost(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("no_loss")


def test_no_message_is_delivered_twice(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("no_duplicates")


def test_each_publishers_messages_arrive_in_order(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("order")


def test_poison_messages_are_dead_lettered_once(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("dead_letter")


def test_the_queue_serves_again_after_every_heal(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("recovery")


def test_no_node_still_reports_a_partition_after_every_heal(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("broker_health")
