"""The meta-suite's order: every row once, and consecutive runs sharing clusters where settings allow."""

from __future__ import annotations

from chaos.profiles import Profile, load_profile, shipped_profiles
from chaos.schedule.catalogue import Clusters, sharing_order, twin_of

ROWS = [p for p in (load_profile(path) for path in shipped_profiles()) if p.expect == "fail"]


def cluster_starts(rows: list[Profile]) -> int:
    """Clusters started when each row runs with its twin, the twin first when its cluster is running."""
    starts, running = 0, None
    for row in rows:
        if row.meta_skip:
            continue
        row_key, twin_key = Clusters.key(row), Clusters.key(twin_of(row))
        for key in (twin_key, row_key) if running == twin_key != row_key else (row_key, twin_key):
            starts, running = starts + (key != running), key
    return starts


def test_every_row_runs_once_and_fewer_clusters_start() -> None:
    ordered = sharing_order(ROWS)
    assert sorted(p.name for p in ordered) == sorted(p.name for p in ROWS)
    assert cluster_starts(ordered) < cluster_starts(ROWS)


def test_a_profile_naming_the_default_version_shares_the_cluster_of_one_naming_none() -> None:
    from dataclasses import replace

    from chaos.brokers import kit_for

    row = next(p for p in ROWS if p.broker == "redis")
    named = replace(row, version=kit_for("redis").default_version)
    assert Clusters.key(named) == Clusters.key(replace(row, version=None))
    assert Clusters.key(replace(row, image="registry.example/redis:7-tls")) != Clusters.key(row)


def test_settings_each_run_applies_to_its_own_topic_do_not_keep_clusters_apart() -> None:
    from dataclasses import replace

    row = next(p for p in ROWS if p.catalogue == "K3")
    twin = twin_of(row)
    assert row.cluster.topic_config != twin.cluster.topic_config
    assert Clusters.key(row) == Clusters.key(twin)
    other_topic = replace(row.cluster, partitions=1, replication=1, topic_config={"retention.ms": "1000"})
    assert Clusters.key(replace(row, cluster=other_topic)) == Clusters.key(row)
    other_brokers = replace(row.cluster, server_properties={"min.insync.replicas": "1"})
    assert Clusters.key(replace(row, cluster=other_brokers)) != Clusters.key(row)
    assert Clusters.key(replace(row, cluster=replace(row.cluster, brokers=3))) != Clusters.key(row)


def test_a_row_that_keeps_the_running_cluster_for_both_its_runs_goes_before_one_that_leaves_it() -> None:
    by_name = {p.name: p for p in ROWS}
    # K6 and K9 run on their twin's cluster (kafka-safe's); K8 only shares its twin's and then starts its own
    rows = [by_name["kafka-k6-auto-commit"], by_name["kafka-k8-rf1"], by_name["kafka-k9-retention"]]
    assert [p.catalogue for p in sharing_order(rows)] == ["K6", "K9", "K8"]
    assert cluster_starts(sharing_order(rows)) < cluster_starts(rows)
