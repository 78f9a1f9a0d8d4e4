"""From verdicts to guarantees: the cells of the resilience matrix a profile asked for.

Each cell is decided by its own anomaly kinds and its own evidence, never by the checker's overall
validity: a phantom read fails ``no_loss`` but says nothing about ``no_duplicates``, and an incomplete
drain leaves every cell it touches unknown even when another anomaly was found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaos.checkers.availability import AvailabilityChecker
from chaos.checkers.base import Checker
from chaos.checkers.dead_letter import DeadLetterChecker
from chaos.checkers.delivery import DeliveryChecker
from chaos.checkers.exactly_once import ExactlyOnceChecker
from chaos.checkers.health import BrokerHealthChecker
from chaos.checkers.order import OrderChecker
from chaos.checkers.priority import PriorityChecker
from chaos.checkers.verdict import UNKNOWN, Validity, Verdict

GUARANTEES = ("no_loss", "no_duplicates", "order", "dead_letter", "exactly_once", "recovery", "broker_health")
# The checker whose verdict decides each guarantee that is a whole checker.
WHOLE_CHECKER = {
    "order": "order",
    "dead_letter": "dead_letter",
    "exactly_once": "exactly_once",
    "recovery": "availability",
    "broker_health": "broker_health",
}


@dataclass(frozen=True)
class Cell:
    """One guarantee's verdict in one run: the anomaly kinds that failed it, or why it is unknown."""

    valid: Validity
    checker: str
    failed_by: tuple[str, ...] = ()
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "checker": self.checker, "failed_by": list(self.failed_by), "reason": self.reason}


@dataclass(frozen=True)
class CheckerOptions:
    """What the checkers need beyond the profile's guarantees: the workload's op names and the budget's
    observation window after the last heal."""

    consume_f: str = "process"
    settling: tuple[str, ...] = ()
    recovery_grace_s: float = 5.0
    positions: bool = False  # the workload's ops carry each record's partition and offset
    sessions: bool = False  # consumers record assign/revoke/seek: their reads are followed per session
    commits: bool = False  # consumers record each commit the coordinator accepted (with sessions: rewound)
    exclusive_groups: bool = False  # each key is read by one consumer at a time: order across consumers
    dead_letter_after: int | None = None  # deliveries of poison the configuration allows before dead-lettering
    keep_newest: int | None = None  # the log's length cap: older entries may be trimmed (if the profile says so)
    expiry_evidence: str | None = None  # what shows a deletion by the expiry policy (Workload.expiry_evidence)
    trim_reason: str | None = None  # the dead-letter reason of what a length limit drops (Workload.trim_reason)
    refusal_reason: str | None = None  # the dead-letter reason of a refused publish (Workload.refusal_reason)
    prioritised: bool = False  # messages carry a priority rank: how often a lower one went first is measured
    retention_bytes: int | None = None  # a partition's size cap (Kafka retention.bytes; Workload.retention_bytes)
    compacted: bool = False  # the log keeps each key's latest record (Kafka cleanup.policy=compact; Workload.compacted)
    extra: dict[str, Any] = field(default_factory=dict)


def checkers_for(guarantees: Any, options: CheckerOptions | None = None) -> list[Checker]:
    """The checkers a profile's ``[guarantees]`` need (delivery always: it also feeds no_duplicates)."""
    options = options or CheckerOptions()
    # a length cap is told from loss only where the profile tolerates its trimming
    trim_tolerated = guarantees.may_trim_to_length
    keep_newest = options.keep_newest if trim_tolerated else None
    trim_reason = options.trim_reason if guarantees.may_trim_to_length else None
    checkers: list[Checker] = [
        DeliveryChecker(
            consume_f=options.consume_f,
            allow_duplicates=True,
            fail_on_unconfirmed_loss=guarantees.unconfirmed_loss_is_loss,
            positions=options.positions,
            sessions=options.sessions,
            commits=options.commits,
            keep_newest=options.keep_newest,
            trim_tolerated=trim_tolerated,
            expire_after_s=guarantees.may_expire_after_s,
            expiry_evidence=options.expiry_evidence or "log_start",
            trim_reason=trim_reason,
            retention_bytes=options.retention_bytes if trim_tolerated else None,
            compacted=options.compacted,
            compaction_tolerated=guarantees.may_compact,
        )
    ]
    if guarantees.order:
        checkers.append(
            OrderChecker(
                allow_requeue_reorder=guarantees.allow_requeue_reorder,
                across_consumers=options.exclusive_groups,
                positions=options.positions,
                owners=options.exclusive_groups and options.sessions,
            )
        )
    if guarantees.dead_letter:
        checkers.append(
            DeadLetterChecker(
                max_deliveries=guarantees.max_poison_deliveries,
                allow_duplicates=guarantees.dead_letter_duplicates_allowed,
                max_head_of_line_s=guarantees.max_head_of_line_s,
                dead_letter_after=options.dead_letter_after,
                keep_newest=keep_newest,
                tolerated_reasons=tolerated_dead_letter_reasons(guarantees),
                trimmed_by_age=options.expiry_evidence == "minid" and guarantees.may_expire_after_s is not None,
                refusal_reason=options.refusal_reason,
            )
        )
    if guarantees.exactly_once:
        checkers.append(ExactlyOnceChecker())
    if guarantees.recovery:
        checkers.append(
            AvailabilityChecker(
                read_fs=(options.consume_f,),
                max_recovery_s=guarantees.max_recovery_s,
                max_read_recovery_s=guarantees.max_read_recovery_s,
                grace_s=options.recovery_grace_s,
            )
        )
    if guarantees.broker_health:
        checkers.append(BrokerHealthChecker(options.settling, guarantees.max_broker_recovery_s))
    if options.prioritised:
        checkers.append(PriorityChecker())  # measured only: no guarantee claims an order of priorities
    return checkers


def tolerated_dead_letter_reasons(guarantees: Any) -> frozenset[str]:
    """The broker's dead-letter reasons a good message may carry by the profile's stated policy: a TTL's,
    a length limit's."""
    reasons = {"expired"} if guarantees.may_expire_after_s is not None else set()
    return frozenset(reasons | ({"maxlen"} if guarantees.may_trim_to_length else set()))


def decide_cell(verdict: Verdict, kinds: tuple[str, ...]) -> Cell:
    """False when any of ``kinds`` was found; else unknown when the evidence any of them needs was
    incomplete; else true."""
    failed = tuple(k for k in kinds if verdict.anomaly(k).count)
    if failed:
        return Cell(False, verdict.checker, failed)
    reasons = [verdict.incomplete[k] for k in kinds if k in verdict.incomplete]
    if reasons:
        return Cell(UNKNOWN, verdict.checker, reason="; ".join(dict.fromkeys(reasons)))
    return Cell(True, verdict.checker)


def unproven(cells: dict[str, Cell], problems: list[str]) -> dict[str, Cell]:
    """The run did not test what it claims (``problems``: no fault hit anything, a fault fell short of its
    name, the cluster never recovered): nothing it found ``ok`` counts as a pass; what it caught stands."""
    if not problems:
        return cells
    why = "; ".join(problems)
    return {k: (Cell(UNKNOWN, c.checker, reason=why) if c.valid is True else c) for k, c in cells.items()}


def loss_kinds(guarantees: Any) -> tuple[str, ...]:
    """What ``no_loss`` is decided by: nothing acknowledged missing, nothing read that was not written."""
    kinds: tuple[str, ...] = ("lost", "truncated", "unexpected", "failed_but_delivered")
    kinds += ("inconsistent_offsets", "lost_by_offset", "skipped")
    return kinds + (("unconfirmed_lost",) if guarantees.unconfirmed_loss_is_loss else ())


def guarantee_cells(guarantees: Any, verdicts: list[Verdict]) -> dict[str, Cell]:
    """One cell per claimed guarantee, from the run's verdicts."""
    by_name = {v.checker: v for v in verdicts}
    cells: dict[str, Cell] = {}
    delivery = by_name.get("delivery")  # absent only from the checkers judged across audiences
    if guarantees.no_loss and delivery is not None:
        cells["no_loss"] = decide_cell(delivery, loss_kinds(guarantees))
    if guarantees.no_duplicates and delivery is not None:
        cells["no_duplicates"] = decide_cell(
            delivery, ("duplicated", "resent_after_epoch_bump", "redelivered", "nonmonotonic", "rewound")
        )
    for guarantee, checker in WHOLE_CHECKER.items():
        verdict = by_name.get(checker)
        if getattr(guarantees, guarantee) and verdict is not None:
            blocking = tuple(k for k, a in verdict.anomalies.items() if a.blocks_validity)
            cells[guarantee] = decide_cell(verdict, blocking)
    return cells


def mark_failing(verdicts: list[Verdict], cells: dict[str, Cell]) -> None:
    """``fails_check`` on each anomaly says whether it failed a claimed guarantee in this run (what a
    report lists as the evidence of a FAIL); anomalies that failed none are reported only."""
    failing = {(c.checker, k) for c in cells.values() if c.valid is False for k in c.failed_by}
    for verdict in verdicts:
        for kind, anomaly in verdict.anomalies.items():
            anomaly.blocks_validity = (verdict.checker, kind) in failing
