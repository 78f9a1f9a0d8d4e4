"""Labels on everything brokerchaos creates, and the cleanup that finds it again.

Every container, network and volume carries ``io.brokerchaos.owner=brokerchaos`` plus the run id and
the owning process id. Cleanup works from labels only, so it also finds what a killed process left:
``cleanup(stale_only=True)`` removes resources whose owning process is gone.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

import docker
from docker.errors import APIError, NotFound

log = logging.getLogger("brokerchaos.resources")

OWNER_LABEL = "io.brokerchaos.owner"
OWNER = "brokerchaos"
RUN_LABEL = "io.brokerchaos.run"
PID_LABEL = "io.brokerchaos.pid"
HOST_LABEL = "io.brokerchaos.host"
CLUSTER_LABEL = "io.brokerchaos.cluster"
ROLE_LABEL = "io.brokerchaos.role"


@dataclass(frozen=True)
class RunContext:
    """One process's identity on the Docker engine: every resource it creates is labelled with it."""

    run_id: str
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)

    def labels(self, **extra: str) -> dict[str, str]:
        return {
            OWNER_LABEL: OWNER,
            RUN_LABEL: self.run_id,
            PID_LABEL: str(self.pid),
            HOST_LABEL: self.host,
            **{f"io.brokerchaos.{k}": v for k, v in extra.items()},
        }


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


@lru_cache(maxsize=1)
def current_run() -> RunContext:
    """The process-wide run; its resources are reaped at interpreter exit as a last resort."""
    run = RunContext(os.environ.get("BROKERCHAOS_RUN_ID") or new_run_id())
    atexit.register(_reap_at_exit, run.run_id)
    return run


def _reap_at_exit(run_id: str) -> None:
    from chaos.engine import _try_connect

    client = _try_connect(2.0)
    if client is None:
        return
    report = cleanup(client, run_id=run_id)
    if report.total:
        log.warning("removed %s left by this run at exit", report)


@dataclass
class CleanupReport:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.containers) + len(self.networks) + len(self.volumes)

    def __str__(self) -> str:
        return f"{len(self.containers)} container(s), {len(self.networks)} network(s), {len(self.volumes)} volume(s)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(labels: dict[str, str]) -> bool:
    if labels.get(HOST_LABEL) != socket.gethostname():
        return False
    try:
        return not _pid_alive(int(labels.get(PID_LABEL, "0")))
    except ValueError:
        return False


def _selected(labels: dict[str, str], run_id: str | None, stale_only: bool) -> bool:
    if run_id is not None and labels.get(RUN_LABEL) != run_id:
        return False
    return not stale_only or _is_stale(labels)


def cleanup(client: docker.DockerClient, run_id: str | None = None, stale_only: bool = False) -> CleanupReport:
    """Remove labelled containers, then networks, then volumes (that order frees the references). A
    container the reaper removes while this lists them is passed over (``ignore_removed``): docker-py
    inspects each listed container, and one gone by then would otherwise fail the whole listing."""
    report = CleanupReport()
    owner = {"label": f"{OWNER_LABEL}={OWNER}"}
    for container in client.containers.list(all=True, filters=owner, ignore_removed=True):
        if _selected(container.labels, run_id, stale_only):
            try:
                container.remove(force=True, v=True)
                report.containers.append(container.name)
            except NotFound:
                pass
    for network in client.networks.list(filters=owner):
        if _selected(network.attrs.get("Labels") or {}, run_id, stale_only):
            try:
                network.remove()
                report.networks.append(network.name)
            except (NotFound, APIError) as exc:
                log.warning("could not remove network %s: %s", network.name, exc)
    for volume in client.volumes.list(filters=owner):
        if _selected(volume.attrs.get("Labels") or {}, run_id, stale_only):
            try:
                volume.remove(force=True)
                report.volumes.append(volume.name)
            except (NotFound, APIError) as exc:
                log.warning("could not remove volume %s: %s", volume.name, exc)
    return report
