"""Benchmark: rendering the report of a run whose history has 1,000,000 events (goal: <= 30 s).

A synthetic run directory (one example: sends with latencies, processing, three fault windows, broker
observations once a second, a failing delivery verdict with lost ids) is rendered exactly as
``brokerchaos report DIR`` does — plots, faults.jsonl, summary.md, index.html. The peer is the floor:
reading and parsing the same history.jsonl once with orjson, in the same run. Printed, never asserted.
Usage: python -m bench.report [--events N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import orjson

from chaos.checkers import DeliveryChecker, run_checkers
from chaos.history import INFO, INVOKE, NEMESIS, OK, Op, read_jsonl
from chaos.report import render_run
from chaos.report.render import render_examples

NS = 1_000_000_000
RATE = 2000  # sends per second of synthetic time
FAULTS = ((20.0, 35.0, "kill"), (80.0, 90.0, "partition"), (140.0, 150.0, "pause"))


def synthetic_history(path: Path, events: int) -> None:
    """Up to 3 events per message (invoke, completion, process) until ``events`` are written; faults turn
    completions into ``info`` (nothing processed)."""
    written = 0
    n = 0
    with path.open("wb") as out:
        nemesis = [(start, "start", name) for start, _, name in FAULTS] + [(end, "stop", n) for _, end, n in FAULTS]
        nemesis.sort()
        while written < events - 2:
            n += 1
            t = n / RATE
            while nemesis and nemesis[0][0] <= t:
                at, phase, name = nemesis.pop(0)
                value = {"fault": name, "targets": ["node-1"]}
                out.write(orjson.dumps(Op(NEMESIS, INFO, phase, value, time=int(at * NS)).to_dict()) + b"\n")
            down = any(start <= t < end for start, end, _ in FAULTS)
            value = {"id": f"p-{n}", "group": f"g{n % 8}", "producer": "p", "seq": n}
            sent = int(t * NS)
            out.write(orjson.dumps(Op("p", INVOKE, "send", value, time=sent).to_dict()) + b"\n")
            done = sent + (NS if down else 2_000_000 + (n % 7) * 100_000)
            out.write(orjson.dumps(Op("p", INFO if down else OK, "send", value, time=done).to_dict()) + b"\n")
            written += 2
            if not down and n % 1000:  # every 1000th message is lost
                out.write(orjson.dumps(Op("c", OK, "process", value, time=done + 1_000_000).to_dict()) + b"\n")
                written += 1
        out.write(orjson.dumps(Op("c", INVOKE, "drain", time=done + NS).to_dict()) + b"\n")
        out.write(orjson.dumps(Op("c", OK, "drain", time=done + 2 * NS).to_dict()) + b"\n")


def synthetic_run(root: Path, events: int) -> Path:
    run = root / "20261127T000000Z-seed1"
    example = run / "suites" / "bench-kill" / "example-1"
    example.mkdir(parents=True)
    synthetic_history(example / "history.jsonl", events)
    seconds = int(events / 2.5 / RATE) + 2
    with (example / "observations.jsonl").open("wb") as out:
        for s in range(seconds):
            lag = 500 if any(a <= s < b for a, b, _ in FAULTS) else 0
            out.write(orjson.dumps({"time": s * NS, "metrics": {"under_replicated": lag and 2, "lag": lag}}) + b"\n")
    verdicts = run_checkers(read_jsonl(example / "history.jsonl"), [DeliveryChecker(consume_f="process")])
    result = {
        "profile": "bench",
        "family": "kill",
        "schedule": [{"family": n, "start_s": a, "duration_s": b - a, "seed": 0} for a, b, n in FAULTS],
        "valid": False,
        "verdicts": [v.to_dict() for v in verdicts],
        "ops_per_s": RATE,
    }
    (example / "results.json").write_text(json.dumps(result, default=str))
    matrix = [{"profile": "bench", "fault": "kill", "guarantee": "no_loss", "valid": False}]
    (run / "matrix.json").write_text(json.dumps(matrix))
    return run


def parse_only(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if orjson.loads(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="brokerchaos-bench-report-") as tmp:
        run = synthetic_run(Path(tmp), args.events)
        history = run / "suites/bench-kill/example-1/history.jsonl"
        began = time.perf_counter()
        lines = parse_only(history)
        floor = time.perf_counter() - began
        began = time.perf_counter()
        render_examples(run)
        render_run(run)
        took = time.perf_counter() - began
        lost = "lost" in (run / "summary.md").read_text()
        print(f"report of a {lines:,}-event history (goal: <= 30 s)")
        print(f"  brokerchaos report (plots, faults, summary, html): {took:6.2f} s   lost ids shown: {lost}")
        print(f"  peer: parse history.jsonl once with orjson         : {floor:6.2f} s")
        print(f"  ratio report / parse: x{took / floor:.2f}")


if __name__ == "__main__":
    main()
