"""Render a run directory (``reports/<run id>/``) into ``summary.md`` and ``index.html``.

Inputs are what the suites wrote: ``matrix.json`` (profile, fault, guarantee) and, per example,
``results.json`` (verdicts with the first anomalous ids and their timelines). Rendering reads only
those, so ``brokerchaos report DIR`` re-renders any run. Every link is relative to the run directory,
so the pages work inside a downloaded CI artifact.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from chaos.report.rundir import examples, load_matrix, load_run_info

WORD = {True: "pass", False: "FAIL", "unknown": "unknown"}


def _run_line(info: dict[str, Any]) -> str:
    """Seed, budget and what ran, in one line."""
    if not info:
        return ""
    clusters = ", ".join(
        f"{name}: {c.get('broker')} {c.get('version')}" for name, c in sorted(info.get("clusters", {}).items())
    )
    budget = (info.get("budget") or {}).get("name", "?")
    return f"seed {info.get('seed')}, budget {budget}" + (f"; clusters {clusters}" if clusters else "")


def _verdict_line(matrix: list[dict[str, Any]]) -> str:
    failed = [c for c in matrix if c["valid"] is False]
    unknown = [c for c in matrix if c["valid"] == "unknown"]
    if not matrix:
        return "UNKNOWN: no guarantee was checked"
    if failed:
        return f"FAIL: {len(failed)} of {len(matrix)} guarantee checks violated" + (
            f", {len(unknown)} unknown" if unknown else ""
        )
    if unknown:
        return f"UNKNOWN: {len(unknown)} of {len(matrix)} guarantee checks could not be decided"
    return f"PASS: all {len(matrix)} guarantee checks held"


def _grid(matrix: list[dict[str, Any]]) -> tuple[list[str], list[tuple[str, str]], dict[tuple[str, str, str], Any]]:
    guarantees = sorted({c["guarantee"] for c in matrix})
    rows = sorted({(c["profile"], c["fault"]) for c in matrix})
    cells = {(c["profile"], c["fault"], c["guarantee"]): c["valid"] for c in matrix}
    return guarantees, rows, cells


def _findings(examples: list[tuple[Path, dict[str, Any]]], failing: bool = True) -> list[dict[str, Any]]:
    """The anomalies that failed a claimed guarantee (``fails_check``), with their evidence; with
    ``failing=False``, those found that failed none (reported: an allowed duplicate, a read of a
    transaction of unknown outcome, a dead letter after an unexpected number of deliveries...)."""
    out = []
    for directory, result in examples:
        for verdict in result["verdicts"]:
            for kind, anomaly in verdict["anomalies"].items():
                if anomaly.get("fails_check", True) != failing or not anomaly["count"]:
                    continue
                out.append(
                    {
                        "profile": result["profile"],
                        "fault": result["family"],
                        "checker": verdict["checker"],
                        # one consumer group of several (its checkers are named checker@group)
                        "audience": verdict["checker"].partition("@")[2],
                        "kind": kind,
                        "count": anomaly["count"],
                        "ids": anomaly["ids"],
                        "timelines": anomaly.get("timelines", {}),
                        "directory": directory,
                    }
                )
    return out


def _where(finding: dict[str, Any]) -> str:
    """Profile / fault, and the consumer group whose reads the finding is about where there were several."""
    where = f"{finding['profile']} / {finding['fault']}"
    return f"{where}, read by {finding['audience']}" if finding.get("audience") else where


def summary_markdown(run_dir: Path) -> str:
    matrix = load_matrix(run_dir)
    guarantees, rows, cells = _grid(matrix)
    lines = [f"# brokerchaos run {run_dir.name}", "", f"**{_verdict_line(matrix)}**", ""]
    run_line = _run_line(load_run_info(run_dir))
    if run_line:
        lines += [run_line, ""]
    if rows:
        lines.append("| profile / fault | " + " | ".join(guarantees) + " |")
        lines.append("|---|" + "---|" * len(guarantees))
        for profile, fault in rows:
            row = [
                WORD.get(cells.get((profile, fault, g)), "-") if (profile, fault, g) in cells else "-"
                for g in guarantees
            ]
            lines.append(f"| {profile} / {fault} | " + " | ".join(row) + " |")
        lines.append("")
    found = examples(run_dir)
    findings = _findings(found)
    if findings:
        lines += ["## Anomalies", ""]
        for f in findings:
            ids = ", ".join(map(str, f["ids"]))
            rel = _relative(f["directory"], run_dir)
            lines.append(f"- **{f['kind']}** ({f['count']}) in {_where(f)}: {ids}")
            links = f"[history]({rel}/history.jsonl), [results]({rel}/results.json)" + _logs(f["directory"], rel)
            lines.append(f"  evidence: {links}")
        lines.append("")
    reported = _findings(found, failing=False)
    if reported:
        lines += ["## Reported, failing no claimed guarantee", ""]
        for f in reported:
            ids = ", ".join(map(str, f["ids"][:3]))
            rel = _relative(f["directory"], run_dir)
            lines.append(f"- {f['kind']} ({f['count']}) in {_where(f)}: {ids} ([results]({rel}/results.json))")
        lines.append("")
    fates = [f"- {profile} / {fault}: {line}" for profile, fault, line in _fates(found)]
    if fates:
        lines += ["## What became of the acknowledged messages", "", *fates, ""]
    priorities = [f"- {profile} / {fault}: {line}" for profile, fault, line in _priorities(found)]
    if priorities:
        lines += ["## Priorities (measured, failing nothing)", "", *priorities, ""]
    undecided = _undecided(found, run_dir)
    if undecided:
        lines += ["## Could not be decided (unknown)", "", *undecided, ""]
    return "\n".join(lines)


def _fates(found: list[tuple[Path, dict[str, Any]]]) -> list[tuple[str, str, str]]:
    """Per example where a policy may drop messages (a stated expiry, a length cap), or where lost
    messages went to the dead-letter queue: each fate counted apart, in words (profile, fault, line)."""
    out = []
    for _directory, result in found:
        for delivery in (v for v in result["verdicts"] if v["checker"].partition("@")[0] == "delivery"):
            audience = delivery["checker"].partition("@")[2]  # a consumer group of several, named
            if line := fates_line(delivery):
                out.append((result["profile"], result["family"], f"{audience}: {line}" if audience else line))
    return out


def fates_line(delivery: dict[str, Any]) -> str:
    """The delivery verdict's fates: acknowledged, consumed, dropped by the stated policy, lost (and why a
    policy's drop was still a loss); empty where no policy applies and nothing lost was dead-lettered."""
    stats, anomalies = delivery["stats"], delivery["anomalies"]
    by_reason = dict(stats.get("lost_dead_lettered") or {})
    stated = stats.get("may_expire_after_s")
    capped = "keep_newest" in stats or stats.get("trimmed_as") or "retention_bytes" in stats
    compacted = "compaction_tolerated" in stats
    if stated is None and not capped and not compacted and not by_reason:
        return ""

    def count(kind: str) -> int:
        return int(anomalies.get(kind, {}).get("count", 0))

    parts = [f"{stats.get('send_ok', 0)} acknowledged", f"{stats.get('consumed_distinct', 0)} consumed"]
    if stated is not None:
        parts.append(f"{count('expired')} expired (tolerated once {stated:g} s old)")
    if "keep_newest" in stats and stats.get("trim_tolerated", True):
        parts.append(f"{count('trimmed')} trimmed (the length cap keeps the newest {stats['keep_newest']})")
    if stats.get("trimmed_as"):
        parts.append(f"{count('trimmed')} trimmed (dropped by the queue's length limit: {stats['trimmed_as']})")
    if "retention_bytes" in stats:
        parts.append(f"{count('trimmed')} trimmed (retention.bytes {stats['retention_bytes']} per partition)")
    if stats.get("compaction_tolerated"):
        parts.append(f"{count('compacted')} compacted (a later record of the same key is in the final log)")
    if stats.get("compaction_undecided"):
        parts.append(f"{stats['compaction_undecided']} compacted or lost, which cannot be told")
    if stats.get("expiry_undecided"):
        parts.append(f"{stats['expiry_undecided']} expired or lost, which cannot be told")
    why = []
    too_soon = f"before they were {stated:g} s old" if stated is not None else ""
    if stated is not None and "expired" in by_reason:  # dead-lettered as expired, and lost: too young then
        why.append(f"{by_reason.pop('expired')} dead-lettered as expired {too_soon}")
    elif stats.get("deleted_too_soon"):
        why.append(f"{stats['deleted_too_soon']} deleted by the expiry policy {too_soon}")
    if stats.get("lost_within_length_cap"):
        why.append(
            f"{stats['lost_within_length_cap']} the length cap of {stats['keep_newest']} allowed to trim, "
            "which this profile does not tolerate (guarantees.may_trim_to_length)"
        )
    if stats.get("lost_superseded") and not stats.get("compaction_tolerated"):
        why.append(
            f"{stats['lost_superseded']} superseded by a later record of their key, which compaction may "
            "remove and this profile does not tolerate (guarantees.may_compact)"
        )
    why += [f"{n} dead-lettered as {reason}" for reason, n in by_reason.items()]
    parts.append(f"{count('lost')} lost" + (f" ({'; '.join(why)})" if why else ""))
    return ", ".join(parts)


def _priorities(found: list[tuple[Path, dict[str, Any]]]) -> list[tuple[str, str, str]]:
    """Per example whose messages carried priorities: how often a lower rank went first (profile, fault, line)."""
    out = []
    for _directory, result in found:
        verdict = next((v for v in result["verdicts"] if v["checker"] == "priority"), None)
        if verdict is not None:
            out.append((result["profile"], result["family"], priorities_line(verdict)))
    return out


def priorities_line(verdict: dict[str, Any]) -> str:
    """The priority verdict in words: first deliveries, how many while a higher rank waited, per rank."""
    stats = verdict["stats"]
    if verdict.get("incomplete"):
        return f"not measured ({'; '.join(dict.fromkeys(verdict['incomplete'].values()))})"
    share = stats.get("inverted_share") or 0.0
    ranks = "; ".join(
        f"rank {rank}: {n['inverted']} of {n['delivered']}"
        for rank, n in sorted(stats["by_rank"].items(), key=lambda r: int(r[0]))
    )
    return (
        f"{stats['first_deliveries']} first deliveries, {stats['inverted']} ({share:.1%}) while a message of a "
        f"higher rank waited ({ranks})"
    )


def _relative(directory: Path, run_dir: Path) -> str:
    return str(directory.relative_to(run_dir)) if directory.is_relative_to(run_dir) else str(directory)


def _logs(directory: Path, rel: str) -> str:
    return f", [node logs]({rel}/logs/)" if (directory / "logs").is_dir() else ""


def _undecided(found: list[tuple[Path, dict[str, Any]]], run_dir: Path) -> list[str]:
    """Per example with an unknown cell: why (its problems, or each cell's reason), once each."""
    lines = []
    for directory, result in found:
        cells = result.get("cells") or {}
        reasons = list(result.get("problems") or [])
        for guarantee, cell in cells.items():
            if isinstance(cell, dict) and cell.get("valid") == "unknown" and cell.get("reason"):
                reasons.append(f"{guarantee}: {cell['reason']}")
        if not reasons:
            continue
        rel = _relative(directory, run_dir)
        link = f"[{directory.name}]({rel}/results.json)" + _logs(directory, rel)
        lines.append(f"- {result['profile']} / {result['family']} {link}")
        lines += [f"  - {reason}" for reason in dict.fromkeys(reasons)]
    return lines


def played_line(result: dict[str, Any]) -> str:
    """The faults as they really played (a staged fault planned for 6 s may take 25 s), falling back to
    the planned schedule for results written before spans were recorded."""
    played = result.get("faults_played")
    if not played:
        return ", ".join(
            f"{s['family']} at {s['start_s']:.1f}s for {s['duration_s']:.1f}s" for s in result.get("schedule", [])
        )
    parts = []
    for span in played:
        targets = ",".join(span.get("targets") or []) or "nothing"
        text = f"{span['fault']} on {targets} from {span.get('began_s', 0):.1f}s"
        if span.get("hit") is False:
            text += " (no target: did not happen)"
        if span.get("span_s") is not None:
            text += f", healed after {span['span_s']:.1f}s"
        if span.get("error"):
            text += f" ({span['error']})"
        parts.append(text)
    return "; ".join(parts)


def _cell_html(value: Any) -> str:
    word = WORD.get(value, "-")
    return f'<td class="{word.lower()}">{html.escape(word)}</td>'


def index_html(run_dir: Path) -> str:
    matrix = load_matrix(run_dir)
    guarantees, rows, cells = _grid(matrix)
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>brokerchaos {e(run_dir.name)}</title><style>",
        "body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} td,th{border:1px solid #ccc;"
        "padding:4px 8px} .pass{background:#d9f2d9} .fail{background:#f7c6c6} .unknown{background:#fbe7b5}"
        " pre{background:#f6f6f6;padding:6px;font-size:12px}",
        "</style></head><body>",
        f"<h1>brokerchaos run {e(run_dir.name)}</h1>",
        f"<p id='verdict'><b>{e(_verdict_line(matrix))}</b></p>",
        f"<p id='run'>{e(_run_line(load_run_info(run_dir)))} — <a href='run.json'>run.json</a></p>",
        "<h2>Resilience matrix</h2><table id='matrix'><tr><th>profile / fault</th>",
        *[f"<th>{e(g)}</th>" for g in guarantees],
        "</tr>",
    ]
    for profile, fault in rows:
        parts.append(f"<tr><td>{e(profile)} / {e(fault)}</td>")
        parts += [_cell_html(cells.get((profile, fault, g))) for g in guarantees]
        parts.append("</tr>")
    parts.append("</table>")
    findings = _findings(examples(run_dir))
    if findings:
        parts.append("<h2>Anomalies</h2>")
        for n, f in enumerate(findings):
            parts.append(f"<h3 id='finding-{n}'>{e(f['kind'])} ({f['count']}) — {e(_where(f))}</h3>")
            parts.append(
                "<p>first ids: " + ", ".join(f"<a href='#t-{n}-{e(str(i))}'>{e(str(i))}</a>" for i in f["ids"])
            )
            rel = f["directory"].relative_to(run_dir) if f["directory"].is_relative_to(run_dir) else f["directory"]
            parts.append(f" — <a href='{e(str(rel))}/history.jsonl'>history</a></p>")
            for mid, events in f["timelines"].items():
                text = "\n".join(json.dumps(ev) for ev in events)
                parts.append(f"<details id='t-{n}-{e(mid)}'><summary>timeline of {e(mid)}</summary>")
                parts.append(f"<pre>{e(text)}</pre></details>")
    reported = _findings(examples(run_dir), failing=False)
    if reported:
        parts.append("<h2>Reported, failing no claimed guarantee</h2><ul id='reported'>")
        for f in reported:
            rel = f["directory"].relative_to(run_dir) if f["directory"].is_relative_to(run_dir) else f["directory"]
            ids = ", ".join(str(i) for i in f["ids"][:3])
            parts.append(
                f"<li>{e(f['kind'])} ({f['count']}) — {e(_where(f))}: {e(ids)} "
                f"(<a href='{e(str(rel))}/results.json'>results</a>)</li>"
            )
        parts.append("</ul>")
    fates = _fates(examples(run_dir))
    if fates:
        parts.append("<h2>What became of the acknowledged messages</h2><ul id='fates'>")
        parts += [f"<li>{e(profile)} / {e(fault)}: {e(line)}</li>" for profile, fault, line in fates]
        parts.append("</ul>")
    priorities = _priorities(examples(run_dir))
    if priorities:
        parts.append("<h2>Priorities (measured, failing nothing)</h2><ul id='priorities'>")
        parts += [f"<li>{e(profile)} / {e(fault)}: {e(line)}</li>" for profile, fault, line in priorities]
        parts.append("</ul>")
    parts += _examples_html(run_dir)
    parts.append("</body></html>")
    return "".join(parts)


PLOTS = ("throughput.png", "latency.png", "observations.png", "recovery.png")


def _examples_html(run_dir: Path) -> list[str]:
    """Per example: its verdict, schedule, the plots (fault windows shaded) and links to the raw files."""
    e = html.escape
    parts = ["<h2>Runs</h2>"]
    for directory, result in examples(run_dir):
        rel = directory.relative_to(run_dir)
        word = WORD.get(result.get("valid"), "unknown")
        parts.append(
            f"<h3 class='example'>{e(result['profile'])} / {e(result['family'])} — {e(rel.name)}: "
            f"<span class='{word.lower()}'>{e(word)}</span></h3>"
        )
        parts.append(
            f"<p>faults played: {e(played_line(result)) or 'none'}; "
            f"{result.get('ops_per_s', 0)} acknowledged sends/s; "
            + " ".join(
                f"<a href='{e(str(rel / name))}'>{e(name)}</a>"
                for name in ("history.jsonl", "faults.jsonl", "observations.jsonl", "results.json")
                if (directory / name).exists()
            )
            + "</p>"
        )
        for problem in result.get("problems", []):
            parts.append(f"<p class='unknown'>{e(problem)}</p>")
        for event in result.get("operator_events", []):
            parts.append(f"<p class='operator'>operator at {event['at_s']:.1f}s: {e(event['action'])}</p>")
        if (directory / "logs").is_dir():
            logs = sorted((directory / "logs").glob("*.log"))
            links = " ".join(f"<a href='{e(str(rel / 'logs' / p.name))}'>{e(p.name)}</a>" for p in logs)
            parts.append(f"<p>node logs: {links}</p>")
        for name in PLOTS:
            if (directory / name).exists():
                parts.append(f"<img class='plot' alt='{e(name)}' src='{e(str(rel / name))}' width='900'>")
    return parts


def render_examples(run_dir: Path) -> int:
    """(Re)derive every example's faults.jsonl and plots from its history; returns how many."""
    from chaos.report.example import render_example

    found = examples(run_dir)
    for directory, _ in found:
        render_example(directory)
    return len(found)


def render_run(run_dir: Path) -> tuple[Path, Path]:
    """Write summary.md and index.html into ``run_dir``; point ``reports/latest`` at it."""
    summary = run_dir / "summary.md"
    index = run_dir / "index.html"
    summary.write_text(summary_markdown(run_dir))
    index.write_text(index_html(run_dir))
    latest = run_dir.parent / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_dir.name)
    except OSError:
        pass
    return summary, index
