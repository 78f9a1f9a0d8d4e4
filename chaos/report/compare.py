"""``brokerchaos compare RUN_A RUN_B``: is it safe to upgrade? Two runs' resilience matrices side by side
(cells that changed highlighted, worse ones first), what each ran, and the semantics that drifted for the
same profile: broker settings as the brokers report them (defaults included) and observable behaviour the
checkers measured (dead-letter reasons and delivery counts, poison deliveries, anomaly kinds).

Reads only what runs wrote (``matrix.json``, ``run.json``, each example's ``results.json``), so any two
run directories can be compared, on any machine.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.errors import UsageError
from chaos.report.rundir import examples, load_matrix, load_run_info

WORD = {True: "pass", False: "FAIL", "unknown": "unknown", None: "-"}
RANK = {True: 2, "unknown": 1, False: 0}  # higher is better; a missing cell is not ranked
# Checker statistics that describe behaviour (not volume or timing), compared between versions.
SEMANTIC_STATS = {
    "dead_letter": ("reasons", "reported_delivery_counts", "deliveries_before_dead_letter", "max_poison_deliveries"),
    "exactly_once": ("txn_aborted",),
}
MAX_SETTINGS_SHOWN = 60

Key = tuple[str, str, str]


@dataclass
class RunView:
    directory: Path
    matrix: dict[Key, Any]
    info: dict[str, Any]
    results: dict[tuple[str, str], list[dict[str, Any]]]

    @property
    def label(self) -> str:
        clusters = self.info.get("clusters", {})
        versions = sorted({f"{c.get('broker')} {c.get('version')}" for c in clusters.values()})
        return f"{self.directory.name} ({', '.join(versions) or 'versions unknown'})"


@dataclass
class CellChange:
    key: Key
    a: Any
    b: Any

    @property
    def worse(self) -> bool:
        return self.a in RANK and self.b in RANK and RANK[self.b] < RANK[self.a]


@dataclass
class Comparison:
    a: RunView
    b: RunView
    cells: list[tuple[Key, Any, Any]] = field(default_factory=list)
    changed: list[CellChange] = field(default_factory=list)
    settings: dict[str, list[tuple[str, str | None, str | None]]] = field(default_factory=dict)
    behaviour: list[tuple[str, str, str, str, Any, Any]] = field(default_factory=list)

    @property
    def missing_in_b(self) -> list[Key]:
        return sorted(set(self.a.matrix) - set(self.b.matrix))

    def problem(self) -> str:
        """Why the two runs cannot be compared ("" when they can): a gate must not go green on these."""
        if self.a.directory.resolve() == self.b.directory.resolve() or (
            self.a.info.get("run_id") and self.a.info.get("run_id") == self.b.info.get("run_id")
        ):
            return f"A and B are the same run ({self.a.directory.name}): nothing was compared"
        if not self.cells:
            return "the runs share no (profile, fault, guarantee): nothing was compared"
        if self.missing_in_b:
            profile, fault, guarantee = self.missing_in_b[0]
            return (
                f"B lacks {len(self.missing_in_b)} check(s) that A has (first: {profile} / {fault} / {guarantee}): "
                "did the candidate run end early?"
            )
        return ""

    def verdict(self) -> str:
        worse = [c for c in self.changed if c.worse]
        if self.problem():
            return f"NOT COMPARABLE: {self.problem()}"
        if worse:
            return f"WORSE: {len(worse)} of {len(self.cells)} shared guarantee checks got worse in B"
        if self.changed:
            return f"CHANGED: {len(self.changed)} of {len(self.cells)} shared guarantee checks changed, none worse"
        return f"SAME: all {len(self.cells)} shared guarantee checks have the same verdict"


def load_run(directory: Path) -> RunView:
    if not (directory / "matrix.json").exists():
        raise UsageError(f"{directory} is not a run directory (no matrix.json)")
    matrix = {(c["profile"], c["fault"], c["guarantee"]): c["valid"] for c in load_matrix(directory)}
    if not matrix:
        raise UsageError(f"{directory} holds an empty matrix.json: that run checked no guarantee")
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _, result in examples(directory):
        results.setdefault((result["profile"], result["family"]), []).append(result)
    return RunView(directory, matrix, load_run_info(directory), results)


def compare(a: RunView, b: RunView) -> Comparison:
    out = Comparison(a, b)
    for key in sorted(set(a.matrix) & set(b.matrix)):
        out.cells.append((key, a.matrix[key], b.matrix[key]))
        if a.matrix[key] != b.matrix[key]:
            out.changed.append(CellChange(key, a.matrix[key], b.matrix[key]))
    out.changed.sort(key=lambda c: (not c.worse, c.key))
    for profile in sorted(set(a.info.get("clusters", {})) & set(b.info.get("clusters", {}))):
        diff = settings_diff(
            a.info["clusters"][profile].get("settings", {}), b.info["clusters"][profile].get("settings", {})
        )
        if diff:
            out.settings[profile] = diff
    for profile, fault in sorted(set(a.results) & set(b.results)):
        out.behaviour += behaviour_diff(profile, fault, a.results[(profile, fault)], b.results[(profile, fault)])
    return out


def settings_diff(a: dict[str, str], b: dict[str, str]) -> list[tuple[str, str | None, str | None]]:
    """Keys whose reported value differs, or that exist in one version only."""
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _observed(results: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """(checker, stat) -> value over a (profile, fault)'s examples (the union for lists, max for numbers),
    plus which anomaly kinds were seen at all."""
    seen: dict[tuple[str, str], Any] = {}
    for result in results:
        for verdict in result.get("verdicts", []):
            checker = verdict["checker"]
            for stat in SEMANTIC_STATS.get(checker, ()):
                value = verdict.get("stats", {}).get(stat)
                if value is None:
                    continue
                old = seen.get((checker, stat))
                if isinstance(value, list):
                    seen[(checker, stat)] = sorted(set(old or []) | set(map(str, value)))
                else:
                    seen[(checker, stat)] = value if old is None else max(old, value)
            kinds = sorted(k for k, a in verdict.get("anomalies", {}).items() if a.get("count"))
            previous = seen.get((checker, "anomaly kinds"), [])
            seen[(checker, "anomaly kinds")] = sorted(set(previous) | set(kinds))
    return seen


def behaviour_diff(
    profile: str, fault: str, a: list[dict[str, Any]], b: list[dict[str, Any]]
) -> list[tuple[str, str, str, str, Any, Any]]:
    seen_a, seen_b = _observed(a), _observed(b)
    return [
        (profile, fault, checker, stat, seen_a.get((checker, stat)), seen_b.get((checker, stat)))
        for checker, stat in sorted(set(seen_a) | set(seen_b))
        if seen_a.get((checker, stat)) != seen_b.get((checker, stat))
    ]


# rendering ----------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


def compare_markdown(c: Comparison) -> str:
    lines = ["# brokerchaos compare", "", f"**{c.verdict()}**", "", f"- A: {c.a.label}", f"- B: {c.b.label}", ""]
    if c.cells:
        lines += ["| profile / fault | guarantee | A | B |", "|---|---|---|---|"]
        changed = {ch.key for ch in c.changed}
        for (profile, fault, guarantee), va, vb in c.cells:
            mark = "**" if (profile, fault, guarantee) in changed else ""
            cells = f"{mark}{WORD.get(va, va)}{mark} | {mark}{WORD.get(vb, vb)}{mark}"
            lines.append(f"| {profile} / {fault} | {guarantee} | {cells} |")
        lines.append("")
    only = sorted(set(c.a.matrix) ^ set(c.b.matrix))
    if only:
        lines.append(f"{len(only)} check(s) ran in only one of the runs (not compared).")
        lines.append("")
    if c.behaviour:
        lines += [
            "## Behaviour that drifted",
            "",
            "| profile / fault | checker | observed | A | B |",
            "|---|---|---|---|---|",
        ]
        for profile, fault, checker, stat, va, vb in c.behaviour:
            lines.append(f"| {profile} / {fault} | {checker} | {stat} | {_fmt(va)} | {_fmt(vb)} |")
        lines.append("")
    for profile, diff in c.settings.items():
        lines += [
            f"## Broker settings that differ ({profile}: {len(diff)})",
            "",
            "| setting | A | B |",
            "|---|---|---|",
        ]
        for key, va, vb in diff[:MAX_SETTINGS_SHOWN]:
            lines.append(f"| `{key}` | {_fmt(va)} | {_fmt(vb)} |")
        if len(diff) > MAX_SETTINGS_SHOWN:
            lines.append(f"| ... {len(diff) - MAX_SETTINGS_SHOWN} more (compare.json) | | |")
        lines.append("")
    return "\n".join(lines)


def compare_html(c: Comparison) -> str:
    e = html.escape
    changed = {ch.key: ch for ch in c.changed}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>brokerchaos compare</title><style>",
        "body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;margin-bottom:1.5em}"
        " td,th{border:1px solid #ccc;padding:4px 8px} .pass{background:#d9f2d9} .fail{background:#f7c6c6}"
        " .unknown{background:#fbe7b5} tr.changed td{font-weight:bold} tr.worse td:first-child{border-left:6px solid"
        " #c00} tr.better td:first-child{border-left:6px solid #2a2}",
        "</style></head><body><h1>brokerchaos compare</h1>",
        f"<p id='verdict'><b>{e(c.verdict())}</b></p>",
        f"<p>A: {e(c.a.label)}<br>B: {e(c.b.label)}</p>",
        "<table id='matrix'><tr><th>profile / fault</th><th>guarantee</th><th>A</th><th>B</th></tr>",
    ]
    for key, va, vb in c.cells:
        change = changed.get(key)
        css = "" if change is None else ("changed worse" if change.worse else "changed better")
        wa, wb = WORD.get(va, str(va)), WORD.get(vb, str(vb))
        parts.append(
            f"<tr class='{css}'><td>{e(key[0])} / {e(key[1])}</td><td>{e(key[2])}</td>"
            f"<td class='{wa.lower()}'>{e(wa)}</td><td class='{wb.lower()}'>{e(wb)}</td></tr>"
        )
    parts.append("</table>")
    if c.behaviour:
        parts.append("<h2>Behaviour that drifted</h2><table id='behaviour'>")
        parts.append("<tr><th>profile / fault</th><th>checker</th><th>observed</th><th>A</th><th>B</th></tr>")
        for profile, fault, checker, stat, va, vb in c.behaviour:
            parts.append(
                f"<tr><td>{e(profile)} / {e(fault)}</td><td>{e(checker)}</td><td>{e(stat)}</td>"
                f"<td>{e(_fmt(va))}</td><td>{e(_fmt(vb))}</td></tr>"
            )
        parts.append("</table>")
    for profile, diff in c.settings.items():
        parts.append(f"<h2>Broker settings that differ ({e(profile)}: {len(diff)})</h2><table class='settings'>")
        parts.append("<tr><th>setting</th><th>A</th><th>B</th></tr>")
        for setting, va, vb in diff:
            parts.append(f"<tr><td><code>{e(setting)}</code></td><td>{e(_fmt(va))}</td><td>{e(_fmt(vb))}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def write_comparison(c: Comparison, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(
        json.dumps(
            {
                "a": str(c.a.directory),
                "b": str(c.b.directory),
                "verdict": c.verdict(),
                "cells": [{"key": list(k), "a": va, "b": vb} for k, va, vb in c.cells],
                "changed": [{"key": list(ch.key), "a": ch.a, "b": ch.b, "worse": ch.worse} for ch in c.changed],
                "behaviour": [list(row) for row in c.behaviour],
                "settings": {p: [list(row) for row in diff] for p, diff in c.settings.items()},
            },
            indent=2,
            default=str,
        )
    )
    summary, page = out / "compare.md", out / "compare.html"
    summary.write_text(compare_markdown(c))
    page.write_text(compare_html(c))
    return summary, page
