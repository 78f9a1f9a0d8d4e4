"""The stall-consumer fault: one consumer stops between two messages of its batch — receiving nothing
more, while the others go on — and carries on after the heal; with no consumer to stall, or one that
never reaches a stall point, the fault hits nothing (it did not happen)."""

from __future__ import annotations

from chaos.workloads.base import ConsumerStall
from tests.unit.model_workloads import TurnRecording, receivers_during


def test_one_consumer_stalls_while_the_others_go_on_and_it_carries_on_after_the_heal() -> None:
    workload = TurnRecording(consumers=2)
    workload.start()
    try:
        fault = ConsumerStall(workload)
        fault.apply()
        assert fault.targets == ["consumer-1"]
        assert receivers_during(workload, 0.2) == {"consumer-2"}
        fault.heal()
        assert receivers_during(workload, 0.2) == {"consumer-1", "consumer-2"}
    finally:
        workload._consuming.clear()


def test_a_consumer_that_never_reaches_a_stall_point_is_no_target() -> None:
    workload = TurnRecording(consumers=1, deaf="consumer-1")
    workload.start()
    try:
        fault = ConsumerStall(workload, stall_within_s=0.3)
        fault.apply()
        assert fault.targets == []
        assert receivers_during(workload, 0.2) == {"consumer-1"}
        fault.heal()
    finally:
        workload._consuming.clear()


def test_with_no_consumer_running_the_stall_hits_nothing() -> None:
    workload = TurnRecording(consumers=0)
    workload.start()
    try:
        fault = ConsumerStall(workload, stall_within_s=0.2)
        fault.apply()
        assert fault.targets == []
        fault.heal()
    finally:
        workload._consuming.clear()


def test_a_stalled_consumer_lets_go_when_the_run_stops_consuming() -> None:
    workload = TurnRecording(consumers=1)
    workload.start()
    fault = ConsumerStall(workload)
    fault.apply()
    assert fault.targets == ["consumer-1"]
    workload._consuming.clear()  # the run ends while it is stalled: the thread must not hang
    for thread in workload._threads:
        thread.join(2)
        assert not thread.is_alive()
    fault.heal()
