"""The `baselines` table in PostgreSQL: the seasonal baselines as the read service looks them up.

Delta holds them for analysts (and the stream); PostgreSQL holds the same rows for point reads by
(pitcher, season). A season is replaced whole in one transaction, so a reader never sees half a season.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import psycopg

from readiness_platform.domain.features import Baseline

COLUMNS = ["season", "pitcher_id", "pitch_family", "n", "velo_mean", "velo_sd", "velo_sd5", "spin_mean",
           "spin_cv", "release_z_mean", "release_z_sd", "pfx_z_adj_mean", "spin_cv_p90", "release_z_sd_p90",
           "outing_pitches_p50"]
DDL = """
create table if not exists baselines (
    season integer not null,
    pitcher_id bigint not null,
    pitch_family text not null,
    n bigint not null,
    velo_mean double precision, velo_sd double precision, velo_sd5 double precision,
    spin_mean double precision, spin_cv double precision,
    release_z_mean double precision, release_z_sd double precision,
    pfx_z_adj_mean double precision,
    updated_at timestamptz not null default now(),
    primary key (season, pitcher_id, pitch_family)
);
alter table baselines add column if not exists spin_cv_p90 double precision,
    add column if not exists release_z_sd_p90 double precision,
    add column if not exists outing_pitches_p50 double precision;
comment on table baselines is 'Seasonal baselines per pitcher and pitch family (mph, rpm, ft, in); see Delta seasonal_baselines.';
"""


def replace_season(conn: psycopg.Connection, season: int, rows: Iterable[Mapping]) -> int:
    """Replace `season`'s rows with `rows` (dicts with COLUMNS) atomically; the number written."""
    values = [tuple(r[c] for c in COLUMNS) for r in rows]
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(DDL)
        cur.execute("delete from baselines where season = %s", (season,))
        with cur.copy(f"copy baselines ({', '.join(COLUMNS)}) from stdin") as copy:
            for v in values:
                copy.write_row(v)
    return len(values)


def read_baselines(conn: psycopg.Connection, pitcher_id: int, season: int) -> dict[str, Baseline]:
    """One pitcher's baselines of a season, by pitch family (empty if none)."""
    with conn.cursor() as cur:
        cur.execute(f"select {', '.join(COLUMNS[2:])} from baselines where pitcher_id = %s and season = %s",
                    (pitcher_id, season))
        return {r[0]: Baseline(*r) for r in cur.fetchall()}
