"""What a Redis profile's stream cap puts on each XADD: MAXLEN as the profile names it, or MINID at the
producer's clock minus the profile's age — recorded on each send (``minid``) for the checkers, and kept
out of the entry's own fields. Pure: the arguments are computed from the profile alone."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from chaos.brokers.redis.workload import RedisStreamsWorkload
from chaos.profiles import parse_profile


def trim(client: dict[str, Any], batch: list[dict[str, Any]]) -> tuple[str, ...]:
    profile = parse_profile({"name": "s", "broker": "redis", "client": client})
    return RedisStreamsWorkload._trim_by(SimpleNamespace(settings=profile.client), batch)  # type: ignore[arg-type]


def test_minid_is_the_producers_clock_minus_the_age_and_each_send_records_it() -> None:
    batch = [{"id": "m1", "kind": "good"}, {"id": "m2", "kind": "good"}]
    before = int(time.time() * 1000)
    args = trim({"minid_age_ms": 3000}, batch)
    after = int(time.time() * 1000)
    assert args[:2] == ("MINID", "~") and before - 3000 <= int(args[2]) <= after - 3000
    assert [v["minid"] for v in batch] == [int(args[2])] * 2
    assert trim({"minid_age_ms": 3000, "minid_approximate": False}, [{"id": "m3"}])[1] == "="
    assert "minid" not in RedisStreamsWorkload._fields(batch[0])


def test_maxlen_is_declared_as_named_and_records_nothing() -> None:
    batch = [{"id": "m1", "kind": "good"}]
    assert trim({"maxlen": 100}, batch) == ("MAXLEN", "~", "100")
    assert trim({}, batch) == () and "minid" not in batch[0]


def test_with_a_trimmer_the_xadds_carry_no_cap_and_record_no_threshold() -> None:
    batch = [{"id": "m1", "kind": "good"}]
    assert trim({"minid_age_ms": 3000, "trim_with": "xtrim"}, batch) == () and "minid" not in batch[0]
    assert trim({"maxlen": 100, "trim_with": "xtrim", "xtrim_interval_ms": 500}, batch) == ()
