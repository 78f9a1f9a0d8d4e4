"""A client thread that dies of anything leaves the drain incomplete: no verdict passes on evidence a
dead producer or consumer stopped writing."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from chaos.history import INFO, OK, MemoryHistory
from chaos.workloads.base import LoadBudget, Workload
from tests.unit.kafka_errors import raise_bare_kafka_error


class ProducerThatDies(Workload):
    """One producer that sends once, then meets ``death`` (None: it ends normally); no consumer."""

    def __init__(self, death: Callable[[], None] | None) -> None:
        self.recorded = MemoryHistory()
        super().__init__(self.recorded, LoadBudget(), producers=1, consumers=0)
        self.death = death

    def produce(self, index: int) -> None:
        self.history.record("producer-1", OK, "send", {"id": "m1"})
        if self.death:
            self.death()

    def consume(self, index: int) -> None:
        pass

    def backlog(self) -> int | None:
        return 0


def _drained(workload: ProducerThatDies) -> tuple[bool, object]:
    with workload.running():
        pass
    complete = workload.drain(timeout=10, quiet_s=0.1)
    workload.stop()
    drain = [op for op in workload.recorded.ops if op.f == "drain"][-1]
    return complete, drain


def _runtime_error() -> None:
    raise RuntimeError("client library gave up")


def test_a_thread_that_ends_normally_leaves_a_complete_drain() -> None:
    complete, drain = _drained(ProducerThatDies(None))
    assert complete and drain.type == OK and not drain.error  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "death",
    [
        _runtime_error,
        pytest.param(
            raise_bare_kafka_error,
            marks=pytest.mark.skipif(sys.version_info >= (3, 12), reason="no bare KafkaError on Python >= 3.12"),
        ),
    ],
)
def test_a_thread_that_dies_of_anything_leaves_the_drain_incomplete_and_names_it(death: Callable[[], None]) -> None:
    """Before, only an ``Exception`` was caught: the bare KafkaError killed the thread unrecorded, and the
    drain said complete."""
    complete, drain = _drained(ProducerThatDies(death))
    assert not complete
    assert drain.type == INFO  # type: ignore[attr-defined]
    assert "producer-1: " in drain.error  # type: ignore[attr-defined]
