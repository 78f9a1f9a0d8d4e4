"""The meta-suite: every catalogue row that can be exposed here is caught with its expected anomaly, and
its safe twin passes under the very same faults. Rows that cannot be exposed on this machine say why."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.cluster import Platform
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
    twin_first = clusters.serves(twin) and not clusters.serves(row)  # on the cluster already running
    twin_outcome = _twin_under(row, twin, clusters, run_dir) if twin_first else None
    anomalies = _caught(row, clusters, run_dir / "catalogue" / row.name)
    assert anomalies, (
        f"{row.catalogue} ({row.name}) was not caught in {row.meta_attempts} attempt(s): expected one of "
        f"{row.expect_anomalies}; results under {run_dir / 'catalogue' / row.name}"
    )
    twin_outcome = twin_outcome or _twin_under(row, twin, clusters, run_dir)
    assert twin_outcome.all_pass, f"the safe twin {twin.name} failed under {row.faults.families}"


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
