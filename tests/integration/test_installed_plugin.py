"""brokerchaos as a team installs it: the built wheel in a fresh virtualenv outside this checkout, and in
an empty project a test file of theirs and a profile of theirs, on real brokers. The plugin arrives
through its pytest11 entry point alone (no conftest), the shipped profiles and the sync-journal shim come
as package data, and the report is written under their project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

USER_TEST = '''
"""A team's own resilience test: their profile through the plugin's matrix, their own client code on
the plugin's cluster fixture, recorded in its history and judged by its checkers, and their profile as a
declared test with a checker of their own, played by the same runner as the matrix."""

import pytest

from chaos.checkers import Checker, DeliveryChecker, Verdict
from chaos.checkers.guarantees import checkers_for
from chaos.history import INVOKE, OK
from chaos.plugin import ChaosCase

pytestmark = pytest.mark.broker("redis")


class OrdersAcknowledged(Checker):
    """A checker of the team's own: at least one order was acknowledged (the load really ran)."""

    name = "orders-acknowledged"

    def __init__(self):
        super().__init__()
        self.acknowledged = 0

    def observe(self, op):
        self.acknowledged += op.f == "send" and op.type == OK

    def verdict(self):
        return Verdict(self.name, self.acknowledged > 0, stats={"acknowledged": self.acknowledged})


def test_no_acknowledged_order_is_lost(chaos_case: ChaosCase) -> None:
    chaos_case.assert_guarantee("no_loss")


def test_our_own_client_on_the_cluster_fixture(redis_cluster, history, judge) -> None:
    primary = redis_cluster.current_primary()
    with redis_cluster.client(primary) as conn:
        for seq in range(50):
            value = {"id": f"order-{seq}", "kind": "good"}
            history.record("shop", INVOKE, "send", value)
            conn.xadd("orders", {"id": value["id"]})
            history.record("shop", OK, "send", value)
        history.record("reader", INVOKE, "drain")
        for _, fields in conn.xrange("orders"):
            history.record("reader", OK, "receive", {"id": fields["id"]})
        history.record("reader", OK, "drain")
    (verdict,) = judge(DeliveryChecker())
    assert verdict.stats["consumed_distinct"] == 50


def test_our_declared_test_with_a_checker_of_ours(chaos_test, test_dir) -> None:
    test = chaos_test("orders.toml", "kill-leader")
    mine = test.with_checkers(lambda guarantees, options: [*checkers_for(guarantees, options), OrdersAcknowledged()])
    exploration = mine.explore(test_dir)
    (result,) = exploration.results
    ours = next(v for v in result.verdicts if v.checker == "orders-acknowledged")
    assert ours.valid is True and ours.stats["acknowledged"] > 100
    assert exploration.cell("no_loss") is True
    assert (test_dir / "example-1" / "results.json").exists()
'''

USER_PROFILE = """
name = "orders-redis"
broker = "redis"
description = "Our order stream: AOF with fsync always, consumers that ack after processing."

[cluster]
appendfsync = "always"

[workload]
rate = 200
duration_s = 8

[faults]
families = ["kill-leader"]
"""


def _run(args: list[str], cwd: Path, timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})
    assert done.returncode == 0, f"{args[:3]} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with nothing but the built wheel (and its dependencies) installed."""
    work = tmp_path_factory.mktemp("installed")
    _run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(work / "dist")], work, 600)
    (wheel,) = (work / "dist").glob("brokerchaos-*.whl")
    _run([sys.executable, "-m", "venv", str(work / "venv")], work, 120)
    _run([str(work / "venv/bin/pip"), "install", "-q", "--disable-pip-version-check", str(wheel)], work, 900)
    return work / "venv"


@pytest.mark.integration
def test_a_project_of_its_own_runs_on_the_installed_plugin(installed: Path, tmp_path: Path) -> None:
    project = tmp_path / "shop"
    (project / "tests").mkdir(parents=True)
    (project / "tests/test_orders.py").write_text(textwrap.dedent(USER_TEST))
    (project / "orders.toml").write_text(textwrap.dedent(USER_PROFILE))
    (project / "pytest.ini").write_text("[pytest]\n")

    python = str(installed / "bin/python")
    where = _run([python, "-c", "import chaos, chaos.profiles as p; print(chaos.__file__, p.PROFILE_DIR)"], project, 60)
    assert str(ROOT) not in where.stdout, "the plugin must come from the wheel, not this checkout"
    plugins = _run([python, "-m", "pytest", "--trace-config", "--co", "-q", "tests"], project, 120)
    assert "site-packages/chaos/plugin/__init__.py" in plugins.stdout, plugins.stdout[-3000:]

    run = _run(
        [python, "-m", "pytest", "tests", "--profile", "orders.toml", "--chaos-seed", "7", "-p", "no:cacheprovider"],
        project,
        900,
        PATH=f"{installed / 'bin'}:{os.environ['PATH']}",
    )
    assert "3 passed" in run.stdout, run.stdout[-3000:]
    (report,) = (project / "reports").glob("*-seed7")
    matrix = json.loads((report / "matrix.json").read_text())
    assert matrix == [{"profile": "orders-redis", "fault": "kill-leader", "guarantee": "no_loss", "valid": True}]
    assert (report / "summary.md").exists() and (report / "index.html").exists()


@pytest.mark.integration
def test_the_installed_cli_validates_a_shipped_profile_by_name(installed: Path, tmp_path: Path) -> None:
    done = _run([str(installed / "bin/brokerchaos"), "validate", "kafka-safe", "redis-safe"], tmp_path, 120)
    assert done.stdout.count("ok ") == 2
