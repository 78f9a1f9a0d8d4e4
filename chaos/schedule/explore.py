"""The runner of a declared :class:`~chaos.schedule.test.ChaosTest`: one example (workload + schedule +
drain + checkers) and the hypothesis exploration around it.

Nightly runs do not shrink: a failing schedule is recorded with its seed and a one-line replay command.
Replaying it with the same budget and ``shrink`` on plays the same schedules first, then lets
hypothesis shrink the failing one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import HypothesisException

from chaos.checkers import Verdict
from chaos.checkers.audiences import judge
from chaos.checkers.guarantees import Cell, CheckerOptions, unproven
from chaos.checkers.verdict import UNKNOWN, Validity, combine
from chaos.errors import BrokerChaosError
from chaos.faults.base import FaultLog
from chaos.faults.families import FaultContext
from chaos.history import INFO, OPERATOR, JsonlHistory, Recorder
from chaos.profiles import FaultSettings, Profile
from chaos.report.example import render_example
from chaos.schedule.budget import Budget
from chaos.schedule.progress import Progress
from chaos.schedule.runner import play
from chaos.schedule.strategies import Schedule
from chaos.schedule.test import ChaosTest, schedule_strategy
from chaos.workloads.observe import ObservationSampler

log = logging.getLogger("brokerchaos.run")
RESTORE_TIMEOUT_S = 120.0
# Clients failing for this long after a heal, with nothing succeeding, is a cluster that did not recover.
RECOVERY_GRACE_S = 5.0
# How much longer than planned the faults of one schedule may take to play (staged faults wait for stages).
OVERRUN_S = 300.0
# The drain's own bound: it ends as soon as the backlog is empty or stops moving, so this only caps a
# backlog that keeps moving slowly (consumers a profile makes slow: K6 processes 100 msg/s of 300).
DRAIN_TIMEOUT_S = 240.0


@dataclass
class RunResult:
    profile: str
    family: str
    schedule: Schedule
    verdicts: list[Verdict]
    cells: dict[str, Cell]
    directory: Path
    seconds: float
    rate: float
    problems: list[str] = field(default_factory=list)
    faults_played: list[dict[str, Any]] = field(default_factory=list)  # each fault's real span and targets
    cluster_recovered: bool = True  # False: the cluster was not healthy again when the run ended
    operator_events: list[dict[str, Any]] = field(default_factory=list)  # what the harness repaired

    @property
    def valid(self) -> Validity:
        return combine(*(c.valid for c in self.cells.values())) if self.cells else UNKNOWN

    def validity(self, guarantee: str) -> Validity | None:
        cell = self.cells.get(guarantee)
        return None if cell is None else cell.valid

    def anomalies(self) -> dict[str, int]:
        """Anomalies found (the benign ``recovered`` count excepted), whether or not the profile claims
        the guarantee they break. A kind two checkers both found (exactly-once's ``lost`` and delivery's)
        is named with its checker, so that one count never hides the other."""
        found = [(v.checker, k, a.count) for v in self.verdicts for k, a in v.anomalies.items()]
        found = [(checker, k, n) for checker, k, n in found if n and k != "recovered"]
        kinds = Counter(k for _, k, _ in found)
        return {(f"{checker}.{k}" if kinds[k] > 1 else k): n for checker, k, n in found}

    def failed_kinds(self) -> dict[str, int]:
        """The anomaly kinds that failed a claimed guarantee in this run, with their counts."""
        counts = {(v.checker, k): a.count for v in self.verdicts for k, a in v.anomalies.items()}
        out: dict[str, int] = {}
        for cell in self.cells.values():
            if cell.valid is False:
                for kind in cell.failed_by:
                    out[kind] = out.get(kind, 0) + counts.get((cell.checker, kind), 0)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "family": self.family,
            "schedule": [s.to_dict() for s in self.schedule],
            "faults_played": self.faults_played,
            "cells": {g: c.to_dict() for g, c in self.cells.items()},
            "valid": self.valid,
            "problems": self.problems,
            "cluster_recovered": self.cluster_recovered,
            "operator_events": self.operator_events,
            "seconds": round(self.seconds, 1),
            "ops_per_s": round(self.rate, 1),
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def _repairs_tried(operator_events: list[dict[str, Any]]) -> str:
    """What the harness did before it gave up on a cluster: a state it has no repair for (a split left by a
    partition under pause_minority) must not read as one its repairs failed on."""
    if not operator_events:
        return "and the harness made no repair (none applies to its state)"
    return f"even with the operator's help ({len(operator_events)} repair(s))"


@contextlib.contextmanager
def _told_of_repairs(cluster: Any, listener: Any) -> Iterator[None]:
    """``listener`` hears of every repair the harness makes to ``cluster`` while the run lasts (another run
    sharing the cluster at once has its own)."""
    cluster.operator_listeners.append(listener)
    try:
        yield
    finally:
        cluster.operator_listeners.remove(listener)


def _operator_events(history: Recorder, events: list[dict[str, Any]], workload: Any) -> Any:
    """Record each repair the harness makes as an ``operator`` event (and keep it for results.json, in
    seconds since the workload started, like the faults played)."""

    def record(action: str, node: str | None) -> None:  # (the cluster's on_operator logs it)
        history.record(OPERATOR, INFO, "repair", {"action": action}, node=node)
        at = time.monotonic() - (workload.started_at or time.monotonic())
        events.append({"at_s": round(at, 2), "action": action, "node": node})

    return record


def execute(test: ChaosTest, schedule: Schedule, directory: Path, deadline: float | None = None) -> RunResult:
    """One example of ``test``: run its workload while ``schedule`` plays; keep it running for the test's
    recovery window after the last heal (the window recovery is judged in); let broker-side signals
    settle; only then let the harness repair what is still broken (operator events), drain, and check.
    The evidence (history, faults, observations, plots, results, and the nodes' logs when not a pass)
    stays in ``directory``."""
    profile, family, cluster = test.profile, test.family, test.cluster
    recovery_window_s = test.recovery_window_s
    directory.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    problems: list[str] = []
    operator_events: list[dict[str, Any]] = []
    recovered = True
    subject = f"bc-{uuid.uuid4().hex[:10]}"
    duration = test.workload_s
    label = f"{profile.name}/{family} {directory.name}"
    with JsonlHistory(directory / "history.jsonl") as history:
        workload = test.make_workload(history, subject, directory)
        # A budget may cut the workload shorter than the profile asked: consumers still start by its end.
        workload.consumers_start_after_s = min(profile.workload.consumers_start_after_s, duration)
        # Producers go on until the recovery window after the last heal has passed (a staged fault may
        # outlast its plan): the run stops them; this is only the loop's own bound in time.
        bound = duration + recovery_window_s + OVERRUN_S
        workload.budget = dataclasses.replace(workload.budget, max_seconds=max(workload.budget.max_seconds, bound))
        faults = FaultLog(history)

        def fault(step: Any, rng: Any) -> Any:
            context = FaultContext(cluster, workload, rng, workload.fault_subject, profile.upgrade)
            return test.make_fault(step.family, context)

        with (
            _told_of_repairs(cluster, _operator_events(history, operator_events, workload)),
            ObservationSampler(workload, directory / "observations.jsonl", history) as observer,
            Progress(label, workload, faults, deadline, observer.latest) as progress,
        ):
            try:
                with workload.running():
                    problems += play(schedule, fault, history, workload.started_at, faults=faults)
                    progress.phase = "recovery window"
                    ends = max(workload.started_at + duration, time.monotonic() + recovery_window_s)
                    time.sleep(max(0.0, ends - time.monotonic()))
                if faults.hit and not any(faults.hit):
                    problems.append("no fault of the schedule hit anything (no target): nothing was tested")
                problems += faults.shortfalls
                healed = faults.last_healed_ns
                if profile.guarantees.broker_health and healed is not None:
                    progress.phase = "settle"  # before any repair: the cluster's own recovery
                    within = profile.guarantees.max_broker_recovery_s
                    observer.wait_settled(workload.settling_metrics, within, healed)
                progress.phase = "restore"
                try:
                    # After a partition, ready is ready only once the nodes could have noticed it: the
                    # settle time counts from the heal, and the recovery window has spent most of it.
                    settle_s = faults.network_settle_left(cluster.partition_settle_s())
                    with cluster.restoring:
                        cluster.restore(RESTORE_TIMEOUT_S, settle_s)
                except BrokerChaosError as exc:
                    recovered = False
                    repairs = _repairs_tried(operator_events)
                    problems.append(f"cluster did not recover after the faults, {repairs}: {exc}")
                progress.phase = "drain"
                workload.drain(timeout=DRAIN_TIMEOUT_S, unrecovered=not recovered)
                if recovered and workload.backlog_unanswered:
                    recovered = False  # its nodes are up, but it cannot serve the next run
                    problems.append("the cluster never answered how much was left to drain, up to the drain's timeout")
            finally:
                workload.stop()
        rate = workload.rate()
        grace = min(RECOVERY_GRACE_S, recovery_window_s)
        options = CheckerOptions(
            workload.consume_f,
            workload.settling_metrics,
            recovery_grace_s=grace,
            positions=workload.positions,
            sessions=workload.sessions,
            commits=workload.commits,
            exclusive_groups=workload.exclusive_groups,
            dead_letter_after=workload.dead_letter_after,
            keep_newest=workload.keep_newest,
            expiry_evidence=workload.expiry_evidence,
            trim_reason=workload.trim_reason,
            refusal_reason=workload.refusal_reason,
            prioritised=workload.prioritised,
            retention_bytes=workload.retention_bytes,
            compacted=workload.compacted,
        )
        # several consumer groups: each judged on its own reads (chaos.checkers.audiences)
        make = lambda: test.make_checkers(options)  # noqa: E731 - fresh checkers per audience
        audiences = (workload.audiences, workload.audience_of, workload.routes)
        verdicts, cells = judge(history, profile.guarantees, make, *audiences)
    cells = unproven(cells, problems)
    result = RunResult(
        profile.name,
        family,
        schedule,
        verdicts,
        cells,
        directory,
        time.monotonic() - began,
        rate,
        problems,
        faults_played=faults.played(workload.started_at),
        cluster_recovered=recovered,
        operator_events=operator_events,
    )
    (directory / "results.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    if result.valid is not True:
        cluster.save_logs(directory / "logs")
    try:
        render_example(directory, workload.consume_f)
    except Exception as exc:  # the evidence files are written; a plot that fails must not fail the run
        log.warning("could not plot %s: %r (brokerchaos report re-renders it)", directory, exc)
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
    problem: str = ""  # why the exploration stopped short (infrastructure), if it did
    shrunk: RunResult | None = None  # with shrinking: the smallest failing example hypothesis found

    def cell(self, guarantee: str) -> Validity | None:
        values = [v for v in (r.validity(guarantee) for r in self.results) if v is not None]
        if self.problem:
            values.append(UNKNOWN)
        return combine(*values) if values else None

    @property
    def failing(self) -> RunResult | None:
        if self.shrunk is not None:
            return self.shrunk
        return next((r for r in self.results if r.valid is not True), None)

    @property
    def cluster_broken(self) -> bool:
        """The cluster it leaves did not recover: the next (profile, family) needs a fresh one."""
        return bool(self.problem) or any(not r.cluster_recovered for r in self.results)


class _Counterexample(AssertionError):
    """Raised inside the hypothesis test when shrinking, so hypothesis keeps the example and shrinks it."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(f"{result.profile}/{result.family}: {result.failed_kinds() or result.problems}")
        self.result = result


def _hypothesis_settings(budget: Budget, examples: int | None = None) -> settings:
    return settings(
        max_examples=examples or budget.examples,
        deadline=None,
        database=None,
        phases=(Phase.generate, Phase.shrink) if budget.shrink else (Phase.generate,),
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


def first_schedule(
    budget: Budget, families: list[str], workload_s: float, faults: FaultSettings, seed: int
) -> Schedule:
    """The first schedule an exploration with these arguments plays (a smoke budget plays only it)."""
    found: list[Schedule] = []
    strategy = schedule_strategy(families, workload_s, budget, faults, seed)

    @_hypothesis_settings(budget, examples=1)
    @hypothesis_seed(seed)
    @given(strategy)
    def first(schedule: Schedule) -> None:
        found.append(schedule)

    first()
    return found[0]


def explore(test: ChaosTest, directory: Path) -> Exploration:
    """Play ``test``: draw its schedules with hypothesis and run each, within its budget. Whatever
    happens (a violation, a shrink, an infrastructure error), the exploration comes back with what it
    found; it never raises."""
    profile, family, cluster, budget = test.profile, test.family, test.cluster, test.budget
    exploration = Exploration(profile, family, test.seed)
    deadline = time.monotonic() + budget.wall_clock_s

    @_hypothesis_settings(budget)
    @hypothesis_seed(test.seed)
    @given(test.schedules())
    def one(schedule: Schedule) -> None:
        if exploration.failing is not None and not budget.shrink:
            return  # one counterexample is enough for a nightly gate
        if time.monotonic() > deadline or cluster.upgraded or exploration.cluster_broken:
            return  # out of time, upgraded in place, or broken: no further example on this cluster
        try:
            cluster.restore(timeout=RESTORE_TIMEOUT_S)
        except BrokerChaosError as exc:
            raise InfrastructureError(f"the cluster could not be brought back before an example: {exc}") from exc
        run_dir = directory / f"example-{len(exploration.results) + 1}"
        result = execute(test, schedule, run_dir, deadline)
        exploration.results.append(result)
        if budget.shrink and result.valid is not True:
            raise _Counterexample(result)

    try:
        one()
    except _Counterexample as found:
        exploration.shrunk = found.result
    except (BrokerChaosError, HypothesisException) as exc:
        exploration.problem = f"{type(exc).__name__}: {exc}"
        log.warning("%s / %s stopped: %s", profile.name, family, exploration.problem)
    return exploration


class InfrastructureError(BrokerChaosError):
    """The cluster could not be brought back between examples: the verdict is unknown."""
