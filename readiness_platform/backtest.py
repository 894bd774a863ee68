"""Back-test of the scores on the real seasons: what the indices and alerts would have said, pitch by pitch.

    readiness backtest            (writes var/reports/backtest.html and prints the summary)

Runs the domain functions the stream and the batch recompute run (transforms.features.score_rows over
domain.features.pitcher_history) on every pitch of ../shared/data/statcast, with seasonal baselines from the
same corpus (a look-ahead a live season would not have: the baseline of 2019 includes August), the replay's
simulated environment, and calibrations as the platform's loop makes them: pre-game, then whenever a
system's confidence falls below 0.70 (recalibrated 2 minutes later).
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict
import random
from pathlib import Path

import pandas as pd

from readiness_platform.domain.baselines import BaselinePitch, pitcher_season_baselines
from readiness_platform.domain.air import adjusted_break, climatological_density
from readiness_platform.domain.calibration import Reading, recalibrations
from readiness_platform.domain.features import PitchObs, pitcher_history
from readiness_platform.domain.venues import VENUES
from readiness_platform.replay.feed import environment_readings, sessions_of
from readiness_platform.replay.statcast import load_pitches, statcast_files
from readiness_platform.transforms.features import FEATURES_SCHEMA, build_timelines, score_rows
SALE = 519242


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
    for s in sessions_of(pitches):
        env = [r.model_dump() for r in environment_readings(s, 60.0, rng)]
        readings.extend(env)
        decay = [Reading(r["event_time"].replace(tzinfo=None), r["temperature_c"], r["wind_speed_mph"],
                         r["vibration_mm_s"]) for r in env]
        for t in recalibrations(s.start.replace(tzinfo=None), s.end.replace(tzinfo=None), decay):
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
    return scored.assign(pitcher_name=scored["pitcher_id"].map(names))


def _png(fig) -> str:  # noqa: ANN001
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def summarize(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The report's tables."""
    rows = rows.assign(alerting=rows["alert_level"] != "ok", critical=rows["alert_level"] == "critical",
                       readiness_alert=rows["alert_reasons"].map(lambda r: any(x.startswith("readiness") for x in r)),
                       velocity_alert=rows["alert_reasons"].map(lambda r: any(x.startswith("velocity") for x in r)),
                       calibration_alert=rows["alert_reasons"].map(lambda r: any(x.startswith("calibration") for x in r)))
    per_pitcher = rows.groupby(["model_version", "pitcher_name"]).agg(
        pitches=("readiness", "size"),
        readiness_p5=("readiness", lambda s: s.quantile(0.05)), readiness_p50=("readiness", "median"),
        fatigue_p50=("fatigue", "median"), fatigue_p95=("fatigue", lambda s: s.quantile(0.95)),
        risk_p50=("risk", "median"), risk_p95=("risk", lambda s: s.quantile(0.95)),
    ).reset_index()
    per_game = rows.groupby(["model_version", "game_pk", "pitcher_id"]).agg(
        readiness_alerts=("readiness_alert", "sum"), velocity_alerts=("velocity_alert", "sum"),
        calibration_alerts=("calibration_alert", "sum"), critical=("critical", "sum"), pitches=("readiness", "size"),
    ).reset_index()
    alert_rate = per_game.groupby("model_version").agg(
        games=("game_pk", "size"),
        games_with_readiness_alert=("readiness_alerts", lambda s: (s > 0).mean()),
        games_with_velocity_alert=("velocity_alerts", lambda s: (s > 0).mean()),
        games_with_critical=("critical", lambda s: (s > 0).mean()),
        readiness_alerts_per_game=("readiness_alerts", "mean"),
        pitches_per_game=("pitches", "mean"),
    ).reset_index()
    sale = rows[(rows["pitcher_id"] == SALE) & (rows["model_version"] == "v1")]
    starts = sale.groupby("game_date").agg(
        pitches=("pitch_count_game", "max"), min_readiness=("readiness", "min"), max_fatigue=("fatigue", "max"),
        max_risk=("risk", "max"), fb_velo_last5=("fb_velo_mean5", "last"), velo_delta_min=("velo_delta_mph", "min"),
        velo_z_min=("velo_z", "min"), readiness_alerts=("readiness_alert", "sum"),
    ).reset_index().tail(6)
    return {"per_pitcher": per_pitcher, "alert_rate": alert_rate, "sale_last_starts": starts}


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

