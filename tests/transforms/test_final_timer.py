"""When the pitchers' state wakes a quiet pitcher to finalize his pitches, and where his group keeps its one
event-time timer: hand-worked cases."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from pyspark.sql import Row

from benchmarks.state_bench import TimerValues as Clock, ValueState  # in-memory stand-ins of PySpark's
from readiness_platform.domain.features import GAME_STATE_HOURS
from readiness_platform.transforms.features import (
    GROUP_KEYS, GROUPS, PITCH_NAMES, GroupState, PitcherFeatures, PitcherState, pitcher_group, spark_hash,
)

T0 = datetime(2026, 11, 30, 19, 0)
EPOCH = datetime(1970, 1, 1)
HOUR = 3_600_000


class Handle:
    """The timer calls of a StatefulProcessorHandle, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def registerTimer(self, at: int) -> None:  # noqa: N802 - PySpark's name
        self.calls.append(("register", at))

    def deleteTimer(self, at: int) -> None:  # noqa: N802
        self.calls.append(("delete", at))


class Fired:
    def __init__(self, at: int) -> None:
        self.at = at

    def getExpiryTimeInMs(self) -> int:  # noqa: N802
        return self.at


def _pitch(second: int) -> list:
    """A held pitch (PitcherState's form) at `second` - only its time matters here."""
    return [1, 1, second + 1, T0.toordinal(), _us_at(second), None, "four_seam", 95.0, 2300.0, 6.0, 0.0, 0.0, "s",
            "NYM"]


def _row(pitcher_id: int, second: int) -> Row:
    """An input row of the operator: pitcher `pitcher_id`'s pitch at `second` (game 1, at bat 1)."""
    t = T0 + timedelta(seconds=second)
    values = dict(zip(PITCH_NAMES, [1, 1, second + 1, T0.date(), t, t + timedelta(seconds=3), "four_seam", 95.0,
                                    2300.0, 6.0, 0.0, 0.0, "s", "NYM"]))
    return Row(pitcher_group=pitcher_group(pitcher_id), pitcher_id=pitcher_id, **values)


def _us_at(second: int) -> int:
    return (T0 + timedelta(seconds=second) - EPOCH) // timedelta(microseconds=1)


def _ms_at(second: int) -> int:
    return _us_at(second) // 1000


def _expiry(last_second: int) -> int:
    quiet = _ms_at(last_second) + GAME_STATE_HOURS * HOUR
    return -(-quiet // HOUR) * HOUR  # rounded up to the hour


def _processor() -> tuple[PitcherFeatures, Handle, ValueState]:
    processor, handle, state = PitcherFeatures({}), Handle(), ValueState()
    processor.handle, processor.state = handle, state
    return processor, handle, state


def _call(processor: PitcherFeatures, rows: list[Row], watermark_second: int) -> list[Row]:
    return list(processor.handleInputRows((GROUP_KEYS[0],), iter(rows), Clock(_ms_at(watermark_second))))


# --- a pitcher's wake-up times ---------------------------------------------------------------------------
def test_the_finalizing_time_is_the_latest_pending_pitch():
    st = PitcherState(None)
    st.pitches = [_pitch(10), _pitch(20), _pitch(30)]
    PitcherFeatures._schedule(st, watermark=_ms_at(5))
    assert (st.final_at, st.expiry_at) == (_ms_at(30), _expiry(30))
    assert st.wake_at() == _ms_at(30)


def test_a_time_still_to_come_is_kept_while_the_pitcher_pitches_on():
    st = PitcherState(None)
    st.pitches, st.finalized = [_pitch(10), _pitch(20), _pitch(30), _pitch(40)], _ms_at(10)  # 10 s final
    st.final_at, st.expiry_at = _ms_at(30), _expiry(40)
    PitcherFeatures._schedule(st, watermark=_ms_at(12))  # 30 s is still ahead of the watermark
    assert st.final_at == _ms_at(30)


def test_a_time_the_watermark_has_reached_is_moved_to_the_latest_pending_pitch():
    st = PitcherState(None)
    st.pitches, st.finalized = [_pitch(20), _pitch(30), _pitch(45), _pitch(50)], _ms_at(30)
    st.final_at, st.expiry_at = _ms_at(30), _expiry(50)
    PitcherFeatures._schedule(st, watermark=_ms_at(30))
    assert st.final_at == _ms_at(50)


def test_no_pending_pitch_no_finalizing_time():
    st = PitcherState(None)
    st.pitches, st.finalized = [_pitch(20)], _ms_at(20)
    st.final_at, st.expiry_at = _ms_at(20), _expiry(20)
    PitcherFeatures._schedule(st, watermark=_ms_at(25))
    assert st.final_at is None and st.wake_at() == _expiry(20)


# --- the group's timer ---------------------------------------------------------------------------------------
A, B = 592_789, 592_789 + GROUPS  # two pitchers of the same group


def test_two_pitchers_of_a_group_share_one_timer_at_the_earliest_wake_up():
    assert pitcher_group(A) == pitcher_group(B)
    processor, handle, state = _processor()
    out = _call(processor, [_row(A, 10), _row(A, 20), _row(B, 15)], watermark_second=0)
    assert [(r.pitcher_id, r.is_final) for r in out] == [(A, False), (A, False), (B, False)]
    group = GroupState(state.value)
    assert group.wake == {A: _ms_at(20), B: _ms_at(15)}
    assert group.timer == _ms_at(15) and handle.calls == [("register", _ms_at(15))]


def test_a_quiet_pitcher_due_is_served_by_his_groups_call_and_the_timer_moves_past_the_watermark():
    processor, handle, state = _processor()
    _call(processor, [_row(A, 10), _row(B, 15)], watermark_second=0)
    handle.calls.clear()
    # B has no pitch in this batch; the watermark has passed his pitch: his final row comes with A's call
    out = _call(processor, [_row(A, 40)], watermark_second=16)
    assert Counter((r.pitcher_id, r.is_final) for r in out) == {(A, False): 1, (A, True): 1, (B, True): 1}
    group = GroupState(state.value)
    assert group.wake == {A: _ms_at(40), B: _expiry(15)}
    # the old timer (A's 10 s, due in this batch) is deleted before it fires; the new one is A's 40 s
    assert handle.calls == [("delete", _ms_at(10)), ("register", _ms_at(40))]
    assert group.timer == _ms_at(40)


def test_a_fired_timer_serves_its_pitchers_due_and_is_not_deleted_again():
    processor, handle, state = _processor()
    _call(processor, [_row(A, 10), _row(B, 15)], watermark_second=0)
    handle.calls.clear()
    fired = GroupState(state.value).timer
    out = list(processor.handleExpiredTimer((GROUP_KEYS[0],), Clock(_ms_at(12)), Fired(fired)))
    assert [(r.pitcher_id, r.is_final) for r in out] == [(A, True)]  # B's pitch (15 s) is not due yet
    assert handle.calls == [("register", _ms_at(15))]
    assert GroupState(state.value).wake == {A: _expiry(10), B: _ms_at(15)}


def test_a_call_with_nothing_new_and_nobody_due_writes_nothing():
    processor, handle, state = _processor()
    _call(processor, [_row(A, 10)], watermark_second=0)
    written, handle.calls[:] = state.value, []
    assert _call(processor, [_row(A, 10)], watermark_second=5) == []  # a duplicate, the watermark before 10 s
    assert state.value is written and handle.calls == []


def test_the_group_keys_spread_evenly_over_the_state_partitions():
    # (that spark_hash is Spark's own hash is checked against Spark: tests/spark_jobs/test_stream_features.py)
    assert len(set(GROUP_KEYS)) == GROUPS
    for partitions in (1, 2, 4, 8, 16):
        assert set(Counter(spark_hash(k) % partitions for k in GROUP_KEYS).values()) == {GROUPS // partitions}
