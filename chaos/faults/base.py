"""A fault is a small object: ``apply()`` breaks something, ``heal()`` undoes it.

:func:`applied` is the only way suites use a fault: it records ``start``/``stop`` as nemesis events in the
history and heals on every exit path — success, assertion failure, timeout and Ctrl-C. Targets are
resolved at apply time (a callable returning nodes), so "the current primary" means the one at that
moment, not at test collection. A fault whose targets resolve to nothing (no follower in sync, no live
consumer) did not happen: it is recorded as ``no_target`` instead of ``applied``, and a schedule whose
faults all hit nothing proves nothing about its family.
"""

from __future__ import annotations

import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from chaos.cluster.node import Node
from chaos.history import INFO, NEMESIS, NO_TARGET, Recorder

log = logging.getLogger("brokerchaos.faults")

Target = Callable[[], list[Node]]


def nodes(*fixed: Node) -> Target:
    """A target that is always the same nodes."""
    return lambda: list(fixed)


class Fault(ABC):
    """Base class. Subclasses set ``name`` and implement :meth:`_apply` / :meth:`_heal`."""

    name: str = "fault"
    network: bool = False  # cuts traffic between nodes: brokers may notice it only after it healed

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

    def shortfall(self) -> str | None:
        """What this fault, as it played, did not do of what its name claims (None: all of it). A run
        whose fault fell short did not test what it names: nothing it found ``ok`` is a pass."""
        return None


class FaultLog:
    """Records nemesis events; also keeps the faults in force so a last-resort heal can find them."""

    def __init__(self, history: Recorder | None = None) -> None:
        self.history = history
        self.active: list[Fault] = []
        self.applying: list[Fault] = []  # being applied now (a rolling upgrade takes minutes)
        self.hit: list[bool] = []  # per fault applied: whether it hit anything
        self.shortfalls: list[str] = []  # per fault healed that fell short of its name: what it did not do
        self.network = False  # a fault that cut traffic between nodes was applied
        self.network_healed_at: float | None = None  # when the last such fault was healed (monotonic s)
        self._spans: list[dict[str, Any]] = []  # per fault: when it began, took hold and was healed

    @property
    def last_healed_ns(self) -> int | None:
        """When the last fault was healed (monotonic ns, the history's clock), None before any was."""
        healed = [s["healed_at"] for s in self._spans if s.get("healed_at") is not None]
        return int(max(healed) * 1e9) if healed else None

    def network_settle_left(self, settle_s: float) -> float:
        """How much longer the nodes may still notice a network fault that ended: ``settle_s`` counted
        from the last such heal (the whole of it while one is applied and not yet healed)."""
        if not self.network:
            return 0.0
        if self.network_healed_at is None or any(f.network for f in self.active + self.applying):
            return settle_s
        return max(0.0, self.network_healed_at + settle_s - time.monotonic())

    def played(self, origin: float = 0.0) -> list[dict[str, Any]]:
        """Each fault as it really played (seconds since ``origin``): a staged fault planned for 6 s may
        take 25 s to take hold, and the report says so."""
        out = []
        for span in self._spans:
            row = {k: v for k, v in span.items() if not k.endswith("_at")}
            for key in ("began_at", "held_at", "healed_at"):
                if span.get(key) is not None:
                    row[key.replace("_at", "_s")] = round(span[key] - origin, 2)
            if span.get("healed_at") is not None:
                row["span_s"] = round(span["healed_at"] - span["began_at"], 2)
            out.append(row)
        return out

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
    span: dict[str, Any] = {"fault": fault.name, "began_at": began, "held_at": None, "healed_at": None}
    faults._spans.append(span)
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
        span.update(healed_at=time.monotonic(), error=f"apply failed: {exc}"[:300], targets=list(fault.targets))
        raise
    finally:
        faults.applying.remove(fault)
    faults.active.append(fault)
    faults.hit.append(bool(fault.targets))
    faults.network = faults.network or fault.network
    span.update(held_at=time.monotonic(), targets=list(fault.targets), hit=bool(fault.targets))
    if fault.targets:
        faults.record("applied", fault)
        log.info("fault %s on %s applied in %.2f s", fault.name, ",".join(fault.targets), time.monotonic() - began)
    else:
        faults.record(NO_TARGET, fault, error="its targets resolved to nothing: the fault did not happen")
        log.warning("fault %s hit nothing (no target): it did not happen", fault.name)
    try:
        yield fault
    finally:
        healed = time.monotonic()
        try:
            fault.heal()
        finally:
            if fault in faults.active:
                faults.active.remove(fault)
            span["healed_at"] = time.monotonic()
            if fault.network:
                faults.network_healed_at = span["healed_at"]
            faults.record("stop", fault)
            log.info("fault %s healed in %.2f s", fault.name, time.monotonic() - healed)
            short = fault.shortfall()
            if short:
                faults.shortfalls.append(f"{fault.name} fell short: {short}")
                log.warning("fault %s fell short: %s", fault.name, short)
