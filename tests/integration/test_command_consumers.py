"""Your own consumer, any language, under faults (``[workload] consumer_command``): the example consumer of
each broker passes under consumer crashes, and each bug seeded into it is caught — both ways, on real
brokers. A program that breaks the protocol leaves the evidence incomplete: unknown, never a pass."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.checkers.verdict import UNKNOWN
from chaos.cluster import Platform
from chaos.profiles import Profile, load_profile
from chaos.schedule.budget import BUDGETS
from chaos.schedule.catalogue import Clusters, RunOutcome, run_profile

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "profiles"
SEED = 20261201
# (example profile, seeded bug or None for the correct consumer, anomalies that must catch the bug)
CASES = [
    ("redis-consumer", None, []),
    ("redis-consumer", "ack-before-processing", ["lost"]),
    ("redis-consumer", "drop-after-retries", ["poison_not_dead_lettered"]),
    ("redis-consumer", "process-after-retries", ["poison_processed"]),
    ("kafka-consumer", None, []),
    ("kafka-consumer", "commit-before-processing", ["lost"]),
    ("rabbitmq-consumer", None, []),
    ("rabbitmq-consumer", "ack-before-processing", ["lost"]),
]


@pytest.fixture(scope="module")
def clusters(platform: Platform) -> Iterator[Clusters]:
    pool = Clusters(platform)  # one cluster per broker: the cases of one example share it
    try:
        yield pool
    finally:
        pool.close()


def under_consumer_crashes(name: str, command: str | None = None) -> Profile:
    """The example profile with consumer crashes only (the fault both kinds of bug need to show)."""
    profile = load_profile(EXAMPLES / f"{name}.toml")
    workload = dataclasses.replace(profile.workload, consumer_command=command or profile.workload.consumer_command)
    faults = dataclasses.replace(profile.faults, families=["crash-consumer"])
    return dataclasses.replace(profile, workload=workload, faults=faults)


def play(profile: Profile, clusters: Clusters, run_dir: Path, label: str) -> RunOutcome:
    return run_profile(profile, clusters, BUDGETS["smoke"], SEED, run_dir / "command-consumers" / label)


@pytest.mark.parametrize(("example", "bug", "expected"), CASES, ids=[f"{e}-{b or 'correct'}" for e, b, _ in CASES])
def test_the_example_consumer_passes_and_its_seeded_bug_is_caught(
    example: str, bug: str | None, expected: list[str], clusters: Clusters, run_dir: Path
) -> None:
    correct = under_consumer_crashes(example)
    command = f"{correct.workload.consumer_command} --bug {bug}" if bug else None
    outcome = play(under_consumer_crashes(example, command), clusters, run_dir, f"{example}-{bug or 'correct'}")
    results = [r for e in outcome.exploration for r in e.results]
    assert results, f"{example}: no example was played ({[e.problem for e in outcome.exploration]})"
    if bug is None:
        assert outcome.all_pass, f"the correct {example} failed: {[r.failed_kinds() for r in results]}"
    else:
        assert outcome.anomalies(expected), f"{example} --bug {bug} was not caught as {expected}"


def test_a_consumer_that_breaks_the_protocol_makes_the_verdict_unknown(clusters: Clusters, run_dir: Path) -> None:
    profile = under_consumer_crashes("redis-consumer", "{python} -c \"print('processed: 17 messages')\"")
    outcome = play(profile, clusters, run_dir, "protocol-broken")
    results = [r for e in outcome.exploration for r in e.results]
    assert results and all(r.valid == UNKNOWN for r in results), [r.valid for r in results]
    assert not outcome.all_pass


def test_a_paused_consumer_program_is_stopped_and_continued(clusters: Clusters, run_dir: Path) -> None:
    """pause-consumers SIGSTOPs the program's process group and SIGCONTs it at the heal: it reads (almost)
    nothing in the window, reads again after it, and the correct consumer still passes."""
    profile = under_consumer_crashes("redis-consumer")
    profile = dataclasses.replace(profile, faults=dataclasses.replace(profile.faults, families=["pause-consumers"]))
    outcome = play(profile, clusters, run_dir, "paused")
    results = [r for e in outcome.exploration for r in e.results]
    assert results and outcome.all_pass, [r.failed_kinds() for r in results]
    played = [span for r in results for span in r.faults_played]
    assert played and all(span["hit"] and span["targets"] for span in played), played
    availability = next(v for r in results for v in r.verdicts if v.checker == "availability")
    for window in availability.stats["windows"]:
        assert window["reads_during"] < window["reads_before"] / 2, window
        assert window["first_read_after_heal_s"] is not None, window
