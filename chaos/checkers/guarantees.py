"""From verdicts to guarantees: the cells of the resilience matrix a profile asked for."""

from __future__ import annotations

from typing import Any

from chaos.checkers.availability import AvailabilityChecker
from chaos.checkers.base import Checker
from chaos.checkers.dead_letter import DeadLetterChecker
from chaos.checkers.delivery import DeliveryChecker
from chaos.checkers.exactly_once import ExactlyOnceChecker
from chaos.checkers.health import BrokerHealthChecker
from chaos.checkers.order import OrderChecker
from chaos.checkers.verdict import UNKNOWN, Validity, Verdict

GUARANTEES = ("no_loss", "no_duplicates", "order", "dead_letter", "exactly_once", "recovery", "broker_health")


def checkers_for(guarantees: Any, consume_f: str = "process", settling: tuple[str, ...] = ()) -> list[Checker]:
    """The checkers a profile's ``[guarantees]`` need (delivery always: it also feeds no_duplicates).
    ``settling``: the workload's observations that must return to 0 after a heal."""
    checkers: list[Checker] = [
        DeliveryChecker(
            consume_f=consume_f,
            allow_duplicates=True,
            fail_on_unconfirmed_loss=guarantees.unconfirmed_loss_is_loss,
        )
    ]
    if guarantees.order:
        checkers.append(OrderChecker(allow_requeue_reorder=guarantees.allow_requeue_reorder))
    if guarantees.dead_letter:
        checkers.append(
            DeadLetterChecker(
                max_deliveries=guarantees.max_poison_deliveries,
                allow_duplicates=guarantees.dead_letter_duplicates_allowed,
            )
        )
    if guarantees.exactly_once:
        checkers.append(ExactlyOnceChecker())
    if guarantees.recovery:
        checkers.append(AvailabilityChecker(max_recovery_s=guarantees.max_recovery_s))
    if guarantees.broker_health:
        checkers.append(BrokerHealthChecker(settling, guarantees.max_broker_recovery_s))
    return checkers


def _cell(verdict: Verdict, kinds: tuple[str, ...]) -> Validity:
    if any(verdict.anomaly(k).count for k in kinds):
        return False
    return UNKNOWN if verdict.valid == UNKNOWN else True


def guarantee_cells(guarantees: Any, verdicts: list[Verdict]) -> dict[str, Validity]:
    """One validity per claimed guarantee, from the run's verdicts."""
    by_name = {v.checker: v for v in verdicts}
    cells: dict[str, Validity] = {}
    delivery = by_name["delivery"]
    if guarantees.no_loss:
        lost = ("lost", "truncated", "unexpected") + (
            ("unconfirmed_lost",) if guarantees.unconfirmed_loss_is_loss else ()
        )
        cells["no_loss"] = _cell(delivery, lost)
    if guarantees.no_duplicates:
        cells["no_duplicates"] = _cell(delivery, ("duplicated",))
    for name, checker in (
        ("order", "order"),
        ("dead_letter", "dead_letter"),
        ("exactly_once", "exactly_once"),
        ("recovery", "availability"),
        ("broker_health", "broker_health"),
    ):
        if name in by_name or checker in by_name:
            verdict = by_name.get(checker)
            if verdict is not None:
                cells[name] = verdict.valid
    return cells
