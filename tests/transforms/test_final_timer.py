"""Where the pitchers' state keeps the timer that finalizes a quiet pitcher's pitches: hand-worked cases."""

from __future__ import annotations

from datetime import datetime, timedelta

from readiness_platform.domain.features import GAME_STATE_HOURS
from readiness_platform.transforms.features import PitcherFeatures, PitcherState

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


def _pitch(second: int) -> list:
    """A held pitch (PitcherState's form) at `second` - only its time matters here."""
    return [1, 1, second + 1, T0.toordinal(), _us_at(second), None, "four_seam", 95.0, 2300.0, 6.0, 0.0, 0.0, "s",
            "NYM"]


def _us_at(second: int) -> int:
    return (T0 + timedelta(seconds=second) - EPOCH) // timedelta(microseconds=1)


def _ms_at(second: int) -> int:
    return _us_at(second) // 1000


def _expiry(last_second: int) -> int:
    quiet = _ms_at(last_second) + GAME_STATE_HOURS * HOUR
    return -(-quiet // HOUR) * HOUR  # rounded up to the hour


def _processor() -> tuple[PitcherFeatures, Handle, PitcherState]:
    processor, handle = PitcherFeatures({}), Handle()
    processor.handle = handle
    return processor, handle, PitcherState(None)


def test_the_timer_is_set_at_the_latest_pending_pitch():
    processor, handle, st = _processor()
    st.pitches = [_pitch(10), _pitch(20), _pitch(30)]
    processor._schedule(st, watermark=_ms_at(5))
    assert st.final_at == _ms_at(30)
    assert sorted(handle.calls) == [("register", _ms_at(30)), ("register", _expiry(30))]


def test_a_timer_still_to_come_is_kept_while_the_pitcher_pitches_on():
    processor, handle, st = _processor()
    st.pitches, st.finalized = [_pitch(10), _pitch(20), _pitch(30), _pitch(40)], _ms_at(10)  # 10 s final
    st.final_at, st.expiry_at = _ms_at(30), _expiry(40)
    processor._schedule(st, watermark=_ms_at(12))  # 30 s is still ahead of the watermark
    assert st.final_at == _ms_at(30) and handle.calls == []


def test_a_timer_the_watermark_has_reached_is_moved_to_the_latest_pending_pitch():
    processor, handle, st = _processor()
    st.pitches, st.finalized = [_pitch(20), _pitch(30), _pitch(45), _pitch(50)], _ms_at(30)
    st.final_at, st.expiry_at = _ms_at(30), _expiry(50)
    processor._schedule(st, watermark=_ms_at(30))  # due in this batch: it would fire after this call
    assert st.final_at == _ms_at(50)
    assert handle.calls == [("delete", _ms_at(30)), ("register", _ms_at(50))]


def test_no_pending_pitch_no_finalizing_timer():
    processor, handle, st = _processor()
    st.pitches, st.finalized = [_pitch(20)], _ms_at(20)
    st.final_at, st.expiry_at = _ms_at(20), _expiry(20)
    processor._schedule(st, watermark=_ms_at(25))
    assert st.final_at is None and handle.calls == [("delete", _ms_at(20))]
