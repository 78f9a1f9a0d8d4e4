"""Budgets bound a suite run: examples per property, workload length, fault steps and wall-clock."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.errors import UsageError


@dataclass(frozen=True)
class Budget:
    name: str
    examples: int  # schedules tried per (profile, fault family)
    max_steps: int  # faults per schedule
    workload_s: float  # upper bound on the workload phase (a profile may ask for less)
    wall_clock_s: float  # per (profile, fault family): no new example starts past it
    shrink: bool = False  # shrinking replays failing schedules: only in a separate replay
    # Clients keep working this long after the last heal: recovery is judged in this window, so it must
    # exceed the checker's grace (5 s) and the safe profiles' max_recovery_s (10 s) on every budget.
    recovery_window_s: float = 12.0


BUDGETS = {
    "smoke": Budget("smoke", examples=1, max_steps=1, workload_s=12, wall_clock_s=90),
    "nightly": Budget("nightly", examples=4, max_steps=3, workload_s=25, wall_clock_s=400),
    "soak": Budget("soak", examples=20, max_steps=6, workload_s=90, wall_clock_s=3600),
}


def budget(name: str) -> Budget:
    if name not in BUDGETS:
        raise UsageError(f"--chaos-budget must be one of {', '.join(BUDGETS)} (got {name!r})")
    return BUDGETS[name]
