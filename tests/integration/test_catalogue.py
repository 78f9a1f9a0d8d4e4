"""The meta-suite: every catalogue row that can be exposed here is caught with its expected anomaly, and
its safe twin passes under the very same faults. Rows that cannot be exposed on this machine say why."""

from __future__ import annotations

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
    unsafe = run_profile(row, clusters, BUDGETS["smoke"], SEED, run_dir / "catalogue" / row.name)
    anomalies = unsafe.anomalies(row.expect_anomalies)
    assert anomalies, (
        f"{row.catalogue} ({row.name}) was not caught: expected one of {row.expect_anomalies}; "
        f"results under {run_dir / 'catalogue' / row.name}"
    )
    twin_outcome = twin_outcome or _twin_under(row, twin, clusters, run_dir)
    assert twin_outcome.all_pass, f"the safe twin {twin.name} failed under {row.faults.families}"


def _twin_under(row: Profile, twin: Profile, clusters: Clusters, run_dir: Path) -> RunOutcome:
    """The twin under the row's faults and load; once per distinct (twin, faults, load)."""
    key = repr((twin.name, twin.faults, twin.workload))
    if key not in _twins:
        twin_dir = run_dir / "catalogue" / f"twin-{twin.name}-under-{row.name}"
        _twins[key] = run_profile(twin, clusters, BUDGETS["smoke"], SEED, twin_dir)
    return _twins[key]
