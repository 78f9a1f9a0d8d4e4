"""``brokerchaos compare``: changed cells found and ranked, drift in settings and behaviour, from run
directories written here (no brokers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chaos.cli import main
from chaos.errors import EXIT_NOT_COMPARABLE, UsageError
from chaos.report.compare import compare, load_run, write_comparison


def _run(
    root: Path, name: str, cells: dict[str, Any], settings: dict[str, str], dlq_counts: list[int], version: str
) -> Path:
    run = root / name
    example = run / "suites" / "p-kill-leader" / "example-1"
    example.mkdir(parents=True)
    matrix = [{"profile": "p", "fault": "kill-leader", "guarantee": g, "valid": v} for g, v in cells.items()]
    (run / "matrix.json").write_text(json.dumps(matrix))
    cluster = {"broker": "rabbitmq", "version": version, "settings": settings}
    (run / "run.json").write_text(json.dumps({"clusters": {"p": cluster}}))
    verdict = {
        "checker": "dead_letter",
        "valid": True,
        "stats": {"reasons": ["delivery_limit"], "reported_delivery_counts": dlq_counts, "max_poison_deliveries": 4},
        "anomalies": {"lost": {"count": 0}},
    }
    result = {"profile": "p", "family": "kill-leader", "verdicts": [verdict]}
    (example / "results.json").write_text(json.dumps(result))
    return run


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    a = _run(
        tmp_path,
        "A",
        {"no_loss": True, "order": "unknown", "dead_letter": True},
        {"x": "1", "gone": "y"},
        [3],
        "3.10.8",
    )
    b = _run(
        tmp_path, "B", {"no_loss": False, "order": True, "dead_letter": True}, {"x": "2", "new": "z"}, [4], "4.0.5"
    )
    return a, b


def test_changed_cells_are_found_and_the_worse_come_first(runs: tuple[Path, Path]) -> None:
    c = compare(load_run(runs[0]), load_run(runs[1]))
    assert [(ch.key[2], ch.a, ch.b, ch.worse) for ch in c.changed] == [
        ("no_loss", True, False, True),
        ("order", "unknown", True, False),
    ]
    assert c.verdict().startswith("WORSE: 1 of 3")


def test_settings_and_behaviour_drift_are_reported(runs: tuple[Path, Path]) -> None:
    c = compare(load_run(runs[0]), load_run(runs[1]))
    assert c.settings["p"] == [("gone", "y", None), ("new", None, "z"), ("x", "1", "2")]
    assert c.behaviour == [("p", "kill-leader", "dead_letter", "reported_delivery_counts", ["3"], ["4"])]


def test_two_runs_with_the_same_verdicts_compare_the_same(runs: tuple[Path, Path], tmp_path: Path) -> None:
    cells = {"no_loss": True, "order": "unknown", "dead_letter": True}
    twin = _run(tmp_path, "A2", cells, {"x": "1", "gone": "y"}, [3], "3.10.8")
    c = compare(load_run(runs[0]), load_run(twin))
    assert not c.changed and not c.settings and not c.behaviour and c.verdict().startswith("SAME")


def test_the_pages_highlight_changes(runs: tuple[Path, Path], tmp_path: Path) -> None:
    summary, page = write_comparison(compare(load_run(runs[0]), load_run(runs[1])), tmp_path / "out")
    text = summary.read_text()
    assert "| p / kill-leader | no_loss | **pass** | **FAIL** |" in text
    assert "| p / kill-leader | dead_letter | pass | pass |" in text
    assert "class='changed worse'" in page.read_text() and "3.10.8" in text and "4.0.5" in text


def test_the_cli_exits_1_when_b_is_worse_and_names_bad_input(runs: tuple[Path, Path], tmp_path: Path) -> None:
    assert main(["compare", str(runs[0]), str(runs[1]), "--out", str(tmp_path / "o")]) == 1
    with pytest.raises(UsageError, match="not a run directory"):
        load_run(tmp_path)


def test_a_comparison_that_compares_nothing_fails(runs: tuple[Path, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = ["--out", str(tmp_path / "o")]
    assert main(["compare", str(runs[1]), str(runs[1]), *out]) == EXIT_NOT_COMPARABLE  # the same run twice
    assert "same run" in capsys.readouterr().err
    other = _run(tmp_path, "C", {"no_loss": True}, {}, [3], "3.10.8")
    (other / "matrix.json").write_text(json.dumps([{"profile": "q", "fault": "kill", "guarantee": "x", "valid": True}]))
    assert main(["compare", str(runs[0]), str(other), *out]) == EXIT_NOT_COMPARABLE  # nothing in common
    short = _run(tmp_path, "D", {"no_loss": True}, {}, [3], "3.10.8")  # B lacks order and dead_letter
    assert main(["compare", str(runs[0]), str(short), *out]) == EXIT_NOT_COMPARABLE
    assert "B lacks 2 check(s)" in capsys.readouterr().err
    fuller = _run(tmp_path, "E", {"no_loss": True, "order": True, "dead_letter": True, "recovery": True}, {}, [3], "x")
    assert main(["compare", str(runs[0]), str(fuller), *out]) == 0  # B may check more than A
