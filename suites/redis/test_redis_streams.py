"""Redis (and Valkey) Streams under faults: the guarantees a team relies on, for each fault family its
profile draws from (killed or frozen primary, blackholed client link, crashed consumer, ...)."""

import pytest

from chaos.plugin import ChaosCase

pytestmark = pytest.mark.broker("redis", "valkey")


def test_no_acknowledged_entry_is_lost(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("no_loss")


def test_no_entry_is_written_twice(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("no_duplicates")


def test_each_producers_entries_arrive_in_order(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("order")


def test_poison_entries_end_in_the_dead_letter_stream_once(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("dead_letter")


def test_the_stream_serves_again_after_every_heal(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("recovery")


def test_replication_catches_up_after_every_heal(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("broker_health")
