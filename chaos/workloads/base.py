"""What every workload shares: a bounded load, producer/consumer threads, and the final drain.

Every load loop is bounded in count and in time (``LoadBudget``). ``running()`` starts the clients and
stops the producers however the block ends; ``drain()`` then lets consumers read what is left, bounded
in time, and records whether it completed — the checkers need that to call anything lost.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chaos.faults.base import Fault
from chaos.history import FAIL, INFO, INVOKE, OK, Recorder

log = logging.getLogger("brokerchaos.workloads")
# How long a drain waits for the backlog of a cluster that did not recover (even with the operator's help)
# to become measurable: the cluster had its recovery window and its repair before the drain began.
UNMEASURABLE_S = 10.0


@dataclass(frozen=True)
class LoadBudget:
    """Upper bounds for one run: messages per producer, seconds, and an optional rate (msgs/s/producer)."""

    max_messages: int = 10_000
    max_seconds: float = 60.0
    rate: float | None = None


def budget_for(workload: Any) -> LoadBudget:
    """The load bounds a profile's ``[workload]`` table sets."""
    return LoadBudget(max_messages=workload.messages, max_seconds=workload.duration_s, rate=workload.rate)


def load_kwargs(workload: Any) -> dict[str, Any]:
    """The client counts and message shape a profile's ``[workload]`` table sets (every kit passes them)."""
    return {
        "producers": workload.producers,
        "consumers": workload.consumers,
        "poison_every": workload.poison_every,
        "process_ms": workload.process_ms,
    }


# the process that reads a queue's (or a topic's, a stream's) dead letters to their end after the drain
DEAD_LETTER_READER = "dlq-reader"


def group_process(k: int, role: str) -> str:
    """The name of the process in ``role`` (``consumer-N``, the dead-letter reader) that works for group K
    (or the K-th queue of an exchange) after the first: ``gK-<role>``, which :meth:`Workload.audience_of`
    reads back as audience K."""
    return f"g{k}-{role}"


class Workload(ABC):
    """Producers and consumers on one broker; subclasses implement the client loops.

    The contract a broker kit's workload keeps, and what the runner and the checkers read of it:
    ``produce``/``consume``/``backlog`` (abstract below), the history ops it records (``send`` with
    ``id`` and ``kind``; a consumer's deliveries as ``consume_f`` ops), ``fault_subject``,
    ``settling_metrics`` and ``observe()`` for broker health, ``drain()`` and ``stop()``. A subclass of a
    kit's workload that replaces its consumers takes over the declarations below too: what its consumers
    do not record (positions, session events), it must not declare.
    """

    # the history op a consumer records once it has processed a message (what order/dead-letter judge)
    consume_f: str = "process"
    # whether sends' acknowledgements and reads carry each record's ``partition`` and ``offset`` (a log's
    # positions): the delivery checker then also looks for inconsistent offsets and loss by offset
    positions: bool = False
    # whether consumers record what moves their position (``assign``, ``revoke``, ``seek`` ops): the
    # delivery checker then follows each consumer's reads between two (nonmonotonic, skipped offsets)
    sessions: bool = False
    # whether consumers (with sessions) also record each commit the coordinator accepted (``commit`` ops,
    # ``offsets`` as [partition, offset] pairs): an assignment's first reads are then held against them
    commits: bool = False
    # whether each group (key) is read by one consumer at a time (a partition's owner in a consumer group):
    # order is then judged across consumers, so two consumers working one key at once is reordering
    exclusive_groups: bool = False
    # how many deliveries of a poison message the configuration allows before it is dead-lettered (None:
    # the workload does not dead-letter by count): what the broker actually did is then reported against it
    dead_letter_after: int | None = None
    # a length cap the profile sets on the log (Redis MAXLEN): an entry with at least this many acknowledged
    # entries after it may be trimmed by design; the delivery checker tells such drops from loss (None: none)
    keep_newest: int | None = None
    # what shows a message was deleted by the broker's expiry policy, where the profile tolerates one
    # (``guarantees.may_expire_after_s``): "log_start" (the final log read reports where each partition
    # starts: Kafka retention), "dead_letter" (the broker dead-letters it with reason ``expired`` and the
    # time: RabbitMQ TTL) or "minid" (each XADD records its MINID threshold, each entry's id its time:
    # Redis MINID); None: nothing can show it
    expiry_evidence: str | None = None
    # the reason the broker dead-letters what a queue's length limit drops (RabbitMQ drop-head: "maxlen"),
    # where the profile tolerates such drops (``guarantees.may_trim_to_length``); None: none shows them so
    trim_reason: str | None = None
    # the reason the broker dead-letters a publish its full queue refused (RabbitMQ reject-publish-dlx:
    # "maxlen"): such a message in the dead-letter queue was never accepted; None: no refusal is kept so
    refusal_reason: str | None = None
    # a size cap on each partition (Kafka ``retention.bytes``), where the profile sets one: the delivery
    # checker tells what the cap allowed to delete (acknowledgements must carry each record's ``bytes``)
    retention_bytes: int | None = None
    # whether the log is compacted (Kafka ``cleanup.policy=compact``): it keeps each key's latest record
    # and may remove what a later one superseded; sends must carry each message's ``key``, and the final
    # log read its records' positions
    compacted: bool = False
    # whether messages carry a ``priority`` and the queue's ``rank`` for it (RabbitMQ priority queues): the
    # report then measures how often a lower rank was delivered while a higher one waited
    prioritised: bool = False

    def __init__(self, history: Recorder, budget: LoadBudget, producers: int = 1, consumers: int = 1) -> None:
        self.history = history
        self.budget = budget
        self.producers = producers
        self.consumers = consumers
        self._producing = threading.Event()
        self._consuming = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stopped = False  # set once stop() has joined the client threads
        self.sent_ok = 0
        self.received = 0
        self.started_at = 0.0
        self.producing_s = 0.0
        self.errors: list[str] = []
        self._crash_requests: set[str] = set()
        self._retiring: set[str] = set()  # consumers the group is scaled in without: they stop after their batch
        self._received_by: dict[str, int] = {}  # deliveries per consumer process
        self._crashed: list[str] = []
        self._paused = threading.Event()  # consumers take nothing while set (the pause-consumers fault)
        self._holding: set[str] = set()  # consumers that hold still now, as they reported it
        self._stall = threading.Event()  # the consumer named by _stall_target stalls mid-batch while set
        self._stall_target: str | None = None
        self._stalled_now: set[str] = set()  # the consumers stalled right now
        self._consumer_count = consumers
        # the consumer groups reading every message, the first worked by the client faults (a workload
        # with several names them all and implements consume_in)
        self.groups: list[str] = [""]
        # the audiences' names, group by group (none given: group-1, group-2, ...; Kafka's topics: topic-K;
        # an exchange's queues: their bindings' names)
        self.audience_labels: list[str] = []
        self._lock = threading.Lock()
        self.consumers_start_after_s = 0.0
        self.backlog_unanswered = False  # set by drain(): its backlog could not be read up to its timeout

    # subclass hooks ------------------------------------------------------------------------------
    @abstractmethod
    def produce(self, index: int) -> None:
        """Send up to the budget while ``self.producing``; record invoke/ok/fail/info per message."""

    @abstractmethod
    def consume(self, index: int) -> None:
        """Receive, process, acknowledge while ``self.consuming_as(process)`` (False once the run's consumers
        stop, or once the group is scaled in without this one); record each delivery and count it
        (``count_received``: the scale-consumers fault waits for new consumers to receive)."""

    @abstractmethod
    def backlog(self) -> int | None:
        """Messages still waiting for a consumer (None: cannot tell now)."""

    # several consumer groups ------------------------------------------------------------------------
    def consume_in(self, process: str, group: str) -> None:
        """Read as ``process``, a member of consumer group ``group`` (a workload whose ``groups`` names
        more than one implements it: ``consume`` is then the first group's)."""
        raise NotImplementedError(f"{type(self).__name__} reads with one consumer group")

    def audience_label(self, k: int) -> str:
        """The name of the audience group ``k`` (counted from 1) reads for."""
        return self.audience_labels[k - 1] if self.audience_labels else f"group-{k}"

    @property
    def audiences(self) -> list[str]:
        """The readers that must each see every message, judged apart: one per consumer group where there
        are several (``group-1``, ``group-2``, ...); one audience (the default) is judged on the whole history."""
        if len(self.groups) <= 1:
            return [""]
        return [self.audience_label(k) for k in range(1, len(self.groups) + 1)]

    def audience_of(self, process: str) -> str | None:
        """The audience ``process`` consumes for: ``consumer-N`` reads for the first group, ``gK-consumer-N``
        (and ``gK-dlq-reader``, where each group has dead letters of its own) for group K (None: it consumes
        for none, or there is only one group)."""
        if len(self.groups) <= 1:
            return None
        if process.startswith("consumer-"):
            return self.audience_label(1)
        head, _, role = process.partition("-")
        if head[:1] == "g" and head[1:].isdigit() and (role.startswith("consumer-") or role == DEAD_LETTER_READER):
            return self.audience_label(int(head[1:]))
        return None

    def routes(self, value: dict[str, Any]) -> list[str] | None:
        """The audiences a sent message (its ``send`` op's value) is meant for (None: every audience): an
        exchange routes each message to the queues its key binds."""
        return None

    def _read_in_other_groups(self) -> None:
        """The members of every group after the first: as many as the first has, started when it starts.
        Client faults work on the first group only; these read alongside it."""
        for k, group in enumerate(self.groups[1:], start=2):
            for i in range(self.consumers):
                process = group_process(k, f"consumer-{i + 1}")
                self._spawn(process, functools.partial(self._read_alongside, process, group), i)

    def _read_alongside(self, process: str, group: str, _index: int) -> None:
        deadline = self.started_at + self.consumers_start_after_s
        while time.monotonic() < deadline and self.consuming:
            time.sleep(0.05)
        self.consume_in(process, group)

    # control -------------------------------------------------------------------------------------
    @property
    def producing(self) -> bool:
        return self._producing.is_set()

    @property
    def consuming(self) -> bool:
        return self._consuming.is_set()

    def count_received(self, process: str) -> None:
        """A consumer recorded a delivery (the progress line's count, and whether a new consumer works)."""
        self.received += 1
        self._received_by[process] = self._received_by.get(process, 0) + 1

    def received_by(self, process: str) -> int:
        return self._received_by.get(process, 0)

    def consuming_as(self, process: str) -> bool:
        """Whether ``process`` keeps consuming: until the run's consumers stop, or the group is scaled in
        without it (it then finishes its batch, acknowledges, and leaves as an application would)."""
        return self._consuming.is_set() and process not in self._retiring

    def consumer_index(self, process: str) -> int:
        return int(process.rsplit("-", 1)[1]) - 1

    def _spawn(self, name: str, target: object, index: int) -> None:
        def guarded() -> None:
            try:
                target(index)  # type: ignore[operator]
            except:  # noqa: E722 — whatever ends a client thread, even what no except clause can name
                self._record_thread_death(name, sys.exc_info()[1])

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _record_thread_death(self, name: str, exc: object) -> None:
        """A client thread must never die silently: what ended it leaves the drain incomplete, so no
        verdict passes on the evidence it stopped writing. That may be no exception class at all
        (confluent-kafka can raise a bare ``KafkaError``, whose traceback cannot be printed)."""
        if self._stopped:  # stuck in its client library past stop(): the history is closed
            log.warning("%s ended %r after the workload stopped (not recorded)", name, exc)
            return
        log.error("%s crashed: %r", name, exc, exc_info=exc if isinstance(exc, BaseException) else None)
        self.errors.append(f"{name}: {exc!r}")

    # consumer crashes ---------------------------------------------------------------------------
    def should_crash(self, process: str) -> bool:
        """Consumers call this between receiving and processing: True means die right here."""
        if process in self._crash_requests:
            with self._lock:
                self._crash_requests.discard(process)
                self._crashed.append(process)
            log.info("%s crashes mid-batch (delivered, not processed, not acknowledged)", process)
            return True
        return False

    def crash_one_consumer(self) -> str | None:
        with self._lock:
            alive = [
                name for name in self.live_consumers() if name not in self._crash_requests and name not in self._crashed
            ]
            if not alive:
                return None
            victim = alive[0]
            self._crash_requests.add(victim)
        return victim

    def has_crashed(self, process: str) -> bool:
        with self._lock:
            return process in self._crashed

    def replace_crashed(self) -> None:
        """A restarted consumer process comes back under a new name (as a new pod would)."""
        with self._lock:
            crashed, self._crashed = self._crashed, []
        for _ in crashed:
            self._consumer_count += 1
            self._spawn(f"consumer-{self._consumer_count}", self.consume, self._consumer_count - 1)

    def consumer_crash(self) -> ConsumerCrash:
        return ConsumerCrash(self)

    # scaling the consumer group ------------------------------------------------------------------
    def scale_out(self, count: int) -> list[str]:
        """``count`` more consumers join while the others work (new names, as new pods would have)."""
        added = []
        with self._lock:
            for _ in range(count):
                self._consumer_count += 1
                added.append(f"consumer-{self._consumer_count}")
        for name in added:
            self._spawn(name, self.consume, self.consumer_index(name))
        return added

    def scale_in(self, processes: list[str], timeout_s: float = 15.0) -> list[str]:
        """``processes`` leave the group, each after its current batch; the ones still running after
        ``timeout_s`` are returned (a consumer stuck in its client library)."""
        with self._lock:
            self._retiring.update(processes)
        deadline = time.monotonic() + timeout_s
        for thread in [t for t in self._threads if t.name in processes]:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.name in processes and t.is_alive()]

    def consumer_scaling(self) -> ConsumerScaling:
        return ConsumerScaling(self)

    # pausing the consumers ---------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """Whether consumers should take nothing now (each checks between batches)."""
        return self._paused.is_set()

    def holds(self, process: str, holding: bool) -> None:
        """A consumer reports that it holds still now (True: it takes nothing more) or works again."""
        with self._lock:
            if holding:
                self._holding.add(process)
            else:
                self._holding.discard(process)

    def hold_while_paused(self, process: str) -> None:
        """A consumer that takes deliveries only when it asks for them (nothing is fetched behind its back)
        holds still here while paused: it stays connected and keeps what it was handed, unprocessed."""
        if not self._paused.is_set():
            return
        self.holds(process, True)
        while self._paused.is_set() and self.consuming_as(process):
            time.sleep(0.05)
        self.holds(process, False)

    def pause_consumers(self, within_s: float = 5.0) -> list[str]:
        """Ask every consumer to hold still; returns those that did within ``within_s`` (a consumer busy in
        its client library reports later, or never: it was not paused)."""
        self._paused.set()
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            live = set(self.live_consumers())
            with self._lock:
                if live <= self._holding:
                    break
            time.sleep(0.05)
        with self._lock:
            return sorted(self._holding)

    def resume_consumers(self) -> None:
        self._paused.clear()

    def consumer_pause(self) -> ConsumerPause:
        return ConsumerPause(self)

    # one consumer stalled mid-batch (the stall-consumer fault) --------------------------------------
    def hold_while_stalled(self, process: str) -> None:
        """A consumer calls this between two messages of a batch it holds: when it is the one asked to
        stall, it stops right here — processing nothing, polling nothing, acknowledging nothing — until the
        stall ends, and then goes on with the rest of its batch (a handler stuck in a slow call)."""
        if self._stall_target != process or not self._stall.is_set():
            return
        with self._lock:
            self._stalled_now.add(process)
        log.info("%s stalls mid-batch (holding its batch, not polling)", process)
        while self._stall.is_set() and self.consuming_as(process):
            time.sleep(0.05)
        with self._lock:
            self._stalled_now.discard(process)

    def stall_consumer(self, within_s: float = 5.0) -> list[str]:
        """Ask one live consumer to stall at its next message; returns it once it did (within ``within_s``),
        else nothing (it received nothing meanwhile: it did not stall)."""
        live = self.live_consumers()
        if not live:
            return []
        self._stall_target = live[0]
        self._stall.set()
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            with self._lock:
                if self._stall_target in self._stalled_now:
                    return [self._stall_target]
            time.sleep(0.05)
        self._stall.clear()  # withdrawn: a stall that began only now ends at once, as if it never did
        return []

    def release_consumer(self) -> None:
        self._stall.clear()

    def consumer_stall(self) -> ConsumerStall:
        return ConsumerStall(self)

    def live_consumers(self) -> list[str]:
        """The consumer threads still running (crashed and scaled-in ones have ended)."""
        return [t.name for t in self._threads if t.name.startswith("consumer") and t.is_alive()]

    def start(self) -> None:
        self.started_at = time.monotonic()
        self._producing.set()
        self._consuming.set()
        for i in range(self.consumers):
            self._spawn(f"consumer-{i + 1}", self._delayed_consume, i)
        self._read_in_other_groups()
        for i in range(self.producers):
            self._spawn(f"producer-{i + 1}", self.produce, i)

    def _delayed_consume(self, index: int) -> None:
        deadline = self.started_at + self.consumers_start_after_s
        while time.monotonic() < deadline and self.consuming:
            time.sleep(0.05)
        self.consume(index)

    def stop_producing(self) -> None:
        if self._producing.is_set():
            self.producing_s = time.monotonic() - self.started_at
        self._producing.clear()

    def wait_producers(self, timeout: float = 30.0) -> None:
        """Wait for the producer threads to end, ``timeout`` for all of them together. Whatever waits on
        them (the repair, the drain) waits this long: one still running after it is named."""
        began = time.monotonic()
        producers = [t for t in self._threads if t.name.startswith("producer")]
        for thread in producers:
            thread.join(max(0.0, began + timeout - time.monotonic()))
        stuck = [t.name for t in producers if t.is_alive()]
        if stuck:
            log.warning("still producing %.0f s after producing stopped: %s", timeout, ", ".join(stuck))
        else:
            log.debug("producers ended %.1f s after producing stopped", time.monotonic() - began)

    def out_of_budget(self, sent: int) -> bool:
        return sent >= self.budget.max_messages or time.monotonic() - self.started_at > self.budget.max_seconds

    poison_every: int = 0  # every Nth message is poison (0: none); set by the broker workloads
    process_ms: float = 0.0  # what processing one message costs a consumer; set by the broker workloads
    draining = False  # set by drain(): what is left is read at full speed

    def processing_pause(self) -> None:
        """The consumer's processing time (``process_ms``), until the final drain: a profile makes consumers
        slow so that messages wait in the broker while the faults play; what is left after every heal is
        read as fast as the broker gives it (the drain checks where messages went, not how fast)."""
        if self.process_ms and not self.draining:
            time.sleep(self.process_ms / 1000)

    def message_kind(self, seq: int) -> str:
        """``poison`` for every ``poison_every``-th message of a producer, else ``good``."""
        return "poison" if self.poison_every and seq % self.poison_every == self.poison_every - 1 else "good"

    def ahead_of_rate(self, sent: int) -> bool:
        """True while ``sent`` messages are more than the profile's rate allows by now."""
        rate = self.budget.rate
        return rate is not None and rate > 0 and sent / rate > time.monotonic() - self.started_at

    def pace(self, sent: int) -> None:
        if self.budget.rate:
            ahead = sent / self.budget.rate - (time.monotonic() - self.started_at)
            if ahead > 0:
                time.sleep(min(ahead, 0.5))

    @property
    def fault_subject(self) -> str | None:
        """What "the leader" is the leader of (a topic-partition, a queue); None: the cluster's own."""
        return None

    def command_env(self) -> dict[str, str] | None:
        """Where a command consumer (``workload.consumer_command``) connects, as ``BROKERCHAOS_*`` variables
        without the prefix; None: this workload cannot host one."""
        return None

    drain_stall_s: float = 6.0  # an unmoving backlog this long after the heal will not move

    @contextlib.contextmanager
    def running(self) -> Iterator[Workload]:
        """Produce and consume for the block; producers stop when it ends. If it ends with an exception,
        consumers stop too (no drain will follow) so no thread outlives the run."""
        self.start()
        try:
            yield self
        except BaseException:
            self.stop()
            raise
        finally:
            self.stop_producing()
            self.wait_producers()

    def _join_threads(self, within_s: float) -> None:
        """Wait for the client threads to end, ``within_s`` for all of them together: threads stuck alike
        (consumers closing against a coordinator that is gone) do not add up their waits."""
        deadline = time.monotonic() + within_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        """Stop every client thread now (no drain)."""
        self._producing.clear()
        self._consuming.clear()
        self._join_threads(5.0)
        self._stopped = True
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            log.warning("still running 5 s after stop: %s (their late outcomes are not recorded)", ", ".join(stuck))

    def drain(
        self, timeout: float = 60.0, quiet_s: float = 1.5, stall_s: float | None = None, unrecovered: bool = False
    ) -> bool:
        """After producers stopped and faults healed: consume until the backlog is empty for ``quiet_s``.

        Every broker's backlog counts a message until its consumer acknowledges it (Kafka: the committed
        offset; Redis: the group's lag plus its pending entries; RabbitMQ: ready plus unacknowledged), a
        drain's processing takes no time (``processing_pause``), and no producer is left: a backlog read
        empty twice, ``quiet_s`` apart, has nothing in flight. (It was 3 s: 1.5 s more on each of the
        ~85 runs of a CI.)

        A backlog that does not move for ``stall_s`` (default: the workload's ``drain_stall_s``) with every
        fault healed will not move: the drain ends there and says so (what is left was acknowledged and
        never processed — the checkers call it lost).
        Only a backlog that cannot be measured, or a crashed client thread, leaves the drain incomplete.
        ``unrecovered``: the cluster did not recover even with the operator's help (it was given its time
        to before the drain), so a backlog that could not be measured for ``UNMEASURABLE_S`` (or ``stall_s``,
        if shorter) will not become measurable — the drain ends there, incomplete, instead of at ``timeout``.
        """
        self.stop_producing()
        self.wait_producers()
        self.draining = True
        self.history.record("drain", INVOKE, "drain")
        stall_s = self.drain_stall_s if stall_s is None else stall_s
        deadline = time.monotonic() + timeout
        steady_since = time.monotonic()
        last: int | None = None
        outcome = "timeout"
        while time.monotonic() < deadline:
            backlog = self.backlog()
            if backlog != last:
                steady_since, last = time.monotonic(), backlog
            steady = time.monotonic() - steady_since
            if backlog == 0 and steady >= quiet_s:
                outcome = "empty"
                break
            if backlog is not None and backlog > 0 and steady >= stall_s:
                outcome = "stalled"
                break
            if backlog is None and unrecovered and steady >= min(stall_s, UNMEASURABLE_S):
                outcome = "unmeasurable"
                break
            time.sleep(0.1)
        self._consuming.clear()
        self._join_threads(5.0)
        self.observe_after_drain()
        complete = outcome in ("empty", "stalled") and not self.errors
        # the broker never said what was left, to the drain's end (RabbitMQ 3.10.8 after a leader kill in
        # session 20's CI: "Some queue(s) are unresponsive" for minutes): not a cluster to hand on
        self.backlog_unanswered = outcome == "timeout" and last is None
        self.history.record(
            "drain",
            OK if complete else INFO,
            "drain",
            {"backlog": last, "outcome": outcome},
            error="; ".join(self.errors) or None,
        )
        log.info("drain %s (backlog %s): %d sent ok, %d received", outcome, last, self.sent_ok, self.received)
        return complete

    observe_every_s: float = 1.0
    settling_metrics: tuple[str, ...] = ()  # observations that must return to 0 after every heal

    def observe(self) -> dict[str, float | None]:
        """Broker-side metrics right now, for the observation sampler (None: could not be read)."""
        return {}

    def observe_after_drain(self) -> None:  # noqa: B027 - optional hook
        """Record broker-side state the checkers need (e.g. what a dead-letter queue holds)."""

    def rate(self) -> float:
        """Acknowledged sends per second while producers ran."""
        elapsed = self.producing_s or (time.monotonic() - self.started_at)
        return self.sent_ok / max(elapsed, 1e-9)


class ConsumerCrash(Fault):
    """Crash a consumer mid-batch (after receive, before processing and ack); heal starts a new one."""

    name = "crash-consumer"

    def __init__(self, workload: Workload) -> None:
        super().__init__()
        self.workload = workload

    def _apply(self) -> None:
        victim = self.workload.crash_one_consumer()
        self.targets = [victim] if victim else []

    def _heal(self) -> None:
        deadline = time.monotonic() + 5
        while self.targets and not self.workload.has_crashed(self.targets[0]) and time.monotonic() < deadline:
            time.sleep(0.05)  # the consumer dies at its next delivery
        self.workload.replace_crashed()


class ConsumerScaling(Fault):
    """The production checklist's "scale consumers on lag", both ways under load: as many consumers again
    join the group while it works (apply), then leave it again, each after finishing its batch (heal).
    Each change of the group's size moves partitions (Kafka), pending entries' owners (Redis) or the
    share of a queue's deliveries (RabbitMQ) while messages flow."""

    name = "scale-consumers"

    def __init__(self, workload: Workload, leave_within_s: float = 15.0, work_within_s: float = 30.0) -> None:
        super().__init__()
        self.workload = workload
        self.leave_within_s = leave_within_s
        self.work_within_s = work_within_s
        self.idle: list[str] = []  # added consumers that received nothing while in the group

    def _apply(self) -> None:
        """Held until every added consumer has received a message (bounded by ``work_within_s``): a group
        that rebalances in rounds (cooperative-sticky takes two) hands new members partitions only then,
        and a scale-in before that would test joining, not working."""
        self.targets = self.workload.scale_out(self.workload.consumers)
        deadline = time.monotonic() + self.work_within_s
        while time.monotonic() < deadline and not all(self.workload.received_by(p) for p in self.targets):
            time.sleep(0.1)
        self.idle = [p for p in self.targets if not self.workload.received_by(p)]
        if self.idle:
            log.warning("scale-consumers: %s received nothing within %g s of joining", self.idle, self.work_within_s)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "idle": self.idle}

    def _heal(self) -> None:
        stuck = self.workload.scale_in(self.targets, self.leave_within_s)
        if stuck:
            raise RuntimeError(
                f"consumers {', '.join(stuck)} did not leave within {self.leave_within_s:g} s of being scaled in"
            )


class ConsumerPause(Fault):
    """Every consumer holds still while staying a member of its group: a stalled downstream, back-pressure.
    The kit's Kafka consumers pause() their partitions (librdkafka then stops fetching, drops what it had
    fetched ahead, and on resume fetches on from the application's position); the RabbitMQ and Redis
    consumers take no delivery (RabbitMQ's prefetched ones wait, unacknowledged); a consumer program is
    stopped (SIGSTOP) and continued (SIGCONT). What the broker does meanwhile with what they have not read
    — retention, trimming, expiry — shows when they go on. Its targets are the consumers that held."""

    name = "pause-consumers"

    def __init__(self, workload: Workload, hold_within_s: float = 5.0) -> None:
        super().__init__()
        self.workload = workload
        self.hold_within_s = hold_within_s

        self.not_holding: list[str] = []  # consumers asked to hold that did not report holding

    def _apply(self) -> None:
        self.targets = self.workload.pause_consumers(self.hold_within_s)
        self.not_holding = sorted(set(self.workload.live_consumers()) - set(self.targets))
        if self.not_holding:
            log.warning("pause-consumers: %s did not hold within %g s", self.not_holding, self.hold_within_s)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "not_holding": self.not_holding}

    def _heal(self) -> None:
        self.workload.resume_consumers()


class ConsumerStall(Fault):
    """One consumer stops in the middle of a batch — its handler stuck in a slow call, a long GC pause —
    and neither processes, polls nor acknowledges until the heal; then it goes on with the rest of that
    batch. Unlike pause-consumers it does not stay a live member: once a stall outlasts Kafka's
    ``max.poll.interval.ms`` the group hands its partitions to another member, which processes again
    from the last commit, and the stalled one comes back a zombie that finishes work another consumer
    owns now. Its target is the consumer that stalled (none: no consumer received anything to stall in)."""

    name = "stall-consumer"

    def __init__(self, workload: Workload, stall_within_s: float = 5.0) -> None:
        super().__init__()
        self.workload = workload
        self.stall_within_s = stall_within_s

    def _apply(self) -> None:
        self.targets = self.workload.stall_consumer(self.stall_within_s)
        if not self.targets:
            log.warning("stall-consumer: no consumer stalled within %g s", self.stall_within_s)

    def _heal(self) -> None:
        self.workload.release_consumer()


__all__ = [
    "FAIL",
    "INFO",
    "INVOKE",
    "OK",
    "ConsumerCrash",
    "ConsumerPause",
    "ConsumerScaling",
    "ConsumerStall",
    "LoadBudget",
    "Workload",
]
