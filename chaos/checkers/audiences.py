"""Judging a run whose messages have several audiences: consumer groups that each read every message, or
the queues an exchange routes each message to.

Each audience is a reader of its own: it must see every acknowledged message meant for it, in order, and
recover its reads after each heal, whatever the others do. So the checkers judge each audience apart, on
the history as that audience lived it — the nemesis's, the operator's and the drain's events, the final
log read, the sends meant for it (all of them, unless the workload routes each message to some audiences
only), and the ops of its own consumers (another audience's reads are no evidence for it). A guarantee
holds only where it holds for every audience; it is unknown where it is unknown for one and false for
none. Each audience's verdicts keep its name (``delivery@group-2``), so the report says which lost what.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from chaos.checkers.base import Checker, run_checkers
from chaos.checkers.guarantees import Cell, guarantee_cells, mark_failing
from chaos.checkers.verdict import UNKNOWN, Verdict
from chaos.history import Op

# process name -> the audience it consumes for (None: it consumes for none: a producer, the nemesis, ...)
AudienceOf = Callable[[str], "str | None"]
# a sent message's value -> the audiences it is meant for (None: every audience)
Routes = Callable[[dict[str, Any]], "list[str] | None"]
SEND = "send"


class AudienceView:
    """The history as one audience lived it: every op except those of another audience's consumers and the
    sends ``routes`` says are not meant for it. Re-iterable when the history is (the checkers' second pass
    reads it again for timelines)."""

    def __init__(
        self, history: Iterable[Op], audience: str, audience_of: AudienceOf, routes: Routes | None = None
    ) -> None:
        self.history = history
        self.audience = audience
        self.audience_of = audience_of
        self.routes = routes

    def __iter__(self) -> Iterator[Op]:
        others: dict[str, bool] = {}  # process -> whether it belongs to another audience
        for op in self.history:
            other = others.get(op.process)
            if other is None:
                owner = self.audience_of(op.process)
                other = others[op.process] = owner is not None and owner != self.audience
            if other:
                continue
            if op.f == SEND and self.routes is not None:
                meant_for = self.routes(op.value)
                if meant_for is not None and self.audience not in meant_for:
                    continue
            yield op


def judge(
    history: Iterable[Op],
    guarantees: Any,
    make_checkers: Callable[[], list[Checker]],
    audiences: list[str],
    audience_of: AudienceOf,
    routes: Routes | None = None,
) -> tuple[list[Verdict], dict[str, Cell]]:
    """The run's verdicts and guarantee cells: with one audience as ever; with several, each judged on
    its own view by fresh checkers, its verdicts named for it, and the cells merged (:func:`merge_cells`)."""
    if len(audiences) <= 1:
        verdicts = run_checkers(history, make_checkers())
        cells = guarantee_cells(guarantees, verdicts)
        mark_failing(verdicts, cells)
        return verdicts, cells
    per_audience: list[dict[str, Cell]] = []
    across = [c for c in make_checkers() if c.across_audiences]  # e.g. a transaction's atomicity
    verdicts = run_checkers(history, across) if across else []
    whole = guarantee_cells(guarantees, verdicts)  # the guarantees those decide, on the whole history
    mark_failing(verdicts, whole)
    for audience in audiences:
        checkers = [c for c in make_checkers() if not c.across_audiences]
        own = run_checkers(AudienceView(history, audience, audience_of, routes), checkers)
        cells = guarantee_cells(guarantees, own)
        mark_failing(own, cells)
        for verdict in own:
            verdict.checker = f"{verdict.checker}@{audience}"
        per_audience.append({g: _named(c, audience) for g, c in cells.items()})
        verdicts += own
    return verdicts, merge_cells(per_audience) | whole


def _named(cell: Cell, audience: str) -> Cell:
    reason = f"{audience}: {cell.reason}" if cell.reason else ""
    return Cell(cell.valid, f"{cell.checker}@{audience}", cell.failed_by, reason)


def merge_cells(per_audience: list[dict[str, Cell]]) -> dict[str, Cell]:
    """One cell per guarantee from each audience's: the first audience's failure where one failed (its
    checker names the audience; the others' failures are in their own verdicts); else unknown with every
    audience's reason where one is unknown; else true."""
    merged: dict[str, Cell] = {}
    for guarantee in dict.fromkeys(g for cells in per_audience for g in cells):
        cells = [c[guarantee] for c in per_audience if guarantee in c]
        failed = [c for c in cells if c.valid is False]
        unknown = [c for c in cells if c.valid is UNKNOWN]
        if failed:
            merged[guarantee] = failed[0]
        elif unknown:
            reason = "; ".join(c.reason for c in unknown if c.reason)
            merged[guarantee] = Cell(UNKNOWN, unknown[0].checker, reason=reason)
        else:
            merged[guarantee] = cells[0]
    return merged
