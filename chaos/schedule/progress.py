"""A progress line while a run goes, readable in a CI log (plain log lines, no TTY tricks): the phase,
the faults in force, acknowledged sends and their rate, what consumers got, broker-side observations,
and how much of the wall-clock budget is left."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from chaos.faults.base import FaultLog
from chaos.workloads.base import Workload

log = logging.getLogger("brokerchaos.progress")


class Progress:
    """Logs one line every ``every_s`` until stopped; ``phase`` is set by the run as it goes."""

    def __init__(
        self,
        label: str,
        workload: Workload,
        faults: FaultLog,
        deadline: float | None,
        observed: Callable[[], dict[str, Any]] = dict,
        every_s: float = 10.0,
    ) -> None:
        self.label = label
        self.workload = workload
        self.faults = faults
        self.deadline = deadline
        self.observed = observed
        self.every_s = every_s
        self.phase = "workload"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._last = (time.monotonic(), 0)

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def line(self) -> str:
        w = self.workload
        now = time.monotonic()
        then, sent_then = self._last
        rate = (w.sent_ok - sent_then) / max(now - then, 1e-9)
        self._last = (now, w.sent_ok)
        elapsed = now - w.started_at if w.started_at else 0.0
        faults = ", ".join(
            [f"{f.name}({','.join(f.targets) or '-'})" for f in list(self.faults.active)]
            + [f"{f.name}(applying: {','.join(f.targets) or '-'})" for f in list(self.faults.applying)]
        )
        parts = [
            f"[{self.label}] {self.phase} t={elapsed:.0f}s",
            f"faults: {faults or 'none'}",
            f"sent ok {w.sent_ok} ({rate:.0f}/s)",
            f"received {w.received}",
        ]
        observed = {k: v for k, v in self.observed().items() if v is not None and not k.startswith("repl_offset")}
        if observed:
            parts.append(" ".join(f"{k}={v:g}" for k, v in sorted(observed.items())))
        if self.deadline is not None:
            parts.append(f"budget left {max(0.0, self.deadline - now):.0f}s")
        return " | ".join(parts)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            log.info("%s", self.line())
