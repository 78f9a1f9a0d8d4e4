"""A fault is a small object: ``apply()`` breaks something, ``heal()`` undoes it.

:func:`applied` is the only way suites use a fault: it records ``start``/``stop`` as nemesis events in the
history and heals on every exit path — success, assertion failure, timeout and Ctrl-C. Targets are
resolved at apply time (a callable returning nodes), so "the current primary" means the one at that
moment, not at test collection.
"""

from __future__ import annotations

import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from chaos.cluster.node import Node
from chaos.history import INFO, NEMESIS, Recorder

log = logging.getLogger("brokerchaos.faults")

Target = Callable[[], list[Node]]


def nodes(*fixed: Node) -> Target:
    """A target that is always the same nodes."""
    return lambda: list(fixed)


class Fault(ABC):
    """Base class. Subclasses set ``name`` and implement :meth:`_apply` / :meth:`_heal`."""

    name: str = "fault"

    def __init__(self) -> None:
        self.active = False
        self.targets: list[str] = []

    def apply(self) -> None:
        self._apply()
        self.active = True

    def heal(self) -> None:
        if self.active:
            self._heal()
            self.active = False

    @abstractmethod
    def _apply(self) -> None: ...

    @abstractmethod
    def _heal(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        return {"fault": self.name, "targets": self.targets}


class FaultLog:
    """Records nemesis events; also keeps the faults in force so a last-resort heal can find them."""

    def __init__(self, history: Recorder | None = None) -> None:
        self.history = history
        self.active: list[Fault] = []
        self.applying: list[Fault] = []  # being applied now (a rolling upgrade takes minutes)

    def record(self, phase: str, fault: Fault, error: str | None = None) -> None:
        if self.history is not None:
            self.history.record(NEMESIS, INFO, phase, fault.describe(), error=error)

    def heal_all(self) -> None:
        for fault in reversed(self.active):
            with contextlib.suppress(Exception):
                fault.heal()
        self.active.clear()


@contextlib.contextmanager
def applied(fault: Fault, history: Recorder | None = None, log_: FaultLog | None = None) -> Iterator[Fault]:
    """Apply ``fault`` for the duration of the block; heal it however the block ends."""
    faults = log_ or FaultLog(history)
    began = time.monotonic()
    faults.applying.append(fault)
    # "start" when applying begins (a rolling upgrade takes minutes, and that is fault time too);
    # "applied" once in force, naming the targets it resolved.
    faults.record("start", fault)
    try:
        fault.apply()
    except BaseException as exc:
        # A half-applied fault (e.g. one of two proxies cut) is healed too.
        fault.active = True
        with contextlib.suppress(Exception):
            fault.heal()
        faults.record("stop", fault, error=f"apply failed: {exc}")
        raise
    finally:
        faults.applying.remove(fault)
    faults.active.append(fault)
    faults.record("applied", fault)
    log.info("fault %s on %s applied in %.2f s", fault.name, ",".join(fault.targets) or "-", time.monotonic() - began)
    try:
        yield fault
    finally:
        healed = time.monotonic()
        try:
            fault.heal()
        finally:
            if fault in faults.active:
                faults.active.remove(fault)
            faults.record("stop", fault)
            log.info("fault %s healed in %.2f s", fault.name, time.monotonic() - healed)
