"""The settle wait and the broker-health checker count a hold on one clock: the observer's samples
carry the time of their ``observe`` op in the history."""

from __future__ import annotations

import time
from pathlib import Path

from chaos.checkers import run_checker
from chaos.checkers.health import BrokerHealthChecker
from chaos.history import INFO, INVOKE, NEMESIS, OK, MemoryHistory
from chaos.workloads.observe import ObservationSampler


class _SlowToReadTheFirstZero:
    """Under-replicated partitions: 3, then 0 for good; reading the first 0 takes 0.25 s."""

    observe_every_s = 0.05

    def __init__(self) -> None:
        self.calls = 0

    def observe(self) -> dict[str, int]:
        self.calls += 1
        if self.calls == 2:
            time.sleep(0.25)
        return {"under_replicated": 3 if self.calls == 1 else 0}


def test_a_hold_the_settle_wait_saw_is_a_hold_the_checker_sees(tmp_path: Path) -> None:
    history = MemoryHistory()
    history.record(NEMESIS, INFO, "start", {"fault": "kill", "targets": ["n1"]})
    healed = history.record(NEMESIS, INFO, "stop", {"fault": "kill", "targets": ["n1"]}).time
    with ObservationSampler(_SlowToReadTheFirstZero(), tmp_path / "observations.jsonl", history) as sampler:
        assert sampler.wait_settled(("under_replicated",), 5.0, healed, hold_s=0.3, min_samples=3)
        history.record("c1", INVOKE, "drain")  # the harness drains right after the wait
    history.record("c1", OK, "drain", {"backlog": 0})
    checker = BrokerHealthChecker(("under_replicated",), 5.0, hold_s=0.3, min_samples=3)
    verdict = run_checker(history.ops, checker)
    assert verdict.valid is True, verdict.reason
