"""Benchmark: how reliably and how fast each catalogue row is caught, and false alarms on safe profiles.

Runs every catalogue row that can be exposed here ``--runs`` times (different seeds) and prints its
detection rate and, in the runs that caught it, the median seconds from the first fault to the end of the
evidence (the drain and the final reads: what a gate waits for) next to the faults' real length (goals:
>= 95 %, <= 60 s), then runs each safe profile under the same families and counts false alarms (goal 0).
Printed, never asserted. Usage: python -m bench.detection [--runs N] [--rows K1,S1]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
from pathlib import Path

from chaos.cluster import Platform
from chaos.profiles import load_profile, shipped_profiles
from chaos.schedule.budget import BUDGETS
from chaos.schedule.catalogue import Clusters, run_profile, twin_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", default="", help="catalogue ids to run (default: all exposable rows)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    wanted = {r.strip() for r in args.rows.split(",") if r.strip()}
    rows = [p for p in map(load_profile, shipped_profiles()) if p.expect == "fail" and not p.meta_skip]
    rows = [r for r in rows if not wanted or r.catalogue in wanted]
    clusters = Clusters(Platform.default())
    out = Path(tempfile.mkdtemp(prefix="brokerchaos-detection-"))
    false_alarms: dict[str, int] = {}
    try:
        print(f"{'row':<6}{'profile':<32}{'caught':>8}{'rate':>7}{'fault to evidence s':>21}{'fault s':>9}")
        for row in rows:
            caught, detect_s, fault_s = 0, [], []
            for run in range(args.runs):
                outcome = run_profile(row, clusters, BUDGETS["smoke"], 1000 + run, out / row.name / str(run))
                if outcome.anomalies(row.expect_anomalies):
                    caught += 1
                    fault_s.append(outcome.fault_seconds())
                    seconds = outcome.detection_seconds(row.expect_anomalies)
                    if seconds is not None:
                        detect_s.append(seconds)
            detect = f"{statistics.median(detect_s):.1f}" if detect_s else "-"
            fault = f"{statistics.median(fault_s):.1f}" if fault_s else "-"
            rate = f"{caught:>5}/{args.runs}{caught / args.runs:>7.0%}"
            print(f"{row.catalogue:<6}{row.name:<32}{rate}{detect:>21}{fault:>9}")
            twin = twin_of(row)
            for run in range(args.runs):
                outcome = run_profile(twin, clusters, BUDGETS["smoke"], 2000 + run, out / f"twin-{row.name}" / str(run))
                if not outcome.all_pass:
                    false_alarms[twin.name] = false_alarms.get(twin.name, 0) + 1
        print(f"false alarms on safe twins: {sum(false_alarms.values())} {false_alarms or ''}  (goal 0)")
        print(f"evidence under {out}")
    finally:
        clusters.close()


if __name__ == "__main__":
    main()
