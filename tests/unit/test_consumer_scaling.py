"""The scale-consumers fault: as many consumers again join while the group works and leave again, each
after its current batch; a consumer that will not leave is reported, never waited on for ever. The
workload here is a small model whose consumers record a batch per turn."""

from __future__ import annotations

import threading
import time

import pytest

from chaos.history import OK, MemoryHistory
from chaos.workloads.base import ConsumerScaling, LoadBudget, Workload


class BatchCounting(Workload):
    """Consumers that record one ``receive`` per turn and a ``leave`` when their loop ends."""

    def __init__(self, consumers: int, stuck: str | None = None, idle: str | None = None) -> None:
        self.recorded = MemoryHistory()
        super().__init__(self.recorded, LoadBudget(), producers=0, consumers=consumers)
        self.stuck = stuck
        self.idle = idle  # a consumer that is handed nothing (a group that gives it no partition)
        self.release = threading.Event()

    def produce(self, index: int) -> None:
        pass

    def consume(self, index: int) -> None:
        process = f"consumer-{index + 1}"
        while self.consuming_as(process):
            if process != self.idle:
                self.history.record(process, OK, "receive", {"id": f"{process}-{time.monotonic_ns()}"})
                self.count_received(process)
            time.sleep(0.01)
        if process == self.stuck:
            self.release.wait(10)  # stuck in its client library while leaving
        self.history.record(process, OK, "leave")

    def backlog(self) -> int | None:
        return 0


def processes(workload: BatchCounting, f: str) -> set[str]:
    return {op.process for op in workload.recorded.ops if op.f == f}


def test_the_added_consumers_work_and_then_leave_while_the_others_keep_working() -> None:
    workload = BatchCounting(consumers=2)
    workload.start()
    try:
        fault = ConsumerScaling(workload)
        fault.apply()  # held until both added consumers received something
        assert fault.targets == ["consumer-3", "consumer-4"] and fault.idle == []
        assert processes(workload, "receive") == {"consumer-1", "consumer-2", "consumer-3", "consumer-4"}
        fault.heal()
        assert processes(workload, "leave") == {"consumer-3", "consumer-4"}
        before = len(workload.recorded.ops)
        time.sleep(0.1)
        later = {op.process for op in workload.recorded.ops[before:]}
        assert later == {"consumer-1", "consumer-2"}
    finally:
        workload._consuming.clear()
        workload.release.set()


def test_a_consumer_that_does_not_leave_fails_the_heal_by_name() -> None:
    workload = BatchCounting(consumers=1, stuck="consumer-2")
    workload.start()
    try:
        fault = ConsumerScaling(workload, leave_within_s=0.3)
        fault.apply()
        assert fault.targets == ["consumer-2"]
        with pytest.raises(RuntimeError, match=r"consumer-2 did not leave within 0\.3 s"):
            fault.heal()
    finally:
        workload._consuming.clear()
        workload.release.set()


def test_an_added_consumer_that_is_handed_nothing_is_named_in_the_fault_record() -> None:
    workload = BatchCounting(consumers=2, idle="consumer-4")
    workload.start()
    try:
        fault = ConsumerScaling(workload, work_within_s=0.3)
        fault.apply()
        assert fault.targets == ["consumer-3", "consumer-4"]
        assert fault.describe()["idle"] == ["consumer-4"]
        fault.heal()
    finally:
        workload._consuming.clear()
        workload.release.set()
