"""Reading the online store (Feast): each pitcher's latest values under a model version, with their event time.

With Redis (production), the API reads Feast's own layout directly - one HMGET per pitcher, pipelined,
keys and field names computed once by Feast's encoding functions - because Feast's Python read path
costs milliseconds per call and the read service's budget is 5 ms at p99. A test checks that this reader
and `FeatureStore.get_online_features` return the same values. With SQLite (local), it asks Feast.
The stream writes that layout directly too (RedisOnlineWriter: the bytes Feast's own write makes).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _mmh3
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import StringList, Value
from feast.type_map import feast_value_type_to_python_type
from google.protobuf.timestamp_pb2 import Timestamp

from feature_repo.feature_views import FEATURE_NAMES, FIELDS, view_name


@dataclass(frozen=True)
class OnlineRow:
    """One pitcher's served values: features by name and the event time of the pitch they came from."""

    pitcher_id: int
    model_version: str
    event_time: datetime
    features: dict[str, object]


class OnlineReader(Protocol):
    def read(self, version: str, pitcher_ids: list[int]) -> dict[int, OnlineRow]: ...


class RedisOnlineReader:
    """Feast's Redis layout, read directly (see the module docstring)."""

    def __init__(self, client, project: str = "readiness", key_version: int = 3) -> None:
        self.client = client
        self.project = project.encode()
        self.key_version = key_version
        self._fields: dict[str, list[bytes | str]] = {}  # version -> hash fields, features then timestamp

    def fields(self, version: str) -> list[bytes | str]:
        """The hash fields of a version's view: its features, then its timestamp."""
        if version not in self._fields:  # computed once: mmh3 of every feature name
            fv = view_name(version)
            self._fields[version] = [*(_mmh3(f"{fv}:{n}") for n in FEATURE_NAMES), f"_ts:{fv}"]
        return self._fields[version]

    def key(self, pitcher_id: int) -> bytes:
        ek = EntityKey(join_keys=["pitcher_id"], entity_values=[Value(int64_val=int(pitcher_id))])
        return serialize_entity_key(ek, entity_key_serialization_version=self.key_version) + self.project

    def read(self, version: str, pitcher_ids: list[int]) -> dict[int, OnlineRow]:
        fields = self.fields(version)
        if len(pitcher_ids) == 1:
            replies = [self.client.hmget(self.key(pitcher_ids[0]), fields)]
        else:
            with self.client.pipeline(transaction=False) as pipe:
                for p in pitcher_ids:
                    pipe.hmget(self.key(p), fields)
                replies = pipe.execute()
        rows = (self.decode(pid, version, values) for pid, values in zip(pitcher_ids, replies))
        return {r.pitcher_id: r for r in rows if r is not None}

    @staticmethod
    def decode(pitcher_id: int, version: str, values: list[bytes | None]) -> OnlineRow | None:
        """One HMGET reply of `fields(version)` as a row (None: nothing online for this pitcher)."""
        if values[-1] is None:
            return None
        ts = Timestamp()
        ts.ParseFromString(values[-1])
        feats = {name: None if raw is None else _python(raw) for name, raw in zip(FEATURE_NAMES, values[:-1])}
        return OnlineRow(int(pitcher_id), version, ts.ToDatetime(tzinfo=timezone.utc), feats)


_SCALARS = frozenset({"double_val", "int64_val", "string_val", "bool_val"})


def _python(raw: bytes) -> object:
    """One stored value as Python: the kinds the feature views hold read directly (what Feast's
    feast_value_type_to_python_type gives for them, at 2.6x its speed: the API's WebSocket reads ~10,000
    values a micro-batch at 2,000 events/s), any other kind through Feast."""
    v = Value.FromString(raw)
    kind = v.WhichOneof("val")
    if kind is None:
        return None
    if kind in _SCALARS:
        return getattr(v, kind)
    if kind == "string_list_val":
        return list(v.string_list_val.val)
    return feast_value_type_to_python_type(v)


def _value(**kind) -> bytes:
    return Value(**kind).SerializeToString()


# The scalar kinds are written as protobuf's wire format, byte for byte what Value(...).SerializeToString()
# gives (a one-field message: the field's tag, then its value): a Value built per number was most of the
# writer's time. tests/feature_repo/test_repo.py compares them with protobuf's and with Feast's own write.
_DOUBLE_TAG, _INT64_TAG, _STRING_TAG = b"\x29", b"\x20", b"\x12"  # double_val = 5 (64-bit), int64_val = 4, string_val = 2
_pack_double = struct.Struct("<d").pack


def _varint(n: int) -> bytes:
    """Protobuf's base-128 varint of an int64 (a negative one as its 64-bit two's complement, 10 bytes)."""
    n &= 0xFFFF_FFFF_FFFF_FFFF
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _double(v) -> bytes:  # noqa: ANN001 - None and NaN are null, as Feast's own write makes them
    return b"" if v is None or v != v else _DOUBLE_TAG + _pack_double(float(v))


def _int64(v) -> bytes:  # noqa: ANN001 - a whole number pandas widened to float is written as its int
    return b"" if v is None or v != v else _INT64_TAG + _varint(int(v))


def _bool(v) -> bytes:  # noqa: ANN001
    return b"" if v is None else (_TRUE if v else _FALSE)


def _string(v) -> bytes:  # noqa: ANN001
    if v is None:
        return b""
    data = str(v).encode()
    return _STRING_TAG + _varint(len(data)) + data


def _strings(v) -> bytes:  # noqa: ANN001 - no list is an empty one (stream.online_frame's rule)
    return _value(string_list_val=StringList(val=list(v or ())))


_TRUE, _FALSE = _value(bool_val=True), _value(bool_val=False)


class RedisOnlineWriter:
    """Feast's Redis layout written directly: the bytes `FeatureStore.write_to_online_store` writes for the
    same rows (tests/feature_repo/test_repo.py compares them hash for hash), one HSET per pitcher, pipelined.
    Feast's write goes through pandas, Arrow and a type lookup per value: at 2,000 events/s it was ~0.17 s
    of Python a micro-batch (py-spy), on the way to the dashboard and holding the GIL from the next
    micro-batch. Like Feast's write with `skip_dedup`, it writes what it is given: the caller orders."""

    def __init__(self, client, project: str = "readiness", key_version: int = 3) -> None:
        self.client = client
        self.layout = RedisOnlineReader(client, project, key_version)

    def write(self, version: str, rows: list[dict]) -> int:
        """Each row (a scored row: pitcher_id, event_time and the features) as its pitcher's values."""
        fields = self.layout.fields(version)
        with self.client.pipeline(transaction=False) as pipe:
            for r in rows:
                mapping = {field: encode(r.get(name)) for field, name, encode in zip(fields, FEATURE_NAMES, _ENCODERS)}
                ts = Timestamp()
                ts.FromDatetime(_as_utc(r["event_time"]))
                mapping[fields[-1]] = ts.SerializeToString()
                pipe.hset(self.layout.key(r["pitcher_id"]), mapping=mapping)
            pipe.execute()
        return len(rows)


def _as_utc(t: datetime | int | float) -> datetime:
    if isinstance(t, (int, float)):  # Feast's to_dict gives epoch seconds
        return datetime.fromtimestamp(t, timezone.utc)
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


class FeastOnlineReader:
    """Any online store, through Feast's SDK (the local SQLite environment)."""

    def __init__(self, store) -> None:
        self.store = store

    def read(self, version: str, pitcher_ids: list[int]) -> dict[int, OnlineRow]:
        fv = view_name(version)
        got = self.store.get_online_features(
            features=[f"{fv}:{n}" for n in FEATURE_NAMES], entity_rows=[{"pitcher_id": int(p)} for p in pitcher_ids],
        ).to_dict(include_event_timestamps=True)
        out = {}
        for i, pid in enumerate(got["pitcher_id"]):
            stamps = [got[f"{n}__ts"][i] for n in FEATURE_NAMES if got.get(f"{n}__ts") and got[f"{n}__ts"][i]]
            if not stamps:
                continue
            t = _as_utc(max(stamps))
            out[int(pid)] = OnlineRow(int(pid), version, t, {n: got[n][i] for n in FEATURE_NAMES})
        return out


_ENCODERS = [{"Float64": _double, "Int64": _int64, "Bool": _bool, "String": _string, "Array(String)": _strings}[
    str(f.dtype)] for f in FIELDS]


def online_reader(settings, redis_client=None) -> OnlineReader:  # settings: readiness_platform.settings.Settings
    """The fast reader for the settings' environment (Redis direct in production, Feast's SDK locally)."""
    if settings.feast_env == "production":
        import redis

        return RedisOnlineReader(redis_client or redis.Redis.from_url(settings.redis_url))
    from readiness_platform.feature_store import feature_store

    return FeastOnlineReader(feature_store(settings))
