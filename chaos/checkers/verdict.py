"""Verdicts: ``valid`` is ``True``, ``False`` or ``"unknown"`` — the harness could not tell.

A CI gate treats ``unknown`` as a failure but labels it as such: an incomplete drain or missing data is
never reported as a pass. Each verdict says, per anomaly kind, whether the evidence that kind needs was
complete (``incomplete``: kind -> why not), so a guarantee decided by some of a checker's kinds is
unknown exactly when *its* evidence was incomplete — never because another kind failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Validity = bool | Literal["unknown"]
UNKNOWN: Literal["unknown"] = "unknown"
EXAMPLES = 10


@dataclass
class Anomaly:
    """One kind of anomaly: how many, the first few message ids, and their timelines once filled in."""

    kind: str
    count: int = 0
    ids: list[Any] = field(default_factory=list)
    timelines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    blocks_validity: bool = True

    def add(self, message_id: Any) -> None:
        self.count += 1
        if len(self.ids) < EXAMPLES:
            self.ids.append(message_id)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.count, "ids": self.ids, "fails_check": self.blocks_validity}
        if self.timelines:
            out["timelines"] = self.timelines
        return out


@dataclass
class Verdict:
    checker: str
    valid: Validity
    anomalies: dict[str, Anomaly] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    incomplete: dict[str, str] = field(default_factory=dict)  # anomaly kind -> why it could not be checked

    def anomaly(self, kind: str) -> Anomaly:
        return self.anomalies.get(kind) or Anomaly(kind)

    def ids(self, kind: str) -> list[Any]:
        return self.anomaly(kind).ids

    def to_dict(self) -> dict[str, Any]:
        return {
            "checker": self.checker,
            "valid": self.valid,
            "reason": self.reason,
            "anomalies": {k: a.to_dict() for k, a in self.anomalies.items() if a.count},
            "stats": self.stats,
            "incomplete": self.incomplete,
        }

    def summary(self) -> str:
        found = ", ".join(f"{a.count} {k}" for k, a in self.anomalies.items() if a.count) or "no anomalies"
        word = {True: "ok", False: "FAILED", UNKNOWN: "UNKNOWN"}[self.valid]
        extra = f" ({self.reason})" if self.reason else ""
        return f"{self.checker}: {word}: {found}{extra}"


def combine(*values: Validity) -> Validity:
    """False beats unknown beats true."""
    if any(v is False for v in values):
        return False
    if any(v == UNKNOWN for v in values):
        return UNKNOWN
    return True


def decide(anomalies: dict[str, Anomaly], incomplete: dict[str, str]) -> tuple[Validity, str]:
    """Definite anomalies of a failing kind make a verdict false; otherwise a failing kind whose evidence
    was incomplete makes it unknown (the reasons, once each)."""
    if any(a.count and a.blocks_validity for a in anomalies.values()):
        return False, ""
    reasons = [incomplete[k] for k, a in anomalies.items() if a.blocks_validity and k in incomplete]
    if reasons:
        return UNKNOWN, "; ".join(dict.fromkeys(reasons))
    return True, ""


def every_kind(anomalies: dict[str, Anomaly], reason: str) -> dict[str, str]:
    """``reason`` for every kind (evidence all of them need was incomplete); empty when reason is empty."""
    return dict.fromkeys(anomalies, reason) if reason else {}


def percentiles(ordered: list[float], digits: int = 4) -> dict[str, float]:
    """p50, p99 and max of ``ordered`` (sorted ascending), rounded; {} when there is nothing to measure."""
    if not ordered:
        return {}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], digits)

    return {"p50": at(0.5), "p99": at(0.99), "max": round(ordered[-1], digits)}
