"""A fatal Kafka client error in the shape confluent-kafka (>= 2.11) raises it on Python < 3.12: the bare
``KafkaError``, restored with ``PyErr_SetObject(type(error), error)``. The same C call, made through
ctypes, so unit tests meet exactly what a producer thread met in CI (catalogue row K3)."""

from __future__ import annotations

import ctypes
from typing import Any

from confluent_kafka import KafkaError

FATAL = KafkaError(
    KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "ProduceRequest ... NOT_ENOUGH_REPLICAS (actions Retry)", fatal=True
)


def raise_bare_kafka_error(*_: Any, **__: Any) -> int:
    """Raises :data:`FATAL` as confluent-kafka restores it (any arguments, as a client call takes them)."""
    ctypes.pythonapi.PyErr_SetObject(ctypes.py_object(KafkaError), ctypes.py_object(FATAL))
    return 0  # never reached: ctypes raises the error the call set
