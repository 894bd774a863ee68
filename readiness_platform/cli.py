"""`readiness`: the platform's command line (replay, ingest, demo, api, keys, feast-env, schema)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from readiness_platform.domain.errors import ReadinessError
from readiness_platform.settings import get_settings


def _replay(args: argparse.Namespace) -> None:
    from readiness_platform.replay import replay_plan
    from readiness_platform.replay.lag import LagModel
    from readiness_platform.replay.player import play
    from readiness_platform.replay.sinks import LandingFolderSink
    from readiness_platform.replay.statcast import statcast_files

    settings = get_settings(**({"landing_dir": args.landing} if args.landing else {}))
    files = args.files or statcast_files(settings.statcast_dir)
    lag = LagModel(
        min_delay_s=args.min_delay, max_delay_s=args.max_delay, duplicate_rate=args.duplicate_rate,
        late_rate=args.late_rate, malformed_rate=args.malformed_rate,
        watermark_delay_s=settings.watermark_delay_seconds, seed=args.seed,
    )
    plan = replay_plan(files, lag)
    play(plan, LandingFolderSink(settings.landing), speedup=args.speedup, per_file=args.per_file,
         flush_every_s=args.flush_ms / 1000)


def _ingest(args: argparse.Namespace) -> None:
    from spark_jobs.stream.main import main as ingest_main

    ingest_main(args.rest)


def _demo(args: argparse.Namespace) -> None:
    from readiness_platform.demo import run_demo

    run_demo(get_settings(), speedup=args.speedup, fresh=not args.keep, files=args.files or None)


def _backtest(args: argparse.Namespace) -> None:
    from readiness_platform.backtest import run_backtest

    settings = get_settings()
    run_backtest(settings.statcast_dir, settings.home / "reports" / "backtest.html")


def _schema(args: argparse.Namespace) -> None:
    from readiness_platform.domain.events import feed_json_schema

    print(json.dumps(feed_json_schema(), indent=2, sort_keys=True))


def _dagster_home(args: argparse.Namespace) -> None:
    from readiness_platform.instance import dagster_pg_url, write_dagster_home

    settings = get_settings()
    home = write_dagster_home(settings, postgres=args.postgres)
    print(f"export DAGSTER_HOME={home}")
    if args.postgres:
        print(f"export DAGSTER_PG_URL={dagster_pg_url(settings)}")


def _api(args: argparse.Namespace) -> None:
    from api.main import main as api_main

    api_main()


def _feast_env(args: argparse.Namespace) -> None:
    from readiness_platform.feature_store import apply_repo, feast_env_exports

    settings = get_settings()
    if args.apply:
        apply_repo(settings)
    print(feast_env_exports(settings))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="readiness", description=__doc__)
    sub = parser.add_subparsers(required=True, dest="command")

    replay = sub.add_parser("replay", help="replay real Statcast CSVs as a live feed into the landing folder")
    replay.add_argument("files", nargs="*", type=Path, help="CSV files (default: the whole shared corpus)")
    replay.add_argument("--landing", type=Path, help="landing folder (default: settings)")
    replay.add_argument("--speedup", type=float, default=60.0, help="feed seconds per wall second; 0 = flat out")
    replay.add_argument("--per-file", type=int, default=1000, help="messages per file when --speedup 0")
    replay.add_argument("--flush-ms", type=float, default=100.0, help="one landing file per this much wall time")
    replay.add_argument("--seed", type=int, default=7)
    replay.add_argument("--min-delay", type=float, default=2.0, help="seconds, pitch to delivery")
    replay.add_argument("--max-delay", type=float, default=5.0)
    replay.add_argument("--duplicate-rate", type=float, default=0.02)
    replay.add_argument("--late-rate", type=float, default=0.02, help="share delivered after the watermark")
    replay.add_argument("--malformed-rate", type=float, default=0.01)
    replay.set_defaults(run=_replay)

    ingest = sub.add_parser("ingest", help="run the ingest stream (options of spark_jobs.stream.main)")
    ingest.add_argument("rest", nargs=argparse.REMAINDER)
    ingest.set_defaults(run=_ingest)

    demo = sub.add_parser("demo", help="replay a real game day through the platform and report")
    demo.add_argument("files", nargs="*", type=Path, help="CSV files (default: 2020-09-03, 8 games)")
    demo.add_argument("--speedup", type=float, default=120.0)
    demo.add_argument("--keep", action="store_true", help="keep earlier tables and checkpoints")
    demo.set_defaults(run=_demo)

    backtest = sub.add_parser("backtest", help="score every real pitch of the corpus and report")
    backtest.set_defaults(run=_backtest)

    home = sub.add_parser("dagster-home", help="write var/dagster/dagster.yaml; prints the exports to use")
    home.add_argument("--postgres", action="store_true", help="run and event storage in PostgreSQL")
    home.set_defaults(run=_dagster_home)

    api = sub.add_parser("api", help="serve the read API and dashboard on API_HOST:API_PORT (uvicorn)")
    api.set_defaults(run=_api)

    feast = sub.add_parser("feast-env", help="print the exports the Feast CLI needs for feature_repo/*.yaml")
    feast.add_argument("--apply", action="store_true", help="also register the repository (idempotent)")
    feast.set_defaults(run=_feast_env)

    schema = sub.add_parser("schema", help="print the feed's JSON Schema")
    schema.set_defaults(run=_schema)

    from api.cli import add_parser as add_keys_parser  # `readiness keys ...`: the read API's key administration

    add_keys_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except ReadinessError as e:
        print(f"readiness: {e}", file=sys.stderr)
        raise SystemExit(2) from e


if __name__ == "__main__":
    main()
