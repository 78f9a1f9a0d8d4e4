"""Fault schedules: hypothesis strategies that draw them, a runner that plays them against a clock, and the
declared test (:class:`ChaosTest`) whose ``explore()`` plays it."""

from typing import Any

from chaos.schedule.budget import BUDGETS, Budget
from chaos.schedule.runner import play
from chaos.schedule.strategies import Schedule, Step, schedules

__all__ = ["BUDGETS", "Budget", "ChaosTest", "Schedule", "Step", "play", "schedules"]


def __getattr__(name: str) -> Any:
    """``from chaos.schedule import ChaosTest`` without importing the workloads, checkers and brokers it
    needs whenever a budget or a strategy is imported."""
    if name == "ChaosTest":
        from chaos.schedule.test import ChaosTest

        return ChaosTest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
