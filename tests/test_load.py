"""The load test's own accounting, on a small real run through Kafka, the stream, the online store and the API."""

from __future__ import annotations

import math
import os

import pytest

from readiness_platform.load import run_load

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.services]


def test_a_small_load_through_kafka_loses_nothing_and_is_measured(settings, spark):  # noqa: ARG001 - shared session
    # as the load runs by default: Kafka, and Feast's Redis online store (the production Feast environment)
    settings = settings.model_copy(update={
        "stream_source": "kafka", "kafka_topic_prefix": f"load-{settings.home.name}", "feast_env": "production",
        "redis_url": settings.redis_url.rsplit("/", 1)[0] + "/15"})
    result = run_load(settings, pitchers=5, rate=20.0, duration_s=12.0, warmup_s=0.0)
    assert result.online_store == "redis"
    # 240 events planned, every pitch among them sent once at least undamaged: all in bronze, once
    assert result.pitches_sent > 200 and result.pitches_in_bronze == result.pitches_sent
    assert (result.lost, result.doubled, result.served_mismatches) == (0, 0, 0)
    assert 0 < result.api_latency_p50_s <= result.api_latency_p99_s <= result.api_latency_max_s
    assert not math.isnan(result.api_latency_p99_s) and 1.5 < result.feed_delay_p50_s < 6.0  # the 2-5 s lag model
    # where the latency goes: three parts, each pitch's summing to its latency
    assert all(not math.isnan(v) for part in (result.waiting_s, result.micro_batch_s, result.fan_out_s) for v in part)
    assert 0 <= result.waiting_s[0] <= result.waiting_s[1] and 0 < result.micro_batch_s[0] <= result.micro_batch_s[1]
    assert result.api_latency_p50_s > result.micro_batch_s[0]  # no pitch is counted before its micro-batch
    assert 0 < result.fan_out_s[0] <= result.fan_out_s[1] < result.api_latency_max_s
    # the CPU over the load: the stream's processes are part of what the machine had busy
    assert result.machine_cores == os.cpu_count()
    assert 0 < result.stream_cores < result.machine_busy_cores + 0.05 <= result.machine_cores + 0.1
