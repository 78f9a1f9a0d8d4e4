"""brokerchaos: chaos and failure-injection testing for Kafka, RabbitMQ and Redis Streams.

The package is organised like Jepsen's core: ``cluster`` (the db), ``workloads`` (clients),
``faults`` (the nemesis), ``schedule`` (the generator), ``checkers`` and ``report``.
"""

__version__ = "0.1.0"
