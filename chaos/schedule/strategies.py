"""Hypothesis strategies for fault schedules: which faults, when, for how long.

A schedule is a list of non-overlapping steps inside the workload phase, leaving a lead-in before the
first fault (a steady rate to compare with) and time after the last heal (recovery). Preconditions read
only the schedule being drawn (the model), never the live cluster.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

from hypothesis import strategies as st

LEAD_IN_S = 2.0
TAIL_S = 2.0
MIN_FAULT_S = 3.0


@dataclass(frozen=True)
class Step:
    family: str
    start_s: float  # since the workload started
    duration_s: float
    seed: int  # randomness of the step's targets and shapes

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


Schedule = list[Step]


class _Rotation:
    """Turns hypothesis's draws into seed-dependent values: each draw ``x`` of ``n`` choices becomes
    ``(x + r) % n`` for the next ``r`` of a generator seeded with ``salt``. Hypothesis tries the
    simplest draws (zeros) first and a smoke budget plays one example, so without this every seed
    would play the same schedule; with it, the seed moves starts, lengths, families and targets, and
    the same seed still replays the same schedule. Salt 0 leaves the draws as they are."""

    def __init__(self, salt: int) -> None:
        self._rng = random.Random(f"brokerchaos-schedule-{salt}") if salt else None  # hashed: decorrelated seeds

    def __call__(self, drawn: int, choices: int) -> int:
        if self._rng is None or choices <= 1:
            return drawn
        return (drawn + self._rng.randrange(choices)) % choices


def _tenths(seconds: float) -> int:
    return max(0, round(seconds * 10))


@st.composite
def schedules(
    draw: st.DrawFn,
    families: list[str],
    workload_s: float,
    max_steps: int,
    lead_in_s: float = LEAD_IN_S,
    salt: int = 0,
    min_fault_s: float = MIN_FAULT_S,
) -> Schedule:
    """Up to ``max_steps`` faults from ``families`` fitted into ``workload_s`` seconds, each held at least
    ``min_fault_s`` (a fault shorter than the broker's failure detection tests nothing).

    With ``salt`` 0 the simplest schedule is the harshest one (one fault, as long as it fits, right after
    the lead-in); a suite passes its seed as ``salt`` so that each seed explores a different one."""
    rotate = _Rotation(salt)
    room = workload_s - lead_in_s - TAIL_S
    most = max(1, min(max_steps, int(room // (min_fault_s + 0.5))))
    steps_wanted = 1 + rotate(draw(st.integers(0, most - 1)), most)
    room = max(room, min_fault_s)
    slot = room / steps_wanted
    ordered = sorted(families)
    schedule: Schedule = []
    for index in range(steps_wanted):
        family = ordered[rotate(draw(st.integers(0, len(ordered) - 1)), len(ordered))]
        longest = max(min_fault_s, slot * 0.8)
        spread = _tenths(longest - min_fault_s)
        duration = round(longest - rotate(draw(st.integers(0, spread)), spread + 1) / 10, 1)
        duration = max(duration, math.ceil(min_fault_s * 10 - 1e-9) / 10)  # tenths never round below it
        slack = _tenths(max(0.0, slot - duration))
        offset = rotate(draw(st.integers(0, slack)), slack + 1) / 10 if slack else 0.0
        offset = min(offset, math.floor(max(0.0, slot - duration) * 10 + 1e-9) / 10)  # ends inside its slot
        seed = rotate(draw(st.integers(0, 2**31 - 1)), 2**31)
        schedule.append(Step(family, round(lead_in_s + index * slot + offset, 1), duration, seed))
    return schedule
