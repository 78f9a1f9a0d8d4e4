"""Fault schedules fit the workload: a lead-in, non-overlapping steps, a tail for recovery."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chaos.profiles import FaultSettings
from chaos.schedule.budget import BUDGETS
from chaos.schedule.strategies import MIN_FAULT_S, TAIL_S, Schedule, schedules


@settings(max_examples=200, deadline=None)
@given(
    st.data(),
    st.lists(st.sampled_from(["kill-leader", "isolate-leader", "crash-consumer"]), min_size=1, unique=True),
    st.floats(10, 90),
    st.integers(1, 6),
    st.floats(0.5, 3),
    st.one_of(st.just(MIN_FAULT_S), st.floats(1, 8)),
)
def test_schedules_fit_inside_the_workload(
    data: st.DataObject, families: list[str], workload_s: float, max_steps: int, lead_in: float, shortest: float
) -> None:
    assume(lead_in + shortest + TAIL_S <= workload_s)  # what a profile is refused for otherwise
    schedule: Schedule = data.draw(schedules(families, workload_s, max_steps, lead_in, min_fault_s=shortest))
    assert 1 <= len(schedule) <= max_steps
    assert schedule[0].start_s >= lead_in - 0.05
    for step, following in itertools.pairwise(schedule):
        assert step.start_s + step.duration_s <= following.start_s + 0.1
    last = schedule[-1]
    assert last.start_s + last.duration_s <= workload_s - TAIL_S + 0.2
    assert all(s.family in families and s.duration_s >= shortest - 0.05 for s in schedule)


def test_a_profile_s_shortest_fault_holds_on_every_seed() -> None:
    """K1 needs its isolation to outlast the controller's fencing: with ``min_duration_s`` no seed draws a
    shorter one; without it, some seeds do."""
    from chaos.schedule.explore import first_schedule

    def shortest(faults: FaultSettings) -> float:
        played = [first_schedule(BUDGETS["smoke"], ["isolate-leader"], 12, faults, seed) for seed in range(1, 40)]
        return min(schedule[0].duration_s for schedule in played)

    assert shortest(FaultSettings(min_duration_s=7.0)) >= 7.0
    assert shortest(FaultSettings()) < 7.0


def test_the_simplest_schedule_is_the_harshest() -> None:
    from hypothesis import find

    simplest = find(schedules(["kill-leader"], 12, 1), lambda s: True)
    assert simplest[0].start_s == 2.0 and simplest[0].duration_s >= 6


def test_budgets_are_ordered() -> None:
    smoke, nightly, soak = BUDGETS["smoke"], BUDGETS["nightly"], BUDGETS["soak"]
    assert smoke.examples <= nightly.examples <= soak.examples
    assert not smoke.shrink and not nightly.shrink and not soak.shrink


def _first(budget_name: str, seed: int, families: list[str]) -> Schedule:
    """The first schedule a suite plays for ``seed`` on that budget (what a smoke run plays alone)."""
    from chaos.schedule.explore import first_schedule

    faults = FaultSettings(max_steps=2, lead_in_s=2.0)
    return first_schedule(BUDGETS[budget_name], families, 12 if budget_name == "smoke" else 25, faults, seed)


@pytest.mark.parametrize("budget_name", sorted(BUDGETS))
def test_the_seed_moves_the_first_schedule_on_every_budget(budget_name: str) -> None:
    families = ["isolate-leader", "kill-leader"]
    seeds = [1, 2, 3, 386026531, 20261201, 7]
    played = [_first(budget_name, seed, families) for seed in seeds]
    assert len({s[0].start_s for s in played}) > 1, played
    assert len({s[0].duration_s for s in played}) > 1, played
    assert len({s[0].seed for s in played}) == len(seeds), played  # the targets' randomness
    assert len({s[0].family for s in played}) > 1, played
    assert [_first(budget_name, seed, families) for seed in seeds] == played  # same seed, same schedule
