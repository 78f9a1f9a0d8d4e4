"""Reports render the verdict, the matrix and the first lost ids from what a run wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chaos.checkers import DeliveryChecker, run_checker
from chaos.checkers.verdict import Anomaly, Verdict
from chaos.report import render_run
from chaos.report.render import fates_line
from chaos.schedule.explore import RunResult
from tests.unit.histories import HistoryBuilder


def _run_dir(tmp_path: Path, lost: bool) -> Path:
    run = tmp_path / "20261127T000000Z-abc123"
    example = run / "suites" / "p-kill-leader" / "example-1"
    example.mkdir(parents=True)
    h = HistoryBuilder()
    h.send("m1")
    h.receive("m1")
    if lost:
        h.send("lost-7")
    h.drain()
    verdict = run_checker(h.history, DeliveryChecker())
    result = {"profile": "p", "family": "kill-leader", "verdicts": [verdict.to_dict()]}
    (example / "results.json").write_text(json.dumps(result))
    matrix = [
        {"profile": "p", "fault": "kill-leader", "guarantee": "no_loss", "valid": not lost},
        {"profile": "p", "fault": "kill-leader", "guarantee": "order", "valid": "unknown" if lost else True},
    ]
    (run / "matrix.json").write_text(json.dumps(matrix))
    return run


def test_a_violation_shows_the_lost_ids_in_summary_and_html(tmp_path: Path) -> None:
    summary, index = render_run(_run_dir(tmp_path, lost=True))
    text = summary.read_text()
    assert "FAIL: 1 of 2 guarantee checks violated, 1 unknown" in text
    assert "| p / kill-leader | FAIL | unknown |" in text
    assert "lost-7" in text
    page = index.read_text()
    assert "<p id='verdict'><b>FAIL" in page and "id='matrix'" in page and "lost-7" in page
    assert (tmp_path / "latest").resolve() == summary.parent.resolve()


def test_a_clean_run_says_pass(tmp_path: Path) -> None:
    summary, index = render_run(_run_dir(tmp_path, lost=False))
    assert "PASS: all 2 guarantee checks held" in summary.read_text()
    assert "Anomalies" not in index.read_text()


def test_an_unknown_cell_says_why_and_faults_show_their_real_span(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, lost=True)
    example = run / "suites" / "p-kill-leader" / "example-1"
    result = json.loads((example / "results.json").read_text())
    result["cells"] = {"order": {"valid": "unknown", "checker": "order", "failed_by": [], "reason": "drain incomplete"}}
    result["faults_played"] = [
        {"fault": "leader-alone-lost", "targets": ["kafka-1"], "hit": True, "began_s": 2.0, "span_s": 25.3},
        {"fault": "kill", "targets": [], "hit": False, "began_s": 30.0, "span_s": 0.1},
    ]
    result["operator_events"] = [{"at_s": 40.0, "action": "started kafka-2 (exited)", "node": "kafka-2"}]
    (example / "results.json").write_text(json.dumps(result))
    summary, index = render_run(run)
    text = summary.read_text()
    assert "## Could not be decided (unknown)" in text and "order: drain incomplete" in text
    assert "[history](suites/p-kill-leader/example-1/history.jsonl)" in text  # relative links
    page = index.read_text()
    assert "leader-alone-lost on kafka-1 from 2.0s, healed after 25.3s" in page
    assert "kill on nothing from 30.0s (no target: did not happen)" in page
    assert "operator at 40.0s: started kafka-2 (exited)" in page


def test_an_anomaly_that_failed_no_claimed_guarantee_is_reported_apart(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, lost=False)
    example = run / "suites" / "p-kill-leader" / "example-1"
    h = HistoryBuilder()
    h.send("m1", outcome="info")  # the producer never learnt the outcome; the message arrived
    h.receive("m1")
    h.drain()
    result = {
        "profile": "p",
        "family": "kill-leader",
        "verdicts": [run_checker(h.history, DeliveryChecker()).to_dict()],
    }
    (example / "results.json").write_text(json.dumps(result))
    summary, index = render_run(run)
    text = summary.read_text()
    assert "## Reported, failing no claimed guarantee" in text and "- recovered (1) in p / kill-leader: m1" in text
    assert "## Anomalies" not in text
    assert "<ul id='reported'><li>recovered (1)" in index.read_text()


def test_a_kind_two_checkers_found_is_named_with_each_checker_in_the_run_line() -> None:
    def verdict(checker: str, **counts: int) -> Verdict:
        anomalies = {kind: Anomaly(kind, count=n) for kind, n in counts.items()}
        return Verdict(checker, False, anomalies, {}, "", {})

    verdicts = [verdict("delivery", lost=3, truncated=2, recovered=9), verdict("exactly_once", lost=1)]
    result = RunResult("p", "f", None, verdicts, {}, Path("."), 1.0, 1.0)  # type: ignore[arg-type]
    assert result.anomalies() == {"delivery.lost": 3, "truncated": 2, "exactly_once.lost": 1}


def _ttl_delivery(dated_ms: int, expire_after_s: float | None) -> dict[str, Any]:
    """m1 consumed; m2 dead-lettered as expired, dated ``dated_ms``; m3 dead-lettered as maxlen."""
    h = HistoryBuilder()
    for mid in ("m1", "m2", "m3"):
        h.send(mid)
    h.receive("m1")
    h.drain()
    h.op("dlq-reader", "ok", "dead_letter", {"id": "m2", "reason": "expired", "dead_lettered_at": dated_ms * 1_000_000})
    h.op("dlq-reader", "ok", "dead_letter", {"id": "m3", "reason": "maxlen"})
    h.op("dlq-reader", "ok", "dead_letter_read")
    checker = DeliveryChecker(expire_after_s=expire_after_s, expiry_evidence="dead_letter")
    return run_checker(h.history, checker).to_dict()


def test_the_fates_of_the_acknowledged_messages_are_counted_apart_with_why_a_policy_drop_was_a_loss(
    tmp_path: Path,
) -> None:
    assert fates_line(_ttl_delivery(5000, 3.0)) == (
        "3 acknowledged, 1 consumed, 1 expired (tolerated once 3 s old), 1 lost (1 dead-lettered as maxlen)"
    )
    assert fates_line(_ttl_delivery(1000, 3.0)) == (
        "3 acknowledged, 1 consumed, 0 expired (tolerated once 3 s old), "
        "2 lost (1 dead-lettered as expired before they were 3 s old; 1 dead-lettered as maxlen)"
    )
    assert fates_line(_ttl_delivery(5000, None)).endswith(
        "2 lost (1 dead-lettered as expired; 1 dead-lettered as maxlen)"
    )
    h = HistoryBuilder()
    h.send("m1")
    h.drain()
    assert fates_line(run_checker(h.history, DeliveryChecker()).to_dict()) == ""  # no policy, nothing dead-lettered

    run = _run_dir(tmp_path, lost=False)
    example = run / "suites" / "p-kill-leader" / "example-1"
    result = {"profile": "p", "family": "kill-leader", "verdicts": [_ttl_delivery(5000, 3.0)]}
    (example / "results.json").write_text(json.dumps(result))
    summary, index = render_run(run)
    assert "## What became of the acknowledged messages\n\n- p / kill-leader: 3 acknowledged" in summary.read_text()
    assert "<ul id='fates'><li>p / kill-leader: 3 acknowledged" in index.read_text()
