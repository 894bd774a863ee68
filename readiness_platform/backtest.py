"""Back-test of the scores on the real seasons: what the indices and alerts would have said, pitch by pitch.

    readiness backtest            (writes var/reports/backtest.html and prints the summary)

Runs the domain functions the stream and the batch recompute run (transforms.features.score_rows over
domain.features.pitcher_history) on every pitch of ../shared/data/statcast, with seasonal baselines from the
same corpus (a look-ahead a live season would not have: the baseline of 2019 includes August), the replay's
simulated environment, and calibrations as the platform's policy makes them (domain.calibration): pre-game,
whenever a system's confidence falls below 0.70, and at half-inning breaks below 0.85 (each landing 2 minutes
after it is asked for).

What a staff would be told is counted three ways: per pitch, per pitcher-game, and per episode
(domain.episodes: once when an alert opens, once if it turns critical). Pitcher alerts (readiness, velocity)
and data-quality conditions (calibration, late data) are counted apart: the first are episodes of a pitcher,
the second episodes of a tracking system.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict
import random
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from readiness_platform.domain.baselines import BaselinePitch, pitcher_season_baselines
from readiness_platform.domain.air import adjusted_break, climatological_density
from readiness_platform.domain.alerts import Alert, data_quality
from readiness_platform.domain.calibration import Reading, recalibrations
from readiness_platform.domain.episodes import condition_step, episodes, latest, pitcher_step, pitcher_subject
from readiness_platform.domain.features import PitchObs, pitcher_history
from readiness_platform.domain.venues import VENUES
from readiness_platform.replay.feed import environment_readings, sessions_of
from readiness_platform.replay.statcast import load_pitches, statcast_files
from readiness_platform.transforms.features import FEATURES_SCHEMA, build_timelines, score_rows
SALE = 519242
INJURED = {SALE: date(2019, 8, 17)}  # IL dates on record (data README): Sale, elbow
INJURY_HORIZON = timedelta(days=30)
HEALTHY_START = ("a start (the pitcher's first pitch of the game is in the 1st inning) with no injury on record "
                 "in the 30 days after it (Sale's starts from 2019-07-18 on are left out: IL on Aug 17, elbow)")
FULL_GAME_DAY = date(2020, 9, 3)  # 8 whole games, both teams


BETWEEN_HALF_INNINGS = timedelta(seconds=140)  # MLB's break between half-innings is ~2:05-2:25


def half_inning_breaks(pitches: list) -> dict[str, list]:
    """Per tracking system: when each break between half-innings started. A file of one pitcher's pitches
    shows only his half-innings, so each is taken to follow a break (BETWEEN_HALF_INNINGS before its first
    pitch) and to end with one (at its last pitch); a game's first and last half-innings excepted."""
    spans: dict[tuple, list] = {}
    for p in pitches:
        key = (p.tracking_system_id, p.game_pk, p.inning, p.inning_topbot)
        span = spans.setdefault(key, [p.event_time, p.event_time])
        span[0], span[1] = min(span[0], p.event_time), max(span[1], p.event_time)
    by_game: dict[tuple, list] = defaultdict(list)
    for (system, game, _, _), span in spans.items():
        by_game[(system, game)].append(span)
    out: dict[str, list] = defaultdict(list)
    for (system, _), halves in by_game.items():
        halves.sort()
        out[system].extend(first - BETWEEN_HALF_INNINGS for first, _ in halves[1:])
        out[system].extend(last for _, last in halves[:-1])
    return {system: sorted(times) for system, times in out.items()}


def backtest_rows(statcast_dir: Path, seed: int = 7) -> pd.DataFrame:
    """Every pitch of the corpus, scored under both model versions."""
    pitches = load_pitches(statcast_files(statcast_dir), seed=seed)
    by_pitcher_season: dict[tuple[int, int], list] = defaultdict(list)
    for p in pitches:
        by_pitcher_season[(p.pitcher_id, p.game_date.year)].append(p)
    baselines = {}
    for (pid, season), ps in by_pitcher_season.items():
        rows = []
        for p in ps:
            venue = VENUES.get(p.home_team)
            rho = climatological_density(venue.elevation_m if venue else 0.0)
            rows.append(BaselinePitch(pid, p.game_pk, p.game_date, p.at_bat_number, p.pitch_number,
                                      str(p.pitch_family), p.release_speed, p.release_spin_rate, p.release_pos_z,
                                      adjusted_break(p.pfx_z, rho)))
        baselines[(pid, season)] = pitcher_season_baselines(rows)
    rng = random.Random(f"environment-{seed}")
    calibrations, readings = [], []
    breaks = half_inning_breaks(pitches)
    for s in sessions_of(pitches):
        env = [r.model_dump() for r in environment_readings(s, 60.0, rng)]
        readings.extend(env)
        decay = [Reading(r["event_time"].replace(tzinfo=None), r["temperature_c"], r["wind_speed_mph"],
                         r["vibration_mm_s"]) for r in env]
        session_breaks = [t.replace(tzinfo=None) for t in breaks.get(s.tracking_system_id, []) if s.start <= t <= s.end]
        for t in recalibrations(s.start.replace(tzinfo=None), s.end.replace(tzinfo=None), decay,
                                breaks=session_breaks):
            calibrations.append({"tracking_system_id": s.tracking_system_id, "event_time": t})
    for r in readings:
        r["event_time"] = r["event_time"].replace(tzinfo=None)
    timelines = build_timelines(calibrations, readings)
    features = []
    by_pitcher: dict[int, list] = defaultdict(list)
    for p in pitches:
        by_pitcher[p.pitcher_id].append(p)
    names = FEATURES_SCHEMA.fieldNames()
    for pid, ps in by_pitcher.items():
        index = {p.key: p for p in ps}
        obs = [PitchObs(p.game_pk, p.at_bat_number, p.pitch_number, p.game_date, p.event_time.replace(tzinfo=None),
                        str(p.pitch_family), p.release_speed, p.release_spin_rate, p.release_pos_z) for p in ps]
        seasons = {season: b for (q, season), b in baselines.items() if q == pid}
        for o, wf in pitcher_history(obs, seasons):
            p = index[(o.game_pk, o.at_bat_number, o.pitch_number)]
            row = {**p.model_dump(), "pitch_family": str(p.pitch_family), "event_time": o.event_time,
                   **wf.__dict__, "is_final": True}
            features.append({n: row.get(n) for n in names})
    scored = pd.DataFrame(score_rows(features, timelines, baselines))
    names = {p.pitcher_id: p.pitcher_name or str(p.pitcher_id) for p in pitches}
    first: dict[tuple[int, int], object] = {}
    for p in pitches:
        k = (p.pitcher_id, p.game_pk)
        if k not in first or (p.at_bat_number, p.pitch_number) < (first[k].at_bat_number, first[k].pitch_number):
            first[k] = p
    starts = {k for k, p in first.items() if p.inning == 1}
    is_start = [(pid, g) in starts for pid, g in zip(scored["pitcher_id"], scored["game_pk"])]
    return scored.assign(pitcher_name=scored["pitcher_id"].map(names), is_start=is_start)


def _png(fig) -> str:  # noqa: ANN001
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


REASON_KINDS = {  # the first words of a reason (domain.alerts) -> the row of the reasons table
    "readiness": lambda r: "readiness < 60" if "< 60" in r else "readiness < 80",
    "velocity": lambda r: "velocity < -2.0 mph",
    "calibration": lambda r: "calibration < 0.6" if "< 0.6" in r else "calibration < 0.8",
    "late": lambda r: "late data > 0.3" if "> 0.3" in r else "late data > 0.2",
    "feature": lambda r: "feature QA < 0.7",
}


REASON_ROWS = ("readiness < 80", "readiness < 60", "velocity < -2.0 mph", "calibration < 0.8", "calibration < 0.6",
               "late data > 0.2", "late data > 0.3", "feature QA < 0.7")


def _kinds(reasons) -> set[str]:  # noqa: ANN001
    return {REASON_KINDS[r.split(" ")[0]](r) for r in reasons}


def pitcher_episodes(rows: pd.DataFrame) -> pd.DataFrame:
    """Every pitcher alert episode: per model version, pitcher and game, in pitch order (domain.episodes)."""
    out = []
    ordered = rows.sort_values(["model_version", "pitcher_id", "game_pk", "at_bat_number", "pitch_number"])
    cols = ["event_time", "game_pk", "at_bat_number", "pitch_number", "alert_level", "alert_reasons", "readiness"]
    for (version, pid, game), g in ordered.groupby(["model_version", "pitcher_id", "game_pk"], sort=False):
        steps = (pitcher_step(t, (gp, ab, pn), Alert(level, tuple(reasons)), readiness)
                 for t, gp, ab, pn, level, reasons, readiness in g[cols].itertuples(index=False))
        transitions, _ = episodes(pitcher_subject(version, pid, game), steps)
        out.extend({"model_version": version, "pitcher_id": pid, "game_pk": game, "episode_id": e.episode_id,
                    "level": e.level, "status": e.status, "pitches": e.steps, "reasons": list(e.reasons),
                    "opened_at": e.opened_at, "closed_at": e.closed_at} for e in latest(transitions))
    return pd.DataFrame(out, columns=["model_version", "pitcher_id", "game_pk", "episode_id", "level", "status",
                                      "pitches", "reasons", "opened_at", "closed_at"])


def system_episodes(rows: pd.DataFrame) -> pd.DataFrame:
    """Every calibration episode of a tracking system, over the pitches it measured in time order."""
    one = rows[rows["model_version"] == rows["model_version"].iloc[0]].sort_values(
        ["tracking_system_id", "event_time", "game_pk", "at_bat_number", "pitch_number"])
    out = []
    cols = ["event_time", "game_pk", "at_bat_number", "pitch_number", "calibration_confidence"]
    for system, g in one.groupby("tracking_system_id"):
        steps = (condition_step(t, (gp, ab, pn), data_quality(calibration_confidence=c))
                 for t, gp, ab, pn, c in g[cols].itertuples(index=False))
        transitions, _ = episodes(f"system/{system}", steps)
        out.extend({"tracking_system_id": system, "episode_id": e.episode_id, "level": e.level, "pitches": e.steps,
                    "opened_at": e.opened_at, "closed_at": e.closed_at} for e in latest(transitions))
    return pd.DataFrame(out, columns=["tracking_system_id", "episode_id", "level", "pitches", "opened_at", "closed_at"])


def healthy_starts(rows: pd.DataFrame) -> pd.DataFrame:
    """(pitcher_id, game_pk) of every healthy start (HEALTHY_START)."""
    games = rows[rows["is_start"]][["pitcher_id", "game_pk", "game_date"]].drop_duplicates()
    injured = games.apply(lambda g: g["pitcher_id"] in INJURED and g["game_date"] <= INJURED[g["pitcher_id"]]
                          and INJURED[g["pitcher_id"]] - g["game_date"] <= INJURY_HORIZON, axis=1)
    return games[~injured.astype(bool)][["pitcher_id", "game_pk"]]


def _quantile(s: pd.Series, q: float) -> float:
    return float(s.quantile(q)) if len(s) else float("nan")


TARGETS = {  # measure -> what a staff would keep switched on (the alerts issue's targets)
    "healthy starts": "",
    "pitcher alert episodes per healthy start, p50": "0",
    "pitcher alert episodes per healthy start, p90": "<= 1",
    "pitcher alert episodes per full game (2020-09-03, both teams)": "<= 1",
    "pitcher-games with a pitcher alert": "",
    "pitcher-games with a data-quality flag": "",
    "pitches with a pitcher alert": "",
    "pitches thrown under a calibration warning": "<= 10 %",
    "calibration episodes (system alerts)": "one per drift",
    "calibration episodes that turned critical": "",
}


def targets(rows: pd.DataFrame, episodes_: pd.DataFrame, systems: pd.DataFrame) -> pd.DataFrame:
    """The alert measures a staff and an operator judge the platform by: one row per measure, a column per
    model version, and the target."""
    healthy = healthy_starts(rows).set_index(["pitcher_id", "game_pk"]).index
    full_day = rows[rows["game_date"] == FULL_GAME_DAY]["game_pk"].unique()
    one = rows[rows["model_version"] == rows["model_version"].iloc[0]]
    table = {"measure": list(TARGETS)}
    for version, mine in rows.groupby("model_version"):
        per_game = episodes_[episodes_["model_version"] == version].groupby(["pitcher_id", "game_pk"]).size()
        per_start = per_game.reindex(healthy, fill_value=0)
        per_full_game = per_game.groupby(level="game_pk").sum().reindex(full_day, fill_value=0)
        games = mine.groupby(["pitcher_id", "game_pk"])
        table[version] = [
            len(healthy), _quantile(per_start, 0.5), _quantile(per_start, 0.9),
            float(per_full_game.mean()) if len(per_full_game) else float("nan"),
            float(games["alert_level"].agg(lambda a: (a != "ok").any()).mean()),
            float(games["data_quality"].agg(lambda a: (a != "ok").any()).mean()),
            float((mine["alert_level"] != "ok").mean()),
            float((one["calibration_confidence"] < 0.8).mean()),
            len(systems), int((systems["level"] == "critical").sum()),
        ]
    table["target"] = list(TARGETS.values())
    return pd.DataFrame(table)


def reasons_table(rows: pd.DataFrame, episodes_: pd.DataFrame) -> pd.DataFrame:
    """Every alert reason and data-quality reason: share of pitches, of pitcher-games, and episodes with it."""
    out = []
    for version, mine in rows.groupby("model_version"):
        kinds = (mine["alert_reasons"].map(lambda r: list(r)) + mine["data_quality_reasons"].map(lambda r: list(r))
                 ).map(_kinds)
        eps = episodes_[episodes_["model_version"] == version]["reasons"].map(_kinds)
        games = mine[["pitcher_id", "game_pk"]].assign(kinds=kinds.values)
        for kind in REASON_ROWS:
            has = kinds.map(lambda ks, k=kind: k in ks)
            out.append({
                "model_version": version, "reason": kind,
                "kind": "pitcher alert" if kind.split(" ")[0] in ("readiness", "velocity") else "data quality",
                "pitches": float(has.mean()),
                "pitcher_games": float(games.assign(has=has.values).groupby(["pitcher_id", "game_pk"])["has"].any().mean()),
                "pitcher_episodes": int(eps.map(lambda ks, k=kind: k in ks).sum()),
            })
    return pd.DataFrame(out)


def summarize(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The report's tables."""
    episodes_ = pitcher_episodes(rows)
    systems = system_episodes(rows)
    per_pitcher = rows.groupby(["model_version", "pitcher_name"]).agg(
        pitches=("readiness", "size"),
        readiness_p5=("readiness", lambda s: s.quantile(0.05)), readiness_p50=("readiness", "median"),
        fatigue_p50=("fatigue", "median"), fatigue_p95=("fatigue", lambda s: s.quantile(0.95)),
        risk_p50=("risk", "median"), risk_p95=("risk", lambda s: s.quantile(0.95)),
    ).reset_index()
    sale = rows[(rows["pitcher_id"] == SALE) & (rows["model_version"] == "v1")]
    sale = sale.assign(readiness_alert=sale["alert_reasons"].map(lambda r: any(x.startswith("readiness") for x in r)))
    starts = sale.groupby("game_date").agg(
        pitches=("pitch_count_game", "max"), min_readiness=("readiness", "min"), max_fatigue=("fatigue", "max"),
        max_risk=("risk", "max"), fb_velo_last5=("fb_velo_mean5", "last"), velo_delta_min=("velo_delta_mph", "min"),
        velo_z_min=("velo_z", "min"), readiness_alert_pitches=("readiness_alert", "sum"),
    ).reset_index().tail(6)
    return {"targets": targets(rows, episodes_, systems), "reasons": reasons_table(rows, episodes_),
            "per_pitcher": per_pitcher, "sale_last_starts": starts}


def write_report(rows: pd.DataFrame, out: Path) -> dict[str, pd.DataFrame]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = summarize(rows)
    v1 = rows[rows["model_version"] == "v1"]
    starters = v1.groupby("pitcher_name")["readiness"].size().sort_values(ascending=False).head(8).index
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.boxplot([v1[v1["pitcher_name"] == n]["readiness"] for n in starters], tick_labels=list(starters), showfliers=False)
    ax.set_ylabel("readiness (v1)")
    ax.axhline(80, ls="--", c="orange")
    ax.axhline(60, ls="--", c="red")
    ax.tick_params(axis="x", rotation=30)
    boxes = _png(fig)
    plt.close(fig)
    sale = v1[v1["pitcher_id"] == SALE]
    last = sorted(sale["game_date"].unique())[-6:]
    fig, axes = plt.subplots(len(last), 1, figsize=(10, 2 * len(last)), sharex=True)
    for ax, day in zip(axes, last):
        g = sale[sale["game_date"] == day].sort_values("pitch_count_game")
        ax.plot(g["pitch_count_game"], g["readiness"], label="readiness")
        ax.plot(g["pitch_count_game"], g["fatigue"], label="fatigue")
        ax.plot(g["pitch_count_game"], g["risk"], label="risk")
        ax.set_ylim(0, 100)
        ax.set_ylabel(str(day))
    axes[0].legend(loc="lower left", ncol=3)
    axes[-1].set_xlabel("pitch of the game")
    fig.suptitle("Chris Sale, last 2019 starts (IL on Aug 17, elbow)")
    sale_png = _png(fig)
    plt.close(fig)
    html = ["<!doctype html><meta charset=utf-8><title>Back-test</title><h1>Back-test on the real seasons</h1>",
            f"<p>{len(v1)} pitches, {v1['game_pk'].nunique()} games, {v1['pitcher_id'].nunique()} pitchers.</p>"]
    for name, table in tables.items():
        html.append(f"<h2>{name.replace('_', ' ')}</h2>" + table.round(2).to_html(index=False))
    html.append(f"<h2>Readiness per pitcher</h2><img src='data:image/png;base64,{boxes}'>")
    html.append(f"<h2>Chris Sale</h2><img src='data:image/png;base64,{sale_png}'>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(html), encoding="utf-8")
    return tables


def run_backtest(statcast_dir: Path, out: Path) -> dict[str, pd.DataFrame]:
    tables = write_report(backtest_rows(statcast_dir), out)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.2f}".format):
        for name, table in tables.items():
            print(f"\n{name}\n{table.to_string(index=False)}")
    print(f"\nreport: {out}")
    return tables

