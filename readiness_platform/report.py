"""Pages people look at: the stream's own figures, read back from Delta without Spark (delta-rs)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable

from readiness_platform.settings import Settings


def read_table(path: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A Delta table as pandas, through delta-rs (no Spark): what an analyst's notebook does."""
    return DeltaTable(path).to_pandas(columns=columns)


def _png(fig) -> str:  # noqa: ANN001
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def stream_summary(settings: Settings) -> dict[str, object]:
    """The headline figures of the readiness stream, as printed by the demo and the report."""
    tables = settings.tables
    pitches = read_table(tables.pitches, ["game_pk", "at_bat_number", "pitch_number", "is_late"])
    quarantine = read_table(tables.quarantine, ["reason"])
    metrics = read_table(tables.stream_metrics)
    features = read_table(tables.pitch_features, ["model_version", "alert_level"])
    gold = read_table(tables.pitcher_readiness, ["model_version", "alert_level", "is_final"])
    return {
        "pitches": len(pitches),
        "distinct_pitch_keys": len(pitches.drop_duplicates(["game_pk", "at_bat_number", "pitch_number"])),
        "late_pitches": int(pitches["is_late"].sum()),
        "quarantined": len(quarantine),
        "quarantine_reasons": quarantine["reason"].str.split(" \\(got").str[0].value_counts().to_dict(),
        "batches": len(metrics),
        "duplicates_dropped": int(metrics["duplicates_dropped"].sum()),
        "batch_duration_p50_s": float(metrics["batch_duration_s"].median()) if len(metrics) else None,
        "latency_p99_of_batches_s": float(metrics["latency_p99_s"].quantile(0.99)) if len(metrics) else None,
        "readiness_latency_p99_of_batches_s": (float(metrics["readiness_latency_p99_s"].quantile(0.99))
                                               if len(metrics) else None),
        "final_feature_rows": len(features),
        "alert_levels_v1": features[features["model_version"] == "v1"]["alert_level"].value_counts().to_dict(),
        "alert_levels_v2": features[features["model_version"] == "v2"]["alert_level"].value_counts().to_dict(),
        "pitchers_in_gold": int((gold["model_version"] == "v1").sum()),
    }


def stream_report(settings: Settings, out: Path) -> Path:
    """Print the summary and write an HTML page with the per-batch figures and the gold table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = stream_summary(settings)
    for k, v in summary.items():
        print(f"  {k}: {v}")
    metrics = read_table(settings.tables.stream_metrics).sort_values("batch_time")
    gold = read_table(settings.tables.pitcher_readiness)
    gold = gold[gold["model_version"] == "v2"].sort_values("readiness")[
        ["pitcher_id", "game_pk", "pitch_count_game", "readiness", "fatigue", "risk", "calibration_confidence",
         "velo_delta_mph", "alert_level"]]
    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    axes[0].plot(metrics["batch_id"], metrics["latency_p50_s"], label="bronze p50")
    axes[0].plot(metrics["batch_id"], metrics["latency_p99_s"], label="bronze p99")
    axes[0].plot(metrics["batch_id"], metrics["readiness_latency_p99_s"], label="readiness p99")
    axes[0].set_ylabel("arrival to commit, s")
    axes[0].legend()
    axes[1].bar(metrics["batch_id"], metrics["pitches_written"], label="pitches written")
    axes[1].bar(metrics["batch_id"], metrics["quarantined"], bottom=metrics["pitches_written"], label="quarantined")
    axes[1].set_xlabel("micro-batch")
    axes[1].legend()
    fig.suptitle("Readiness stream, per micro-batch")
    rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in summary.items())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "<!doctype html><meta charset=utf-8><title>Readiness stream</title>"
        f"<h1>Readiness stream</h1><table>{rows}</table><img src='data:image/png;base64,{_png(fig)}'>"
        f"<h2>Each pitcher's latest readiness (v2)</h2>{gold.round(2).to_html(index=False)}",
        encoding="utf-8",
    )
    plt.close(fig)
    print(f"report: {out}")
    return out
