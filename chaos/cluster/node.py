"""One broker process in one container, and its lifecycle faults.

A :class:`Node` wraps a testcontainers ``DockerContainer`` and drives the docker-py container it wraps
(``stop()`` of testcontainers *removes* the container, so it is never used as a fault).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import posixpath
import signal
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the reaper image cannot be pulled here


from docker.errors import APIError, NotFound
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer

log = logging.getLogger("brokerchaos.cluster")


@dataclass
class NodeSpec:
    """What a broker node runs: image, explicit command, config files written before the first start."""

    name: str
    role: str
    image: str
    command: list[str]
    user: str = "0:0"
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    client_port: int | None = None
    mem_limit: str | None = None
    cap_add: list[str] = field(default_factory=list)
    wave: int = 0  # nodes of one wave start together; later waves may resolve earlier nodes' names


@dataclass(frozen=True)
class Endpoint:
    """Where a host-side client reaches a node: its Toxiproxy proxy on 127.0.0.1."""

    proxy: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class Node:
    """A running broker node. Lifecycle methods act on the real container (signals, freeze)."""

    def __init__(self, spec: NodeSpec, container: DockerContainer | Container, endpoint: Endpoint | None) -> None:
        """``container`` is the testcontainers wrapper of a node we start, or the docker-py container of
        a node we attached to (see :func:`chaos.cluster.attach.attach`)."""
        self.spec = spec
        self._tc = container if isinstance(container, DockerContainer) else None
        self._container = None if isinstance(container, DockerContainer) else container
        self.endpoint = endpoint

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def role(self) -> str:
        return self.spec.role

    @property
    def container(self) -> Container:
        if self._container is None:
            assert self._tc is not None
            self._container = self._tc.get_wrapped_container()
        return self._container

    def __repr__(self) -> str:
        return f"Node({self.name})"

    def create_and_start(self) -> None:
        """First start: create the container, copy the config files in, start it."""
        assert self._tc is not None, "an attached node is already running"
        self._tc.start()

    # lifecycle -----------------------------------------------------------------------------------
    def kill(self) -> None:
        """SIGKILL: the process dies without flushing anything."""
        self.killer()()

    def killer(self) -> Callable[[], None]:
        """What SIGKILLs this node, resolved ahead so that several nodes die at the same instant: a signal
        straight to its init process when the engine runs on this host (the kernel then kills everything
        in the container), else the engine's kill, a round trip of 0.1-0.6 s on a loaded machine."""
        pid = self.host_pid()

        def kill() -> None:
            log.info("kill %s%s", self.name, f" (host pid {pid})" if pid else "")
            if pid is None:
                self.container.kill(signal="SIGKILL")
                return
            with contextlib.suppress(ProcessLookupError):  # it had died already: dead is what was asked
                os.kill(pid, signal.SIGKILL)
            # as after the engine's kill, the engine knows it exited once this returns
            self.container.wait(condition="not-running", timeout=30)

        return kill

    def host_pid(self) -> int | None:
        """The node's init process as this host numbers it; None when the engine runs elsewhere (or in
        another PID namespace), which its cgroup shows: a local container's names the container's id."""
        try:
            self.container.reload()
        except NotFound:
            return None
        pid = int(self.container.attrs.get("State", {}).get("Pid") or 0)
        if pid <= 0:
            return None
        try:
            with open(f"/proc/{pid}/cgroup", encoding="utf-8") as cgroup:
                ours = str(self.container.id) in cgroup.read()
        except OSError:
            return None
        return pid if ours else None

    def stop(self, timeout: int = 10) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds: a clean shutdown."""
        log.info("stop %s", self.name)
        self.container.stop(timeout=timeout)

    def start(self) -> None:
        log.info("start %s", self.name)
        self.container.start()

    def restart(self, timeout: int = 10) -> None:
        log.info("restart %s", self.name)
        self.container.restart(timeout=timeout)

    def pause(self) -> None:
        """Freeze every process of the node (cgroup freezer): it neither answers nor times out."""
        log.info("pause %s", self.name)
        self.container.pause()

    def resume(self) -> None:
        log.info("resume %s", self.name)
        self.container.unpause()

    def status(self) -> str:
        """Docker's state: running, paused, exited, ..."""
        try:
            self.container.reload()
        except NotFound:
            return "removed"
        return str(self.container.status)

    def ip(self, network: str) -> str | None:
        self.container.reload()
        net = self.container.attrs["NetworkSettings"]["Networks"].get(network)
        return net["IPAddress"] if net and net.get("IPAddress") else None

    def logs(self, tail: int = 50) -> str:
        try:
            return self.container.logs(tail=tail).decode(errors="replace")
        except (NotFound, APIError) as exc:
            return f"<no logs: {exc}>"

    def put_file(self, path: str, text: str, mode: int = 0o666) -> None:
        """Write one file into the container (running or stopped)."""
        data = text.encode()
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(name=posixpath.basename(path))
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        self.container.put_archive(posixpath.dirname(path), archive.getvalue())

    def exec(self, command: list[str], user: str | None = None) -> tuple[int, str]:
        result = self.container.exec_run(command, user=user or self.spec.user)
        return result.exit_code, result.output.decode(errors="replace")

    def ensure_running(self) -> str:
        """Undo any lifecycle fault: thaw a paused node, start a stopped or killed one. Returns what it
        did ("" when the node was running)."""
        state = self.status()
        if state == "paused":
            self.resume()
            return f"resumed {self.name} (paused)"
        if state in ("exited", "created", "dead"):
            self.start()
            return f"started {self.name} ({state})"
        return ""
