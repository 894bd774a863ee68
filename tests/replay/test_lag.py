from __future__ import annotations

import json
import math
from collections import Counter
from datetime import timedelta

import pytest
from pydantic import ValidationError

from readiness_platform.domain.events import FEED_EVENT
from readiness_platform.replay import replay_plan
from readiness_platform.replay.lag import CORRUPTIONS, LagModel
from readiness_platform.replay.player import stamp_ingest_time
from tests.conftest import GAME_DAY


@pytest.fixture(scope="module")
def plan():
    return replay_plan([GAME_DAY], LagModel(seed=11))


def within_binomial(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


def test_same_seed_same_bytes_in_the_same_order(plan):
    again = replay_plan([GAME_DAY], LagModel(seed=11))
    assert [d.payload for d in again] == [d.payload for d in plan]
    other = replay_plan([GAME_DAY], LagModel(seed=12))
    assert [d.payload for d in other] != [d.payload for d in plan]


def test_every_pitch_is_delivered_cleanly_at_least_once(plan):
    clean_pitch_keys = {d.key for d in plan if d.kind == "pitch" and d.corruption is None}
    assert len(clean_pitch_keys) == 2507


def test_on_time_deliveries_arrive_two_to_five_seconds_after_the_pitch(plan):
    delays = [(d.deliver_at - d.event_time).total_seconds() for d in plan
              if not (d.late or d.duplicate or d.corruption)]
    lag = LagModel()
    slack = 5 * lag.jitter_s
    assert min(delays) >= lag.min_delay_s - slack and max(delays) <= lag.max_delay_s + slack
    mean = sum(delays) / len(delays)
    assert 3.3 <= mean <= 3.7  # uniform 2-5 s plus zero-mean jitter


def test_deliveries_overtake_each_other(plan):
    clean = [d for d in plan if not d.corruption and d.kind == "pitch"]
    out_of_order = sum(1 for a, b in zip(clean, clean[1:]) if b.event_time < a.event_time)
    assert out_of_order > 50


def test_fault_rates_match_the_model(plan):
    lag = LagModel()
    n = len({(d.kind, d.key) for d in plan})
    counts = Counter()
    for d in plan:
        counts["late"] += d.late
        counts["duplicate"] += d.duplicate
        counts["malformed"] += d.corruption is not None
    assert within_binomial(counts["late"], n, lag.late_rate)
    assert within_binomial(counts["duplicate"], n - counts["late"], lag.duplicate_rate)
    assert within_binomial(counts["malformed"], n - counts["late"], lag.malformed_rate)
    assert {d.corruption for d in plan if d.corruption} == set(CORRUPTIONS)


def test_late_messages_come_after_newer_events_beyond_the_watermark(plan):
    lag = LagModel()
    horizon = timedelta(seconds=lag.watermark_delay_s)
    newest = None
    for d in plan:
        if d.late:
            assert newest is not None and newest - d.event_time > horizon
        elif not d.corruption:
            newest = d.event_time if newest is None else max(newest, d.event_time)


def test_every_damaged_message_breaks_the_contract_and_every_clean_one_keeps_it(plan):
    for d in plan:
        line = stamp_ingest_time(d.payload, d.deliver_at)
        if d.corruption:
            with pytest.raises(ValidationError):
                FEED_EVENT.validate_json(line)
        else:
            event = FEED_EVENT.validate_json(line)
            assert event.ingest_time is not None and event.kind == d.kind


def test_environment_and_calibration_are_interleaved(plan):
    kinds = Counter(d.kind for d in plan if not d.corruption and not d.duplicate)
    assert kinds["calibration"] == 8  # one pre-game calibration per park that day
    assert kinds["environment"] > 1000
    first = {}
    for d in plan:
        first.setdefault(d.kind, d.deliver_at)
    assert first["calibration"] < first["pitch"]


@pytest.mark.parametrize("bad", [dict(min_delay_s=6.0), dict(late_rate=1.5)])
def test_impossible_lag_settings_are_refused(bad):
    with pytest.raises(ValueError):
        LagModel(**bad)


def test_ingest_time_is_stamped_only_into_json_objects():
    stamped = stamp_ingest_time('{"a":1}', __import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").timezone.utc))
    assert json.loads(stamped)["ingest_time"] == "2026-01-01T00:00:00.000Z"
    assert stamp_ingest_time('{"a":', None) == '{"a":'  # type: ignore[arg-type]


def test_the_whole_corpus_replayed_keeps_the_event_time_rules():
    """Every message of a replay of all 13,691 real pitches, stamped with either clock the feed can have
    (the wall clock, as `play` does, or its delivery time on the event-time clock, the tightest for the
    ingest_time rule): each clean one passes the contract, each damaged one is refused."""
    from datetime import datetime, timezone

    from readiness_platform.replay.statcast import statcast_files
    from tests.conftest import STATCAST_DIR

    plan = replay_plan(statcast_files(STATCAST_DIR), LagModel(seed=7))
    now = datetime.now(timezone.utc)
    pitches, next_utc_day = set(), 0
    for d in plan:
        for clock in (now, d.deliver_at):
            line = stamp_ingest_time(d.payload, clock)
            if d.corruption:
                with pytest.raises(ValidationError):
                    FEED_EVENT.validate_json(line)
                continue
            event = FEED_EVENT.validate_json(line)
            if event.kind == "pitch" and clock is now:
                pitches.add(event.key)
                next_utc_day += event.event_time.date() > event.game_date
    assert len(pitches) == 13691
    assert next_utc_day > 1000  # night games in the Americas end after midnight UTC: inside their game's day
