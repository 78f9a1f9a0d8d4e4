"""Hypothesis strategies for fault schedules: which faults, when, for how long.

A schedule is a list of non-overlapping steps inside the workload phase, leaving a lead-in before the
first fault (a steady rate to compare with) and time after the last heal (recovery). Preconditions read
only the schedule being drawn (the model), never the live cluster.
"""

from __future__ import annotations

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


@st.composite
def schedules(
    draw: st.DrawFn, families: list[str], workload_s: float, max_steps: int, lead_in_s: float = LEAD_IN_S
) -> Schedule:
    """Up to ``max_steps`` faults from ``families`` fitted into ``workload_s`` seconds.

    Hypothesis tries the simplest example first, and a smoke run has one example: so the simplest
    schedule here is the harshest one (one fault, as long as it fits, right after the lead-in)."""
    room = workload_s - lead_in_s - TAIL_S
    steps_wanted = draw(st.integers(1, max(1, min(max_steps, int(room // (MIN_FAULT_S + 0.5))))))
    room = max(room, MIN_FAULT_S)
    slot = room / steps_wanted
    schedule: Schedule = []
    for index in range(steps_wanted):
        family = draw(st.sampled_from(sorted(families)))
        longest = max(MIN_FAULT_S, slot * 0.8)
        duration = draw(st.floats(0, longest - MIN_FAULT_S).map(lambda x, top=longest: round(top - x, 1)))
        slack = max(0.0, slot - duration)
        offset = draw(st.floats(0, slack).map(lambda x: round(x, 1))) if slack else 0.0
        seed = draw(st.integers(0, 2**31 - 1))
        schedule.append(Step(family, round(lead_in_s + index * slot + offset, 1), duration, seed))
    return schedule
