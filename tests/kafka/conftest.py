"""Fixtures of the Kafka tests: the project's broker (scripts/services.sh), topics of each test's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from readiness_platform.kafka import delete_topics
from readiness_platform.settings import Settings
from tests.kafka.kafka_helpers import OwnBroker


@pytest.fixture
def kafka_settings(settings: Settings) -> Iterator[Settings]:
    """The test's settings on the Kafka source, with topics no other test uses (deleted afterwards).
    Online publication is off: the online store is not what these tests are about."""
    own = settings.model_copy(update={
        "stream_source": "kafka",
        "kafka_topic_prefix": f"test.{uuid.uuid4().hex[:10]}",
        "publish_online": False,
    })
    yield own
    delete_topics(own)


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    """A broker of the test's own (scripts/services.sh on free ports), stopped at the end."""
    broker = OwnBroker(tmp_path_factory.mktemp("kafka"))
    broker.start()
    yield broker
    broker.stop()
