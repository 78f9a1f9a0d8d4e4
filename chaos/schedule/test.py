"""A chaos test as a value: everything one exploration plays, declared once and played by one runner.

Jepsen composes a test map (db, client, nemesis, generator, checker) that one interpreter plays. Here the
same roles are fields of :class:`ChaosTest`:

- ``cluster``: the running brokers (Jepsen's db);
- ``workload``: builds the producers and consumers of one example (the client);
- ``nemesis``: builds the fault of one schedule step of the ``family`` (the nemesis);
- ``schedules()``: the hypothesis strategy that draws when, how long and on whom (the generator);
- ``checkers``: builds what judges the history from the profile's guarantees (the checker);

plus the ``budget`` (examples, load, wall clock) and the ``seed``. A suite, the meta-suite, a benchmark
and a team's own test build the same value with :meth:`ChaosTest.of`, change a part with a ``with_*``
builder, and play it with :meth:`ChaosTest.explore` (the one runner, :mod:`chaos.schedule.explore`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.checkers.guarantees import CheckerOptions, checkers_for
from chaos.faults.families import FaultContext, build
from chaos.schedule.budget import Budget
from chaos.schedule.strategies import schedules
from chaos.workloads.custom import make_workload

if TYPE_CHECKING:
    from chaos.checkers.base import Checker
    from chaos.cluster.base import Cluster
    from chaos.faults.base import Fault
    from chaos.history import Recorder
    from chaos.profiles import FaultSettings, Guarantees, Profile
    from chaos.schedule.explore import Exploration
    from chaos.workloads.base import Workload

# After a declared recovery bound, the one steady second the checker looks for, and a margin.
JUDGE_MARGIN_S = 2.0

# (cluster, profile, history, subject, directory) -> the workload of one example
WorkloadFactory = Callable[["Cluster", "Profile", "Recorder", str, "Path | None"], "Workload"]
# (family, context of one schedule step) -> the fault that step applies
NemesisFactory = Callable[[str, FaultContext], "Fault"]
# (the profile's guarantees, what the checkers need of the workload and budget) -> the checkers
CheckerFactory = Callable[["Guarantees", CheckerOptions], "list[Checker]"]


def schedule_strategy(families: list[str], workload_s: float, budget: Budget, faults: FaultSettings, seed: int) -> Any:
    """Fault schedules of ``families`` within ``workload_s``: the budget's steps, the profile's fault settings."""
    steps = min(budget.max_steps, faults.max_steps)
    return schedules(families, workload_s, steps, faults.lead_in_s, salt=seed, min_fault_s=faults.min_duration_s)


@dataclass(frozen=True)
class ChaosTest:
    """One (profile, fault family) cell to explore on ``cluster``: see the module's docstring."""

    profile: Profile
    family: str
    cluster: Cluster
    budget: Budget
    seed: int
    workload: WorkloadFactory = make_workload
    nemesis: NemesisFactory = build
    checkers: CheckerFactory = checkers_for

    @classmethod
    def of(cls, profile: Profile, family: str, cluster: Cluster, budget: Budget, seed: int) -> ChaosTest:
        """The test a profile declares for one of its fault families, with the profile's own workload
        (its kit's, its ``implementation`` or its ``consumer_command``), the family's faults and the
        checkers its guarantees name."""
        if family not in profile.faults.families:
            known = ", ".join(profile.faults.families)
            raise ValueError(f"profile {profile.name} does not name the fault family {family!r} (it names {known})")
        return cls(profile, family, cluster, budget, seed)

    @property
    def name(self) -> str:
        return f"{self.profile.name}/{self.family}"

    @property
    def workload_s(self) -> float:
        """How long producers run in each example: the profile's duration, cut to the budget's."""
        return min(self.profile.workload.duration_s, self.budget.workload_s)

    @property
    def recovery_window_s(self) -> float:
        """How long clients keep working after the last heal: the budget's window, or long enough to judge
        the profile's own ``max_recovery_s`` (a whole-cluster restart may claim more than the window)."""
        # A profile may only give max_recovery_s while it claims recovery (refused at load otherwise).
        return max(self.budget.recovery_window_s, (self.profile.guarantees.max_recovery_s or 0.0) + JUDGE_MARGIN_S)

    def schedules(self) -> Any:
        """The hypothesis strategy of this test's fault schedules (one family, the budget's steps)."""
        return schedule_strategy([self.family], self.workload_s, self.budget, self.profile.faults, self.seed)

    def make_workload(self, history: Recorder, subject: str, directory: Path | None) -> Workload:
        return self.workload(self.cluster, self.profile, history, subject, directory)

    def make_fault(self, family: str, context: FaultContext) -> Fault:
        return self.nemesis(family, context)

    def make_checkers(self, options: CheckerOptions) -> list[Checker]:
        return self.checkers(self.profile.guarantees, options)

    def with_budget(self, budget: Budget) -> ChaosTest:
        return dataclasses.replace(self, budget=budget)

    def with_seed(self, seed: int) -> ChaosTest:
        return dataclasses.replace(self, seed=seed)

    def with_workload(self, workload: WorkloadFactory) -> ChaosTest:
        """Your own workload for this test (the profile's ``workload.implementation`` does the same)."""
        return dataclasses.replace(self, workload=workload)

    def with_nemesis(self, nemesis: NemesisFactory) -> ChaosTest:
        return dataclasses.replace(self, nemesis=nemesis)

    def with_checkers(self, checkers: CheckerFactory) -> ChaosTest:
        """Other checkers: e.g. ``lambda g, o: checkers_for(g, o) + [MyChecker()]``."""
        return dataclasses.replace(self, checkers=checkers)

    def explore(self, directory: Path) -> Exploration:
        """Play this test with the one runner (:func:`chaos.schedule.explore.explore`); the evidence of
        each example goes under ``directory``."""
        from chaos.schedule.explore import explore

        return explore(self, directory)
