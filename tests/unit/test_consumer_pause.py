"""The pause-consumers fault: every consumer holds still while paused and goes on after the heal; a
consumer that never reports holding is left out of the targets (the pause did not happen to it), and
one with nothing to hold is no target at all."""

from __future__ import annotations

from chaos.workloads.base import ConsumerPause
from tests.unit.model_workloads import TurnRecording, receivers_during


def test_every_consumer_holds_while_paused_and_goes_on_after_the_heal() -> None:
    workload = TurnRecording(consumers=2)
    workload.start()
    try:
        fault = ConsumerPause(workload)
        fault.apply()
        assert fault.targets == ["consumer-1", "consumer-2"] and fault.not_holding == []
        assert receivers_during(workload, 0.2) == set()
        fault.heal()
        assert receivers_during(workload, 0.2) == {"consumer-1", "consumer-2"}
    finally:
        workload._consuming.clear()


def test_a_consumer_that_does_not_hold_is_not_a_target() -> None:
    workload = TurnRecording(consumers=2, deaf="consumer-2")
    workload.start()
    try:
        fault = ConsumerPause(workload, hold_within_s=0.3)
        fault.apply()
        assert fault.targets == ["consumer-1"] and fault.not_holding == ["consumer-2"]
        assert receivers_during(workload, 0.2) == {"consumer-2"}
        fault.heal()
    finally:
        workload._consuming.clear()


def test_with_no_consumer_running_the_pause_hits_nothing() -> None:
    workload = TurnRecording(consumers=0)
    workload.start()
    try:
        fault = ConsumerPause(workload, hold_within_s=0.2)
        fault.apply()
        assert fault.targets == []
        fault.heal()
        assert not workload.paused
    finally:
        workload._consuming.clear()


def test_a_consumer_stopped_while_paused_is_not_kept_waiting() -> None:
    workload = TurnRecording(consumers=1)
    workload.start()
    fault = ConsumerPause(workload)
    fault.apply()
    workload._consuming.clear()  # the run ends during the pause
    thread = next(t for t in workload._threads if t.name == "consumer-1")
    thread.join(1.0)
    assert not thread.is_alive()
    fault.heal()
