"""Bad input gets one clear line and a usage-style exit code, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos.cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("brokerchaos: ")]
    assert len(errors) == 1, done.stderr
    for word in words:
        assert word in errors[0]


def test_unknown_broker() -> None:
    _one_line_error(_cli("up", "kafkaesque"), 4, "unknown broker 'kafkaesque'")


def test_unknown_version() -> None:
    _one_line_error(_cli("up", "redis", "--version", "9.9.9"), 4, "unknown redis version '9.9.9'", "7.0.15")


def test_unknown_image_mode() -> None:
    _one_line_error(_cli("up", "redis", "--images", "nightly"), 4, "--images")


def test_no_engine_and_no_way_to_start_one() -> None:
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    _one_line_error(_cli("doctor", "--fix", env=env), 7, "no Docker engine answers", "DOCKER_HOST")


@pytest.mark.integration
def test_port_already_taken() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = _cli("up", "redis", "--proxy-base-port", str(port), "--hold", "0")
    _one_line_error(done, 4, f"port {port}", "already in use")


def test_bad_pytest_option_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--images", "nightly", "tests/unit", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4
    assert "--images must be one of" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def _suites(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    """One ERROR line, pytest's usage exit code, no traceback, and nothing ran (no cluster started)."""
    text = done.stdout + done.stderr
    assert done.returncode == 4, text[-2000:]
    assert "Traceback" not in text and "INTERNALERROR" not in text, text[-2000:]
    errors = [line for line in text.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1, text[-2000:]
    for word in words:
        assert word in errors[0], errors[0]


PROFILES = ROOT / "suites" / "profiles"


def test_a_profile_that_is_a_directory_is_refused() -> None:
    _refused(_suites("suites/", "--profile", str(PROFILES)), "is a directory")


def test_two_profiles_with_one_name_are_refused(tmp_path: Path) -> None:
    copy = tmp_path / "copy.toml"
    copy.write_text((PROFILES / "redis-safe.toml").read_text())
    _refused(_suites("suites/", "--profile", str(PROFILES / "redis-safe.toml"), "--profile", str(copy)), "both named")


def test_a_profile_of_another_broker_than_the_suite_is_refused() -> None:
    _refused(_suites("suites/rabbitmq", "--profile", str(PROFILES / "kafka-safe.toml")), "kafka profile", "suite")


def test_a_misspelt_kafka_broker_setting_is_refused_at_load(tmp_path: Path) -> None:
    profile = tmp_path / "typo.toml"
    text = (PROFILES / "kafka-safe.toml").read_text().replace('"min.insync.replicas"', '"min.insync.replica"')
    profile.write_text(text.replace('name = "kafka-safe"', 'name = "typo"'))
    _refused(_suites("suites/kafka", "--profile", str(profile)), "min.insync.replica", "did you mean")


def test_broker_version_runs_the_checks_the_version_key_runs() -> None:
    row = PROFILES / "rabbitmq-r6-ignore-partitions.toml"  # mirrored classic queues: gone in RabbitMQ 4
    _refused(_suites("suites/rabbitmq", "--profile", str(row), "--broker-version", "rabbitmq=4.0.5"), "mirror")


def test_a_setting_the_run_would_not_apply_is_refused(tmp_path: Path) -> None:
    profile = tmp_path / "requeue.toml"
    text = (PROFILES / "rabbitmq-safe.toml").read_text().replace('poison = "dead_letter"', 'poison = "requeue"')
    profile.write_text(text.replace('name = "rabbitmq-safe"', 'name = "requeue"'))
    _refused(_suites("suites/rabbitmq", "--profile", str(profile)), "client.delivery_limit", "has no effect")


def test_a_profile_asking_more_than_the_budget_plays_is_refused(tmp_path: Path) -> None:
    profile = tmp_path / "steps.toml"
    text = (PROFILES / "redis-safe.toml").read_text().replace("[faults]", "[faults]\nmax_steps = 3")
    profile.write_text(text.replace('name = "redis-safe"', 'name = "steps"'))
    _refused(_suites("suites/redis", "--profile", str(profile)), "max_steps = 3", "smoke budget")
