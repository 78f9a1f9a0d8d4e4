"""Bad broker settings: a clear error naming the key, or the node and the last lines of its log — and
nothing left running."""

from __future__ import annotations

import re

import pytest

from chaos.brokers.kafka.cluster import KafkaCluster
from chaos.brokers.rabbitmq.cluster import RabbitMQCluster
from chaos.cluster import Platform
from chaos.errors import ClusterNotReadyError, UsageError
from tests.integration.helpers import leftovers, own_run


def _nothing_left(platform: Platform) -> None:
    assert leftovers(platform, platform.run.run_id) == ([], [])


def test_an_unknown_kafka_server_property_is_named(platform: Platform) -> None:
    mine = own_run(platform)
    expected = re.escape("unknown Kafka 4.1.1 server.properties key 'no.such.setting'")
    with pytest.raises(UsageError, match=expected):
        KafkaCluster(mine, server_properties={"no.such.setting": "1"}).start()
    _nothing_left(mine)
    # Once this version's keys are known (cached), the check happens before anything starts.
    with pytest.raises(UsageError, match=expected):
        KafkaCluster(mine, server_properties={"no.such.setting": "1"})


def test_a_kafka_node_that_cannot_start_is_named_with_its_log(platform: Platform) -> None:
    mine = own_run(platform)
    with pytest.raises(ClusterNotReadyError) as caught:
        KafkaCluster(mine, server_properties={"num.network.threads": "lots"}, ready_timeout=60).start()
    message = str(caught.value)
    assert "node kafka-" in message and "last lines of kafka-" in message
    assert "num.network.threads" in message  # Kafka's own complaint, quoted from the log
    _nothing_left(mine)


def test_a_rabbitmq_node_that_rejects_its_config_is_named_with_its_log(platform: Platform) -> None:
    mine = own_run(platform)
    with pytest.raises(ClusterNotReadyError) as caught:
        RabbitMQCluster(mine, extra_config={"no_such_setting": "1"}, ready_timeout=60).start()
    message = str(caught.value)
    assert "node rabbitmq-" in message and "no_such_setting" in message
    _nothing_left(mine)
