"""Benchmark: how often the default safe profiles pass, fail and stay unknown under every family they list,
over several seeds — the false-alarm and unknown rates a nightly gate would see — and how many examples
an hour each broker plays on this machine.

For each seed, every (profile, family) cell is played in the order a suite plays it, on the profile's
cluster (replaced when a cell leaves it broken, as the suites do). Per cell it prints the examples that
passed, FAILED and stayed unknown, and the wall time; then every FAIL and unknown with its reason and
evidence. Goals: 0 FAIL, <= 2 % unknown, >= 120 examples per hour per broker. Printed, never asserted.
Usage: python -m bench.flakes [--budget smoke|nightly] [--seeds 5] [--first-seed 1] [--profiles kafka-safe,...]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from chaos.brokers import new_cluster
from chaos.checkers.verdict import UNKNOWN
from chaos.cluster import Cluster, Platform
from chaos.profiles import PROFILE_DIR, Profile, load_profile
from chaos.schedule.budget import budget
from chaos.schedule.explore import RunResult
from chaos.schedule.test import ChaosTest

SAFE = ("kafka-safe", "rabbitmq-safe", "redis-safe")
WORD = {True: "pass", False: "FAIL", UNKNOWN: "unknown"}


@dataclass
class Cell:
    outcomes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def why(result: RunResult) -> str:
    failed = result.failed_kinds()
    if failed:
        return "FAIL " + ", ".join(f"{k}={n}" for k, n in failed.items())
    reasons = result.problems or [c.reason for c in result.cells.values() if c.valid == UNKNOWN and c.reason]
    return "unknown: " + "; ".join(dict.fromkeys(reasons))[:300]


def progress_line(seed: int, profile: str, family: str, results: list[RunResult], seconds: float) -> str:
    """One line per played cell, so that an hour-long run shows where it is and how it goes."""
    counts = Counter(WORD[result.valid] for result in results)
    summary = " ".join(f"{word} {counts[word]}" for word in ("pass", "FAIL", "unknown") if counts[word]) or "no example"
    return f"[{time.strftime('%H:%M:%S')}] seed {seed} {profile}/{family}: {summary} in {seconds:.0f} s"


def play_profile(
    platform: Platform, profile: Profile, seeds: list[int], budget_name: str, out: Path, cells: dict[str, Cell]
) -> None:
    cluster: Cluster | None = None
    try:
        for seed in seeds:
            for family in profile.faults.families:
                if cluster is None:
                    cluster = new_cluster(platform, profile)
                    cluster.start()
                cell = cells[f"{profile.name}/{family}"]
                began = time.monotonic()
                directory = out / f"seed{seed}" / f"{profile.name}-{family}"
                test = ChaosTest.of(profile, family, cluster, budget(budget_name), seed)
                exploration = test.explore(directory)
                cell.seconds += time.monotonic() - began
                for result in exploration.results:
                    cell.outcomes[WORD[result.valid]] += 1
                    if result.valid is not True:
                        cell.notes.append(f"seed {seed} {result.directory.name}: {why(result)} ({result.directory})")
                if exploration.problem:
                    cell.outcomes["unknown"] += 1
                    cell.notes.append(f"seed {seed}: exploration stopped: {exploration.problem[:300]}")
                print(
                    progress_line(seed, profile.name, family, exploration.results, time.monotonic() - began), flush=True
                )
                if exploration.cluster_broken:
                    cluster.save_logs(directory / "cluster-logs")
                    cluster.destroy()
                    cluster = None
    finally:
        if cluster is not None:
            cluster.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="smoke")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--profiles", default=",".join(SAFE))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    profiles = [load_profile(PROFILE_DIR / f"{name.strip()}.toml") for name in args.profiles.split(",") if name]
    out = Path(tempfile.mkdtemp(prefix="brokerchaos-flakes-"))
    platform = Platform.default()
    cells: dict[str, Cell] = defaultdict(Cell)
    began = time.monotonic()
    for profile in profiles:
        play_profile(platform, profile, seeds, args.budget, out, cells)
    print(f"budget {args.budget}, seeds {seeds[0]}..{seeds[-1]}, {time.monotonic() - began:.0f} s in all")
    print(f"{'profile / family':<40}{'pass':>6}{'FAIL':>6}{'unknown':>9}{'wall s':>8}{'s/example':>11}")
    per_broker: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for name, cell in cells.items():
        examples = sum(cell.outcomes.values())
        per_example = cell.seconds / max(examples, 1)
        print(
            f"{name:<40}{cell.outcomes['pass']:>6}{cell.outcomes['FAIL']:>6}{cell.outcomes['unknown']:>9}"
            f"{cell.seconds:>8.0f}{per_example:>11.1f}"
        )
        broker = next(p.broker for p in profiles if name.startswith(p.name + "/"))
        per_broker[broker][0] += examples
        per_broker[broker][1] += cell.seconds
    total = Counter[str]()
    for cell in cells.values():
        total.update(cell.outcomes)
    examples = sum(total.values())
    print(
        f"all: {examples} examples, {total['FAIL']} FAIL (goal 0), {total['unknown']} unknown "
        f"({total['unknown'] / max(examples, 1):.1%}, goal <= 2 %)"
    )
    for broker, (count, seconds) in sorted(per_broker.items()):
        print(f"{broker}: {count / max(seconds, 1e-9) * 3600:.0f} examples per hour (goal >= 120)")
    for name, cell in cells.items():
        for note in cell.notes:
            print(f"  {name}: {note}")
    print(f"evidence under {out}")


if __name__ == "__main__":
    main()
