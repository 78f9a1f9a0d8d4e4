"""Your own consumer, in any language, as the workload's consumers: ``[workload] consumer_command``.

The harness's producers write as usual; each consumer of the group is one process of the command,
started with where to connect in its environment and stopped (SIGTERM, then SIGKILL) when the run ends.
The program tells what it did as one JSON object per line on stdout — the same operations a broker
kit's own consumer records, so the same checkers judge them:

    {"type": "ok", "f": "receive", "value": {"id": "producer-1-17", ...}}   a message arrived
    {"type": "ok", "f": "process", "value": {"id": "producer-1-17", ...}}   its processing finished

``type`` is ``invoke``, ``ok``, ``fail`` or ``info`` (indeterminate); ``value`` carries the message's
own fields as the harness sent them (``id``, ``producer``, ``seq``, ``kind``) plus the record it was read
from (``record`` "partition:offset" for Kafka, ``entry`` for Redis: a second read of one record is a
redelivery) and, optionally, ``redelivered``; ``node`` and ``error`` are optional strings. What the
program wrote before it was killed or stopped is recorded too: the harness reads behind it. Anything
else on stdout is a protocol error: the run's evidence is incomplete and its verdict ``unknown``. Logs
go to stderr (kept in the run directory). The harness names the process (``consumer-1``, ...).

A crash-consumer fault SIGKILLs the program's whole process group as soon as it reports its next
``receive`` — mid-processing, where the kit's own consumers crash too; a program that exits by itself is
restarted after a second, as a supervisor would, and the exit is recorded. A pause-consumers fault stops
its process group (SIGSTOP) for the pause and continues it (SIGCONT) at the heal.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from chaos.history import INFO, OK, TYPES
from chaos.settings import ProfileError

if TYPE_CHECKING:
    from chaos.workloads.base import Workload

log = logging.getLogger("brokerchaos.workloads")

ENV_PREFIX = "BROKERCHAOS_"
PYTHON = "{python}"
STOP_GRACE_S = 5.0
RESTART_AFTER_S = 1.0
QUICK_EXITS = 3  # this many exits, each within QUICK_EXIT_S of its start: the program cannot run here
QUICK_EXIT_S = 5.0


class ProtocolError(ValueError):
    """A stdout line that is not one operation of the protocol."""


@dataclass(frozen=True)
class Reported:
    """One operation a command reported."""

    type: str
    f: str
    value: dict[str, Any]
    node: str | None = None
    error: str | None = None


def parse_line(line: str) -> Reported:
    """One stdout line as an operation, or a :class:`ProtocolError` saying what is wrong with it."""
    try:
        data = json.loads(line)
    except ValueError:
        raise ProtocolError(f"not JSON: {line[:120]!r}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"not a JSON object: {line[:120]!r}")
    unknown = set(data) - {"type", "f", "value", "node", "error"}
    if unknown:
        raise ProtocolError(f"unknown field {sorted(unknown)[0]!r} (known: type, f, value, node, error)")
    kind, f, value = data.get("type"), data.get("f"), data.get("value", {})
    if kind not in TYPES:
        raise ProtocolError(f"type must be one of {', '.join(TYPES)} (got {kind!r})")
    if not isinstance(f, str) or not f:
        raise ProtocolError(f"f must be a non-empty string (got {f!r})")
    if not isinstance(value, dict):
        raise ProtocolError(f"value must be an object (got {type(value).__name__})")
    if f in ("receive", "process") and "id" not in value:
        raise ProtocolError(f"a {f} needs value.id, the id of the message the harness sent")
    for key in ("node", "error"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ProtocolError(f"{key} must be a string")
    return Reported(kind, f, value, data.get("node"), data.get("error"))


def command_argv(command: str, base: Path | None) -> list[str]:
    """The command split as a shell would, its program found now (on PATH, or relative to the profile's
    directory): a profile naming a program that is not there is refused before any cluster starts."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ProfileError(f"workload.consumer_command: cannot split {command!r}: {exc}") from None
    if not argv:
        raise ProfileError("workload.consumer_command is empty")
    if argv[0] == PYTHON:  # the interpreter running the harness, with the client libraries it installed
        argv[0] = sys.executable
    program = argv[0]
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else (base or Path.cwd()) / program
        if not path.is_file():
            raise ProfileError(f"workload.consumer_command: {program} does not exist (looked at {path})")
    elif shutil.which(program) is None:
        raise ProfileError(f"workload.consumer_command: {program} is not on PATH")
    _setpriv()
    return argv


def _setpriv() -> str:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ProfileError("workload.consumer_command needs setpriv (util-linux) to tie the program to the harness")
    return setpriv


def _dies_with_the_harness(argv: list[str]) -> list[str]:
    """``argv`` run so that the kernel SIGKILLs it when the harness dies, even by kill -9: util-linux's
    ``setpriv --pdeathsig`` sets that and execs it (no code runs between fork and exec in our threads)."""
    return [_setpriv(), "--pdeathsig", "KILL", "--", *argv]


class CommandConsumers:
    """Runs ``argv`` as each consumer of ``workload`` (see the module docstring): installs itself as the
    workload's ``consume`` so that starting, crashing and replacing consumers work as for the kit's own."""

    def __init__(self, workload: Any, argv: list[str], cwd: Path, env: dict[str, str], logs: Path) -> None:
        self.workload = workload
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.logs = logs
        workload.consume = self.consume
        # The protocol does not ask a program to report its assignments: its reads are not followed per
        # session (left on, every run would be unknown for want of session events).
        workload.sessions = False
        workload.commits = False

    def consume(self, index: int) -> None:
        process = f"consumer-{index + 1}"
        quick_exits = 0
        while self.workload.consuming_as(process):
            began = time.monotonic()
            outcome = self._run_once(process)
            if outcome != "exited":
                return
            quick_exits = quick_exits + 1 if time.monotonic() - began < QUICK_EXIT_S else 0
            if quick_exits >= QUICK_EXITS:
                raise RuntimeError(f"{self.argv[0]} exited {QUICK_EXITS} times within {QUICK_EXIT_S:g} s of starting")
            time.sleep(RESTART_AFTER_S)

    def _run_once(self, process: str) -> str:
        """One life of the program: ``exited`` (by itself), ``crashed`` (a fault killed it), ``stopped``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, f"{ENV_PREFIX}PROCESS": process}
        with open(self.logs / f"{process}.stderr.log", "ab") as stderr:
            child = subprocess.Popen(
                _dies_with_the_harness(self.argv),
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
            )
        assert child.stdout is not None
        lines: queue.Queue[bytes | None] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(child.stdout, lines), name=f"{process}-stdout", daemon=True)
        reader.start()
        try:
            return self._follow(process, child, lines)
        finally:
            _end(child)
            reader.join(STOP_GRACE_S)

    def _follow(self, process: str, child: subprocess.Popen[bytes], lines: queue.Queue[bytes | None]) -> str:
        stopped = False
        while True:
            stopped = self._follow_pause(process, child, stopped)
            if not self.workload.consuming_as(process):
                _terminate(child)
                self._record_until_closed(process, child, lines, time.monotonic() + STOP_GRACE_S)
                return "stopped"
            try:
                raw = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if raw is None:  # stdout closed: the program ended
                code = child.wait()
                self.workload.history.record(process, INFO, "exit", {"returncode": code})
                log.warning(
                    "%s: %s exited (%s) by itself; restarted in %g s", process, self.argv[0], code, RESTART_AFTER_S
                )
                return "exited"
            if self._record(process, raw) and self.workload.should_crash(process):
                # Right after a receive, mid-processing, as the kit's own consumers crash.
                self._record_until_closed(process, child, lines, kill_at=time.monotonic())
                return "crashed"

    def _follow_pause(self, process: str, child: subprocess.Popen[bytes], stopped: bool) -> bool:
        """While the workload is paused the program's process group is stopped (SIGSTOP: frozen in place,
        as in a long GC pause), continued after (SIGCONT); returns whether it is stopped now."""
        if self.workload.paused and not stopped:
            _signal_group(child, signal.SIGSTOP)
            self.workload.holds(process, True)
            return True
        if stopped and not self.workload.paused:
            _signal_group(child, signal.SIGCONT)
            self.workload.holds(process, False)
            return False
        return stopped

    def _record(self, process: str, raw: bytes) -> bool:
        """Record one reported operation; True when it was a message received."""
        try:
            op = parse_line(raw.decode("utf-8", errors="replace").strip())
        except ProtocolError as exc:
            raise ProtocolError(f"{process}: {self.argv[0]} broke the protocol: {exc}") from None
        self.workload.history.record(process, op.type, op.f, op.value, node=op.node, error=op.error)
        received = op.f == "receive" and op.type == OK
        if received:
            self.workload.count_received(process)
        return received

    def _record_until_closed(
        self, process: str, child: subprocess.Popen[bytes], lines: queue.Queue[bytes | None], kill_at: float
    ) -> None:
        """Everything the program wrote before it died is evidence: the harness reads its stdout behind
        the program, so the lines still in the pipe can tell of messages it processed and acknowledged
        (dropping them made a correct consumer's acknowledged messages look lost). SIGKILL at ``kill_at``."""
        give_up_at = math.inf
        while time.monotonic() < give_up_at:
            if give_up_at == math.inf and time.monotonic() >= kill_at:
                _kill_group(child)
                give_up_at = time.monotonic() + STOP_GRACE_S  # a process it detached may hold stdout open
            try:
                raw = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if raw is None:
                return
            self._record(process, raw)
        raise RuntimeError(f"stdout of {self.argv[0]} still open {STOP_GRACE_S:g} s after its SIGKILL: reports cut")


def _read_lines(stream: IO[bytes], lines: queue.Queue[bytes | None]) -> None:
    try:
        for raw in stream:
            if raw.strip():
                lines.put(raw)
    finally:
        lines.put(None)


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    _signal_group(child, signal.SIGKILL)


def _terminate(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGCONT: a program stopped by a pause handles its SIGTERM only once continued."""
    _signal_group(child, signal.SIGTERM)
    _signal_group(child, signal.SIGCONT)


def _end(child: subprocess.Popen[bytes]) -> None:
    """Nothing the program started outlives its life: SIGKILL what is left of its process group."""
    _kill_group(child)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(STOP_GRACE_S)


def attach(workload: Workload, command: str, base: Path | None, logs: Path) -> CommandConsumers:
    """Make ``command`` the consumers of ``workload`` (its kit says where to connect: ``command_env``)."""
    env = workload.command_env()
    if env is None:
        raise ProfileError(f"workload.consumer_command: the {type(workload).__name__} cannot host a command consumer")
    given = {**env, "process_ms": f"{workload.process_ms:g}"}
    variables = {f"{ENV_PREFIX}{k.upper()}": str(v) for k, v in given.items()}
    return CommandConsumers(workload, command_argv(command, base), base or Path.cwd(), variables, logs)
