"""Fault schedules: hypothesis strategies that draw them, a runner that plays them against a clock."""

from chaos.schedule.budget import BUDGETS, Budget
from chaos.schedule.runner import play
from chaos.schedule.strategies import Schedule, Step, schedules

__all__ = ["BUDGETS", "Budget", "Schedule", "Step", "play", "schedules"]
