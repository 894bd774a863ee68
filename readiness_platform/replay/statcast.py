"""Reading the real Statcast CSVs in ../shared/data/statcast, with every trap its README lists handled.

1. rows are newest first: pitches are sorted by game date, then (game_pk, at_bat_number, pitch_number)
   (game_pk alone does not follow the calendar: rescheduled games keep their id);
2. 89-94 column exports repeat `pitcher` and `fielder_2`: columns are taken by their first occurrence;
3. UTF-8 BOM and quoted headers; nulls as empty, `NA` or `null`;
4. pfx_x/pfx_z are in feet: the feed carries inches, like the live StatsAPI;
5. untracked pitches keep speed/spin as None, never 0;
6. sv_id (YYMMDD_HHMMSS, UTC) is the pitch time where present; otherwise times are synthesized from the
   real gaps measured in the files that have sv_id (GapModel);
7. pitch labels are mapped to families (domain.pitch_types).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from readiness_platform.domain.errors import StatcastFormatError
from readiness_platform.domain.events import TrackedPitch
from readiness_platform.domain.pitch_types import family_of
from readiness_platform.domain.venues import venue_of

NULLS = frozenset({"", "NA", "null", "NULL", "NaN"})
REQUIRED_COLUMNS = ("game_pk", "at_bat_number", "pitch_number", "game_date", "pitcher", "home_team", "away_team")
FEET_TO_INCHES = 12.0
# MLB's between-innings break for locally televised games (2:05) is the one gap no file here measures:
# a multi-pitcher game file needs it between half-innings; single-pitcher files measure their own.
HALF_INNING_BREAK_S = 125.0
FIRST_PITCH_LOCAL = time(19, 5)  # modal night-game first pitch, for files without sv_id


@dataclass(frozen=True)
class StatcastRow:
    """One CSV row, typed, before it has an event time."""

    source: str
    line: int
    values: dict[str, object]
    sv_time: datetime | None

    @property
    def key(self) -> tuple[int, int, int]:
        v = self.values
        return (int(v["game_pk"]), int(v["at_bat_number"]), int(v["pitch_number"]))  # type: ignore[arg-type]


def _num(raw: str | None, cast: type = float) -> float | int | None:
    if raw is None or raw.strip() in NULLS:
        return None
    return cast(float(raw)) if cast is int else cast(raw)


def _text(raw: str | None) -> str | None:
    return None if raw is None or raw.strip() in NULLS else raw.strip()


def _sv_time(raw: str | None) -> datetime | None:
    text = _text(raw)
    if text is None:
        return None
    return datetime.strptime(text, "%y%m%d_%H%M%S").replace(tzinfo=timezone.utc)


def read_rows(path: str | Path) -> list[StatcastRow]:
    """Typed rows of one CSV, in pitch order (the files are newest first)."""
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:  # utf-8-sig drops a BOM
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise StatcastFormatError(str(path), "empty file") from None
        index: dict[str, int] = {}
        for i, name in enumerate(header):
            index.setdefault(name.strip(), i)  # first occurrence: the second `pitcher` is the fielder
        missing = [c for c in REQUIRED_COLUMNS if c not in index]
        if missing:
            raise StatcastFormatError(str(path), f"missing columns {missing}")

        def col(row: list[str], name: str) -> str | None:
            i = index.get(name)
            return row[i] if i is not None and i < len(row) else None

        rows = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            pfx_x, pfx_z = _num(col(row, "pfx_x")), _num(col(row, "pfx_z"))
            pitch_type = _text(col(row, "pitch_type"))
            values: dict[str, object] = {
                "game_pk": _num(col(row, "game_pk"), int),
                "at_bat_number": _num(col(row, "at_bat_number"), int),
                "pitch_number": _num(col(row, "pitch_number"), int),
                "game_date": date.fromisoformat(col(row, "game_date").strip()),  # type: ignore[union-attr]
                "pitcher_id": _num(col(row, "pitcher"), int),
                "pitcher_name": _text(col(row, "player_name")),
                "p_throws": _text(col(row, "p_throws")),
                "batter_id": _num(col(row, "batter"), int),
                "home_team": _text(col(row, "home_team")),
                "away_team": _text(col(row, "away_team")),
                "inning": _num(col(row, "inning"), int),
                "inning_topbot": _text(col(row, "inning_topbot")),
                "balls": _num(col(row, "balls"), int),
                "strikes": _num(col(row, "strikes"), int),
                "outs_when_up": _num(col(row, "outs_when_up"), int),
                "pitch_type": pitch_type,
                "pitch_family": family_of(pitch_type),
                "release_speed": _num(col(row, "release_speed")),
                "release_spin_rate": _num(col(row, "release_spin_rate")),
                "spin_axis": _num(col(row, "spin_axis")),
                "release_pos_x": _num(col(row, "release_pos_x")),
                "release_pos_z": _num(col(row, "release_pos_z")),
                "release_extension": _num(col(row, "release_extension")),
                "pfx_x": None if pfx_x is None else round(pfx_x * FEET_TO_INCHES, 3),
                "pfx_z": None if pfx_z is None else round(pfx_z * FEET_TO_INCHES, 3),
                "plate_x": _num(col(row, "plate_x")),
                "plate_z": _num(col(row, "plate_z")),
                **{k: _num(col(row, k)) for k in ("vx0", "vy0", "vz0", "ax", "ay", "az")},
            }
            values["tracking_system_id"] = venue_of(str(values["home_team"])).tracking_system_id
            rows.append(StatcastRow(path.name, line, values, _sv_time(col(row, "sv_id"))))
    rows.sort(key=lambda r: (r.values["game_date"], r.key))
    return rows


def gap_category(prev: StatcastRow, cur: StatcastRow) -> str:
    """Why time passed between two consecutive pitches of one game in a file."""
    p, c = prev.values, cur.values
    if p["at_bat_number"] == c["at_bat_number"]:
        return "pitch"
    if (p["inning"], p["inning_topbot"]) == (c["inning"], c["inning_topbot"]):
        return "at_bat"
    if p["pitcher_id"] == c["pitcher_id"]:
        return "own_next_inning"  # a single-pitcher file: the other half-inning happened in between
    return "half_inning"


@dataclass
class GapModel:
    """Empirical pitch-to-pitch gaps (seconds) by category, measured on the files that carry sv_id."""

    samples: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def measure(cls, rows_by_file: Iterable[Sequence[StatcastRow]]) -> "GapModel":
        samples: dict[str, list[float]] = {"pitch": [], "at_bat": [], "own_next_inning": []}
        for rows in rows_by_file:
            for prev, cur in zip(rows, rows[1:]):
                if prev.values["game_pk"] != cur.values["game_pk"] or not (prev.sv_time and cur.sv_time):
                    continue
                gap = (cur.sv_time - prev.sv_time).total_seconds()
                category = gap_category(prev, cur)
                if category in samples and 0 < gap < 3600:
                    samples[category].append(gap)
        for name, values in samples.items():
            if len(values) < 20:
                raise StatcastFormatError("sv_id files", f"too few measured '{name}' gaps ({len(values)})")
            values.sort()
        return cls(samples)

    def quantile(self, category: str, q: float) -> float:
        values = self.samples[category]
        return values[min(len(values) - 1, int(q * len(values)))]

    def draw(self, category: str, rng: random.Random) -> float:
        if category == "half_inning":
            return rng.choice(self.samples["at_bat"]) + HALF_INNING_BREAK_S
        return rng.choice(self.samples[category])


def _first_pitch(row: StatcastRow) -> datetime:
    venue = venue_of(str(row.values["home_team"]))
    local = datetime.combine(row.values["game_date"], FIRST_PITCH_LOCAL, ZoneInfo(venue.timezone))  # type: ignore[arg-type]
    return local.astimezone(timezone.utc)


def timed_pitches(rows: Sequence[StatcastRow], gaps: GapModel, rng: random.Random) -> list[TrackedPitch]:
    """Pitches with event times: sv_id where the file has it, else real gaps drawn from `gaps`."""
    out: list[TrackedPitch] = []
    prev: StatcastRow | None = None
    clock: datetime | None = None
    for row in rows:
        if row.sv_time is not None:
            clock = row.sv_time
        elif prev is None or prev.values["game_pk"] != row.values["game_pk"] or clock is None:
            clock = _first_pitch(row)
        else:
            clock = clock + timedelta(seconds=gaps.draw(gap_category(prev, row), rng))
        out.append(TrackedPitch(event_time=clock, **row.values))  # type: ignore[arg-type]
        prev = row
    return out


def load_pitches(paths: Sequence[str | Path], seed: int = 7) -> list[TrackedPitch]:
    """The pitches of the given CSVs, timed, in event-time order (ties broken by the pitch key).

    Gaps for files without sv_id are measured on every CSV in the same folder that has sv_id.
    """
    rows_by_file = {Path(p): read_rows(p) for p in paths}
    folders = {p.parent for p in rows_by_file}
    measured = [
        rows
        for folder in folders
        for csv_path in sorted(folder.glob("*.csv"))
        for rows in [rows_by_file.get(csv_path) or read_rows(csv_path)]
        if any(r.sv_time for r in rows)
    ]
    gaps = GapModel.measure(measured)
    rng = random.Random(seed)
    pitches = [p for path in sorted(rows_by_file) for p in timed_pitches(rows_by_file[path], gaps, rng)]
    pitches.sort(key=lambda p: (p.event_time, p.key))
    return pitches


def statcast_files(folder: str | Path, pattern: str = "*.csv") -> list[Path]:
    """The CSVs of the shared corpus (or any folder like it)."""
    files = sorted(Path(folder).glob(pattern))
    if not files:
        raise StatcastFormatError(str(folder), f"no files match {pattern}")
    return files


