"""A cell whose cluster does not recover is kept as evidence and never decides the cells after it: the
next (profile, family) plays on a fresh cluster. Real Redis, a cluster broken for good mid-session."""

from __future__ import annotations

from pathlib import Path

import pytest

import chaos.schedule.explore as explore_module
from chaos.cluster import Platform
from chaos.images import ImageMode
from chaos.plugin.options import Options
from chaos.plugin.suites import ClusterPool, SuiteConfig, run_cell
from chaos.profiles import PROFILE_DIR, load_profile
from chaos.schedule.budget import BUDGETS
from tests.integration.helpers import own_run


def test_a_cell_whose_cluster_cannot_recover_hands_the_next_cell_a_fresh_cluster(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(explore_module, "RESTORE_TIMEOUT_S", 10.0)  # do not wait 2 minutes for a lost node
    profile = load_profile(PROFILE_DIR / "redis-safe.toml")
    suite = SuiteConfig([profile], BUDGETS["smoke"], seed=5)
    pool = ClusterPool(own_run(platform), Options(ImageMode.AUTO, {}, None), {})
    try:
        broken = pool.get(profile).cluster
        primary = broken.node("redis-1")
        primary.container.remove(force=True)  # the machine and its disk are gone: nothing brings it back

        first, problem, lineage = run_cell(pool, profile, "kill-leader", suite, tmp_path / "first")
        assert first is not None and not problem
        assert first.cluster_broken and first.cell("no_loss") == "unknown"
        assert "could not be brought back" in first.problem
        assert (tmp_path / "first" / "cluster-logs" / "redis-1.log").exists()  # the evidence is kept
        assert broken.nodes == [] and pool.running is None  # and the broken cluster is gone

        second, problem, lineage = run_cell(pool, profile, "pause-leader", suite, tmp_path / "second")
        assert second is not None and not problem and not second.problem
        assert pool.running is not None and pool.running.cluster is not broken
        assert lineage == [(profile, "pause-leader")]  # a replay of it starts from a fresh cluster too
        assert second.results and second.cell("no_loss") is True
    finally:
        pool.close()


def test_what_the_harness_repairs_is_an_operator_event(platform: Platform) -> None:
    """A node that died on its own and a rule left behind: restore puts both right and says so."""
    from chaos.brokers import new_cluster

    profile = load_profile(PROFILE_DIR / "redis-safe.toml")
    cluster = new_cluster(own_run(platform), profile)
    repairs: list[tuple[str, str | None]] = []
    cluster.start()
    try:
        cluster.on_operator = lambda action, node: repairs.append((action, node))
        cluster.restore(timeout=30)
        assert repairs == []  # a healthy cluster needs no operator
        primary = cluster.node("redis-1")
        other = next(n for n in cluster.nodes if n is not primary)
        cluster.net.run(other, "iptables -A BROKERCHAOS -p tcp --dport 9 -j DROP")  # a rule nobody healed
        primary.kill()
        cluster.restore(timeout=60)
        actions = [action for action, _ in repairs]
        assert any(a.startswith("started redis-1") for a in actions), actions
        assert f"flushed 1 network rule(s) left on {other.name}" in actions, actions
        assert cluster.net.rules(other) == []
    finally:
        cluster.destroy()
