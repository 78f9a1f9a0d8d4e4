"""The command consumer's protocol: one JSON object per stdout line becomes one history operation; any
other line is a ProtocolError naming what is wrong (never another exception, never a silent skip)."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.errors import UsageError
from chaos.history import TYPES, MemoryHistory
from chaos.profiles import parse_profile
from chaos.workloads.command import CommandConsumers, ProtocolError, command_argv, parse_line

MESSAGE = {"id": "producer-1-17", "producer": "producer-1", "seq": 17, "kind": "good"}


@given(st.sampled_from(TYPES), st.sampled_from(["receive", "process", "exit"]), st.booleans())
def test_a_protocol_line_is_the_operation_it_names(kind: str, f: str, redelivered: bool) -> None:
    value = {**MESSAGE, "redelivered": redelivered}
    op = parse_line(json.dumps({"type": kind, "f": f, "value": value, "node": "redis-1"}))
    assert (op.type, op.f, op.value, op.node, op.error) == (kind, f, value, "redis-1", None)


@given(st.text(max_size=200))
def test_any_other_line_is_a_protocol_error(line: str) -> None:
    try:
        parse_line(line)
    except ProtocolError:
        return
    # the few texts that are valid lines by chance must really be operations
    assert json.loads(line)["type"] in TYPES


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("processed 17", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"type": "done", "f": "process", "value": {"id": 1}}', "type must be one of"),
        ('{"type": "ok", "value": {"id": 1}}', "f must be a non-empty string"),
        ('{"type": "ok", "f": "process", "value": [1]}', "value must be an object"),
        ('{"type": "ok", "f": "process", "value": {"seq": 1}}', "a process needs value.id"),
        ('{"type": "ok", "f": "receive", "value": {"id": 1}, "colour": "red"}', "unknown field 'colour'"),
        ('{"type": "ok", "f": "receive", "value": {"id": 1}, "node": 3}', "node must be a string"),
    ],
)
def test_a_broken_line_says_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_line(line)


def test_the_program_must_be_there_before_any_cluster_starts(tmp_path: Path) -> None:
    (tmp_path / "consumer.py").write_text("print()\n")
    assert command_argv("{python} consumer.py --bug none", tmp_path) == [sys.executable, "consumer.py", "--bug", "none"]
    assert command_argv("./consumer.py", tmp_path) == ["./consumer.py"]
    with pytest.raises(UsageError, match=r"\./missing\.py does not exist"):
        command_argv("./missing.py", tmp_path)
    with pytest.raises(UsageError, match="no-such-program-here is not on PATH"):
        command_argv("no-such-program-here --flag", tmp_path)
    with pytest.raises(UsageError, match="cannot split"):
        command_argv("{python} 'unclosed", tmp_path)


@pytest.mark.parametrize(("broker", "key"), [("kafka", "commit"), ("rabbitmq", "ack"), ("redis", "reclaim")])
def test_a_setting_only_the_harness_s_consumer_applies_is_refused_with_a_command(broker: str, key: str) -> None:
    value = {"commit": "after_processing", "ack": "after_processing", "reclaim": True}[key]
    data = {"name": "mine", "broker": broker, "client": {key: value}, "workload": {"consumer_command": "{python} -V"}}
    with pytest.raises(UsageError, match=f"client.{key} is what the harness's own consumer does"):
        parse_profile(data)
    del data["client"]
    assert parse_profile(data).workload.consumer_command == "{python} -V"


class ConsumerSeat:
    """What CommandConsumers needs of a workload: the history, whether to go on consuming, the crash protocol."""

    def __init__(self, crash: bool) -> None:
        self.history = MemoryHistory()
        self.consuming = True
        self.received = 0
        self.crash = crash
        self.paused = False  # the pause-consumers fault: the program is stopped while set
        self.holding: list[tuple[str, bool]] = []

    def consuming_as(self, process: str) -> bool:
        return self.consuming

    def holds(self, process: str, holding: bool) -> None:
        self.holding.append((process, holding))

    def count_received(self, process: str) -> None:
        self.received += 1

    def should_crash(self, process: str) -> bool:
        crash, self.crash = self.crash, False
        if crash:
            time.sleep(0.5)  # the harness lags behind the program (a loaded machine): it has written everything
        return crash

    def stop_after(self, seconds: float) -> None:
        threading.Timer(seconds, lambda: setattr(self, "consuming", False)).start()


# Writes 100 deliveries at once (all in the pipe before the harness reads the first), then waits.
FAST_PROGRAM = """
import json, time
for i in range(100):
    value = {"id": f"producer-1-{i}", "seq": i}
    print(json.dumps({"type": "ok", "f": "receive", "value": value}))
    print(json.dumps({"type": "ok", "f": "process", "value": value}))
print(flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("crash", [True, False], ids=["killed-by-a-fault", "stopped-at-the-end"])
def test_what_the_program_wrote_before_it_died_is_recorded(tmp_path: Path, crash: bool) -> None:
    """The harness reads behind the program: reports still in the pipe when it is killed (or stopped) are
    evidence of messages it processed and acknowledged. Dropping them made a correct RabbitMQ consumer's
    acknowledged messages look lost."""
    seat = ConsumerSeat(crash)
    (tmp_path / "fast.py").write_text(FAST_PROGRAM)
    consumers = CommandConsumers(seat, [sys.executable, "fast.py"], tmp_path, {}, tmp_path / "logs")
    if not crash:
        seat.stop_after(1.0)
    consumers.consume(0)
    processed = [op.value["id"] for op in seat.history if op.f == "process"]
    assert processed == [f"producer-1-{i}" for i in range(100)]
    assert seat.received == 100


# Reports one delivery every 20 ms for as long as it runs.
TICKING_PROGRAM = """
import json, time
i = 0
while True:
    value = {"id": f"producer-1-{i}", "seq": i}
    print(json.dumps({"type": "ok", "f": "receive", "value": value}), flush=True)
    i += 1
    time.sleep(0.02)
"""


def test_a_paused_program_is_stopped_and_goes_on_when_continued(tmp_path: Path) -> None:
    """pause-consumers stops the program's process group (SIGSTOP): it reports nothing while paused, says
    it holds, and goes on after SIGCONT."""
    seat = ConsumerSeat(crash=False)
    (tmp_path / "ticking.py").write_text(TICKING_PROGRAM)
    consumers = CommandConsumers(seat, [sys.executable, "ticking.py"], tmp_path, {}, tmp_path / "logs")
    worker = threading.Thread(target=consumers.consume, args=(0,))
    worker.start()
    try:
        time.sleep(0.5)
        seat.paused = True
        time.sleep(0.3)  # the harness stops it within its 0.1 s turn; what was in the pipe drains
        during = seat.received
        time.sleep(0.6)
        assert seat.received == during, "the program went on reporting while stopped"
        assert seat.holding == [("consumer-1", True)]
        seat.paused = False
        time.sleep(0.5)
        assert seat.received > during
        assert seat.holding == [("consumer-1", True), ("consumer-1", False)]
    finally:
        seat.paused = False
        seat.consuming = False
        worker.join(10)
