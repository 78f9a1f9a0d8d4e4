"""Kafka workload on confluent-kafka: keyed produce through the proxies, a consumer group that processes
and commits as the profile says, transactions, and a dead-letter topic.

Send outcomes: a delivery report without error is ``ok``; ``_MSG_TIMED_OUT`` and errors after the
leader appended (``NOT_ENOUGH_REPLICAS_AFTER_APPEND``) are ``info`` (possibly persisted); other errors
are ``fail``. A fatal (idempotent or transactional) producer error recreates the producer. With
``transactional``, messages are produced in small transactions; a poison message makes the producer
abort its transaction, and every message of it is then a definite ``fail`` — a read_uncommitted
consumer that reads one anyway shows an aborted read (G1a).

With ``transform``, consumers are consume-transform-produce processors: inputs are read (``consume``),
and one output record per input plus the consumed offsets are committed in one transaction
(``send_offsets_to_transaction``); an output reader records what the pipeline's downstream sees
(``receive``, with the output's ``txn`` and its input's ``source_txn``) for the exactly-once checker.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import MutableSequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from chaos.brokers.kafka.clients import Consumer, Producer
from chaos.brokers.kafka.cluster import KafkaCluster
from chaos.brokers.kafka.settings import KafkaClientSettings, KafkaClusterSettings
from chaos.history import FAIL, INFO, INVOKE, OK, Recorder
from chaos.workloads.base import DEAD_LETTER_READER, LoadBudget, Workload

log = logging.getLogger("brokerchaos.workloads")
LIBRDKAFKA_LOG = logging.getLogger("brokerchaos.librdkafka")
# librdkafka's eos debug lines as an idempotent producer takes a producer id, or bumps its epoch
PRODUCER_ID_LINE = re.compile(r"(?:Acquired|bumped epoch to) PID\{Id:(\d+),Epoch:(\d+)\}")


class ProducerIdLog:
    """librdkafka's log of one idempotent producer, its ``eos`` debug lines on: each producer id and epoch
    it takes is recorded (``producer_id``). A message in flight when the epoch changes is sent again under
    the new epoch with new sequence numbers, so a copy the old leader had already written is written twice
    (confluentinc/librdkafka#4953): the delivery checker names such duplicates by this record. Other
    debug lines are dropped; the rest goes to our log as before."""

    def __init__(self, history: Recorder, process: str) -> None:
        self.history = history
        self.process = process

    def log(self, level: int, fmt: str, *args: Any) -> None:
        if level > logging.DEBUG:
            LIBRDKAFKA_LOG.log(level, fmt, *args)
            return
        match = PRODUCER_ID_LINE.search(str(args[-1])) if args else None
        if match:
            value = {"id": int(match[1]), "epoch": int(match[2])}
            self.history.record(self.process, OK, "producer_id", value)


MAYBE_APPENDED = {
    KafkaError._MSG_TIMED_OUT,
    KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    KafkaError._TIMED_OUT,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError._TRANSPORT,
}
TXN_SIZE = 10


def classify(err: KafkaError) -> str:
    """A fatal error (e.g. a sequence desynchronised by a leader change) fails everything queued, some
    of it possibly written already: indeterminate, like a timeout."""
    return INFO if err.fatal() or err.code() in MAYBE_APPENDED else FAIL


def _serve(producer: Producer, process: str, timeout: float) -> bool:
    """Poll (timeout 0) or flush the producer's delivery reports; False once it raised a fatal error
    (librdkafka surfaces it from poll/flush too). Sends it never reported stay invoked: indeterminate."""
    try:
        if timeout:
            remaining = producer.flush(timeout)
            if remaining:
                log.warning("%s: %d deliveries never reported", process, remaining)
        else:
            producer.poll(0)
    except (KafkaException, SystemError) as exc:  # SystemError: a report refused, no KafkaException behind it
        log.warning("%s: producer failed: %s", process, str(exc)[:200])
        return False
    return True


class KafkaWorkload(Workload):
    """Producers write keyed JSON messages; a consumer group processes and commits them."""

    # A group whose coordinator moved rejoins after its session timeout (6 s) and a rebalance that waits
    # for every member: a backlog still for less than this after the heal may yet move.
    drain_stall_s = 25.0
    positions = True  # acknowledgements and reads carry partition and offset; the audit its records
    expiry_evidence = "log_start"  # the audit reports each partition's log start (retention moves it)
    sessions = True  # consumers record their assignments, revocations and rewinds
    exclusive_groups = True  # a key's partition has one owner in the consumer group at a time

    def __init__(
        self,
        cluster: KafkaCluster,
        topic: str,
        history: Recorder,
        budget: LoadBudget,
        client: KafkaClientSettings,
        settings: KafkaClusterSettings,
        producers: int = 1,
        consumers: int = 2,
        poison_every: int = 0,
        process_ms: float = 0.0,
    ) -> None:
        super().__init__(history, budget, producers, consumers)
        self.cluster = cluster
        self.topic = topic
        self.dlq = f"{topic}.dlq"
        self.client = client
        # the handler retries within one delivery, then writes the dead-letter topic
        self.dead_letter_after = 1 if client.dead_letter_topic and not client.transform else None
        self.poison_every = poison_every
        self.process_ms = process_ms
        self.group = f"bc-group-{uuid.uuid4().hex[:6]}"
        # every consumer group reading the topic: the first, then the others (client.consumer_groups)
        self.groups = [self.group] + [f"{self.group}-g{k}" for k in range(2, client.consumer_groups + 1)]
        # the topics each transaction writes (client.transaction_topics), each read by a group of its own
        self.topics = [topic] + [f"{topic}.t{k}" for k in range(2, client.transaction_topics + 1)]
        if len(self.topics) > 1:
            self.groups = [self.group] + [f"{self.group}-t{k}" for k in range(2, len(self.topics) + 1)]
            self.audience_labels = [f"topic-{k}" for k in range(1, len(self.topics) + 1)]
        # the topic each group reads: its own with several topics, else the one topic
        read = self.topics if len(self.topics) > 1 else [topic] * len(self.groups)
        self.read_topic = dict(zip(self.groups, read, strict=True))
        # the consumers' own commits, recorded (a transforming processor commits inside its transactions)
        self.commits = client.commit in ("after_processing", "before_processing") and not client.transform
        config = dict(settings.topic_config or {})
        if "retention.bytes" in config:  # the partition's size cap, judged by the sizes acknowledgements record
            self.retention_bytes = int(config["retention.bytes"])
        self.compacted = "compact" in config.get("cleanup.policy", "").split(",")
        for each in self.topics:
            cluster.create_topic(each, settings.partitions, settings.replication, **config)
        cluster.create_topic(self.dlq, 1, min(settings.replication, 3))
        self.output = f"{topic}.out"
        if client.transform:
            cluster.create_topic(self.output, settings.partitions, settings.replication, **config)
        self._dlq_producers: dict[str, Producer] = {}  # per consumer process (each in its own thread)
        self._consumer_errors: set[tuple[str, int, int | None]] = set()  # (process, code, partition) logged

    @property
    def fault_subject(self) -> str:
        return f"{self.topic}-0"

    def command_env(self) -> dict[str, str]:
        """Where a command consumer connects (``BROKERCHAOS_*``): the proxied bootstrap, the topic, the group,
        and the profile's consumer settings the program should honour (the dead-letter topic is created)."""
        c = self.client
        env = {"broker": "kafka", "bootstrap": self.cluster.bootstrap, "topic": self.topic, "group": self.group}
        env |= {"isolation_level": c.isolation_level, "auto_offset_reset": c.auto_offset_reset}
        env |= {
            "session_timeout_ms": str(c.session_timeout_ms),
            "heartbeat_interval_ms": str(c.heartbeat_interval_ms),
            "partition_assignment_strategy": c.partition_assignment_strategy,
        }
        if c.static_membership:  # the program joins as group.instance.id = <GROUP>-<PROCESS>
            env["static_membership"] = "true"
        if c.dead_letter_topic:
            env |= {"dead_letter_topic": self.dlq, "max_retries": str(c.max_retries)}
        return env

    # producing -------------------------------------------------------------------------------------
    def _producer(self, process: str, fatal: threading.Event | None = None) -> Producer:
        """``fatal`` is set when the producer reaches a fatal state (it must then be replaced)."""
        c = self.client

        def on_error(err: KafkaError) -> None:
            if err.fatal() and fatal is not None:
                log.warning("%s: fatal producer error: %s", process, err.str()[:200])
                fatal.set()

        config: dict[str, Any] = self.cluster.client_config(
            error_cb=on_error,
            acks=c.acks,
            **{
                "enable.idempotence": c.idempotence,
                "retries": c.retries,
                "request.timeout.ms": c.request_timeout_ms,
                "message.timeout.ms": c.delivery_timeout_ms,
                "max.in.flight.requests.per.connection": c.max_in_flight,
                "linger.ms": 5,
            },
        )
        if c.transactional:
            config["transactional.id"] = f"{self.group}-{process}"
        elif c.idempotence:  # its producer ids and epochs, recorded
            config |= {"debug": "eos", "logger": ProducerIdLog(self.history, process)}
        producer = Producer(config)
        if c.transactional:
            producer.init_transactions(30)
        return producer

    def produce(self, index: int) -> None:
        process = f"producer-{index + 1}"
        if self.client.transactional:
            self._produce_transactions(process)
            return
        fatal = threading.Event()
        producer = self._producer(process, fatal)
        reports: deque[tuple[dict[str, Any], KafkaError | None, Any]] = deque()
        seq = 0
        while self.producing and not self.out_of_budget(seq):
            value = self._message(process, seq)
            seq += 1
            self.history.record(process, INVOKE, "send", value)
            try:
                producer.produce(
                    self.topic,
                    key=value["key"],
                    value=json.dumps(value),
                    on_delivery=functools.partial(_collect, reports, value),
                )
            except (BufferError, KafkaException) as exc:
                self.history.record(process, FAIL, "send", value, error=repr(exc)[:200])
            served = _serve(producer, process, 0)
            self._record_reports(process, reports, fatal)
            if not served or fatal.is_set():
                _serve(producer, process, 10)
                self._record_reports(process, reports, fatal)
                producer = self._producer(process, fatal)  # a fatal error poisons the producer instance
                fatal.clear()
            self.pace(seq)
        _serve(producer, process, self.client.delivery_timeout_ms / 1000 + 5)
        self._record_reports(process, reports, fatal)

    def _message(self, process: str, seq: int, txn: str | None = None) -> dict[str, Any]:
        kind = self.message_kind(seq)
        value = {"id": f"{process}-{seq}", "key": f"k{seq % 16}", "producer": process, "seq": seq, "kind": kind}
        value["group"] = value["key"]
        if txn:
            value["txn"] = txn
        return value

    def _record_reports(
        self, process: str, reports: deque[tuple[dict[str, Any], KafkaError | None, Any]], fatal: threading.Event
    ) -> None:
        """Delivery reports into the history, outside the delivery callback: confluent-kafka may run the
        callbacks with a fatal error pending as a Python exception, and the first C call there fails
        with it — a lock taken that way (the history's) is never released. So the callback only
        appends; what it could not append stays an open invoke (indeterminate)."""
        while reports:
            value, err, msg = reports.popleft()
            if err is None:
                self.history.record(process, OK, "send", {**value, **_placed(msg)})
                self.sent_ok += 1
                continue
            if err.fatal():
                fatal.set()
            self.history.record(process, classify(err), "send", value, error=err.str()[:200])

    def _produce_transactions(self, process: str) -> None:
        """Small transactions; one holding a poison message is aborted (its records are definite fails).
        A committed transaction's sends are recorded with the positions their delivery reports gave."""
        producer = self._producer(process)
        session = uuid.uuid4().hex[:4]  # a label names one transaction, even if this process starts again
        seq = 0
        while self.producing and not self.out_of_budget(seq):
            txn = f"{process}-{session}-t{seq // TXN_SIZE}"
            batch = [self._message(process, seq + i, txn) for i in range(TXN_SIZE)]
            batch += [self._copy(m, k) for k in range(2, len(self.topics) + 1) for m in batch]
            seq += TXN_SIZE
            ids = [m["id"] for m in batch]
            self.history.record(process, INVOKE, "txn", {"txn": txn, "inputs": ids})
            for m in batch:
                self.history.record(process, INVOKE, "send", m)
            reports: deque[tuple[dict[str, Any], KafkaError | None, Any]] = deque()
            try:
                producer.begin_transaction()
                for m in batch:
                    report = functools.partial(_collect, reports, m)
                    topic = self.topics[m.get("topic", 1) - 1]
                    producer.produce(topic, key=m["key"], value=json.dumps(m), on_delivery=report)
                producer.flush(30)
                if any(m["kind"] == "poison" for m in batch):
                    producer.abort_transaction(30)
                    outcome = FAIL
                else:
                    producer.commit_transaction(30)
                    outcome = OK
                    self.sent_ok += len(batch)
            except KafkaException as exc:
                error = exc.args[0]
                outcome = INFO
                if error.txn_requires_abort():
                    try:
                        producer.abort_transaction(30)
                        outcome = FAIL
                    except KafkaException:
                        outcome = INFO
                elif error.fatal():
                    producer = self._producer(process)
            self.history.record(process, outcome, "txn", {"txn": txn, "inputs": ids})
            placed = {value["id"]: _placed(msg) for value, err, msg in reports if err is None}
            for m in batch:
                at = placed.get(m["id"]) if outcome == OK else None
                self.history.record(process, outcome, "send", m if at is None else {**m, **at})
            self.pace(seq)

    @staticmethod
    def _copy(value: dict[str, Any], k: int) -> dict[str, Any]:
        """The record one transaction writes to its ``k``-th topic for ``value`` (an order's inventory
        entry): a message of its own, ``<id>@t<k>``, sent and read like any other."""
        return {**value, "id": f"{value['id']}@t{k}", "topic": k}

    def routes(self, value: dict[str, Any]) -> list[str] | None:
        """The audience a send is meant for: the readers of the topic it was written to (None: one topic)."""
        if len(self.topics) == 1:
            return None
        return [f"topic-{value.get('topic', 1)}"]

    def audience_of(self, process: str) -> str | None:
        """Consumers as the base names them; the final log read of topic K is ``auditor-tK``'s."""
        if len(self.topics) > 1 and process.startswith("auditor"):
            return self.audience_label(int(process.rpartition("-t")[2]) if "-t" in process else 1)
        return super().audience_of(process)

    # consuming -------------------------------------------------------------------------------------
    def _consumer(self, process: str, group: str) -> Consumer:
        return Consumer(self.cluster.client_config(**self._consumer_config(process, group)))

    def _consumer_config(self, process: str, group: str) -> dict[str, Any]:
        """The group member's configuration, as librdkafka names it (static members are named by process)."""
        c = self.client
        config: dict[str, Any] = {
            "group.id": group,
            "enable.auto.commit": c.commit == "auto",
            "auto.commit.interval.ms": c.auto_commit_interval_ms,
            "auto.offset.reset": c.auto_offset_reset,
            "isolation.level": c.isolation_level,
            "session.timeout.ms": c.session_timeout_ms,
            "heartbeat.interval.ms": c.heartbeat_interval_ms,
            "max.poll.interval.ms": c.max_poll_interval_ms,
            "partition.assignment.strategy": c.partition_assignment_strategy,
        }
        if c.static_membership:
            config["group.instance.id"] = f"{group}-{process}"
        return config

    def start(self) -> None:
        super().start()
        if self.client.transform:
            self._spawn("output-reader", self._read_output, 0)

    def consume(self, index: int) -> None:
        if self.client.transform:
            self._transform(index)
            return
        self.consume_in(f"consumer-{index + 1}", self.group)

    def consume_in(self, process: str, group: str) -> None:
        """Read, process and commit as one member of ``group``. The first group is the one the client
        faults work on (crashes, pauses, stalls, scaling); another group's members only read alongside it."""
        worked = group == self.group
        consumer = self._consumer(process, group)
        self._subscribe(consumer, process, self.read_topic[group])
        held = False
        try:
            while self.consuming_as(process):
                if worked:
                    held = self._follow_pause(consumer, process, held)
                try:
                    batch = consumer.consume(num_messages=100, timeout=0.2)
                except KafkaException as exc:
                    if exc.args[0].fatal():
                        consumer = self._replace(consumer, process, group, exc.args[0])
                    time.sleep(0.1)
                    continue
                good, fatal = self._without_errors(process, batch)
                if fatal is not None:
                    consumer = self._replace(consumer, process, group, fatal)
                    continue
                if good and self.client.commit == "before_processing":
                    self._commit(consumer, process)
                try:
                    for msg in good:
                        value = json.loads(msg.value())  # ours always carry one
                        value.update(partition=msg.partition(), offset=msg.offset(), source=value["id"])
                        value["record"] = f"{msg.partition()}:{msg.offset()}"
                        if msg.topic() != self.topic:  # one transaction's records in two topics: kept apart
                            value["record"] = f"{msg.topic()}/{value['record']}"
                        self.history.record(process, OK, "receive", value)
                        self.count_received(process)
                        if worked and self.should_crash(process):
                            return  # close() below; with auto-commit it commits what was consumed
                        self._process(process, value)
                        if worked:
                            self.hold_while_stalled(process)  # (the stall-consumer fault: a zombie after it)
                except KafkaException:
                    # Not committed: rewind to the last commit so the batch is consumed again.
                    self._rewind(consumer, process)
                    continue
                if good and self.client.commit == "after_processing":
                    self._commit(consumer, process)
        finally:
            consumer.close()

    def _follow_pause(self, consumer: Consumer, process: str, held: bool) -> bool:
        """Pause the member's partitions while the workload is paused (again each turn: a rebalance may hand
        it new ones), resume them after; returns whether it holds now. The member goes on polling, so it
        stays in its group; librdkafka fetches nothing for a paused partition and, on resume, fetches on
        from the last record the application was given."""
        if self.paused:
            with contextlib.suppress(KafkaException, RuntimeError):
                consumer.pause(consumer.assignment())
                if not held:
                    self.holds(process, True)
                return True
            return held
        if held:
            with contextlib.suppress(KafkaException, RuntimeError):
                consumer.resume(consumer.assignment())
            self.holds(process, False)
        return False

    def _replace(self, consumer: Consumer, process: str, group: str, error: KafkaError) -> Consumer:
        """A fatal consumer error (a static member fenced by its own instance id, after its coordinator
        moved: confluent-kafka-go#494) ends that consumer for good; an application must create another,
        and so does this one. The new member starts a new read session (its assignment is recorded)."""
        log.warning("%s: fatal consumer error, replaced by a new consumer: %s", process, error.str()[:200])
        with contextlib.suppress(KafkaException, RuntimeError):
            consumer.close()
        replacement = self._consumer(process, group)
        self._subscribe(replacement, process, self.read_topic[group])
        return replacement

    def _without_errors(self, process: str, batch: list[Any]) -> tuple[list[Any], KafkaError | None]:
        """The batch's records, and the fatal error it carried if any. The errors it carried instead of
        records (a log truncation detected, an offset out of range, a fencing...) are logged once per
        process, error and partition: what a consumer that stops reading a partition was told."""
        good, fatal = [], None
        for msg in batch:
            err = msg.error()
            if err is None:
                good.append(msg)
                continue
            if err.fatal():
                fatal = err
            key = (process, err.code(), msg.partition())
            if key not in self._consumer_errors:
                self._consumer_errors.add(key)
                log.warning("%s: consumer error on partition %s: %s", process, msg.partition(), err.str()[:200])
        return good, fatal

    # consume-transform-produce ---------------------------------------------------------------------
    def _processor_producer(self, process: str) -> Producer:
        """A transactional producer per processor; a short transaction timeout so that the open
        transaction of a crashed processor is aborted by the broker before the drain gives up on it."""
        config = self.cluster.client_config(
            acks="all",
            **{
                "enable.idempotence": True,
                "transactional.id": f"{self.group}-{process}-{uuid.uuid4().hex[:4]}",
                "transaction.timeout.ms": 10000,
                "message.timeout.ms": 10000,
                "linger.ms": 5,
            },
        )
        producer = Producer(config)
        producer.init_transactions(30)
        return producer

    def _transform(self, index: int) -> None:
        """Read inputs and, in one transaction, write one output record per input to ``<topic>.out`` and
        the consumed offsets (``send_offsets_to_transaction``): an input's output becomes visible exactly
        when its offset is committed. A failed transaction is aborted and the inputs are read again."""
        process = f"consumer-{index + 1}"
        consumer = self._consumer(process, self.group)
        self._subscribe(consumer, process)
        producer = self._processor_producer(process)
        session = uuid.uuid4().hex[:4]  # a restarted processor counts from 1 again: keep its labels apart
        count = 0
        held = False
        try:
            while self.consuming_as(process):
                held = self._follow_pause(consumer, process, held)
                batch = _poll(consumer, 100)
                if not batch:
                    continue
                inputs = [self._input(process, msg) for msg in batch]
                if self.should_crash(process):
                    return  # the open transaction dies with us; the broker aborts it on timeout
                count += 1
                txn = f"{process}-{session}-x{count}"
                outcome, producer = self._transform_batch(process, consumer, producer, txn, inputs)
                if outcome == OK:
                    for value in inputs:
                        self.history.record(process, OK, "process", value)
                else:
                    self._rewind(consumer, process)
        finally:
            consumer.close()

    def _input(self, process: str, msg: Any) -> dict[str, Any]:
        value = json.loads(msg.value())
        value.update(partition=msg.partition(), offset=msg.offset())
        self.history.record(process, OK, "consume", value)
        self.count_received(process)
        return value

    def _transform_batch(
        self, process: str, consumer: Consumer, producer: Producer, txn: str, inputs: list[dict[str, Any]]
    ) -> tuple[str, Producer]:
        ids = [v["id"] for v in inputs]
        self.history.record(process, INVOKE, "txn", {"txn": txn, "inputs": ids})
        try:
            producer.begin_transaction()
            for value in inputs:
                out = {**value, "txn": txn, "source_txn": value.get("txn")}
                producer.produce(self.output, key=value["key"], value=json.dumps(out))
            positions = consumer.position(consumer.assignment())
            producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
            outcome = OK
        except KafkaException as exc:
            error = exc.args[0]
            outcome = INFO
            if error.txn_requires_abort():
                with contextlib.suppress(KafkaException):
                    producer.abort_transaction(30)
                    outcome = FAIL
            if outcome == INFO or error.fatal():
                producer = self._processor_producer(process)  # fenced or unknown state: start afresh
        self.history.record(process, outcome, "txn", {"txn": txn, "inputs": ids})
        return outcome, producer

    def _read_output(self, _index: int) -> None:
        """The pipeline's downstream reader (the profile's isolation level): every output record it sees."""
        reader = Consumer(
            self.cluster.client_config(
                **{
                    "group.id": f"{self.group}-out",
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "isolation.level": self.client.isolation_level,
                }
            )
        )
        reader.subscribe([self.output])
        try:
            while self.consuming:
                msgs = _poll(reader, 500)
                for msg in msgs:
                    value = json.loads(msg.value())
                    value.update(record=f"{msg.partition()}:{msg.offset()}", source=value["id"])
                    self.history.record("output-reader", OK, "receive", value)
                if msgs:
                    with contextlib.suppress(KafkaException):
                        reader.commit(asynchronous=False)
        finally:
            reader.close()

    def _subscribe(self, consumer: Consumer, process: str, topic: str | None = None) -> None:
        """Subscribe to the topic, recording each change of assignment (``assign``, ``revoke``): between two,
        the consumer's offsets per partition only go up (the checker's read sessions)."""

        def recorder(f: str) -> Any:
            def record(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
                self.history.record(process, OK, f, {"partitions": sorted(tp.partition for tp in partitions)})

            return record

        consumer.subscribe(
            [topic or self.topic],
            on_assign=recorder("assign"),
            on_revoke=recorder("revoke"),
            on_lost=recorder("revoke"),
        )

    def _rewind(self, consumer: Consumer, process: str) -> None:
        """Back to the last committed offsets (a ``seek``, recorded: the reads go back on purpose)."""
        with contextlib.suppress(KafkaException):
            for tp in consumer.committed(consumer.assignment(), timeout=10):
                if tp.offset >= 0:
                    self.history.record(process, OK, "seek", {"partition": tp.partition, "to": tp.offset})
                    consumer.seek(tp)

    def _commit(self, consumer: Consumer, process: str) -> None:
        """Commit the positions of everything consumed so far (one synchronous commit per batch), and
        record what the coordinator accepted (``commit``: the checker holds later assignments to it).

        A rebalance or a fault may refuse it: the batch is then redelivered (at-least-once)."""
        try:
            committed = consumer.commit(asynchronous=False) or []
        except KafkaException:
            return
        offsets = [[tp.partition, tp.offset] for tp in committed if tp.error is None and tp.offset >= 0]
        if offsets:
            self.history.record(process, OK, "commit", {"offsets": offsets})

    def _process(self, process: str, value: dict[str, Any]) -> None:
        """The handler: poison fails every attempt; after ``max_retries`` it goes to the dead-letter topic."""
        if value.get("kind") != "poison":
            self.processing_pause()
            self.history.record(process, OK, "process", value)
            return
        if not self.client.dead_letter_topic:
            return
        for attempt in range(1, self.client.max_retries + 1):
            time.sleep(self.client.retry_backoff_ms / 1000 * attempt)
            if attempt == self.client.max_retries:
                self._dead_letter(process, value, attempt)

    def _dead_letter_producer(self, process: str) -> Producer:
        """One idempotent producer per consumer for its dead-letter writes (a new one per poison message
        cost a producer id round trip each: consumers fell behind the profile's rate)."""
        producer = self._dlq_producers.get(process)
        if producer is None:
            config = {"enable.idempotence": True, "message.timeout.ms": 10000, "linger.ms": 0}
            producer = Producer(self.cluster.client_config(acks="all", **config))
            self._dlq_producers[process] = producer
        return producer

    def _dead_letter(self, process: str, value: dict[str, Any], attempts: int) -> None:
        """Write to the dead-letter topic and wait for its acknowledgement before the offset is committed:
        a poison message must not be skipped because the dead-letter write was lost in a fault."""
        producer = self._dead_letter_producer(process)
        headers: list[tuple[str, str | bytes | None]] = [
            ("reason", b"handler_failed"),
            ("delivery_count", str(attempts).encode()),
        ]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            outcome: list[KafkaError | None] = []
            producer.produce(
                self.dlq,
                key=value["id"],
                value=json.dumps(value),
                headers=headers,
                on_delivery=functools.partial(_collect_error, outcome),
            )
            producer.flush(15)
            if outcome and outcome[0] is None:
                return
            if outcome and outcome[0] is not None and outcome[0].fatal():  # a fenced instance stays fenced
                self._dlq_producers.pop(process, None)
                producer = self._dead_letter_producer(process)
            time.sleep(0.2)
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "dead-letter write not acknowledged"))

    def backlog(self) -> int | None:
        """Consumer-group lag (high watermark minus committed offset, over all partitions and every group); with a
        transform pipeline, plus the output reader's lag."""
        lags = [self._lag(group, self.read_topic[group]) for group in self.groups]
        lag = None if None in lags else sum(lag for lag in lags if lag is not None)
        if not self.client.transform or lag is None:
            return lag
        out = self._lag(f"{self.group}-out", self.output)
        return None if out is None else lag + out

    def _lag(self, group: str, topic: str) -> int | None:
        probe = Consumer(self.cluster.client_config(**{"group.id": group, "enable.auto.commit": False}))
        try:
            meta = probe.list_topics(topic, timeout=5)
            parts = [TopicPartition(topic, p) for p in meta.topics[topic].partitions]
            committed = probe.committed(parts, timeout=5)
            lag = 0
            for tp in committed:
                low, high = probe.get_watermark_offsets(tp, timeout=5)
                position = tp.offset if tp.offset >= 0 else low
                lag += max(0, high - position)
            return lag
        except (KafkaException, KeyError):
            return None
        finally:
            probe.close()

    settling_metrics = ("under_replicated", "offline_partitions")

    def observe(self) -> dict[str, float | None]:
        """Under-replicated partitions of the topic (ISR smaller than the replica set), partitions with no
        leader, and the consumer group's lag — the broker-side signals the seed says to monitor."""
        metrics: dict[str, float | None] = {"under_replicated": None, "offline_partitions": None}
        probe = Consumer(self.cluster.client_config(**{"group.id": f"{self.group}-observer"}))
        try:
            partitions = probe.list_topics(self.topic, timeout=3).topics[self.topic].partitions.values()
            metrics["under_replicated"] = sum(1 for p in partitions if len(p.isrs) < len(p.replicas))
            metrics["offline_partitions"] = sum(1 for p in partitions if p.leader < 0)
        except (KafkaException, KeyError):
            pass
        finally:
            probe.close()
        lags = [self._lag(group, self.read_topic[group]) for group in self.groups]  # every group's, summed
        metrics["consumer_lag"] = None if None in lags else sum(lag for lag in lags if lag is not None)
        return metrics

    def observe_after_drain(self) -> None:
        self._read_dead_letters()
        self._audit_log()

    def _audit_log(self, timeout: float = 30.0) -> None:
        """Each topic's final log read (see :meth:`_audit_topic`)."""
        for k, topic in enumerate(self.topics, start=1):
            self._audit_topic(topic, "auditor" if k == 1 else f"auditor-t{k}", timeout)

    def _audit_topic(self, topic: str, process: str, timeout: float) -> None:
        """Read the whole ``topic`` once more, from the start, with a fresh reader: what the log still holds.

        Consumers may have read a write before the log lost it (a truncation after an unclean election);
        the delivery checker compares acknowledged writes with this read. Recorded as one ``audit`` op:
        ``ok`` with the ids found once every partition was read to its end, ``info`` when it could not be."""
        self.history.record(process, INVOKE, "audit")
        records: list[tuple[int, int, str]] = []  # (partition, offset, id): what each position holds
        starts: list[list[int]] = []  # [partition, log start offset] once read: what retention deleted

        def keep(msg: Any) -> None:
            records.append((msg.partition(), msg.offset(), json.loads(msg.value())["id"]))

        try:
            # read_uncommitted: the question is what the log holds (aborted sends are failures anyway), and
            # the reader's position then moves past transaction markers to the high watermark.
            self._read_to_end(topic, keep, timeout, starts)
        except (KafkaException, KeyError) as exc:
            self.history.record(process, INFO, "audit", {"read": len(records)}, error=str(exc)[:200])
            return
        value = {"ids": [r[2] for r in records], "records": records, "starts": starts}
        self.history.record(process, OK, "audit", value)

    def _read_dead_letters(self, timeout: float = 20.0) -> None:
        """Read the dead-letter topic to its end: one ``dead_letter`` op per record, then
        ``dead_letter_read`` (``ok`` once read to its end, ``info`` when it could not be)."""

        def record(msg: Any) -> None:
            headers = {k: v.decode() for k, v in (msg.headers() or [])}
            value = {"id": msg.key().decode(), "reason": headers.get("reason")}
            value["delivery_count"] = int(headers.get("delivery_count", 0))
            self.history.record(DEAD_LETTER_READER, OK, "dead_letter", value)

        try:
            self._read_to_end(self.dlq, record, timeout)
        except (KafkaException, KeyError) as exc:
            self.history.record(DEAD_LETTER_READER, INFO, "dead_letter_read", error=str(exc)[:200])
            return
        self.history.record(DEAD_LETTER_READER, OK, "dead_letter_read")

    def _read_to_end(self, topic: str, each: Any, timeout: float, starts: list[list[int]] | None = None) -> None:
        """Every record of ``topic`` from its start to the high watermarks it had when the read began,
        with a fresh reader (read_uncommitted); raises KafkaException when that takes over ``timeout``.
        ``starts`` gets each partition's log start offset as it is once the read is done."""
        settings: dict[str, Any] = {"group.id": f"bc-read-{uuid.uuid4().hex[:6]}"}
        settings["isolation.level"] = "read_uncommitted"
        # A retention that deletes records while they are read moves the log's start past the reader: it
        # goes on from the new start (what the log still holds), never to the end.
        settings |= {"enable.auto.commit": False, "auto.offset.reset": "earliest"}
        # A broker answers one connection's requests in order, and a fetch at a partition's end waits
        # fetch.wait.max.ms (500 ms by default) for records that will not come: the read's last polls and
        # each log-start query below queued behind such fetches — 2.6 s to read 6000 records on three
        # partitions, 0.2 s with 10 ms.
        settings["fetch.wait.max.ms"] = 10
        reader = Consumer(self.cluster.client_config(**settings))
        try:
            found = reader.list_topics(topic, timeout=10).topics[topic].partitions
            parts = [TopicPartition(topic, p) for p in found]
            ends = {tp.partition: reader.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
            reader.assign([TopicPartition(topic, tp.partition, OFFSET_BEGINNING) for tp in parts])
            left = [tp for tp in parts if ends[tp.partition] > 0]
            deadline = time.monotonic() + timeout
            while left and time.monotonic() < deadline:
                for msg in _poll(reader, 1000):
                    each(msg)
                left = [tp for tp in reader.position(left) if not _read_to(reader, tp, ends[tp.partition])]
            if left:
                partitions = [tp.partition for tp in left]
                raise KafkaException(f"{topic} partitions {partitions} not read to their end in {timeout:.0f} s")
            if starts is not None:
                for tp in parts:
                    starts.append([tp.partition, reader.get_watermark_offsets(tp, timeout=10, cached=False)[0]])
        finally:
            reader.close()


def _read_to(reader: Consumer, position: TopicPartition, end: int) -> bool:
    """Whether ``reader`` has read its partition up to ``end``: its position reached it, or, with nothing
    read yet, the log's start did (retention deleted every record below it: nothing is left to read)."""
    if position.offset >= 0:
        return bool(position.offset >= end)
    start = reader.get_watermark_offsets(position, timeout=5, cached=False)[0]
    return bool(start >= end)


def _placed(msg: Any) -> dict[str, int]:
    """Where a delivery report says the record went, and its size (key and value bytes: what a size cap,
    retention.bytes, counts, less the record's framing)."""
    size = len(msg.key() or b"") + len(msg.value() or b"")
    return {"partition": msg.partition(), "offset": msg.offset(), "bytes": size}


def _collect(
    into: MutableSequence[tuple[dict[str, Any], KafkaError | None, Any]], value: dict[str, Any], err: Any, msg: Any
) -> None:
    """A delivery report, kept with the value it reports on."""
    into.append((value, err, msg))


def _collect_error(into: MutableSequence[KafkaError | None], err: Any, msg: Any) -> None:
    into.append(err)


def _poll(consumer: Consumer, count: int) -> list[Any]:
    """Up to ``count`` messages (errors dropped); nothing, after a short pause, when the poll failed."""
    try:
        return [m for m in consumer.consume(num_messages=count, timeout=0.2) if not m.error()]
    except KafkaException:
        time.sleep(0.1)
        return []
