"""Nothing outlives a run, not even a ``kill -9``: a labelled sidecar removes the run's resources when the
run's process is gone.

The process starts one reaper container per run (``reaper/main.go``, built locally like every image),
sends it the run id over a TCP connection on loopback, and holds that connection open for as long as it
lives. When the connection drops — a clean exit, a crash, SIGKILL: the kernel closes the socket in every
case — the reaper removes every container, network and volume labelled with the run id, then itself.
The pattern is testcontainers' Ryuk, whose image cannot be pulled here.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from urllib.parse import urlparse

from docker.errors import APIError, DockerException

from chaos.errors import BrokerChaosError
from chaos.resources import RunContext

log = logging.getLogger("brokerchaos.reaper")
REAPER_PORT = 8080
DEFAULT_SOCKET = "/var/run/docker.sock"
_held: dict[str, socket.socket] = {}  # run id -> the connection that keeps its resources alive


def _engine_socket() -> str | None:
    """The engine's unix socket on this host (the reaper mounts it), None when the engine is remote."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    parsed = urlparse(host)
    return parsed.path if parsed.scheme == "unix" and parsed.path else None


def reaper_name(run: RunContext) -> str:
    """The container name of ``run``'s reaper."""
    return f"bc-{run.run_id[-6:]}-reaper-{run.pid}"


def watch_run(platform: object, timeout: float = 15.0) -> bool:
    """Start this run's reaper and hold its connection until this process ends (once per run).
    Returns False (with a warning) when it cannot: the next session's stale sweep is then the net."""
    run = platform.run  # type: ignore[attr-defined]
    if run.run_id in _held:
        return True
    client = platform.client  # type: ignore[attr-defined]
    engine_socket = _engine_socket()
    if engine_socket is None:
        log.warning("the Docker engine is not on a local socket: no reaper for run %s", run.run_id)
        return False
    try:
        image = platform.images.resolve("reaper").ref  # type: ignore[attr-defined]
        container = client.containers.run(
            image,
            name=reaper_name(run),
            detach=True,
            auto_remove=True,
            labels=run.labels(role="reaper"),
            volumes={engine_socket: {"bind": "/var/run/docker.sock", "mode": "rw"}},
            ports={f"{REAPER_PORT}/tcp": ("127.0.0.1", None)},
            mem_limit="32m",
        )
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"][f"{REAPER_PORT}/tcp"][0]["HostPort"])
        _held[run.run_id] = _connect(port, run.run_id, timeout)
    except (BrokerChaosError, DockerException, APIError, OSError, KeyError, ValueError) as exc:
        log.warning("no reaper for run %s (%s): if it is killed, the next stale sweep removes it", run.run_id, exc)
        return False
    log.debug("reaper for run %s on 127.0.0.1:%d", run.run_id, port)
    return True


def _connect(port: int, run_id: str, timeout: float) -> socket.socket:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=2)
            conn.sendall(f"run={run_id}\n".encode())
            if conn.recv(16).startswith(b"ACK"):
                conn.settimeout(None)
                return conn
            conn.close()
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise BrokerChaosError(f"the reaper did not answer on 127.0.0.1:{port} within {timeout:.0f} s ({last})")
