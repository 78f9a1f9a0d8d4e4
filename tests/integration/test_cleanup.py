"""Nothing outlives a run: normal exit, an exception inside the block, SIGINT during start and while up."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from chaos.brokers.redis.cluster import RedisSentinelCluster
from chaos.cluster import Platform
from chaos.resources import HOST_LABEL, OWNER, OWNER_LABEL, PID_LABEL, RUN_LABEL
from tests.integration.helpers import finish, interruptible, leftovers, own_run

ROOT = Path(__file__).resolve().parents[2]


def test_an_exception_inside_the_block_leaves_nothing(platform: Platform) -> None:
    mine = own_run(platform)
    with pytest.raises(RuntimeError), RedisSentinelCluster(mine, name="boom"):
        assert leftovers(mine, mine.run.run_id)[0], "the cluster should exist inside the block"
        raise RuntimeError("test body failed")
    assert leftovers(mine, mine.run.run_id) == ([], [])


def _start_up(run_id: str) -> subprocess.Popen[str]:
    env = {**os.environ, "BROKERCHAOS_RUN_ID": run_id, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", "up", "redis"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=interruptible,
    )


@pytest.mark.parametrize("when", ["while starting", "while up"])
def test_sigint_leaves_nothing_behind(platform: Platform, when: str) -> None:
    run_id = f"test-{uuid.uuid4().hex[:8]}"
    proc = _start_up(run_id)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    if when == "while starting":
        while not leftovers(platform, run_id)[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert leftovers(platform, run_id)[0], "no container appeared"
    else:
        for line in proc.stdout:
            if line.startswith("ready:"):
                break
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGINT)
    output = finish(proc, 60)
    assert proc.returncode == 2, output  # interrupted: the same code as pytest
    assert "Traceback" not in output
    assert leftovers(platform, run_id) == ([], [])


def _labelled_probe(platform: Platform, run_id: str, pid: int) -> str:
    """A container labelled like ours, owned by ``pid`` in run ``run_id``."""
    name = f"bc-probe-{uuid.uuid4().hex[:8]}"
    labels = {OWNER_LABEL: OWNER, RUN_LABEL: run_id, PID_LABEL: str(pid), HOST_LABEL: socket.gethostname()}
    image = platform.images.resolve("debian", "bookworm").ref
    platform.client.containers.create(image, ["true"], name=name, labels=labels)
    return name


def _cli_cleanup(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "cleanup", *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_the_cleanup_command_removes_stale_resources_and_one_runs(platform: Platform) -> None:
    dead_pid = 2**22 + 1  # above the default pid_max: no process has it
    stale = _labelled_probe(platform, f"probe-{uuid.uuid4().hex[:6]}", dead_pid)
    live = _labelled_probe(platform, f"probe-{uuid.uuid4().hex[:6]}", os.getpid())
    chosen_run = f"probe-{uuid.uuid4().hex[:6]}"
    chosen = _labelled_probe(platform, chosen_run, os.getpid())
    try:
        assert "removed 1 container(s)" in _cli_cleanup("--stale")
        names = {c.name for c in platform.client.containers.list(all=True)}
        assert stale not in names and {live, chosen} <= names
        assert "removed 1 container(s)" in _cli_cleanup("--run", chosen_run)
        names = {c.name for c in platform.client.containers.list(all=True)}
        assert chosen not in names and live in names
    finally:
        for name in (stale, live, chosen):
            with contextlib.suppress(Exception):
                platform.client.containers.get(name).remove(force=True)
