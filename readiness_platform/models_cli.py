"""`readiness models ...`: list the registered readiness models, promote a version, roll the champion back."""

from __future__ import annotations

import argparse
import getpass

from readiness_platform.model_registry import CHALLENGER, CHAMPION, Registry
from readiness_platform.settings import get_settings

SHOWN = ("alert_rate_per_game", "agreement_with_previous", "coverage", "latency_per_pitch_ms")


def _list(args: argparse.Namespace) -> None:
    registry = Registry(get_settings())
    rows = registry.report()
    if not rows:
        print(f"{registry.name}: no version registered yet (the Dagster `v2_cutover` job registers them)")
        return
    print(f"{registry.name} in {registry.settings.mlflow_uri}")
    print(f"{'version':>7}  {'scores':6}  {'aliases':20}  {'registered (UTC)':16}  {'by':18}  metrics")
    for r in rows:
        metrics = ", ".join(f"{k} {r['metrics'][k]:.3g}" for k in SHOWN if k in r["metrics"])
        print(f"{r['version']:>7}  {r['scoring_version']:6}  {','.join(r['aliases']) or '-':20}  "
              f"{r['registered']:%Y-%m-%d %H:%M}  {r['registered_by'][:18]:18}  {metrics}")


def _promote(args: argparse.Namespace) -> None:
    registry = Registry(get_settings())
    before = registry.promote(args.version, args.alias, by=args.by, reason=args.reason)
    print(f"{registry.name}@{args.alias} -> version {args.version} "
          f"(was {before.version if before and before.version != args.version else 'unset'}); "
          "the stream and the API follow within model_alias_ttl_seconds")


def _rollback(args: argparse.Namespace) -> None:
    registry = Registry(get_settings())
    served = registry.rollback(by=args.by, reason=args.reason)
    print(f"{registry.name}@champion -> version {served.version} ({served.scoring_version})")


def add_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="the readiness models in MLflow: list, promote, roll back")
    verbs = models.add_subparsers(required=True, dest="verb")
    verbs.add_parser("list", help="every version, its aliases and back-test metrics").set_defaults(run=_list)
    promote = verbs.add_parser("promote", help="point an alias at a version (checked servable first)")
    promote.add_argument("version", help="registry version number")
    promote.add_argument("--alias", choices=[CHAMPION, CHALLENGER], default=CHAMPION)
    promote.add_argument("--reason", required=True, help="why: recorded on the model version")
    promote.set_defaults(run=_promote)
    rollback = verbs.add_parser("rollback", help="point champion back at the version it replaced")
    rollback.add_argument("--reason", required=True)
    rollback.set_defaults(run=_rollback)
    for verb in (promote, rollback):
        verb.add_argument("--by", default=getpass.getuser(), help="who (default: this account)")
