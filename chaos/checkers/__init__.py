"""Checkers: history → verdict ``{valid: true | false | "unknown", anomalies, stats}``."""

from chaos.checkers.availability import AvailabilityChecker
from chaos.checkers.base import Checker, DrainTracker, run_checker, run_checkers
from chaos.checkers.dead_letter import DeadLetterChecker
from chaos.checkers.delivery import DeliveryChecker
from chaos.checkers.exactly_once import ExactlyOnceChecker
from chaos.checkers.order import OrderChecker
from chaos.checkers.priority import PriorityChecker
from chaos.checkers.verdict import UNKNOWN, Anomaly, Validity, Verdict, combine

__all__ = [
    "UNKNOWN",
    "Anomaly",
    "AvailabilityChecker",
    "Checker",
    "DeadLetterChecker",
    "DeliveryChecker",
    "DrainTracker",
    "ExactlyOnceChecker",
    "OrderChecker",
    "PriorityChecker",
    "Validity",
    "Verdict",
    "combine",
    "run_checker",
    "run_checkers",
]
