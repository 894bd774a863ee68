"""The closer's smoke test ("the Helsley test") end to end: replay, stream, online store, API, WebSocket."""

from __future__ import annotations

import pytest

from readiness_platform.smoke import STRETCH, SmokeFailed, run_smoke, staff_levels, staff_quality

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.services]


def test_staff_thresholds_by_hand():
    assert staff_levels(90.0, 0.0) == {"ok"} and staff_levels(79.9, 0.0) == {"warning"}
    assert staff_levels(90.0, -2.1) == {"ok", "warning"}  # a velocity warning needs a full, comparable window
    assert staff_levels(59.9, -2.1) == {"critical"} and staff_levels(90.0, -2.0) == {"ok"}
    assert staff_quality(0.9, 0.0) == "ok" and staff_quality(0.79, 0.0) == staff_quality(0.9, 0.21) == "warning"
    assert staff_quality(0.59, 0.0) == staff_quality(0.9, 0.31) == "critical" and staff_quality(0.9, None) == "ok"


def test_the_closers_outings_are_served_pitch_by_pitch(settings, spark):  # noqa: ARG001 - the shared session
    settings = settings.model_copy(update={"redis_url": settings.redis_url.rsplit("/", 1)[0] + "/14"})
    report = run_smoke(settings, speedup=120.0)
    assert [o.game_date for o in report.outings] == list(STRETCH)
    for o in report.outings:
        assert o.served == o.in_time > 0 and o.final_checked > 0
        assert len(o.calibration) >= 2 and o.calibration[-1] < o.calibration[0]
    assert report.pushes > 0 and not report.failures


def test_a_wrong_alert_or_a_rising_calibration_fails_the_smoke_loudly():
    from readiness_platform.smoke import Outing, _check_outing

    def point(pitch: int, readiness: float, calibration: float, alert: str) -> dict:
        return {"pitch": [1, pitch], "readiness": readiness, "calibration": calibration, "late_fraction": 0.0,
                "velo_delta_mph": 0.0, "alert": alert}

    failures: list[str] = []
    _check_outing(Outing(STRETCH[0], 1, 3, 3), [point(1, 90.0, 0.9, "ok"), point(2, 55.0, 0.89, "warning"),
                                                point(3, 90.0, 0.91, "ok")], failures)
    assert failures == ["2016-07-26 pitch [1, 2]: alert warning, the thresholds say critical",
                        "2016-07-26: calibration confidence does not decay through the outing: [0.9, 0.89, 0.91]"]
    with pytest.raises(SmokeFailed, match="thresholds say critical"):
        raise SmokeFailed(failures)
