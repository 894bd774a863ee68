"""`readiness keys ...`: issue, rotate, list, revoke and grant the read API's keys (in DATABASE_URL)."""

from __future__ import annotations

import argparse
from datetime import datetime

from api.keys import DEFAULT_CACHE_SECONDS, IssuedKey, KeyStore, Role
from readiness_platform.settings import get_settings

_ONCE = ("Store this token now: it is shown once and cannot be shown again "
         "(the database keeps only its hash). Lost it? Rotate the key.")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _hours(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def _store() -> KeyStore:
    store = KeyStore(get_settings().database_url)
    store.ensure_schema()  # the first command on a new database creates the tables
    return store


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def _print_token(issued: IssuedKey) -> None:
    print(f"token: {issued.token}")
    print(f"expires: {_when(issued.expires_at)}")
    print(_ONCE)


def _issue(args: argparse.Namespace) -> None:
    with _store() as store:
        issued = store.issue(args.name, args.role, args.pitchers, ttl_days=args.ttl_days)
    print(f"issued {issued.key_id} ({args.role}) for {args.name!r}")
    _print_token(issued)


def _rotate(args: argparse.Namespace) -> None:
    with _store() as store:
        issued = store.rotate(args.key_id, overlap_hours=args.overlap_hours)
        old = next(k for k in store.list() if k.key_id == args.key_id)
    print(f"rotated {args.key_id} -> {issued.key_id}; {args.key_id} stays valid until {_when(old.expires_at)}, "
          "switch its clients to the new token before then")
    _print_token(issued)


def _revoke(args: argparse.Namespace) -> None:
    with _store() as store:
        revoked_at = store.revoke(args.key_id)
    print(f"revoked {args.key_id} at {_when(revoked_at)}; running APIs refuse it within their key cache "
          f"time ({DEFAULT_CACHE_SECONDS:g} s by default)")


def _grant(args: argparse.Namespace) -> None:
    with _store() as store:
        if args.remove:
            store.ungrant(args.key_id, args.pitchers)
        else:
            store.grant(args.key_id, args.pitchers)
    ids = ", ".join(map(str, args.pitchers))
    print(f"{args.key_id}: {'removed' if args.remove else 'granted'} pitcher(s) {ids}")


def _list(args: argparse.Namespace) -> None:
    with _store() as store:
        keys = store.list()
    header = ("KEY", "NAME", "ROLE", "STATE", "EXPIRES", "PITCHERS", "ROTATED FROM")
    rows = [header] + [
        (k.key_id, k.name, k.role.value, k.state(), _when(k.expires_at),
         "all" if k.role is Role.ADMIN else ",".join(map(str, sorted(k.pitchers))) or "-", k.rotated_from or "-")
        for k in keys]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `keys` and its subcommands on the `readiness` command's subparsers."""
    keys = sub.add_parser("keys", help="manage the read API's keys (PostgreSQL at DATABASE_URL)",
                          description=__doc__)
    commands = keys.add_subparsers(required=True, dest="keys_command")

    issue = commands.add_parser("issue", help="issue a key; prints its token once")
    issue.add_argument("--name", required=True, help="who or what holds the key, e.g. bullpen-dashboard")
    issue.add_argument("--role", required=True, choices=[r.value for r in Role],
                       help="admin: every pitcher and route; operator: granted pitchers, may recalibrate; "
                            "viewer: granted pitchers, read only")
    issue.add_argument("--pitcher", dest="pitchers", type=_positive_int, action="append", default=[],
                       metavar="PITCHER_ID",
                       help="MLBAM id of a pitcher the key may read (repeat the option for more)")
    issue.add_argument("--ttl-days", type=_positive_float, default=90.0, help="days until the key expires")
    issue.set_defaults(run=_issue)

    rotate = commands.add_parser("rotate", help="replace a key by a new one; the old one ends after the overlap")
    rotate.add_argument("key_id")
    rotate.add_argument("--overlap-hours", type=_hours, default=24.0,
                        help="how long the old key keeps working (never longer than it had left)")
    rotate.set_defaults(run=_rotate)

    listing = commands.add_parser("list", help="every key, without secrets")
    listing.set_defaults(run=_list)

    revoke = commands.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=_revoke)

    grant = commands.add_parser("grant", help="let a key read pitchers (--remove: stop it)")
    grant.add_argument("key_id")
    grant.add_argument("pitchers", nargs="+", type=_positive_int, metavar="PITCHER_ID")
    grant.add_argument("--remove", action="store_true", help="remove these grants instead")
    grant.set_defaults(run=_grant)
