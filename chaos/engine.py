"""A Docker engine on demand.

Use the engine at ``DOCKER_HOST`` / the default socket when one answers. Otherwise, on a Debian or
Ubuntu machine as root, install ``docker.io`` and start ``dockerd`` in the background (nothing starts
it for us on CI machines). With neither possible, raise :class:`EngineUnavailableError` (exit 7).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from functools import lru_cache

import docker
from docker.errors import DockerException

from chaos.errors import EngineUnavailableError
from chaos.host import apt_install, can_install_packages

log = logging.getLogger("brokerchaos.engine")

DOCKERD_LOG = "/var/log/brokerchaos-dockerd.log"


def _try_connect(timeout: float = 5.0) -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=int(max(timeout, 1)))
        client.ping()
    except (DockerException, OSError):
        return None
    # Long operations (image builds, container stops) need a generous read timeout.
    client.api.timeout = 300
    return client


def _start_dockerd(wait_s: float) -> docker.DockerClient | None:
    if shutil.which("dockerd") is None and not apt_install(["docker.io", "iptables"], "no Docker engine"):
        return None
    if shutil.which("dockerd") is None:
        return None
    log.info("starting dockerd in the background (log: %s)", DOCKERD_LOG)
    with open(DOCKERD_LOG, "ab") as out:
        subprocess.Popen(
            ["dockerd"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        client = _try_connect(2.0)
        if client is not None:
            log.info("dockerd answers")
            return client
        time.sleep(0.5)
    return None


def ensure_engine(fix: bool = True, wait_s: float = 60.0) -> docker.DockerClient:
    """Return a client for an engine that answers, starting one if ``fix`` allows it."""
    client = _try_connect()
    if client is not None:
        return client
    docker_host = os.environ.get("DOCKER_HOST")
    if docker_host:
        raise EngineUnavailableError(
            f"no Docker engine answers at DOCKER_HOST={docker_host} (unset it to let brokerchaos start a local one)"
        )
    if not fix:
        raise EngineUnavailableError(
            "no Docker engine answers at /var/run/docker.sock (run `brokerchaos doctor --fix` to start one)"
        )
    if not can_install_packages() and shutil.which("dockerd") is None:
        raise EngineUnavailableError(
            "no Docker engine answers and none can be started here: dockerd is not installed and installing "
            "docker.io needs root on Debian/Ubuntu"
        )
    if not can_install_packages() and os.geteuid() != 0:
        raise EngineUnavailableError("no Docker engine answers; starting dockerd needs root")
    client = _start_dockerd(wait_s)
    if client is None:
        raise EngineUnavailableError(f"dockerd did not start within {wait_s:.0f} s (see {DOCKERD_LOG})")
    return client


@lru_cache(maxsize=1)
def engine() -> docker.DockerClient:
    """The process-wide client, starting an engine when needed (the suites' and CLI's entry point)."""
    return ensure_engine(fix=os.environ.get("BROKERCHAOS_NO_ENGINE_FIX") != "1")
