"""`readiness forget-player` and `readiness retention show|apply`: erasure and the retention schedule."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from readiness_platform.settings import Settings, get_settings

STREAM_WARNING = (
    "The readiness stream must be stopped first: it keeps gold in memory and would write the player's row\n"
    "back at its next micro-batch, and a zero-retention VACUUM deletes the files of commits in flight.")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer (an MLBAM id), got {text}")
    return value


def _as_of(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r} (e.g. 2020-09-04)") from e
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def dagster_instance(settings: Settings):  # noqa: ANN201 - DagsterInstance | None
    """The Dagster instance whose runs to scan: DAGSTER_HOME, else <home>/dagster if it exists (make dagster)."""
    import dagster as dg

    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    home = Path(settings.home) / "dagster"
    if (home / "dagster.yaml").exists():
        os.environ["DAGSTER_HOME"] = str(home)
        return dg.DagsterInstance.get()
    return None


def _forget_player(args: argparse.Namespace) -> None:
    from readiness_platform.erasure import forget_player

    settings = get_settings()
    if not args.dry_run and not args.yes:
        print(STREAM_WARNING, file=sys.stderr)
        answer = input(f"Delete every record of pitcher {args.pitcher_id}, history included? It cannot be "
                       "undone. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise SystemExit("nothing deleted")
    report = forget_player(settings, args.pitcher_id, dry_run=args.dry_run, requested_by=args.by,
                           reason=args.reason, dagster_instance=dagster_instance(settings),
                           log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"pitcher {args.pitcher_id}: " + ("dry run, nothing deleted" if args.dry_run else
                                           f"erased (record {report.record_id} in data_erasures)"))
    print("\n".join(report.lines()))
    if args.dry_run:
        print(f"{report.left_to_delete} records would be deleted; run again without --dry-run to delete them")
    elif report.left_to_delete:
        raise SystemExit(f"{report.left_to_delete} records were found and not deleted: see above")


def _retention_show(args: argparse.Namespace) -> None:
    from readiness_platform.retention import schedule

    rows = schedule(get_settings())
    width = max(len(w.place) for w in rows)
    for w in rows:
        print(f"{w.place:<{width}}  {w.kept:<46}  {w.enforced_by}")


def _retention_apply(args: argparse.Namespace) -> None:
    from readiness_platform.retention import apply_retention

    report = apply_retention(get_settings(), as_of=args.as_of, dry_run=args.dry_run, requested_by=args.by,
                             log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"retention as of {report.as_of:%Y-%m-%d %H:%M} UTC" + (" (dry run)" if args.dry_run else
                                                                   f" (record {report.record_id} in retention_runs)"))
    print("\n".join(report.lines()))


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `forget-player` and `retention` on the `readiness` command."""
    forget = sub.add_parser("forget-player", help="delete one player's data everywhere the platform keeps it, "
                            "Delta history included (stop the stream first)")
    forget.add_argument("pitcher_id", type=_positive_int, help="the player's MLBAM id")
    forget.add_argument("--dry-run", action="store_true", help="only count what each place holds; delete nothing")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    forget.add_argument("--by", help="who asks (recorded; default: the login name)")
    forget.add_argument("--reason", default="erasure request", help="why, e.g. the request's reference (recorded)")
    forget.set_defaults(run=_forget_player)

    retention = sub.add_parser("retention", help="the data retention schedule: show it, or enforce it")
    retention_sub = retention.add_subparsers(required=True, dest="retention_command")
    show = retention_sub.add_parser("show", help="print the schedule of the current settings")
    show.set_defaults(run=_retention_show)
    apply = retention_sub.add_parser("apply", help="delete what is older than its window (run between games)")
    apply.add_argument("--dry-run", action="store_true", help="only count")
    apply.add_argument("--as-of", type=_as_of, help="count windows back from this date (default: now)")
    apply.add_argument("--by", help="who runs it (recorded; default: the login name)")
    apply.set_defaults(run=_retention_apply)
