"""Shared by the integration tests: what a run left on the engine, a run identity of a test's own, and a
short run of a workload judged per consumer group."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from typing import Any

from chaos.cluster import Platform
from chaos.resources import OWNER, OWNER_LABEL, RUN_LABEL, RunContext


def leftovers(platform: Platform, run_id: str) -> tuple[list[str], list[str]]:
    """Names of the containers and of the networks and volumes still labelled with ``run_id`` (a container
    the reaper removes while they are listed is passed over, not an error)."""
    selector = {"label": [f"{OWNER_LABEL}={OWNER}", f"{RUN_LABEL}={run_id}"]}
    containers = [c.name for c in platform.client.containers.list(all=True, filters=selector, ignore_removed=True)]
    networks = [n.name for n in platform.client.networks.list(filters=selector)]
    volumes = [v.name for v in platform.client.volumes.list(filters=selector)]
    return containers, networks + volumes


def own_run(platform: Platform) -> Platform:
    """The same engine and images under a fresh run id, so a test can check its own leftovers."""
    return Platform(platform.client, platform.images, RunContext(f"test-{uuid.uuid4().hex[:8]}"))


def interruptible() -> None:
    """``preexec_fn`` for a child the test will SIGINT: a shell that started the test run in the
    background (``cmd &``) ignores SIGINT, the child would inherit that, and Python then installs no
    KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's output once it exits; a child still running after ``timeout`` gets SIGTERM (ours
    clean up on it), then SIGKILL, so a failing test leaves no cluster behind."""
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise


def play_and_judge(
    workload: Any, history: Any, guarantees: Any, options: Any, seconds: float = 1.5
) -> tuple[list[Any], dict[str, Any]]:
    """Play ``workload`` for ``seconds``, drain it (its reads after the drain included), and judge each of its
    audiences on its own reads: the verdicts and the guarantee cells, for the caller to assert on."""
    from chaos.checkers.audiences import judge
    from chaos.checkers.guarantees import checkers_for

    with workload.running():
        time.sleep(seconds)
    assert workload.drain(timeout=60)
    workload.stop()
    make = lambda: checkers_for(guarantees, options)  # noqa: E731
    return judge(history, guarantees, make, workload.audiences, workload.audience_of, workload.routes)


def read_by_each_audience(
    workload: Any, history: Any, options: Any, audiences: list[str], exactly_once: bool = False, seconds: float = 1.5
) -> dict[str, int]:
    """Play and judge ``workload`` (:func:`play_and_judge`) with ``audiences`` (consumer groups, or an
    exchange's queues), each read by its own processes; every cell must pass. How many distinct messages
    each audience's delivery verdict counts."""
    from chaos.profiles import Guarantees

    guarantees = Guarantees(no_loss=True, no_duplicates=True, order=True, recovery=False, exactly_once=exactly_once)
    verdicts, cells = play_and_judge(workload, history, guarantees, options, seconds)
    assert workload.audiences == audiences
    readers = {op.process for op in history if op.f == "process"}
    assert {workload.audience_of(p) for p in readers} == set(audiences)
    assert {c.valid for c in cells.values()} == {True}, cells
    return {v.checker: v.stats["consumed_distinct"] for v in verdicts if v.checker.startswith("delivery")}
