"""The record of what every client and the nemesis did: one :class:`Op` per event, as JSONL.

Model: Jepsen's history. A client operation is an ``invoke`` followed by exactly one completion —
``ok`` (it happened), ``fail`` (it definitely did not) or ``info`` (unknown: it may or may not have
happened, e.g. a send that timed out in flight). Faults are ``info`` events of process ``nemesis``
(f ``start``, then ``applied`` with the targets it hit or ``no_target`` when it hit nothing, then
``stop``) in the same timeline, so a checker can show what was going on around an anomaly. Whatever the
harness does to help the cluster back (restart a node, end a split brain, re-point a replica) is an
``info`` event of process ``operator`` (f ``repair``): recovery is judged on what came before it.

Writing is streaming and thread-safe (workloads record thousands of events per second from several
threads); reading back is lazy, one op at a time, so checkers never hold the whole history.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

INVOKE = "invoke"
OK = "ok"
FAIL = "fail"
INFO = "info"
TYPES = (INVOKE, OK, FAIL, INFO)
NEMESIS = "nemesis"
OPERATOR = "operator"
NO_TARGET = "no_target"


@dataclass(slots=True)
class Op:
    """One event. ``value`` holds the message (``id``, ``key``, ``group``, ``seq``, ``kind``, ...)."""

    process: str
    type: str
    f: str
    value: dict[str, Any] = field(default_factory=dict)
    node: str | None = None
    error: str | None = None
    time: int = 0  # monotonic ns
    index: int = -1

    @property
    def id(self) -> Any:
        return self.value.get("id")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "time": self.time, "process": self.process, "type": self.type}
        out["f"] = self.f
        if self.value:
            out["value"] = self.value
        if self.node is not None:
            out["node"] = self.node
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Op:
        return cls(
            process=str(data["process"]),
            type=data["type"],
            f=data["f"],
            value=data.get("value") or {},
            node=data.get("node"),
            error=data.get("error"),
            time=int(data.get("time", 0)),
            index=int(data.get("index", -1)),
        )


@dataclass
class FaultWindow:
    """One fault in a history: from ``start`` (applying began) to ``stop`` (healed; None: never), in ns."""

    fault: str
    start: int
    stop: int | None = None
    targets: list[str] = field(default_factory=list)
    hit: bool = True  # False: its targets resolved to nothing (``no_target``): the fault did not happen


class FaultWindows:
    """Pairs nemesis events into windows as a history streams by: ``start`` opens one, ``applied`` names
    its targets (resolved once the fault took hold) or ``no_target`` says it hit nothing, ``stop`` closes
    the oldest open one of that fault. The one reading of nemesis events, for checkers and plots alike."""

    def __init__(self) -> None:
        self.windows: list[FaultWindow] = []  # in start order
        self._open: list[FaultWindow] = []

    def observe(self, f: str, value: dict[str, Any], time: int) -> None:
        name = str(value.get("fault", "fault"))
        if f == "start":
            window = FaultWindow(name, time, targets=list(value.get("targets") or []))
            self._open.append(window)
            self.windows.append(window)
            return
        same = [w for w in self._open if w.fault == name]
        if f == "applied" and same:
            same[-1].targets = list(value.get("targets") or [])  # the one just started
        elif f == NO_TARGET and same:
            same[-1].targets, same[-1].hit = [], False
        elif f == "stop" and same:
            same[0].stop = time
            self._open.remove(same[0])

    @property
    def in_force(self) -> bool:
        """Whether a fault is in force now (started and not yet stopped)."""
        return bool(self._open)

    @property
    def hits(self) -> list[FaultWindow]:
        """The windows of faults that hit something."""
        return [w for w in self.windows if w.hit]


class Recorder(Protocol):
    """Where workloads and faults record events."""

    def record(
        self,
        process: str,
        type: str,
        f: str,
        value: dict[str, Any] | None = None,
        node: str | None = None,
        error: str | None = None,
    ) -> Op: ...


class _History:
    """``record`` for both kinds of history: stamp index and time under one lock, then store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0

    def record(
        self,
        process: str,
        type: str,
        f: str,
        value: dict[str, Any] | None = None,
        node: str | None = None,
        error: str | None = None,
    ) -> Op:
        if type not in TYPES:
            raise ValueError(f"op type must be one of {TYPES} (got {type!r})")
        with self._lock:
            op = Op(process, type, f, value or {}, node, error, time.monotonic_ns(), self._next)
            self._store(op)
            self._next += 1
        return op

    def _store(self, op: Op) -> None:
        raise NotImplementedError


class MemoryHistory(_History):
    """A history kept in a list: for tests, generated histories and small runs."""

    def __init__(self, ops: Iterable[Op] = ()) -> None:
        super().__init__()
        self.ops: list[Op] = []
        for op in ops:
            self.append(op)

    def append(self, op: Op) -> Op:
        """Add a prepared op (generated histories): it gets the next index, and a time if it has none."""
        with self._lock:
            op.index = self._next
            if not op.time:
                op.time = op.index
            self._store(op)
            self._next += 1
        return op

    def _store(self, op: Op) -> None:
        self.ops.append(op)

    def __iter__(self) -> Iterator[Op]:
        return iter(list(self.ops))

    def __len__(self) -> int:
        return len(self.ops)


class JsonlHistory(_History):
    """A history streamed to a JSONL file as it happens; iterating reads it back lazily (re-iterable)."""

    def __init__(self, path: Path | str, buffer_bytes: int = 1 << 16) -> None:
        super().__init__()
        self.path = Path(path)
        self._file: IO[bytes] | None = None
        self._buffer_bytes = buffer_bytes

    def open(self) -> JsonlHistory:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One file per run: never append to an earlier run's history.
        self._file = self.path.open("wb", buffering=self._buffer_bytes)
        return self

    def __enter__(self) -> JsonlHistory:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _store(self, op: Op) -> None:
        if self._file is None:
            raise RuntimeError(f"history {self.path} is not open for writing")
        self._file.write(orjson.dumps(op.to_dict()) + b"\n")

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __iter__(self) -> Iterator[Op]:
        self.flush()
        return read_jsonl(self.path)


def read_jsonl(path: Path | str) -> Iterator[Op]:
    """Lazily read ops back; a torn last line (a killed writer) is skipped, not fatal."""
    with Path(path).open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            yield Op.from_dict(data)


def write_jsonl(ops: Iterable[Op], path: Path | str) -> int:
    count = 0
    with Path(path).open("wb") as handle:
        for op in ops:
            handle.write(orjson.dumps(op.to_dict()) + b"\n")
            count += 1
    return count
