"""After a network fault, the cluster is ready only once its nodes could have noticed the fault: the
settle time counts from the last network heal, so the recovery window already spent most of it. Pure
logic on a fault log, with stand-in faults (no cluster)."""

from __future__ import annotations

import time

from chaos.faults.base import Fault, FaultLog, applied


class Cut(Fault):
    name = "cut"
    network = True

    def __init__(self) -> None:
        super().__init__()
        self.targets = ["node-1"]

    def _apply(self) -> None:
        pass

    def _heal(self) -> None:
        pass


class Kill(Cut):
    name = "kill"
    network = False


def test_no_network_fault_needs_no_settling() -> None:
    faults = FaultLog()
    with applied(Kill(), log_=faults):
        pass
    assert faults.network_settle_left(14.5) == 0.0


def test_the_settle_time_counts_from_the_last_network_heal() -> None:
    faults = FaultLog()
    with applied(Cut(), log_=faults):
        assert faults.network_settle_left(14.5) == 14.5  # still cut: all of it
    left = faults.network_settle_left(14.5)
    assert 14.0 < left <= 14.5
    assert faults.network_healed_at is not None
    faults.network_healed_at -= 10.0  # healed 10 s ago: the recovery window spent that much
    assert 4.0 < faults.network_settle_left(14.5) <= 4.5
    faults.network_healed_at = time.monotonic() - 20.0
    assert faults.network_settle_left(14.5) == 0.0


def test_a_later_process_fault_does_not_move_the_network_heal() -> None:
    faults = FaultLog()
    with applied(Cut(), log_=faults):
        pass
    healed = faults.network_healed_at
    with applied(Kill(), log_=faults):
        pass
    assert faults.network_healed_at == healed
