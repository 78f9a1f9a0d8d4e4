"""Nothing outlives a killed run: after ``kill -9`` of the process that owns a run, the run's reaper removes
its containers, networks and volumes within seconds, with nobody's help."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from chaos.cluster import Platform
from tests.integration.helpers import finish, leftovers

ROOT = Path(__file__).resolve().parents[2]
# A run that creates one of each kind of resource, says so, and waits to be killed.
OWNER = """
import time
from chaos.cluster.base import Platform
platform = Platform.default()
labels = platform.run.labels(role="victim", cluster="reaper-test")
image = platform.images.resolve("netutils").ref
platform.client.containers.run(image, ["sleep", "600"], entrypoint=["/usr/bin/env"], labels=labels, detach=True)
platform.client.networks.create("bc-reaper-test-" + platform.run.run_id[-6:], labels=labels)
platform.client.volumes.create(labels=labels)
print("ready", flush=True)
time.sleep(600)
"""


def test_a_run_killed_with_sigkill_is_reaped_within_seconds(platform: Platform) -> None:
    run_id = f"test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "BROKERCHAOS_RUN_ID": run_id, "PYTHONUNBUFFERED": "1"}
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert owner.stdout is not None
    try:
        line = owner.stdout.readline()
        assert line.strip() == "ready", line + owner.stdout.read()
        containers, others = leftovers(platform, run_id)
        assert len(containers) == 2 and len(others) == 2, (containers, others)  # the victim and the reaper
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        killed = time.monotonic()
        while leftovers(platform, run_id) != ([], []) and time.monotonic() - killed < 30:
            time.sleep(0.25)
        took = time.monotonic() - killed
        assert leftovers(platform, run_id) == ([], []), f"still there {took:.0f} s after kill -9"
        print(f"reaped {took:.1f} s after kill -9")
    finally:
        if owner.poll() is None:
            owner.kill()
            finish(owner, 10)
