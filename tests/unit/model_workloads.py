"""Model workloads for the consumer faults' unit tests: threads that record a ``receive`` per turn and
answer the faults' requests as the kits' consumers do, with no broker behind them."""

from __future__ import annotations

import time

from chaos.history import OK, MemoryHistory
from chaos.workloads.base import LoadBudget, Workload


class TurnRecording(Workload):
    """Consumers that record one ``receive`` per turn, hold while paused, and stall after a receive when
    asked (one may be deaf to both)."""

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
            if process != self.deaf:
                self.hold_while_stalled(process)
            time.sleep(0.01)

    def backlog(self) -> int | None:
        return 0


def receivers_during(workload: TurnRecording, seconds: float) -> set[str]:
    """The consumers that recorded a receive within the next ``seconds``."""
    before = len(workload.recorded.ops)
    time.sleep(seconds)
    return {op.process for op in workload.recorded.ops[before:]}
