"""After a pytest session — finished or interrupted with SIGINT — nothing labelled by it remains."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from chaos.cluster import Platform
from tests.integration.helpers import finish, interruptible, leftovers

ROOT = Path(__file__).resolve().parents[2]
SMOKE = "suites/redis/test_redis_streams.py::test_no_acknowledged_entry_is_lost[redis-safe/link-blackhole]"


def _pytest(run_id: str) -> subprocess.Popen[str]:
    env = {**os.environ, "BROKERCHAOS_RUN_ID": run_id, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", SMOKE, "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=interruptible,
    )


def test_a_finished_session_leaves_no_container_or_network(platform: Platform) -> None:
    run_id = f"test-{uuid.uuid4().hex[:8]}"
    proc = _pytest(run_id)
    output = finish(proc, 300)
    assert proc.returncode == 0, output[-3000:]
    assert leftovers(platform, run_id) == ([], [])


def test_a_session_interrupted_with_sigint_leaves_nothing(platform: Platform) -> None:
    run_id = f"test-{uuid.uuid4().hex[:8]}"
    proc = _pytest(run_id)
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if "fault link-timeout" in line and "applied in" in line:
            break  # mid-test, with a fault in force
        assert time.monotonic() < deadline, "the suite never reached its fault"
    assert leftovers(platform, run_id)[0], "the cluster should be up"
    proc.send_signal(signal.SIGINT)
    output = finish(proc, 120)
    assert proc.returncode == 2, output[-3000:]  # pytest: interrupted
    assert "healed" in output
    assert leftovers(platform, run_id) == ([], [])
