"""Nothing outlives a run: normal exit, an exception inside the block, SIGINT during start and while up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from chaos.cluster import Platform
from chaos.cluster.redis import RedisSentinelCluster
from tests.integration.helpers import leftovers, own_run

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
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "Traceback" not in output
    assert leftovers(platform, run_id) == ([], [])
