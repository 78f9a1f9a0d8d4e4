"""The pause-consumers fault: every consumer holds still while paused and goes on after the heal; a
consumer that never reports holding is left out of the targets (the pause did not happen to it), and
one with nothing to hold is no target at all."""

from __future__ import annotations

import time

from chaos.history import OK, MemoryHistory
from chaos.workloads.base import ConsumerPause, LoadBudget, Workload


class TurnRecording(Workload):
    """Consumers that record one ``receive`` per turn and hold while paused (one may be deaf to it)."""

    def __init__(self, consumers: int, deaf: str | None = None) -> None:
        self.recorded = MemoryHistory()
        super().__init__(self.recorded, LoadBudget(), producers=0, consumers=consumers)
        self.deaf = deaf

    def produce(self, index: int) -> None:
        pass

    def consume(self, index: int) -> None:
        process = f"consumer-{index + 1}"
        while self.consuming_as(process):
            if process != self.deaf:
                self.hold_while_paused(process)
            self.history.record(process, OK, "receive", {"id": f"{process}-{time.monotonic_ns()}"})
            time.sleep(0.01)

    def backlog(self) -> int | None:
        return 0


def receivers_during(workload: TurnRecording, seconds: float) -> set[str]:
    before = len(workload.recorded.ops)
    time.sleep(seconds)
    return {op.process for op in workload.recorded.ops[before:]}


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
