"""A fatal client error reaches the Kafka workload as a KafkaException, whatever shape the library gives it.

confluent-kafka (>= 2.11) re-raises a fatal error from poll/flush/consume after librdkafka unwinds; on
Python < 3.12 it restores it with ``PyErr_SetObject(type(error), error)``, so the exception raised is the
bare ``KafkaError``. ``raise_bare_kafka_error`` makes that same C call (through ctypes),
so these tests meet exactly what a producer thread met in CI when an unclean leader election
desynchronised an idempotent producer (catalogue row K3).
"""

from __future__ import annotations

import sys
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka import KafkaError, KafkaException

from chaos.brokers.kafka.clients import Consumer, Producer, raising_kafka_exceptions
from chaos.brokers.kafka.workload import _serve
from tests.unit.kafka_errors import FATAL, raise_bare_kafka_error

bare_error_shape = pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="Python >= 3.12 restores the exception normalised: no bare KafkaError"
)


@bare_error_shape
def test_the_bare_error_escapes_an_except_clause_that_names_kafka_exception() -> None:
    """Why the wrapper exists: the handler the workload had never ran, and only a bare except sees it."""
    handled = []
    try:
        try:
            raise_bare_kafka_error()
        except (KafkaException, SystemError):
            handled.append("by the named clause")
    except:  # noqa: E722 — the one clause that can see it
        handled.append(f"bare: {type(sys.exc_info()[1]).__name__}")
    assert handled == ["bare: KafkaError"]


@bare_error_shape
def test_a_wrapped_call_raises_the_fatal_error_as_a_kafka_exception_carrying_it() -> None:
    poll = raising_kafka_exceptions(raise_bare_kafka_error)
    with pytest.raises(KafkaException) as raised:
        poll(0)
    error = raised.value.args[0]
    assert error is FATAL
    assert error.fatal() and error.code() == KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_a_system_error_a_fatal_kafka_exception_caused_is_raised_as_that_kafka_exception() -> None:
    """The other shape: a delivery report ran while the fatal error was pending, and Python refused its
    result; the KafkaException is the SystemError's cause."""

    def flush(_: float) -> int:
        raise SystemError("<method 'append' of 'list' objects> returned a result with an exception set") from (
            KafkaException(FATAL)
        )

    with pytest.raises(KafkaException) as raised:
        raising_kafka_exceptions(flush)(30)
    assert raised.value.args[0] is FATAL
    assert isinstance(raised.value.__cause__, SystemError)  # kept for whoever reads the traceback


def test_a_wrapped_call_leaves_results_and_other_exceptions_alone() -> None:
    assert raising_kafka_exceptions(lambda timeout: timeout * 2)(3) == 6
    documented = KafkaException(KafkaError(KafkaError._TIMED_OUT))

    def raise_documented(_: float) -> int:
        raise documented

    with pytest.raises(KafkaException) as raised:
        raising_kafka_exceptions(raise_documented)(0)
    assert raised.value is documented

    def interrupted(_: float) -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        raising_kafka_exceptions(interrupted)(0)

    def refused(_: float) -> int:
        raise SystemError("no KafkaException behind it")

    with pytest.raises(SystemError):
        raising_kafka_exceptions(refused)(0)


class _ProducerWhoseCallsRaiseTheBareError:
    poll = flush = staticmethod(raising_kafka_exceptions(raise_bare_kafka_error))


@bare_error_shape
def test_the_producer_loop_survives_a_fatal_error_and_replaces_its_producer() -> None:
    """``_serve`` answers False (replace the producer) for both poll and flush, instead of letting the
    producer thread die with its sends unrecorded."""
    producer: Any = _ProducerWhoseCallsRaiseTheBareError()
    assert _serve(producer, "producer-1", 0) is False
    assert _serve(producer, "producer-1", 10) is False


@pytest.mark.parametrize(
    ("ours", "library", "names"),
    [
        (
            Producer,
            confluent_kafka.Producer,
            [
                "poll",
                "flush",
                "produce",
                "init_transactions",
                "begin_transaction",
                "send_offsets_to_transaction",
                "commit_transaction",
                "abort_transaction",
            ],
        ),
        (Consumer, confluent_kafka.Consumer, ["poll", "consume", "close"]),
    ],
)
def test_every_call_that_serves_callbacks_is_wrapped(ours: type, library: type, names: list[str]) -> None:
    for name in names:
        assert getattr(ours, name).__wrapped__ is getattr(library, name), name
    assert issubclass(ours, library)
