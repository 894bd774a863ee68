"""Per-pitcher features in Spark: the stateful stream operator, the batch recompute, and scoring.

Stream (`pitcher_features`): transformWithState (rows, not pandas), keyed by a group of pitchers (GROUPS
of them, below), keeps each pitcher's pitches of the games in play and a summary of recent outings
(`PitcherState`, in its group's `GroupState`). Each pitcher is worked on alone. A pitch that arrives is
answered at once with *provisional* features from what is there; when the watermark passes its event time,
no on-time pitch can still come before it, and it is answered again, *final*, from the complete outing -
in the batch the watermark passes it, by the pitcher's own call if he has pitches in that batch; a pitcher
who has stopped pitching gets the final rows of his last pitches together at his wake-up time (his group's
event-time timer is at the earliest of its pitchers'), when the watermark passes the last of them. So
out-of-order arrival within the watermark can change a provisional row, never a final one. Duplicates are
dropped on the pitch key. A game's pitches are dropped, leaving an outing summary (what the features of
later games read of it), as soon as the game is over - all its pitches final and a later pitch of the
pitcher's, in another game, final too - or at the latest GAME_STATE_HOURS after its last pitch (his other
wake-up time); summaries older than REST_HORIZON_DAYS are dropped. Holding only the game in play keeps the
state a pitcher reads and writes each batch small: with four finished games held, it was ~400 pitches,
3.5 ms of JSON per call.

The stream runs these rules in the JVM (jvm/state, `dev.readiness.state.PitcherFeatures`; settings'
`state_processor`, "jvm" by default): the same rules and arithmetic (math.fsum ported), keyed by pitcher,
with no Python call per key and micro-batch - at 2,000 events/s the Python state took ~0.6 s of a ~1.2 s
micro-batch. The Python processor below is the reference it is tested against, row for row
(tests/spark_jobs/test_jvm_state.py), and still runs the stream with `state_processor="python"`.

Batch (`pitcher_features_batch`): the same domain functions over every on-time pitch of bronze.

Scoring (`score_features`): calibration confidence and air density at the pitch's time from the tracking
system's calibrations and readings, then indices and alerts for every model version (domain.readiness).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import fields
from operator import itemgetter
import json
import struct
from datetime import date, datetime, timedelta

import pandas as pd
from pyspark.sql import DataFrame, Row
from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle

from readiness_platform.domain.air import air_density, climatological_density
from readiness_platform.domain.calibration import Reading, SystemTimeline
from readiness_platform.domain.features import (
    GAME_STATE_HOURS,
    REST_HORIZON_DAYS,
    Baseline,
    Outing,
    PitchObs,
    WindowFeatures,
    outing_windows,
    pitcher_history,
)
from readiness_platform.domain.readiness import Context, evaluate
from readiness_platform.domain.venues import VENUES
from readiness_platform.transforms.memory import tune_gc

Baselines = dict[tuple[int, int], dict[str, Baseline]]  # (pitcher, season) -> family -> baseline

PITCH_FIELDS = [
    T.StructField("game_pk", T.LongType()),
    T.StructField("at_bat_number", T.LongType()),
    T.StructField("pitch_number", T.LongType()),
    T.StructField("game_date", T.DateType()),
    T.StructField("event_time", T.TimestampType()),
    T.StructField("ingest_time", T.TimestampType()),
    T.StructField("pitch_family", T.StringType()),
    T.StructField("release_speed", T.DoubleType()),
    T.StructField("release_spin_rate", T.DoubleType()),
    T.StructField("release_pos_z", T.DoubleType()),
    T.StructField("pfx_x", T.DoubleType()),
    T.StructField("pfx_z", T.DoubleType()),
    T.StructField("tracking_system_id", T.StringType()),
    T.StructField("home_team", T.StringType()),
]
PITCH_NAMES = [f.name for f in PITCH_FIELDS]
_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)


def _window_fields() -> list[T.StructField]:
    out = []
    for f in fields(WindowFeatures):
        base = f.type.replace(" | None", "")
        out.append(T.StructField(f.name, {"int": T.LongType(), "float": T.DoubleType(), "bool": T.BooleanType(),
                                          "str": T.StringType()}[base]))
    return out


WINDOW_FIELDS = _window_fields()
FEATURES_SCHEMA = T.StructType([
    T.StructField("pitcher_id", T.LongType()), *PITCH_FIELDS, *WINDOW_FIELDS, T.StructField("is_final", T.BooleanType()),
])


def _obs(p: dict) -> PitchObs:
    return PitchObs(int(p["game_pk"]), int(p["at_bat_number"]), int(p["pitch_number"]), _date(p["game_date"]),
                    _ts(p["event_time"]), str(p["pitch_family"]), _num(p["release_speed"]),
                    _num(p["release_spin_rate"]), _num(p["release_pos_z"]))


def _num(v) -> float | None:  # noqa: ANN001
    return None if v is None or pd.isna(v) else float(v)


def _ts(v) -> datetime:  # noqa: ANN001
    if type(v) is datetime and v.tzinfo is None:
        return v
    return pd.Timestamp(v).to_pydatetime().replace(tzinfo=None)


def _date(v):  # noqa: ANN001, ANN202
    if type(v) is date:
        return v
    return pd.Timestamp(v).date()


def _row(pitcher_id: int, p: dict, wf: WindowFeatures, final: bool) -> dict:
    return {"pitcher_id": pitcher_id, **{k: p[k] for k in PITCH_NAMES},
            **vars(wf), "is_final": final}


# A pitch as the pitcher state holds it: the PITCH_NAMES values in that order, the date as a day ordinal and
# the times as integer microseconds since the epoch - the JSON form itself, so that the state is read and
# written by json.loads/dumps alone, with no conversion per pitch held (converting every pitch both ways was
# ~15 % of the processor's Python, profiled). Whether a pitch is final follows from its time
# (PitcherState.final_before).
_GAME, _AT_BAT, _PITCH, _DAY, _TIME, _INGEST, _FAMILY, _SPEED, _SPIN, _HEIGHT = map(PITCH_NAMES.index, (
    "game_pk", "at_bat_number", "pitch_number", "game_date", "event_time", "ingest_time", "pitch_family",
    "release_speed", "release_spin_rate", "release_pos_z"))
_KEY = itemgetter(_GAME, _AT_BAT, _PITCH)
_IN_GAME = itemgetter(_DAY, _AT_BAT, _PITCH)  # PitchObs.order within one game
_IN_SEASON = itemgetter(_DAY, _GAME, _AT_BAT, _PITCH)  # PitchObs.order


def _held(row: Row) -> list:
    """An input row (PITCH_NAMES among its fields) as the state holds a pitch."""
    p = [row[n] for n in PITCH_NAMES]
    p[_DAY] = _date(p[_DAY]).toordinal()
    p[_TIME] = (_ts(p[_TIME]) - _EPOCH) // _US
    if p[_INGEST] is not None:
        p[_INGEST] = (_ts(p[_INGEST]) - _EPOCH) // _US
    return p


def _pitch(p: list) -> dict:
    """A held pitch as the PITCH_NAMES values of a features row."""
    out = dict(zip(PITCH_NAMES, p))
    out["game_date"] = date.fromordinal(p[_DAY])
    out["event_time"] = _EPOCH + p[_TIME] * _US
    if p[_INGEST] is not None:
        out["ingest_time"] = _EPOCH + p[_INGEST] * _US
    return out


def _measure(v) -> float | None:  # noqa: ANN001 - _num for a held value (a number, None or NaN)
    return None if v is None or v != v else float(v)


def _obs_of(p: list, day: date) -> PitchObs:
    return PitchObs(p[_GAME], p[_AT_BAT], p[_PITCH], day, _EPOCH + p[_TIME] * _US, str(p[_FAMILY]),
                    _measure(p[_SPEED]), _measure(p[_SPIN]), _measure(p[_HEIGHT]))


class PitcherState:
    """What the processor keeps per pitcher, as one JSON value in his group's GroupState: the pitches of the
    games in play (held as lists, above), the summaries of recent outings, his two wake-up times and
    `finalized`. Lossless."""

    VERSION = 1

    def __init__(self, raw: str | None) -> None:
        held = json.loads(raw) if raw else {}
        self.pitches: list[list] = held.get("pitches", [])
        self.outings = [Outing(date.fromordinal(d), g, n) for d, g, n in held.get("outings", [])]
        self.final_at: int | None = held.get("final_at")  # ms at which to finalize his pitches
        self.expiry_at: int | None = held.get("expiry_at")  # ms at which to summarize his quiet games
        # A pitch is final once its event time is at or behind `finalized`, the watermark of the last
        # finalization. Spark drops rows behind the previous watermark before they reach the processor,
        # so no pitch can arrive at or behind `finalized`.
        self.finalized: int = held.get("finalized", -1)

    def final_before(self) -> int:
        """A held pitch is final when its time (us) is below this: at or behind `finalized` (ms)."""
        return (self.finalized + 1) * 1000

    def wake_at(self) -> int | None:
        """When his group must call him back if he has no pitch by then (ms): the earlier of his two times."""
        return min((t for t in (self.final_at, self.expiry_at) if t is not None), default=None)

    def dump(self) -> str:
        return json.dumps({
            "v": self.VERSION, "pitches": self.pitches,
            "outings": [(o.game_date.toordinal(), o.game_pk, o.pitches) for o in self.outings],
            "final_at": self.final_at, "expiry_at": self.expiry_at, "finalized": self.finalized,
        }, separators=(",", ":"))


class GroupState:
    """The state of one key of the operator, a group of pitchers (`pitcher_group`): each of its pitchers'
    PitcherState JSON, parsed only for the pitchers a call works on; each pitcher's wake-up time, so that a
    call finds the pitchers due without parsing the others; and the group's one event-time timer, at the
    earliest of them. One value read and written per call: PySpark's list and map states convert each
    element with its own schema and every state access is a round trip to the JVM (and its value state
    takes no map column). The pitchers are held as lines, `<pitcher>\t<wake-up ms or empty>\t<JSON>`:
    JSON as json.dumps writes it has no raw tab or newline."""

    NAME = "pitchers"  # the state variable
    SCHEMA = T.StructType([T.StructField("pitchers", T.StringType()), T.StructField("timer", T.LongType())])

    def __init__(self, raw: tuple | None) -> None:
        self.states: dict[int, str] = {}  # pitcher -> PitcherState JSON
        self.wake: dict[int, int] = {}  # pitcher -> PitcherState.wake_at()
        self.timer: int | None = raw[1] if raw else None  # the timer registered (ms), if any
        for line in (raw[0].split("\n") if raw and raw[0] else ()):
            pitcher, wake, held = line.split("\t", 2)
            self.states[int(pitcher)] = held
            if wake:
                self.wake[int(pitcher)] = int(wake)

    @classmethod
    def pitcher(cls, raw: tuple, pitcher_id: int) -> str | None:
        """One pitcher's PitcherState JSON in a group's stored value, if he is in it."""
        return cls(raw).states.get(pitcher_id)

    def due(self, watermark: int) -> list[int]:
        """The pitchers whose wake-up time the watermark has reached."""
        return sorted(p for p, at in self.wake.items() if at <= watermark)

    def dump(self) -> tuple:
        return ("\n".join(f"{p}\t{self.wake.get(p, '')}\t{held}" for p, held in self.states.items()), self.timer)


class PitcherFeatures(StatefulProcessor):
    """transformWithState processor keyed by pitcher group (see module docstring)."""

    def __init__(self, baselines: Baselines) -> None:
        self.baselines = baselines

    def init(self, handle: StatefulProcessorHandle) -> None:
        tune_gc()  # in the Python worker that runs the state
        self.handle = handle
        self.state = handle.getValueState(GroupState.NAME, GroupState.SCHEMA)

    def handleInputRows(self, key, rows, timerValues) -> Iterator[Row]:  # noqa: ANN001
        arrived: dict[int, list[Row]] = {}
        for row in rows:
            arrived.setdefault(row["pitcher_id"], []).append(row)
        yield from self._call(GroupState(self.state.get()), arrived, timerValues.getCurrentWatermarkInMs())

    def handleExpiredTimer(self, key, timerValues, expiredTimerInfo) -> Iterator[Row]:  # noqa: ANN001
        """A group with no pitch in this batch whose timer fired: the same work for its pitchers due."""
        group = GroupState(self.state.get())
        if group.timer == expiredTimerInfo.getExpiryTimeInMs():
            group.timer = None  # a fired timer is gone
        yield from self._call(group, {}, timerValues.getCurrentWatermarkInMs())

    def _call(self, group: GroupState, arrived: dict[int, list[Row]], watermark: int) -> list[Row]:
        """The group's pitchers with pitches in this batch, and those whose wake-up time the watermark has
        reached: a pitcher due in this batch is done by his group's call with input, if it has one, before
        the group's timer fires (the timer is moved here, so it does not fire then)."""
        out: list[Row] = []
        changed = False
        for pitcher_id in [*arrived, *(p for p in group.due(watermark) if p not in arrived)]:
            st = PitcherState(group.states.get(pitcher_id))
            rows = self._pitcher(pitcher_id, st, arrived.get(pitcher_id, ()), watermark)
            if rows is None:
                continue
            out += rows
            group.states[pitcher_id] = st.dump()
            wake = st.wake_at()
            if wake is None:
                group.wake.pop(pitcher_id, None)
            else:
                group.wake[pitcher_id] = wake
            changed = True
        timer = min(group.wake.values(), default=None)
        if timer != group.timer:
            if group.timer is not None:
                self.handle.deleteTimer(group.timer)
            if timer is not None:
                self.handle.registerTimer(timer)
            group.timer, changed = timer, True
        if changed:
            self.state.update(group.dump())
        return out

    def _pitcher(self, pitcher_id: int, st: PitcherState, rows: Iterable[Row], watermark: int) -> list[Row] | None:
        """One pitcher's call: his new pitches answered (provisional), the pitches the watermark has passed
        answered again (final), his wake-up times moved on. None when there was nothing to do."""
        new = []
        if rows:
            known = set(map(_KEY, st.pitches))
            for row in rows:
                p = _held(row)
                k = _KEY(p)
                if k in known:
                    continue  # a duplicate the pitcher's state has already seen
                known.add(k)
                new.append(p)
            st.pitches.extend(new)
        due = self._due(st, watermark)
        wake = st.wake_at()
        woken = wake is not None and wake <= watermark
        if not new and not due and not woken:
            return None
        windows = self._windows(pitcher_id, st, new + due)
        out = self._rows(pitcher_id, new, windows, final=False)
        if due or woken:
            out += self._advance(pitcher_id, st, watermark, due, windows)
        self._schedule(st, watermark)
        return out

    @staticmethod
    def _schedule(st: PitcherState, watermark: int) -> None:
        """A pitcher's two wake-up times (his group's timer is at the earliest of its pitchers'). One
        finalizes his pitches if he stops pitching (while he pitches, his own calls do it): at the latest
        pitch not yet final, and kept while it is still to come, so that it moves once per watermark delay
        or so, not every batch (the group's timer moves with its earliest pitcher's: one delete and one
        register, two round trips to the JVM). The other is the game expiry, rounded up to the hour so that
        it moves once an hour of play, not with every pitch."""
        limit = st.final_before()
        pending = [p[_TIME] for p in st.pitches if p[_TIME] >= limit]
        final_at = None
        if pending:
            final_at = st.final_at if st.final_at is not None and st.final_at > watermark else max(pending) // 1000
        expiry_at = None
        if st.pitches:
            quiet = max(p[_TIME] for p in st.pitches) // 1000 + GAME_STATE_HOURS * 3_600_000
            expiry_at = -(-quiet // 3_600_000) * 3_600_000
        st.final_at, st.expiry_at = final_at, expiry_at

    @staticmethod
    def _outings_for(pitches: list[list], stored: list[Outing], game_pk: int) -> list[Outing]:
        """Stored outings, plus the other games still held in state (summarized the same way)."""
        held: dict[tuple, set] = {}
        for p in pitches:
            if p[_GAME] != game_pk:
                held.setdefault((p[_DAY], p[_GAME]), set()).add((p[_AT_BAT], p[_PITCH]))
        return stored + [Outing(date.fromordinal(d), g, len(keys)) for (d, g), keys in held.items()]

    def _windows(self, pitcher_id: int, st: PitcherState, targets: list[list]) -> dict[tuple, WindowFeatures]:
        """The window features of each target pitch (by key), from its game's pitches held before it: one
        pass per game and season for all of them - a call's provisional and final rows share it."""
        groups: dict[tuple[int, int], list[list]] = {}  # (game, season) -> its targets
        for p in targets:
            groups.setdefault((p[_GAME], date.fromordinal(p[_DAY]).year), []).append(p)
        games: dict[int, tuple[list[PitchObs], dict]] = {}
        out = {}
        for (g, season), group in groups.items():
            if g not in games:  # each game sorted once; a pitch's features read its prefix
                held = sorted((q for q in st.pitches if q[_GAME] == g), key=_IN_GAME)
                days = {d: date.fromordinal(d) for d in {q[_DAY] for q in held}}
                obs = [_obs_of(q, days[q[_DAY]]) for q in held]
                games[g] = obs, {(q[_AT_BAT], q[_PITCH]): i for i, q in enumerate(held)}
            obs, position = games[g]
            places = [position[(p[_AT_BAT], p[_PITCH])] for p in group]
            windows = outing_windows(obs, places, self._outings_for(st.pitches, st.outings, g),
                                     self.baselines.get((pitcher_id, season), {}))
            out.update({_KEY(p): windows[i] for p, i in zip(group, places)})
        return out

    @staticmethod
    def _rows(pitcher_id: int, pitches: list[list], windows: dict, final: bool) -> list[Row]:
        return [Row(**_row(pitcher_id, _pitch(p), windows[_KEY(p)], final)) for p in pitches]

    @staticmethod
    def _due(st: PitcherState, watermark: int) -> list[list]:
        """The pitches awaiting their final row that the watermark (ms) has passed."""
        first, end = st.final_before(), (watermark + 1) * 1000
        return [p for p in st.pitches if first <= p[_TIME] < end]

    def _advance(self, pitcher_id: int, st: PitcherState, watermark: int, due: list[list],
                 windows: dict) -> list[Row]:
        """Final rows of the due pitches (their windows given); games quiet for GAME_STATE_HOURS summarized."""
        out = []
        if due:
            out = self._rows(pitcher_id, sorted(due, key=_IN_SEASON), windows, final=True)
            st.finalized = watermark
        quiet_since = max((p[_TIME] for p in st.pitches), default=None)
        if quiet_since is not None and quiet_since // 1000 + GAME_STATE_HOURS * 3_600_000 <= watermark \
                and quiet_since < st.final_before():
            # every game of this pitcher has been quiet for GAME_STATE_HOURS: summarize, keep the outings
            self._summarize(st, st.pitches)
            st.pitches, st.finalized = [], -1
        elif due:
            over = self._over(st.pitches, st.final_before())
            if over:
                self._summarize(st, [p for p in st.pitches if p[_GAME] in over])
                st.pitches = [p for p in st.pitches if p[_GAME] not in over]
        return out

    @staticmethod
    def _over(pitches: list[list], final_before: int) -> set:
        """Games that are over: every pitch final (time below `final_before`), and the pitcher has since
        thrown a final pitch in another game. A pitcher is in one game at a time, so no on-time pitch of
        such a game can come any more (it would be later than the watermark, which has passed his pitch in
        the other game)."""
        latest = max((p[_TIME] for p in pitches if p[_TIME] < final_before), default=None)
        games: dict = {}  # game -> (its last pitch's time, all its pitches final)
        for p in pitches:
            t, final = games.get(p[_GAME], (p[_TIME], True))
            games[p[_GAME]] = (max(t, p[_TIME]), final and p[_TIME] < final_before)
        if latest is None or len(games) < 2:
            return set()
        return {g for g, (t, final) in games.items() if final and t < latest}

    def _summarize(self, st: PitcherState, pitches: list[list]) -> None:
        """Fold these pitches' games into the pitcher's outings (those within REST_HORIZON_DAYS kept)."""
        outings = self._outings_for(pitches, st.outings, game_pk=-1)
        newest = max(o.game_date for o in outings)
        st.outings = [o for o in outings if (newest - o.game_date).days <= REST_HORIZON_DAYS]

    def close(self) -> None:
        pass


# --- the operator's keys ----------------------------------------------------------------------------
# The state is keyed by a group of pitchers, not by pitcher: transformWithState costs ~1 ms of framework a
# key and micro-batch whatever the processor does (benchmarks/state_overhead: 200 keys of 12 KB, 427 ms a
# batch; 8 keys of 300 KB, 208 ms), and the load's pitchers grow with its rate. GROUPS keys, fixed for a
# checkpoint's life (a pitcher's state is found under his group), chosen so that Spark's hash partitioning
# gives every state partition the same number of them for 1, 2, 4, 8 or 16 partitions (the first GROUPS
# integers would give 12 and 20 of 32 to two partitions); past 32 state partitions the rest idle here.
GROUPS = 32
_BALANCED_FOR = 16  # partitions


def spark_hash(v: int) -> int:
    """Spark's Murmur3 hash of a long (`F.hash`, seed 42): what its shuffle partitions a long key by."""
    m = 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & m

    h = 42
    for half in (v & m, (v >> 32) & m):
        k = rotl(half * 0xCC9E2D51 & m, 15) * 0x1B873593 & m
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & m
    h ^= 8
    h ^= h >> 16
    h = h * 0x85EBCA6B & m
    h ^= h >> 13
    h = h * 0xC2B2AE35 & m
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def _group_keys() -> list[int]:
    """GROUPS keys, the i-th of them in state partition i % P for every P dividing _BALANCED_FOR."""
    by_partition: dict[int, list[int]] = {}
    k = 0
    while len(by_partition) < _BALANCED_FOR or min(map(len, by_partition.values())) < GROUPS // _BALANCED_FOR:
        by_partition.setdefault(spark_hash(k) % _BALANCED_FOR, []).append(k)
        k += 1
    return [by_partition[i % _BALANCED_FOR][i // _BALANCED_FOR] for i in range(GROUPS)]


GROUP_KEYS = _group_keys()
# Each checkpoint is bound to the state layout it started with (checkpoint.claim_layout), by processor:
STATE_LAYOUTS = {
    "python": f"{GROUPS} groups of pitchers, GroupState v1",
    "jvm": "pitchers in the JVM (dev.readiness.state.PitcherFeatures), PitcherState v1",
}


def pitcher_group(pitcher_id: int) -> int:
    return GROUP_KEYS[pitcher_id % GROUPS]


def pitcher_features(pitches: DataFrame, baselines: Baselines, processor: str = "jvm") -> DataFrame:
    """Streaming: valid pitches under the watermark (columns pitcher_id + PITCH_NAMES) -> FEATURES_SCHEMA rows,
    from the JVM processor (jvm/state: the same rules, keyed by pitcher, no Python per key and micro-batch)
    or from the Python reference above (`processor="python"`). Both give the same rows
    (tests/spark_jobs/test_jvm_state.py)."""
    if processor == "python":
        keys = F.array(*(F.lit(k).cast("long") for k in GROUP_KEYS))  # a long key: Spark hashes it as spark_hash
        group = F.element_at(keys, (F.pmod("pitcher_id", F.lit(GROUPS)) + 1).cast("int"))
        return (
            pitches.select(group.alias("pitcher_group"), "pitcher_id", *PITCH_NAMES)
            .groupBy("pitcher_group")
            .transformWithState(PitcherFeatures(baselines), FEATURES_SCHEMA, "append", "EventTime")
        )
    if processor != "jvm":
        raise ValueError(f"unknown state processor {processor!r}: 'jvm' or 'python'")
    # the JVM's form of a pitch: its date as days and its times as microseconds since the epoch (UTC)
    jvm_form = {"game_date": F.unix_date, "event_time": F.unix_micros, "ingest_time": F.unix_micros}
    given = pitches.select(
        F.col("pitcher_id").cast("long").alias("pitcher_id"),
        *[(jvm_form[f.name](f.name) if f.name in jvm_form else F.col(f.name).cast(f.dataType)).alias(f.name)
          for f in PITCH_FIELDS])
    spark = pitches.sparkSession
    jdf = spark._jvm.dev.readiness.state.PitcherFeatures.apply(  # jvm/state, on the class path from .jars/
        given._jdf, T.StructType(WINDOW_FIELDS).json(), jvm_baselines(baselines))
    back = {"game_date": F.date_from_unix_date, "event_time": F.timestamp_micros, "ingest_time": F.timestamp_micros}
    return ClassicDataFrame(jdf, spark).select(
        *[back[n](n).alias(n) if n in back else F.col(n) for n in FEATURES_SCHEMA.fieldNames()])


JVM_STATE = "pitcher"  # the JVM processor's state variable: one binary value per pitcher (jvm/state PitcherState)


def jvm_state_held(raw: bytes) -> tuple[int, int]:
    """(pitches, outing summaries) a JVM pitcher state holds, from its bytes as `PitcherState.dump` writes
    them (Java's DataOutputStream, big-endian): version, finalized, three optional times (a flag, then the
    long if set), the outings (day, game, pitches: 16 bytes each), then the pitches."""
    (version,) = struct.unpack_from(">i", raw, 0)
    if version != 1:
        raise ValueError(f"a JVM pitcher state of version {version}: this code reads version 1")
    at = 12
    for _ in range(3):
        at += 1 + (8 if raw[at] else 0)
    (outings,) = struct.unpack_from(">i", raw, at)
    (pitches,) = struct.unpack_from(">i", raw, at + 4 + 16 * outings)
    return pitches, outings


def jvm_baselines(baselines: Baselines) -> str:
    """The baselines as the JVM processor reads them: "pitcher\tseason\tfamily\tn\tvelo_mean\tvelo_sd5" lines,
    numbers as repr writes them (exact: Java parses them to the same double), empty for None."""
    def number(v: float | None) -> str:
        return "" if v is None else repr(float(v))

    return "\n".join(f"{pitcher}\t{season}\t{family}\t{int(b.n)}\t{number(b.velo_mean)}\t{number(b.velo_sd5)}"
                     for (pitcher, season), by_family in baselines.items() for family, b in by_family.items())


def pitcher_features_batch(pitches: DataFrame, baselines: Baselines) -> DataFrame:
    """Batch: every pitch of bronze given -> its final FEATURES_SCHEMA row, as the stream computes it."""

    def per_pitcher(pdf: pd.DataFrame) -> pd.DataFrame:
        pitcher_id = int(pdf["pitcher_id"].iloc[0])
        records = {(r["game_pk"], r["at_bat_number"], r["pitch_number"]): r for r in pdf[PITCH_NAMES].to_dict("records")}
        by_key = {(o.game_pk, o.at_bat_number, o.pitch_number): o for o in map(_obs, records.values())}
        seasons = {season: b for (pid, season), b in baselines.items() if pid == pitcher_id}
        history = pitcher_history(list(by_key.values()), seasons)
        rows = [_row(pitcher_id, records[(o.game_pk, o.at_bat_number, o.pitch_number)], wf, True) for o, wf in history]
        return pd.DataFrame(rows, columns=FEATURES_SCHEMA.fieldNames())

    return pitches.select("pitcher_id", *PITCH_NAMES).groupBy("pitcher_id").applyInPandas(per_pitcher, FEATURES_SCHEMA)


# --- scoring ---------------------------------------------------------------------------------------

DRIVER = T.StructType([T.StructField("score", T.StringType()), T.StructField("input", T.StringType()),
                       T.StructField("value", T.DoubleType()), T.StructField("points", T.DoubleType())])
SCORED_FIELDS = [
    T.StructField("model_version", T.StringType()),
    T.StructField("pfx_x_adj_in", T.DoubleType()),
    T.StructField("pfx_z_adj_in", T.DoubleType()),
    T.StructField("break_delta_in", T.DoubleType()),
    T.StructField("air_density_kg_m3", T.DoubleType()),
    T.StructField("air_density_ratio", T.DoubleType()),
    T.StructField("air_from_reading", T.BooleanType()),
    T.StructField("wind_speed_mph", T.DoubleType()),
    T.StructField("wind_direction_deg", T.DoubleType()),
    T.StructField("calibration_confidence", T.DoubleType()),
    T.StructField("recalibration_needed", T.BooleanType()),
    T.StructField("readiness", T.DoubleType()),
    T.StructField("readiness_pregame", T.DoubleType()),
    T.StructField("fatigue", T.DoubleType()),
    T.StructField("risk", T.DoubleType()),
    T.StructField("data_confidence", T.DoubleType()),
    T.StructField("alert_level", T.StringType()),
    T.StructField("alert_reasons", T.ArrayType(T.StringType())),
    T.StructField("data_quality", T.StringType()),
    T.StructField("data_quality_reasons", T.ArrayType(T.StringType())),
    T.StructField("drivers", T.ArrayType(DRIVER)),
]
SCORED_SCHEMA = T.StructType([*FEATURES_SCHEMA.fields, *SCORED_FIELDS])


def build_timelines(calibrations: list[dict], readings: list[dict]) -> dict[str, tuple[SystemTimeline, list[dict]]]:
    """Per tracking system: its calibration timeline, and its readings in time order (for the air)."""
    out = {}
    for system in {r["tracking_system_id"] for r in calibrations} | {r["tracking_system_id"] for r in readings}:
        rows = sorted((r for r in readings if r["tracking_system_id"] == system), key=lambda r: _ts(r["event_time"]))
        timeline = SystemTimeline(
            [_ts(c["event_time"]) for c in calibrations if c["tracking_system_id"] == system],
            [Reading(_ts(r["event_time"]), float(r["temperature_c"]), float(r["wind_speed_mph"]),
                     float(r["vibration_mm_s"])) for r in rows],
        )
        out[system] = (timeline, rows)
    return out


def context_at(system: str, home_team: str, t: datetime, timelines: dict) -> Context:
    """Calibration and air of a tracking system at time t (standard air at the park without a reading)."""
    timeline, rows = timelines.get(system, (SystemTimeline([], []), []))
    reading = timeline.reading_at(t)
    if reading is None:
        venue = VENUES.get(home_team)
        return Context(timeline.confidence(t), climatological_density(venue.elevation_m if venue else 0.0),
                       False, None, None)
    row = rows[bisect_right(timeline.reading_times, t) - 1]  # rows are in the timeline's order
    density = air_density(float(row["temperature_c"]), float(row["relative_humidity_pct"]),
                          _num(row.get("pressure_hpa")), _num(row.get("elevation_m")))
    return Context(timeline.confidence(t), density, True, float(row["wind_speed_mph"]),
                   float(row["wind_direction_deg"]))


def plain(value):  # noqa: ANN001, ANN201
    """A pandas/numpy value as the plain Python value Spark's row conversion takes (NaN, NaT -> None)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def records(frame: pd.DataFrame, schema: T.StructType | None = None) -> list[dict]:
    """DataFrame rows as plain dicts; with a schema, whole numbers that pandas widened to float (a column
    with nulls) are turned back into ints."""
    longs = {f.name for f in schema.fields if isinstance(f.dataType, (T.LongType, T.IntegerType))} if schema else set()
    out = []
    for r in frame.to_dict("records"):
        row = {k: plain(v) for k, v in r.items()}
        for k in longs & row.keys():
            if isinstance(row[k], float):
                row[k] = int(row[k])
        out.append(row)
    return out


_NO_BASELINES: dict[str, Baseline] = {}
MEMO_LIMIT = 1_000_000  # pitches awaiting their final row; past this (a stalled watermark) the memo starts over


def score_rows(features: list[dict], timelines: dict, baselines: Baselines, memo: dict | None = None) -> list[dict]:
    """FEATURES_SCHEMA rows -> SCORED_SCHEMA rows, one per model version.

    `memo` (the stream's): a pitch's provisional scores, kept by pitch key with every input they came
    from, are reused by its final row when those inputs are equal - scoring is a pure function of them, and
    a final row most often has the same window and context as its provisional one. Any difference, and
    the final row is scored afresh. The rows returned for a provisional pitch are the ones the memo holds:
    fields a caller adds to them come with its final row until the caller sets them again.
    """
    out = []
    window_names = [f.name for f in WINDOW_FIELDS]
    for r in features:
        ctx = context_at(r["tracking_system_id"], r["home_team"], _ts(r["event_time"]), timelines)
        own = baselines.get((int(r["pitcher_id"]), _date(r["game_date"]).year), _NO_BASELINES)
        window = tuple(r[n] for n in window_names)
        evaluated = None
        if memo is not None:
            key = (r["pitcher_id"], r["game_pk"], r["at_bat_number"], r["pitch_number"])
            inputs = (r["pitch_family"], r["pfx_x"], r["pfx_z"], window, ctx, id(own))
            held = memo.pop(key, None) if r["is_final"] else None
            if held is not None and held[0] == inputs:
                evaluated = held[1]
        if evaluated is None:
            evaluated = evaluate(r["pitch_family"], r["pfx_x"], r["pfx_z"], WindowFeatures(*window), own, ctx, into=r)
        else:  # the provisional rows, with this row's own fields (is_final, ingest_time; the window is equal)
            evaluated = [{**scored, **r} for scored in evaluated]
        if memo is not None and not r["is_final"]:
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[key] = (inputs, evaluated)
        out.extend(evaluated)
    return out


def score_features(features: DataFrame, timelines: dict, baselines: Baselines) -> DataFrame:
    """Distributed scoring: the timelines and baselines travel with the function (they are small)."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            yield pd.DataFrame(score_rows(records(pdf), timelines, baselines), columns=SCORED_SCHEMA.fieldNames())

    return features.mapInPandas(run, SCORED_SCHEMA)
