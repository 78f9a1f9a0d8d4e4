"""One chaos run (workload + schedule + drain + checkers) and the hypothesis exploration around it.

Nightly runs do not shrink: a failing schedule is recorded with its seed and a one-line replay command,
and replaying it with the ``replay`` budget lets hypothesis shrink it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from chaos.brokers import kit_for
from chaos.checkers import Verdict, run_checkers
from chaos.checkers.guarantees import checkers_for, guarantee_cells
from chaos.checkers.verdict import UNKNOWN, Validity, combine
from chaos.cluster.base import Cluster
from chaos.errors import BrokerChaosError
from chaos.faults.base import FaultLog
from chaos.faults.families import FaultContext, build
from chaos.history import JsonlHistory
from chaos.profiles import Profile
from chaos.report.example import render_example
from chaos.schedule.budget import Budget
from chaos.schedule.progress import Progress
from chaos.schedule.runner import play
from chaos.schedule.strategies import Schedule, schedules
from chaos.workloads.observe import ObservationSampler

log = logging.getLogger("brokerchaos.run")


@dataclass
class RunResult:
    profile: str
    family: str
    schedule: Schedule
    verdicts: list[Verdict]
    cells: dict[str, Validity]
    directory: Path
    seconds: float
    rate: float
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> Validity:
        return combine(*self.cells.values()) if self.cells else UNKNOWN

    def anomalies(self) -> dict[str, int]:
        """Anomalies found (the benign ``recovered`` count excepted), whether or not the profile claims
        the guarantee they break."""
        return {k: a.count for v in self.verdicts for k, a in v.anomalies.items() if a.count and k != "recovered"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "family": self.family,
            "schedule": [s.to_dict() for s in self.schedule],
            "cells": self.cells,
            "valid": self.valid,
            "problems": self.problems,
            "seconds": round(self.seconds, 1),
            "ops_per_s": round(self.rate, 1),
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def execute(
    profile: Profile,
    family: str,
    cluster: Cluster,
    schedule: Schedule,
    directory: Path,
    workload_s: float,
    deadline: float | None = None,
) -> RunResult:
    """Run the profile's workload while ``schedule`` plays, heal, drain, and check; leave the evidence
    (history, faults, observations, plots, results) in ``directory``."""
    kit = kit_for(profile.broker)
    directory.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    problems: list[str] = []
    subject = f"bc-{uuid.uuid4().hex[:10]}"
    duration = min(profile.workload.duration_s, workload_s)
    label = f"{profile.name}/{family} {directory.name}"
    with JsonlHistory(directory / "history.jsonl") as history:
        workload = kit.make_workload(cluster, profile, history, subject)
        # A budget may cut the workload shorter than the profile asked: consumers still start by its end.
        workload.consumers_start_after_s = min(profile.workload.consumers_start_after_s, duration)
        faults = FaultLog(history)

        def fault(step: Any, rng: Any) -> Any:
            return build(step.family, FaultContext(cluster, workload, rng, workload.fault_subject, profile.upgrade))

        with (
            ObservationSampler(workload, directory / "observations.jsonl", history) as observer,
            Progress(label, workload, faults, deadline, observer.latest) as progress,
        ):
            try:
                with workload.running():
                    problems += play(schedule, fault, history, workload.started_at, faults=faults)
                    remaining = workload.started_at + duration - time.monotonic()
                    if remaining > 0:
                        time.sleep(remaining)
                progress.phase = "restore"
                try:
                    cluster.restore(timeout=120)
                except BrokerChaosError as exc:
                    problems.append(f"cluster did not recover after the faults: {exc}")
                progress.phase = "drain"
                workload.drain(timeout=60)
                if profile.guarantees.broker_health:
                    progress.phase = "settle"
                    observer.wait_settled(workload.settling_metrics, profile.guarantees.max_broker_recovery_s)
            finally:
                workload.stop()
        rate = workload.rate()
        checkers = checkers_for(profile.guarantees, workload.consume_f, workload.settling_metrics)
        verdicts = run_checkers(history, checkers)
    try:
        render_example(directory, workload.consume_f)
    except Exception as exc:  # the evidence files are written; a plot that fails must not fail the run
        log.warning("could not plot %s: %r (brokerchaos report re-renders it)", directory, exc)
    cells = guarantee_cells(profile.guarantees, verdicts)
    if problems:  # the run did not test what it claims: nothing it found "ok" counts as a pass
        cells = {k: (UNKNOWN if v is True else v) for k, v in cells.items()}
    result = RunResult(
        profile.name, family, schedule, verdicts, cells, directory, time.monotonic() - began, rate, problems
    )
    (directory / "results.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    log.info(
        "%s / %s: %s in %.0f s (%.0f ops/s) %s",
        profile.name,
        family,
        _word(result.valid),
        result.seconds,
        rate,
        result.anomalies() or "",
    )
    return result


def _word(valid: Validity) -> str:
    return {True: "ok", False: "VIOLATED", UNKNOWN: "UNKNOWN"}[valid]


@dataclass
class Exploration:
    profile: Profile
    family: str
    seed: int
    results: list[RunResult] = field(default_factory=list)

    def cell(self, guarantee: str) -> Validity | None:
        values = [r.cells[guarantee] for r in self.results if guarantee in r.cells]
        return combine(*values) if values else None

    @property
    def failing(self) -> RunResult | None:
        return next((r for r in self.results if r.valid is not True), None)


def explore(profile: Profile, family: str, cluster: Cluster, budget: Budget, seed: int, directory: Path) -> Exploration:
    """Draw schedules of ``family`` faults with hypothesis and run each, within the budget."""
    exploration = Exploration(profile, family, seed)
    deadline = time.monotonic() + budget.wall_clock_s
    workload_s = min(profile.workload.duration_s, budget.workload_s)
    steps = min(budget.max_steps, profile.faults.max_steps)

    @settings(
        max_examples=budget.examples,
        deadline=None,
        database=None,
        phases=(Phase.generate, Phase.shrink) if budget.shrink else (Phase.generate,),
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis_seed(seed)
    @given(schedules([family], workload_s, steps, profile.faults.lead_in_s))
    def one(schedule: Schedule) -> None:
        if exploration.failing is not None and not budget.shrink:
            return  # one counterexample is enough for a nightly gate
        if time.monotonic() > deadline or cluster.upgraded:
            return  # out of time, or the cluster was upgraded in place: no second example on it
        try:
            cluster.restore(timeout=120)
        except BrokerChaosError as exc:
            raise InfrastructureError(str(exc)) from exc
        run_dir = directory / f"example-{len(exploration.results) + 1}"
        result = execute(profile, family, cluster, schedule, run_dir, workload_s, deadline)
        exploration.results.append(result)
        if budget.shrink:
            assert result.valid is True, result.anomalies()

    one()
    return exploration


class InfrastructureError(BrokerChaosError):
    """The cluster could not be brought back between examples: the verdict is unknown."""
