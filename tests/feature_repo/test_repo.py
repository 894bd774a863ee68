"""The Feast repository as Feast tests itself: apply on a temporary registry, write, read online."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import redis

from feature_repo.feature_views import FEATURE_NAMES, V2_ONLY
from readiness_platform.domain.scores import MODEL_VERSIONS
from readiness_platform.feature_store import (
    ROSTER_KEY, OnlinePublisher, apply_repo, feature_store, outing_key, redis_connection_string, write_online,
)
from readiness_platform.online import FeastOnlineReader, RedisOnlineReader
from readiness_platform.settings import get_settings


def _row(pitcher: int, version: str, readiness: float, pitch: int = 1, final: bool = True) -> dict:
    base = {n: None for n in FEATURE_NAMES}
    return {**base, "pitcher_id": pitcher, "model_version": version, "event_time": datetime(2020, 9, 3, 20, 0, pitch),
            "readiness": readiness, "fatigue": 100 - readiness, "risk": 10.0, "alert_level": "ok",
            "alert_reasons": ["velocity down 1.2 mph"], "calibration_confidence": 0.9, "tracking_system_id": "hawkeye-1",
            "pitch_count_game": pitch, "game_pk": 631000, "at_bat_number": 1, "pitch_number": pitch, "is_final": final,
            "break_delta_in": -0.5, "data_confidence": 0.8}


def test_redis_url_becomes_feasts_connection_string():
    assert redis_connection_string("redis://:s3cret@10.0.0.5:6380/2") == "10.0.0.5:6380,db=2,password=s3cret"
    assert redis_connection_string("redis://127.0.0.1:56379/0") == "127.0.0.1:56379,db=0"


def test_local_repo_applies_and_serves_each_version_through_its_service(tmp_path):
    settings = get_settings(home=tmp_path, feast_env="local")
    apply_repo(settings)
    store = feature_store(settings)
    assert {s.name for s in store.list_feature_services()} == {f"readiness_{v}" for v in MODEL_VERSIONS}
    assert all(f.description for v in store.list_feature_views() for f in v.features)
    write_online(settings, [_row(1, "v1", 61.0), _row(1, "v2", 64.5), _row(2, "v2", 30.0)])
    got = store.get_online_features(features=store.get_feature_service("readiness_v1"),
                                    entity_rows=[{"pitcher_id": 1}, {"pitcher_id": 2}]).to_dict()
    assert got["readiness"] == [61.0, None]  # pitcher 2 has nothing under v1
    assert not set(V2_ONLY) & set(got)  # v1's service leaves out what only v2 reads
    v2 = FeastOnlineReader(store).read("v2", [1, 2, 3])
    assert {p: r.features["readiness"] for p, r in v2.items()} == {1: 64.5, 2: 30.0}
    assert v2[1].event_time == datetime(2020, 9, 3, 20, 0, 1, tzinfo=timezone.utc)  # the pitch's event time
    assert v2[1].features["alert_reasons"] == ["velocity down 1.2 mph"]


@pytest.mark.services
def test_the_direct_redis_reader_reads_what_feast_reads(tmp_path):
    settings = get_settings(home=tmp_path, feast_env="production", redis_url="redis://127.0.0.1:56379/7")
    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    apply_repo(settings)
    rows = [_row(p, v, 50.0 + p + (v == "v2"), pitch=p % 5 + 1, final=p % 2 == 0) for p in range(10, 40) for v in ("v1", "v2")]
    write_online(settings, rows, client)
    ids = list(range(5, 45))
    for version in ("v1", "v2"):
        ours = RedisOnlineReader(client).read(version, ids)
        feasts = FeastOnlineReader(feature_store(settings)).read(version, ids)
        assert ours == feasts and len(ours) == 30
    # a final row replaces the provisional row of the same pitch (same event time)
    write_online(settings, [_row(11, "v2", 12.5, pitch=11 % 5 + 1, final=True)], client)
    again = RedisOnlineReader(client).read("v2", [11])[11]
    assert (again.features["readiness"], again.features["is_final"]) == (12.5, True)
    assert {int(p) for p in client.zrange(ROSTER_KEY, 0, -1)} == set(range(10, 40))


@pytest.mark.services
def test_the_direct_redis_writer_writes_the_bytes_feasts_own_write_writes(tmp_path):
    """online.RedisOnlineWriter against FeatureStore.write_to_online_store, hash for hash: every value kind,
    nulls (None, NaN), empty and full lists, False and 0, microseconds, a whole number pandas widens."""
    from readiness_platform.feature_store import online_frame
    from readiness_platform.online import RedisOnlineWriter

    settings = get_settings(home=tmp_path, feast_env="production", redis_url="redis://127.0.0.1:56379/7")
    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    apply_repo(settings)
    rows = [{**_row(p, "v1", 50.0 + p / 3, pitch=p % 5 + 1, final=p % 2 == 0),
             "event_time": datetime(2020, 9, 3, 20, 0, p % 60, 1000 * p + 7),
             "alert_reasons": [] if p % 3 else ["velocity down", "spin up"], "recalibration_needed": p % 4 == 0,
             "spin_cv": float("nan") if p % 5 == 0 else 0.01 * p, "days_since_prev_outing": None if p % 2 else p % 4,
             "pitches_last_3d": 0, "velo_z": -0.0, "alert_level": None if p == 13 else "ok"} for p in range(10, 30)]
    feature_store(settings).write_to_online_store("pitcher_readiness_v1", online_frame(rows))
    layout = RedisOnlineReader(client)
    feasts = {r["pitcher_id"]: client.hgetall(layout.key(r["pitcher_id"])) for r in rows}
    client.flushdb()
    assert RedisOnlineWriter(client).write("v1", rows) == len(rows)
    ours = {r["pitcher_id"]: client.hgetall(layout.key(r["pitcher_id"])) for r in rows}
    assert ours == feasts and all(len(h) == len(FEATURE_NAMES) + 1 for h in ours.values())


def test_the_writers_scalar_encodings_are_protobufs_and_the_reader_reads_them_back():
    """The wire format written by hand (online._double, _int64, _string) against protobuf's own
    serialization, at the edges of each kind; and the reader's decoding against Feast's."""
    import numpy as np
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.type_map import feast_value_type_to_python_type

    from readiness_platform.online import _double, _int64, _python, _string, _strings

    doubles = [0.0, -0.0, 1.5, -83.123456789, 5e-324, 1.7976931348623157e308, float("inf"), float("-inf"),
               np.float64(2.25), 3]
    ints = [0, 1, 127, 128, 300, 2**31, 2**63 - 1, -1, -300, -(2**63), np.int64(631000), 12.0]
    strings = ["", "ok", "crítico", "x" * 200]
    cases = ([(_double(v), Value(double_val=float(v))) for v in doubles]
             + [(_int64(v), Value(int64_val=int(v))) for v in ints]
             + [(_string(v), Value(string_val=v)) for v in strings])
    for ours, want in cases:
        assert ours == want.SerializeToString()
        assert _python(ours) == feast_value_type_to_python_type(want)
    assert _double(None) == _double(float("nan")) == _int64(None) == _string(None) == b""
    assert _python(_strings(["velocity down", "spin up"])) == ["velocity down", "spin up"]
    assert _python(_strings(None)) == []
    assert _python(Value(float_val=0.5).SerializeToString()) == 0.5  # a kind the views do not hold: Feast's way


@pytest.mark.parametrize("value", [None, 0.0, -0.0, 83.123456789, 1e-07, 1e22, 5e-324, float("nan"), float("inf"), 3])
def test_an_outing_point_is_the_json_that_json_dumps_writes(value):
    import json

    import numpy as np

    from readiness_platform.feature_store import _epoch, outing_point

    t = datetime(2020, 9, 3, 20, 0, 1, 123457)
    for r in ({"game_pk": 631000, "at_bat_number": 12, "pitch_number": 3, "readiness": value, "velo_delta_mph": value,
               "is_final": np.bool_(True), "alert_level": "warning", "calibration_confidence": value,
               "late_fraction": np.float64(0.25)},
              {"game_pk": 2**40, "at_bat_number": 1, "pitch_number": 1, "readiness": 55.5, "velo_delta_mph": None,
               "is_final": False, "alert_level": "crítico", "calibration_confidence": 0.61, "late_fraction": value}):
        want = json.dumps({"t": t.replace(tzinfo=timezone.utc).timestamp(), "game_pk": r["game_pk"],
                           "pitch": [r["at_bat_number"], r["pitch_number"]], "readiness": r["readiness"],
                           "velo_delta_mph": r["velo_delta_mph"], "final": bool(r["is_final"]),
                           "alert": r["alert_level"], "calibration": r["calibration_confidence"],
                           "late_fraction": r["late_fraction"]})
        assert outing_point(_epoch(t), r) == want


@pytest.mark.services
def test_the_streams_online_writer_writes_in_the_background_in_order_and_counts_failures(tmp_path):
    settings = get_settings(home=tmp_path, feast_env="production", redis_url="redis://127.0.0.1:56379/7")
    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    publisher = OnlinePublisher.start(settings)
    for pitch in range(1, 6):  # five micro-batches of one pitcher, each handed over without waiting
        publisher.submit([_row(21, "v2", 10.0 * pitch, pitch=pitch, final=False)])
    publisher.wait()
    served = RedisOnlineReader(client).read("v2", [21])[21]
    assert (served.features["pitch_number"], served.features["readiness"]) == (5, 50.0)  # the last one wins
    assert [json.loads(p)["pitch"] for p in client.lrange(outing_key("v2", 21), 0, -1)] == [[1, p] for p in range(1, 6)]
    assert (publisher.published, publisher.failures) == (5, 0)

    working = publisher.redis
    publisher.redis = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.5)  # nobody listens there
    publisher.submit([_row(21, "v2", 60.0, pitch=6)])
    publisher.wait()
    assert (publisher.published, publisher.failures) == (5, 1)  # counted, not raised: the stream goes on
    publisher.redis = working
    publisher.submit([_row(21, "v2", 70.0, pitch=7)])
    publisher.wait()
    assert RedisOnlineReader(client).read("v2", [21])[21].features["readiness"] == 70.0
    assert (publisher.published, publisher.failures) == (6, 1)
