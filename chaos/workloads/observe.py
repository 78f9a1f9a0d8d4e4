"""Broker-side observations sampled while a run goes: what a platform team's monitoring would show
(under-replicated partitions, consumer lag, queue depth, XLEN, replication offsets...).

The sampler calls the workload's ``observe()`` every ``observe_every_s`` in a daemon thread and writes
``observations.jsonl`` (``time`` on the history's monotonic clock, ``metrics``). A metric that could not
be read is ``None`` — during a fault that is itself an observation, never a zero.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from chaos.checkers.health import HOLD_S, settling
from chaos.history import OK, Recorder

log = logging.getLogger("brokerchaos.observe")


class ObservationSampler:
    """Samples ``workload.observe()`` until stopped; use as a context manager around the run."""

    def __init__(self, workload: Any, path: Path, history: Recorder | None = None) -> None:
        self.workload = workload
        self.path = path
        self.history = history  # samples are also ``observe`` ops, for the broker-health checker
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="observer", daemon=True)

    def __enter__(self) -> ObservationSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)
        with self.path.open("wb") as out:
            for sample in list(self.samples):
                out.write(orjson.dumps(sample) + b"\n")

    def latest(self) -> dict[str, Any]:
        return self.samples[-1]["metrics"] if self.samples else {}

    def wait_settled(
        self, metrics: tuple[str, ...], within_s: float, since_ns: int, hold_s: float = HOLD_S, min_samples: int = 3
    ) -> bool:
        """Keep sampling until ``metrics`` read 0 and stay there for ``hold_s`` and ``min_samples`` samples
        (what the broker-health checker calls settled), or until ``within_s`` (plus the hold) has passed
        since ``since_ns`` (the last heal, monotonic ns). True when settled."""
        deadline = since_ns / 1e9 + within_s + hold_s + 2 * float(getattr(self.workload, "observe_every_s", 1.0))
        while metrics and time.monotonic() < deadline and self._thread.is_alive():
            samples = [(s["time"], s["metrics"]) for s in list(self.samples)]
            if settling(samples, metrics, since_ns).holds(min_samples, int(hold_s * 1e9)):
                return True
            time.sleep(0.2)
        return False

    def _loop(self) -> None:
        every = float(getattr(self.workload, "observe_every_s", 1.0))
        while not self._stop.is_set():
            began = time.monotonic_ns()
            try:
                metrics = self.workload.observe()
            except Exception as exc:  # an observer must never take the run down
                log.debug("observation failed: %r", exc)
                metrics = {}
            if metrics:
                # The sample's time is its op's time in the history when there is one: the settle wait
                # and the broker-health checker must count a hold on the same clock.
                at = began if self.history is None else self.history.record("observer", OK, "observe", metrics).time
                self.samples.append({"time": at, "metrics": metrics})
            self._stop.wait(max(0.05, every - (time.monotonic_ns() - began) / 1e9))


def read_observations(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open("rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]
