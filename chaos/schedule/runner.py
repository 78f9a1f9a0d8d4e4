"""Play a schedule against the workload clock; every fault is healed, whatever happens."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from chaos.faults.base import Fault, FaultLog, applied
from chaos.history import Recorder
from chaos.schedule.strategies import Schedule, Step

log = logging.getLogger("brokerchaos.schedule")


def play(
    schedule: Schedule,
    build: Callable[[Step, random.Random], Fault],
    history: Recorder,
    started_at: float,
    keep_going: Callable[[], bool] = lambda: True,
    faults: FaultLog | None = None,
) -> list[str]:
    """Apply each step at ``started_at + start_s`` for ``duration_s``; returns errors of faults that could
    not be applied (recorded in the history, never silently ignored). ``faults`` (optional) lets a
    progress reporter see what is in force."""
    faults = faults or FaultLog(history)
    errors: list[str] = []
    try:
        for step in schedule:
            wait = started_at + step.start_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not keep_going():
                break
            fault = build(step, random.Random(step.seed))
            log.info("t=%.1fs fault %s for %.1fs", time.monotonic() - started_at, step.family, step.duration_s)
            try:
                with applied(fault, history, faults):
                    time.sleep(step.duration_s)
            except Exception as exc:  # a fault that cannot be applied is an infrastructure problem
                log.warning("fault %s failed: %s", step.family, exc)
                errors.append(f"{step.family}: {exc}")
    finally:
        faults.heal_all()
    return errors
