"""confluent-kafka's Producer and Consumer, with a fatal client error always raised as a KafkaException.

A fatal error (an idempotent producer's sequence desynchronised by an unclean leader election, a fenced
transactional id or static member) is raised from the call that served it: ``poll``, ``flush``,
``consume``, ``commit``, a transaction call. The library documents a ``KafkaException``; what arrives
depends on which callbacks librdkafka served in the same call, and two shapes are no KafkaException:

- ``SystemError("... returned a result with an exception set")``, caused by the KafkaException: a
  delivery report ran while the fatal error was pending (a fenced producer's flush, here on Kafka 4.1.1);
- on Python < 3.12, the bare ``KafkaError`` (confluent-kafka >= 2.11 keeps the callback's exception while
  librdkafka unwinds and restores it without normalising it). That object is no exception class: no
  ``except`` clause naming a class catches it, and the thread that meets it dies, its traceback
  unprintable (catalogue row K3's producer, in CI).

Either way the workload would lose a producer or consumer mid-run and the run's evidence with it. These
classes raise both as the ``KafkaException`` the library documents.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, ParamSpec, TypeVar

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException

P = ParamSpec("P")
T = TypeVar("T")


class _FatalErrorAsKafkaException:
    """Raises a bare ``KafkaError`` leaving the block, or a SystemError a KafkaException caused, as that
    KafkaException. A context manager because ``__exit__`` is the one hook that receives an exception of
    any type: an ``except`` clause must name a class, and a ``KafkaError`` is none."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> Literal[False]:
        error: object = value
        if isinstance(error, KafkaError):
            raise KafkaException(error) from None  # from None: the bare error has no context to print
        if isinstance(value, SystemError) and isinstance(value.__cause__, KafkaException):
            raise KafkaException(*value.__cause__.args) from value
        return False


def raising_kafka_exceptions(method: Callable[P, T]) -> Callable[P, T]:
    """``method``, raising a fatal error in whatever shape the library gave it as a ``KafkaException``."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        with _FatalErrorAsKafkaException():
            return method(*args, **kwargs)

    return call


_Base = confluent_kafka.Producer
_BaseConsumer = confluent_kafka.Consumer


class Producer(_Base):
    """A confluent-kafka Producer whose calls that serve callbacks raise fatal errors as KafkaException.
    ``produce`` serves none and raises proper KafkaExceptions itself; it is wrapped all the same, so that
    every producer call the workload makes follows one rule."""

    poll = raising_kafka_exceptions(_Base.poll)
    flush = raising_kafka_exceptions(_Base.flush)
    produce = raising_kafka_exceptions(_Base.produce)
    init_transactions = raising_kafka_exceptions(_Base.init_transactions)
    begin_transaction = raising_kafka_exceptions(_Base.begin_transaction)
    send_offsets_to_transaction = raising_kafka_exceptions(_Base.send_offsets_to_transaction)
    commit_transaction = raising_kafka_exceptions(_Base.commit_transaction)
    abort_transaction = raising_kafka_exceptions(_Base.abort_transaction)


class Consumer(_BaseConsumer):
    """A confluent-kafka Consumer whose calls that serve callbacks raise fatal errors as KafkaException."""

    poll = raising_kafka_exceptions(_BaseConsumer.poll)
    consume = raising_kafka_exceptions(_BaseConsumer.consume)
    close = raising_kafka_exceptions(_BaseConsumer.close)

    def commit(self, *args: Any, **kwargs: Any) -> Any:  # overloaded in the library's stubs
        with _FatalErrorAsKafkaException():
            return super().commit(*args, **kwargs)
