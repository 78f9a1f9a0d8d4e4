"""What every workload shares: a bounded load, producer/consumer threads, and the final drain.

Every load loop is bounded in count and in time (``LoadBudget``). ``running()`` starts the clients and
stops the producers however the block ends; ``drain()`` then lets consumers read what is left, bounded
in time, and records whether it completed — the checkers need that to call anything lost.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

from chaos.history import FAIL, INFO, INVOKE, OK, Recorder

log = logging.getLogger("brokerchaos.workloads")


@dataclass(frozen=True)
class LoadBudget:
    """Upper bounds for one run: messages per producer, seconds, and an optional rate (msgs/s/producer)."""

    max_messages: int = 10_000
    max_seconds: float = 60.0
    rate: float | None = None


class Workload(ABC):
    """Producers and consumers on one broker; subclasses implement the client loops."""

    def __init__(self, history: Recorder, budget: LoadBudget, producers: int = 1, consumers: int = 1) -> None:
        self.history = history
        self.budget = budget
        self.producers = producers
        self.consumers = consumers
        self._producing = threading.Event()
        self._consuming = threading.Event()
        self._draining = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sent_ok = 0
        self.received = 0
        self.started_at = 0.0
        self.errors: list[str] = []

    # subclass hooks ------------------------------------------------------------------------------
    @abstractmethod
    def produce(self, index: int) -> None:
        """Send up to the budget while ``self.producing``; record invoke/ok/fail/info per message."""

    @abstractmethod
    def consume(self, index: int) -> None:
        """Receive, process, acknowledge while ``self.consuming``; record each delivery."""

    @abstractmethod
    def backlog(self) -> int | None:
        """Messages still waiting for a consumer (None: cannot tell now)."""

    # control -------------------------------------------------------------------------------------
    @property
    def producing(self) -> bool:
        return self._producing.is_set()

    @property
    def consuming(self) -> bool:
        return self._consuming.is_set()

    def _spawn(self, name: str, target: object, index: int) -> None:
        def guarded() -> None:
            try:
                target(index)  # type: ignore[operator]
            except Exception as exc:  # a client thread must never die silently
                log.exception("%s crashed", name)
                self.errors.append(f"{name}: {exc!r}")

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def start(self) -> None:
        self.started_at = time.monotonic()
        self._producing.set()
        self._consuming.set()
        for i in range(self.consumers):
            self._spawn(f"consumer-{i + 1}", self.consume, i)
        for i in range(self.producers):
            self._spawn(f"producer-{i + 1}", self.produce, i)

    def stop_producing(self) -> None:
        self._producing.clear()

    def wait_producers(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.name.startswith("producer"):
                thread.join(max(0.0, deadline - time.monotonic()))

    def out_of_budget(self, sent: int) -> bool:
        return sent >= self.budget.max_messages or time.monotonic() - self.started_at > self.budget.max_seconds

    def pace(self, sent: int) -> None:
        if self.budget.rate:
            ahead = sent / self.budget.rate - (time.monotonic() - self.started_at)
            if ahead > 0:
                time.sleep(min(ahead, 0.5))

    @contextlib.contextmanager
    def running(self) -> Iterator[Workload]:
        self.start()
        try:
            yield self
        finally:
            self.stop_producing()
            self.wait_producers()

    def drain(self, timeout: float = 60.0, quiet_s: float = 1.0) -> bool:
        """After producers stopped and faults healed: consume until the backlog stays empty for ``quiet_s``."""
        self.stop_producing()
        self.wait_producers()
        self._draining.set()
        self.history.record("drain", INVOKE, "drain")
        deadline = time.monotonic() + timeout
        empty_since: float | None = None
        complete = False
        while time.monotonic() < deadline:
            backlog = self.backlog()
            if backlog == 0:
                empty_since = empty_since or time.monotonic()
                if time.monotonic() - empty_since >= quiet_s:
                    complete = True
                    break
            else:
                empty_since = None
            time.sleep(0.1)
        self._consuming.clear()
        for thread in self._threads:
            thread.join(5.0)
        outcome = OK if complete and not self.errors else INFO
        self.history.record(
            "drain", outcome, "drain", {"backlog": self.backlog()}, error="; ".join(self.errors) or None
        )
        log.info(
            "drain %s: %d sent ok, %d received", "complete" if complete else "INCOMPLETE", self.sent_ok, self.received
        )
        return complete

    def rate(self) -> float:
        elapsed = max(time.monotonic() - self.started_at, 1e-9)
        return self.sent_ok / elapsed


__all__ = ["FAIL", "INFO", "INVOKE", "OK", "LoadBudget", "Workload"]
