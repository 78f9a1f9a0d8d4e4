"""A chaos test is a declared value: built from a profile for one of its families, its parts replaceable,
its schedules drawn for its own family and budget. No cluster is started: the runner is not called."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers.base import Checker
from chaos.checkers.guarantees import CheckerOptions, checkers_for
from chaos.profiles import PROFILE_DIR, Guarantees, load_profile
from chaos.schedule.budget import BUDGETS
from chaos.schedule.strategies import TAIL_S
from chaos.schedule.test import JUDGE_MARGIN_S, ChaosTest

CLUSTER: Any = object()  # the runner would play it; the declaration only holds it
PROFILE = load_profile(PROFILE_DIR / "kafka-safe.toml")


def test_a_test_names_only_a_family_its_profile_names() -> None:
    with pytest.raises(ValueError, match="does not name the fault family 'power-loss-all'"):
        ChaosTest.of(PROFILE, "power-loss-all", CLUSTER, BUDGETS["smoke"], 1)


@settings(max_examples=50, deadline=None)
@given(st.data(), st.sampled_from(PROFILE.faults.families), st.sampled_from(sorted(BUDGETS)))
def test_its_schedules_play_its_own_family_within_its_budget(data: st.DataObject, family: str, budget: str) -> None:
    test = ChaosTest.of(PROFILE, family, CLUSTER, BUDGETS[budget], seed=7)
    schedule = data.draw(test.schedules())
    assert {step.family for step in schedule} == {family}
    assert len(schedule) <= min(BUDGETS[budget].max_steps, PROFILE.faults.max_steps)
    assert test.workload_s == min(PROFILE.workload.duration_s, BUDGETS[budget].workload_s)
    assert schedule[-1].start_s + schedule[-1].duration_s <= test.workload_s - TAIL_S + 0.2


def test_the_recovery_window_is_long_enough_to_judge_the_profile_s_own_bound() -> None:
    smoke = BUDGETS["smoke"]
    assert ChaosTest.of(PROFILE, "kill-leader", CLUSTER, smoke, 1).recovery_window_s == smoke.recovery_window_s
    slow = dataclasses.replace(PROFILE, guarantees=dataclasses.replace(PROFILE.guarantees, max_recovery_s=40.0))
    assert ChaosTest.of(slow, "kill-leader", CLUSTER, smoke, 1).recovery_window_s == 40.0 + JUDGE_MARGIN_S


class ExtraChecker(Checker):
    name = "extra"

    def observe(self, op: Any) -> None:  # never called here
        raise NotImplementedError

    def verdict(self) -> Any:
        raise NotImplementedError


def test_a_part_replaced_with_a_builder_is_the_one_the_runner_builds() -> None:
    test = ChaosTest.of(PROFILE, "kill-leader", CLUSTER, BUDGETS["smoke"], 1)

    def more(guarantees: Guarantees, options: CheckerOptions) -> list[Checker]:
        return [*checkers_for(guarantees, options), ExtraChecker()]

    mine = test.with_checkers(more).with_seed(9)
    built = mine.make_checkers(CheckerOptions())
    assert isinstance(built[-1], ExtraChecker)
    assert [type(c) for c in built[:-1]] == [type(c) for c in test.make_checkers(CheckerOptions())]
    assert (mine.seed, test.seed) == (9, 1)  # a value: the original is unchanged
    assert mine.with_budget(BUDGETS["nightly"]).budget.name == "nightly"
