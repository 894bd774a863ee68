"""`readiness`: the platform's command line (replay, ingest, kafka, demo, api, keys, feast-env, schema, forget-player, retention)."""

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
    from readiness_platform.replay.sinks import FeedSink, KafkaSink, LandingFolderSink
    from readiness_platform.replay.statcast import statcast_files

    settings = get_settings(**({"landing_dir": args.landing} if args.landing else {}))
    files = args.files or statcast_files(settings.statcast_dir)
    lag = LagModel(
        min_delay_s=args.min_delay, max_delay_s=args.max_delay, duplicate_rate=args.duplicate_rate,
        late_rate=args.late_rate, malformed_rate=args.malformed_rate,
        watermark_delay_s=settings.watermark_delay_seconds, seed=args.seed,
    )
    plan = replay_plan(files, lag)
    sink: FeedSink = (KafkaSink(settings) if (args.sink or settings.stream_source) == "kafka"
                      else LandingFolderSink(settings.landing))
    play(plan, sink, speedup=args.speedup, per_file=args.per_file, flush_every_s=args.flush_ms / 1000)


def _kafka_topics(args: argparse.Namespace) -> None:
    from readiness_platform.kafka import describe_topics, ensure_topics

    settings = get_settings()
    topics = describe_topics(settings) if args.describe else ensure_topics(settings)
    print(f"Kafka at {settings.kafka_bootstrap_servers}")
    for t in topics:
        print(f"{t.name:<32} {t.kind:<12} {len(t.partitions)} partitions, {t.messages} messages held"
              + (" (created)" if t.created else ""))
        for p in t.partitions:
            print(f"    partition {p.partition}: offsets {p.start_offset}..{p.end_offset}")


def _kafka_lag(args: argparse.Namespace) -> None:
    import time

    from readiness_platform.kafka import consumer_lag, format_lag, format_prometheus

    settings = get_settings()
    while True:
        report = consumer_lag(settings, args.checkpoint)
        print(format_prometheus(report) if args.prometheus else format_lag(report), flush=True)
        if not args.watch:
            break
        time.sleep(args.watch)
        print()


def _ingest(args: argparse.Namespace) -> None:
    from spark_jobs.stream.main import main as ingest_main

    ingest_main(args.rest)


def _demo(args: argparse.Namespace) -> None:
    from readiness_platform.demo import run_demo

    run_demo(get_settings(), speedup=args.speedup, fresh=not args.keep, files=args.files or None)


def _smoke(args: argparse.Namespace) -> None:
    from readiness_platform.smoke import run_smoke

    run_smoke(get_settings(), speedup=args.speedup)


def _load(args: argparse.Namespace) -> None:
    from readiness_platform.load import ONLINE_STORES, print_result, run_load

    settings = get_settings(home=get_settings().home / "load", stream_source=args.source,
                            feast_env=ONLINE_STORES[args.online])
    print_result(run_load(settings, args.pitchers, args.rate, args.duration, args.warmup))


def _backtest(args: argparse.Namespace) -> None:
    from readiness_platform.backtest import run_backtest

    settings = get_settings()
    run_backtest(settings.statcast_dir, settings.home / "reports" / "backtest.html", args.baselines)


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


def _exporter(args: argparse.Namespace) -> None:
    import logging

    from readiness_platform.exporter import serve

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(get_settings(), args.host, args.port, args.interval, args.active_hours,
          with_served_version=not args.no_served_version)


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
    replay.add_argument("--sink", choices=("landing", "kafka"),
                        help="where to deliver: the landing folder or the Kafka topics (default: READINESS_STREAM_SOURCE)")
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

    kafka = sub.add_parser("kafka", help="the feed's Kafka topics and the stream's consumer lag")
    kafka_sub = kafka.add_subparsers(required=True, dest="kafka_command")
    topics = kafka_sub.add_parser("topics", help="create the feed's topics that are missing (idempotent), describe them")
    topics.add_argument("--describe", action="store_true", help="only describe; create nothing")
    topics.set_defaults(run=_kafka_topics)
    lag = kafka_sub.add_parser("lag", help="per topic and partition: broker offsets vs the stream's checkpoint; "
                                           "late fraction and quarantine per topic")
    lag.add_argument("--checkpoint", help="the stream's checkpoint (default: <checkpoints>/stream)")
    lag.add_argument("--prometheus", action="store_true", help="print in Prometheus' text format")
    lag.add_argument("--watch", type=float, metavar="SECONDS", help="print again every SECONDS")
    lag.set_defaults(run=_kafka_lag)

    demo = sub.add_parser("demo", help="replay a real game day through the platform and report")
    demo.add_argument("files", nargs="*", type=Path, help="CSV files (default: 2020-09-03, 8 games)")
    demo.add_argument("--speedup", type=float, default=120.0)
    demo.add_argument("--keep", action="store_true", help="keep earlier tables and checkpoints")
    demo.set_defaults(run=_demo)

    smoke = sub.add_parser("smoke", help='the closer\'s smoke test ("the Helsley test"): Familia\'s three '
                           "straight days through the whole platform, checked")
    smoke.add_argument("--speedup", type=float, default=60.0, help="feed seconds per wall second")
    smoke.set_defaults(run=_smoke)

    load = sub.add_parser("load", help="the load test: synthetic pitchers from the real corpus through the feed, "
                          "the stream, the online store and the API; latency, throughput, losses")
    load.add_argument("--pitchers", type=int, default=25)
    load.add_argument("--rate", type=float, default=100.0, help="events per second")
    load.add_argument("--duration", type=float, default=60.0, help="seconds of measured load")
    load.add_argument("--warmup", type=float, default=30.0, help="seconds of load before it, not measured")
    load.add_argument("--source", choices=["kafka", "landing"], default="kafka")
    load.add_argument("--online", choices=["redis", "sqlite"], default="redis",
                      help="the online store: Feast's Redis store (a ballpark's) or the laptop's SQLite store")
    load.set_defaults(run=_load)

    backtest = sub.add_parser("backtest", help="score every real pitch of the corpus and report")
    backtest.add_argument("--baselines", choices=("walk-forward", "season"), default="walk-forward",
                          help="each game's baselines from the earlier games only (default), or whole seasons")
    backtest.set_defaults(run=_backtest)

    home = sub.add_parser("dagster-home", help="write var/dagster/dagster.yaml; prints the exports to use")
    home.add_argument("--postgres", action="store_true", help="run and event storage in PostgreSQL")
    home.set_defaults(run=_dagster_home)

    api = sub.add_parser("api", help="serve the read API and dashboard on API_HOST:API_PORT (uvicorn)")
    api.set_defaults(run=_api)

    exporter = sub.add_parser("exporter", help="serve Prometheus metrics of the stream and the lakehouse "
                              "(read from Delta without Spark) on HOST:PORT/metrics")
    exporter.add_argument("--host", default="0.0.0.0")
    exporter.add_argument("--port", type=int, default=9464)
    exporter.add_argument("--interval", type=float, default=15.0, help="seconds between readings of the tables")
    exporter.add_argument("--active-hours", type=float, default=6.0,
                          help="per-pitcher gauges for pitchers the stream updated within this many hours")
    exporter.add_argument("--no-served-version", action="store_true",
                          help="do not look up the served model version (MLflow champion alias, PostgreSQL)")
    exporter.set_defaults(run=_exporter)

    feast = sub.add_parser("feast-env", help="print the exports the Feast CLI needs for feature_repo/*.yaml")
    feast.add_argument("--apply", action="store_true", help="also register the repository (idempotent)")
    feast.set_defaults(run=_feast_env)

    schema = sub.add_parser("schema", help="print the feed's JSON Schema")
    schema.set_defaults(run=_schema)

    from api.cli import add_parser as add_keys_parser  # `readiness keys ...`: the read API's key administration

    add_keys_parser(sub)
    from readiness_platform.models_cli import add_parser as add_models_parser

    add_models_parser(sub)
    from readiness_platform.erasure_cli import add_parser as add_erasure_parser  # forget-player, retention

    add_erasure_parser(sub)
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
