"""``brokerchaos validate``, ``profile keys`` and ``--version``: what a person writing profiles uses, with
no cluster and no engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.cli import main
from chaos.errors import EXIT_USAGE
from chaos.profiles import PROFILE_DIR


def test_validate_accepts_the_shipped_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(p) for p in sorted(PROFILE_DIR.glob("*.toml"))]
    assert main(["validate", *paths]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(paths) and all(line.startswith("ok ") for line in out)


def test_validate_refuses_a_bad_profile_with_one_line_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nbroker = "kafka"\n[client]\nacks = "most"\n')
    good = PROFILE_DIR / "redis-safe.toml"
    assert main(["validate", str(bad), str(good)]) == EXIT_USAGE
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("refused ") and "client.acks must be one of" in out[0]
    assert out[1].startswith("ok ") and "redis-safe" in out[1]


def test_validate_refuses_two_profiles_with_one_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy.toml"
    copy.write_text((PROFILE_DIR / "redis-safe.toml").read_text())
    assert main(["validate", str(PROFILE_DIR / "redis-safe.toml"), str(copy)]) == EXIT_USAGE
    assert "both named 'redis-safe'" in capsys.readouterr().out


def test_profile_keys_of_one_broker(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "keys", "rabbitmq"]) == 0
    out = capsys.readouterr().out
    assert "#### [client] — rabbitmq" in out and "x-dead-letter-strategy" in out
    assert "[client] — kafka" not in out


def test_profile_keys_of_an_unknown_broker_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "keys", "nats"]) == EXIT_USAGE
    assert "unknown broker 'nats'" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("brokerchaos ")


def test_a_malformed_command_line_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["frobnicate"])
    assert exited.value.code == EXIT_USAGE
    assert capsys.readouterr().err.startswith("brokerchaos: argument command: invalid choice")


def test_a_shipped_profile_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "kafka-safe", "redis-s1-no-aof"]) == 0
    assert capsys.readouterr().out.count("ok ") == 2


def test_an_unknown_profile_name_lists_the_shipped_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "kafka-unsafe"]) == EXIT_USAGE
    out = capsys.readouterr().out
    assert "neither a file nor a shipped profile" in out and "kafka-safe" in out


def test_a_profile_that_is_not_text_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe name")
    assert main(["validate", str(binary)]) == EXIT_USAGE
    assert "is not UTF-8 text" in capsys.readouterr().out
