"""Proving a catalogue row both ways: the unsafe profile is caught with its expected anomaly, and its
safe twin passes under the same fault families. Used by the meta-suite and ``bench/detection.py``."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from chaos.brokers import kit_for, new_cluster
from chaos.cluster import Cluster, Platform
from chaos.faults.families import needs_sync_journal
from chaos.history import NEMESIS, read_jsonl
from chaos.profiles import PROFILE_DIR, Profile, load_profile, shipped_profiles
from chaos.schedule.budget import Budget
from chaos.schedule.explore import Exploration
from chaos.schedule.test import ChaosTest
from chaos.settings import cluster_identity

log = logging.getLogger("brokerchaos.catalogue")


def twin_of(row: Profile) -> Profile:
    """The row's safe twin under the row's conditions: its faults and its load (the twin keeps its own
    broker settings, client settings and guarantees — the only difference is the unsafe setting)."""
    twin = load_profile(PROFILE_DIR / f"{row.twin or row.broker + '-safe'}.toml")
    # Without poison in the row's load there is no dead-letter behaviour to check.
    dead_letter = twin.guarantees.dead_letter and row.workload.poison_every > 0
    guarantees = dataclasses.replace(twin.guarantees, dead_letter=dead_letter)
    return dataclasses.replace(twin, faults=row.faults, workload=row.workload, guarantees=guarantees)


def sharing_order(rows: list[Profile]) -> list[Profile]:
    """The rows in an order that lets consecutive runs share one running cluster (a Kafka cluster takes
    ~20 s to start, RabbitMQ's ~25 s): next comes a row whose own cluster, or whose twin's, is the one
    the last run left. A row plays its twin first when the running cluster is the twin's."""
    left, order = list(rows), []
    running: str | None = None
    while left:
        keys = {r.name: (Clusters.key(r), Clusters.key(twin_of(r))) for r in left}
        fits = [r for r in left if running in keys[r.name]]
        # first the rows that keep the running cluster for both their runs, then the others that use it
        stays = [r for r in fits if keys[r.name] == (running, running)]
        row = (stays or fits or left)[0]
        left.remove(row)
        order.append(row)
        if row.meta_skip:
            continue
        row_key, twin_key = Clusters.key(row), Clusters.key(twin_of(row))
        running = row_key if running == twin_key else twin_key
    return order


def found(exploration: Exploration, kinds: list[str]) -> dict[str, int]:
    """Counts of the expected anomaly kinds that failed a guarantee the row claims, in the row's own
    examples: an anomaly merely reported (a guarantee the row does not claim, an example that passed)
    does not count as caught."""
    counts: dict[str, int] = {}
    for result in exploration.results:
        for kind, count in result.failed_kinds().items():
            if kind in kinds:
                counts[kind] = counts.get(kind, 0) + count
    return counts


@dataclass
class Clusters:
    """One running cluster at a time, reused while consecutive runs need the same profile settings."""

    platform: Platform
    current: tuple[str, Cluster] | None = None

    def get(self, profile: Profile) -> Cluster:
        key = self.key(profile)
        if self.serves(profile):
            assert self.current is not None
            return self.current[1]
        self.close()
        cluster = new_cluster(self.platform, profile)
        cluster.start()
        self.current = (key, cluster)
        return cluster

    @staticmethod
    def key(profile: Profile) -> str:
        """What makes two profiles' clusters the same: the broker, its version (a profile naming none runs
        the kit's default), the image, the settings the brokers start with and whether nodes journal their
        syncs. Settings each run applies to its own topic (``per_run``) do not keep two rows apart."""
        version = profile.version or kit_for(profile.broker).default_version
        track_syncs = needs_sync_journal(profile.faults.families)
        brokers = cluster_identity(profile.cluster)
        return f"{profile.broker}:{version}:{profile.image}:{brokers}:{track_syncs}"

    def serves(self, profile: Profile) -> bool:
        """The running cluster is the one ``profile`` needs (and was not upgraded in place)."""
        return bool(self.current and self.current[0] == self.key(profile) and not self.current[1].upgraded)

    def close(self) -> None:
        if self.current:
            self.current[1].destroy()
            self.current = None

    def retire(self, evidence: Path) -> None:
        """The running cluster did not recover (a row that breaks it for good, K8's offline partition):
        keep every node's log in ``evidence`` and remove it, so the next run — the twin sharing its
        settings, the next row — starts on a fresh one instead of failing on the last run's wreck."""
        if self.current:
            saved = self.current[1].save_logs(evidence)
            log.warning(
                "the cluster did not recover: logs kept in %s (%d files); the next run gets a fresh one",
                evidence,
                len(saved),
            )
        self.close()


@dataclass
class RunOutcome:
    profile: str
    families: list[str]
    exploration: list[Exploration] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def cluster_broken(self) -> bool:
        return any(e.cluster_broken for e in self.exploration)

    @property
    def all_pass(self) -> bool:
        return all(e.failing is None and e.results and not e.problem for e in self.exploration)

    def anomalies(self, kinds: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.exploration:
            for k, v in found(e, kinds).items():
                counts[k] = counts.get(k, 0) + v
        return counts

    def fault_seconds(self) -> float:
        """The faults' real spans (as played, not as planned) over every example."""
        return sum(
            float(span.get("span_s") or 0.0) for e in self.exploration for r in e.results for span in r.faults_played
        )

    def detection_seconds(self, kinds: list[str]) -> float | None:
        """In the first example that caught the row: seconds from its first fault to the end of the evidence
        (the last event the checkers read: the drain, the final log read, the dead-letter read)."""
        for e in self.exploration:
            for result in e.results:
                if any(k in kinds for k in result.failed_kinds()):
                    return evidence_seconds(result.directory / "history.jsonl")
        return None


def evidence_seconds(history: Path) -> float | None:
    """From the first fault's start to the last event of the history."""
    first_fault: int | None = None
    last = 0
    for op in read_jsonl(history):
        if first_fault is None and op.process == NEMESIS and op.f == "start":
            first_fault = op.time
        last = max(last, op.time)
    return None if first_fault is None else (last - first_fault) / 1e9


def run_profile(
    profile: Profile, clusters: Clusters, budget: Budget, seed: int, directory: Path, retire: bool = True
) -> RunOutcome:
    """Explore each of the profile's families on the cluster ``clusters`` serves it; a cluster a run left
    broken is retired (``retire``; a caller sharing the cluster with another run at once retires it after
    both, :attr:`RunOutcome.cluster_broken`)."""
    began = time.monotonic()
    outcome = RunOutcome(profile.name, list(profile.faults.families))
    for family in profile.faults.families:
        test = ChaosTest.of(profile, family, clusters.get(profile), budget, seed)
        exploration = test.explore(directory / family)
        outcome.exploration.append(exploration)
        if exploration.cluster_broken and retire:
            clusters.retire(directory / family / "cluster-logs")
    outcome.seconds = time.monotonic() - began
    return outcome


def catalogue_rows() -> list[Profile]:
    """The shipped profiles that are rows of the known-unsafe catalogue (``expect = "fail"``), by row id."""
    rows = [load_profile(path) for path in shipped_profiles()]
    rows = [p for p in rows if p.catalogue and p.expect == "fail"]
    return sorted(rows, key=lambda p: (_row_order(p.catalogue), p.name))


def _row_order(row_id: str | None) -> tuple[str, int, str]:
    """K2 before K10: the letter, then the number as a number."""
    match = re.fullmatch(r"([A-Za-z]*)(\d*)(.*)", row_id or "")
    assert match is not None  # every string matches
    letters, digits, rest = match.groups()
    return letters, int(digits) if digits else -1, rest


def catalogue_markdown() -> str:
    """CATALOGUE.md, generated from the shipped profiles, so the document and what the meta-suite proves
    cannot drift apart (a unit test keeps the committed file equal to this)."""

    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    lines = [
        "# The known-unsafe catalogue",
        "",
        "Settings real teams ship, the faults that expose them, and the anomaly the checkers must report. Each row",
        'is a shipped profile (`suites/profiles/<profile>.toml`, `expect = "fail"`). The meta-suite',
        "(`tests/integration/test_catalogue.py`) proves every row both ways: the row's own examples fail with an",
        "expected anomaly, and its safe twin — the same faults and load, only the unsafe setting changed — passes.",
        "Generated by `brokerchaos catalogue` from the profiles; do not edit by hand.",
        "",
        "| row | profile | the setting, and what goes wrong | faults | caught as | safe twin |",
        "|---|---|---|---|---|---|",
    ]
    for row in catalogue_rows():
        twin = row.twin or f"{row.broker}-safe"
        version = f" ({row.version})" if row.version else ""
        skip = f" Not proven here: {row.meta_skip}" if row.meta_skip else ""
        lines.append(
            f"| {row.catalogue} | `{row.name}`{version} | {cell(row.description)}{cell(skip)} "
            f"| {', '.join(row.faults.families)} | {', '.join(row.expect_anomalies)} | `{twin}` |"
        )
    return "\n".join(lines) + "\n"
