"""The meta-suite: every catalogue row that can be exposed here is caught with its expected anomaly, and
its safe twin passes under the very same faults. Rows that cannot be exposed on this machine say why."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chaos.brokers import kit_for
from chaos.cluster import Platform
from chaos.faults.families import WORKLOAD_FAMILIES
from chaos.profiles import Profile, load_profile, shipped_profiles
from chaos.schedule.budget import BUDGETS
from chaos.schedule.catalogue import Clusters, RunOutcome, run_profile, sharing_order, twin_of

# Consecutive rows share the running cluster where they can (see sharing_order): the row's own settings,
# and its twin's, decide the cluster, never the order.
ROWS = sharing_order([p for p in (load_profile(path) for path in shipped_profiles()) if p.expect == "fail"])
SEED = 20261127
_twins: dict[str, RunOutcome] = {}


@pytest.fixture(scope="module")
def clusters(platform: Platform) -> Iterator[Clusters]:
    pool = Clusters(platform)
    try:
        yield pool
    finally:
        pool.close()


@pytest.mark.parametrize("row", ROWS, ids=[f"{p.catalogue}-{p.name}" for p in ROWS])
def test_catalogue_row_is_caught_and_its_safe_twin_passes(row: Profile, clusters: Clusters, run_dir: Path) -> None:
    if row.meta_skip:
        pytest.skip(f"{row.catalogue} cannot be exposed here: {' '.join(row.meta_skip.split())}")
    twin = twin_of(row)
    if _at_once(row, twin):
        _caught_beside_its_twin(row, twin, clusters, run_dir)
        return
    twin_first = clusters.serves(twin) and not clusters.serves(row)  # on the cluster already running
    twin_outcome = _twin_under(row, twin, clusters, run_dir) if twin_first else None
    anomalies = _caught(row, clusters, run_dir / "catalogue" / row.name)
    assert anomalies, (
        f"{row.catalogue} ({row.name}) was not caught in {row.meta_attempts} attempt(s): expected one of "
        f"{row.expect_anomalies}; results under {run_dir / 'catalogue' / row.name}"
    )
    twin_outcome = twin_outcome or _twin_under(row, twin, clusters, run_dir)
    assert twin_outcome.all_pass, f"the safe twin {twin.name} failed under {row.faults.families}"


def _at_once(row: Profile, twin: Profile) -> bool:
    """Whether the row and its twin run on one cluster at the same time: where they share its settings
    and their faults act on each run's own consumers only (a crash, a pause), neither feels the other's.
    Half the time of one after the other; the cluster carries both loads."""
    shared = Clusters.key(row) == Clusters.key(twin)
    busy = any(kit_for(p.broker).cpu_bound(p) for p in (row, twin))  # at once would save nothing
    return shared and set(row.faults.families) <= WORKLOAD_FAMILIES and row.meta_attempts == 1 and not busy


def _caught_beside_its_twin(row: Profile, twin: Profile, clusters: Clusters, run_dir: Path) -> None:
    """The row and its twin at once (:func:`_at_once`), each with its own seed-determined schedule,
    topic or queue, consumers and evidence; a cluster either left broken is retired after both."""
    clusters.get(row)  # started (or kept) before either run asks for it
    row_dir = run_dir / "catalogue" / row.name
    twin_dir = run_dir / "catalogue" / f"twin-{twin.name}-under-{row.name}"
    with ThreadPoolExecutor(2, thread_name_prefix="meta") as pool:
        row_run = pool.submit(run_profile, row, clusters, BUDGETS["smoke"], SEED, row_dir, retire=False)
        twin_run = pool.submit(run_profile, twin, clusters, BUDGETS["smoke"], SEED, twin_dir, retire=False)
        row_outcome, twin_outcome = row_run.result(), twin_run.result()
    if row_outcome.cluster_broken or twin_outcome.cluster_broken:
        clusters.retire(row_dir / "cluster-logs")
    anomalies = row_outcome.anomalies(row.expect_anomalies)
    assert anomalies, (
        f"{row.catalogue} ({row.name}) was not caught: expected one of {row.expect_anomalies}; results under {row_dir}"
    )
    assert twin_outcome.all_pass, f"the safe twin {twin.name} failed under {row.faults.families}, beside the row"


def _caught(row: Profile, clusters: Clusters, directory: Path) -> dict[str, int]:
    """The expected anomalies of the row's first caught attempt (a row racing a broker's timer may take
    ``meta_attempts``, each with its own seed); each miss before it is a warning, with where its results are."""
    for attempt in range(1, row.meta_attempts + 1):
        where = directory if attempt == 1 else directory / f"attempt-{attempt}"
        anomalies = run_profile(row, clusters, BUDGETS["smoke"], SEED + attempt - 1, where).anomalies(
            row.expect_anomalies
        )
        if anomalies:
            return anomalies
        if attempt < row.meta_attempts:
            warnings.warn(
                f"{row.catalogue} ({row.name}) was missed on attempt {attempt}; results under {where}", stacklevel=1
            )
    return {}


def _twin_under(row: Profile, twin: Profile, clusters: Clusters, run_dir: Path) -> RunOutcome:
    """The twin under the row's faults and load; once per distinct (twin, faults, load)."""
    key = repr((twin.name, twin.faults, twin.workload))
    if key not in _twins:
        twin_dir = run_dir / "catalogue" / f"twin-{twin.name}-under-{row.name}"
        _twins[key] = run_profile(twin, clusters, BUDGETS["smoke"], SEED, twin_dir)
    return _twins[key]
