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
    _one_line_error(_cli("up", "kafkaesque"), 2, "unknown broker 'kafkaesque'")


def test_unknown_version() -> None:
    _one_line_error(_cli("up", "redis", "--version", "9.9.9"), 2, "unknown redis version '9.9.9'", "7.0.15")


def test_unknown_image_mode() -> None:
    _one_line_error(_cli("up", "redis", "--images", "nightly"), 2, "--images")


def test_no_engine_and_no_way_to_start_one() -> None:
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    _one_line_error(_cli("doctor", "--fix", env=env), 4, "no Docker engine answers", "DOCKER_HOST")


@pytest.mark.integration
def test_port_already_taken() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = _cli("up", "redis", "--proxy-base-port", str(port), "--hold", "0")
    _one_line_error(done, 2, f"port {port}", "already in use")


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
