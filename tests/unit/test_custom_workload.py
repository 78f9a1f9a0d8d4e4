"""A profile that names its own workload: resolved at load (refused in one line when it cannot be), then
built with the same call a broker kit's workload gets."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.history import MemoryHistory
from chaos.profiles import parse_profile
from chaos.settings import ProfileError
from chaos.workloads.base import LoadBudget, Workload
from chaos.workloads.custom import make_workload


class QuietWorkload(Workload):
    """A user's workload that sends nothing (enough to see how it is built)."""

    def __init__(self, cluster: Any, profile: Any, history: Any, subject: str) -> None:
        super().__init__(history, LoadBudget())
        self.built_with = (cluster, profile.name, subject)

    def produce(self, index: int) -> None:
        pass

    def consume(self, index: int) -> None:
        pass

    def backlog(self) -> int | None:
        return 0


def not_a_workload(cluster: Any, profile: Any, history: Any, subject: str) -> object:
    return object()


def _profile(implementation: str) -> dict[str, Any]:
    return {"name": "mine", "broker": "redis", "workload": {"implementation": implementation}}


def test_a_profile_builds_its_own_workload() -> None:
    profile = parse_profile(_profile(f"{__name__}:QuietWorkload"))
    workload = make_workload("the cluster", profile, MemoryHistory(), "orders")  # type: ignore[arg-type]
    assert isinstance(workload, QuietWorkload)
    assert workload.built_with == ("the cluster", "mine", "orders")


@pytest.mark.parametrize(
    ("implementation", "why"),
    [
        ("no_such_package.mod:Name", "cannot import no_such_package.mod"),
        (f"{__name__}:Missing", "has no Missing"),
        ("plain-name", "or an entry point in brokerchaos.workloads"),
    ],
)
def test_a_workload_that_cannot_be_found_is_refused_at_load(implementation: str, why: str) -> None:
    with pytest.raises(ProfileError, match=why):
        parse_profile(_profile(implementation))


def test_a_factory_that_makes_no_workload_is_refused() -> None:
    profile = parse_profile(_profile(f"{__name__}:not_a_workload"))
    with pytest.raises(ProfileError, match="made a object, not a Workload"):
        make_workload(None, profile, MemoryHistory(), "orders")  # type: ignore[arg-type]
