"""Alert episodes of scored rows (pitch_features columns, as pandas): what the back-test and a model's
registered metrics count, folded with the domain's state machine (domain.episodes)."""

from __future__ import annotations

import pandas as pd

from readiness_platform.domain.alerts import Alert, data_quality
from readiness_platform.domain.episodes import condition_step, episodes, latest, pitcher_step


def pitcher_episodes(rows: pd.DataFrame) -> pd.DataFrame:
    """Every pitcher alert episode: per model version, pitcher and game, in pitch order (domain.episodes)."""
    out = []
    ordered = rows.sort_values(["model_version", "pitcher_id", "game_pk", "at_bat_number", "pitch_number"])
    cols = ["event_time", "game_pk", "at_bat_number", "pitch_number", "alert_level", "alert_reasons", "readiness"]
    for (version, pid, game), g in ordered.groupby(["model_version", "pitcher_id", "game_pk"], sort=False):
        steps = (pitcher_step(t, (gp, ab, pn), Alert(level, tuple(reasons)), readiness)
                 for t, gp, ab, pn, level, reasons, readiness in g[cols].itertuples(index=False))
        transitions, _ = episodes(f"pitcher/{version}/{pid}/{game}", steps)
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
