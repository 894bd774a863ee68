"""API keys against the real PostgreSQL: issue, authenticate, expiry, revocation, rotation, grants, CLI."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from api.keys import (
    ExpiredKey,
    InvalidKey,
    KeyNotFound,
    KeyStore,
    KeyStoreUnavailable,
    NotPermitted,
    Principal,
    RevokedKey,
    Role,
    key_id_of,
)
from readiness_platform.cli import build_parser, main

pytestmark = pytest.mark.services


def _expire(db: psycopg.Connection, key_id: str, at: str = "now() - interval '1 second'") -> None:
    db.execute(f"update api_keys set expires_at = {at} where key_id = %s", (key_id,))


def test_issued_token_authenticates_as_its_role_and_pitchers(store: KeyStore):
    issued = store.issue("bullpen-dashboard", Role.VIEWER, [592450, 477132])

    principal = store.authenticate(issued.token)

    assert principal == Principal(issued.key_id, Role.VIEWER, frozenset({592450, 477132}))
    assert issued.token.startswith(issued.key_id + ".")
    assert issued.expires_at - datetime.now(timezone.utc) > timedelta(days=89, hours=23)


def test_only_the_hash_of_the_secret_is_stored(store: KeyStore, db: psycopg.Connection):
    issued = store.issue("scout", "viewer", [1])
    secret = issued.token.split(".", 1)[1]

    rows = db.execute("select * from api_keys").fetchall()
    (secret_hash,) = db.execute("select secret_hash from api_keys where key_id = %s", (issued.key_id,)).fetchone()

    assert secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = repr(rows)
    assert secret not in stored and issued.token not in stored
    assert issued.token not in repr(issued)
    assert all("hash" not in name for name in store.list()[0].__dataclass_fields__)


def test_the_token_cannot_be_read_back(store: KeyStore):
    issued = store.issue("scout", "viewer")

    assert issued.token not in repr(store.list())
    assert key_id_of(issued.token) == issued.key_id


@pytest.mark.parametrize("mangle", [
    lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # wrong secret
    lambda token: "rk_00000000." + token.split(".", 1)[1],  # unknown key id
    lambda token: token.split(".", 1)[1],  # secret alone
    lambda token: token + "x",  # malformed
    lambda token: "",
    lambda token: "Bearer " + token,
])
def test_wrong_unknown_or_malformed_tokens_are_invalid_with_one_message(store: KeyStore, mangle):
    issued = store.issue("scout", "viewer")
    store.authenticate(issued.token)  # cached: a wrong secret must fail from the cache as well

    with pytest.raises(InvalidKey) as error:
        store.authenticate(mangle(issued.token))

    assert str(error.value) == str(InvalidKey())
    assert issued.key_id not in str(error.value)


def test_an_expired_key_is_refused(store: KeyStore, db: psycopg.Connection):
    issued = store.issue("scout", "viewer")
    _expire(db, issued.key_id)

    with pytest.raises(ExpiredKey, match=f"{issued.key_id} expired"):
        store.authenticate(issued.token)


def test_expiry_is_checked_on_cached_keys_too(pg_url: str, db: psycopg.Connection):
    with KeyStore(pg_url, cache_seconds=60) as store:
        store.ensure_schema()
        issued = store.issue("scout", "viewer")
        _expire(db, issued.key_id, "now() + interval '0.3 second'")
        store.authenticate(issued.token)  # cached now, with an expiry 0.3 s away
        time.sleep(0.4)

        with pytest.raises(ExpiredKey):
            store.authenticate(issued.token)


def test_revocation_takes_effect_after_forget_or_cache_expiry(pg_url: str, store: KeyStore):
    issued = store.issue("scout", "viewer")
    with KeyStore(pg_url, cache_seconds=60) as api, KeyStore(pg_url, cache_seconds=0.2) as short:
        api.authenticate(issued.token)
        short.authenticate(issued.token)

        store.revoke(issued.key_id)  # by another process, the admin's

        with pytest.raises(RevokedKey):
            store.authenticate(issued.token)  # the revoking store forgets the key at once
        assert api.authenticate(issued.token).key_id == issued.key_id  # the documented window
        api.forget()
        with pytest.raises(RevokedKey, match="was revoked"):
            api.authenticate(issued.token)
        time.sleep(0.3)
        with pytest.raises(RevokedKey):
            short.authenticate(issued.token)


def test_rotation_keeps_the_old_key_valid_for_the_overlap_only(store: KeyStore, db: psycopg.Connection):
    old = store.issue("bullpen-dashboard", "operator", [1, 2], ttl_days=30)

    new = store.rotate(old.key_id, overlap_hours=24)

    assert store.authenticate(old.token) == Principal(old.key_id, Role.OPERATOR, frozenset({1, 2}))
    assert store.authenticate(new.token) == Principal(new.key_id, Role.OPERATOR, frozenset({1, 2}))
    old_ends, new_from, name, lifetime = db.execute(
        "select o.expires_at - now(), n.rotated_from, n.name, n.expires_at - n.created_at "
        "from api_keys o, api_keys n where o.key_id = %s and n.key_id = %s", (old.key_id, new.key_id)).fetchone()
    assert timedelta(hours=23, minutes=59) < old_ends <= timedelta(hours=24)
    assert (new_from, name, lifetime) == (old.key_id, "bullpen-dashboard", timedelta(days=30))

    _expire(db, old.key_id)  # the overlap is over
    store.forget()

    with pytest.raises(ExpiredKey):
        store.authenticate(old.token)
    assert store.authenticate(new.token).key_id == new.key_id


def test_rotation_never_extends_the_old_key(store: KeyStore, db: psycopg.Connection):
    old = store.issue("scout", "viewer")
    _expire(db, old.key_id, "now() + interval '1 hour'")

    store.rotate(old.key_id, overlap_hours=24)

    (left,) = db.execute("select expires_at - now() from api_keys where key_id = %s", (old.key_id,)).fetchone()
    assert left <= timedelta(hours=1)


def test_revoked_or_expired_keys_cannot_be_rotated(store: KeyStore, db: psycopg.Connection):
    revoked, expired = store.issue("a", "viewer"), store.issue("b", "viewer")
    store.revoke(revoked.key_id)
    _expire(db, expired.key_id)

    with pytest.raises(RevokedKey):
        store.rotate(revoked.key_id)
    with pytest.raises(ExpiredKey):
        store.rotate(expired.key_id)


def test_grants_decide_what_a_key_can_see(store: KeyStore):
    viewer = store.issue("scout", "viewer", [1, 2])
    operator = store.issue("trainer", "operator", [1])
    admin = store.issue("platform", "admin")

    seen = store.authenticate(viewer.token)
    assert (seen.can_see(1), seen.can_see(3), seen.can_recalibrate) == (True, False, False)
    with pytest.raises(NotPermitted, match=f"readiness keys grant {viewer.key_id} 3"):
        seen.require_pitcher(3)
    with pytest.raises(NotPermitted, match="operator or admin"):
        seen.require_recalibrate()

    store.grant(viewer.key_id, [3])
    store.ungrant(viewer.key_id, [1])
    assert store.authenticate(viewer.token).pitchers == frozenset({2, 3})

    assert store.authenticate(operator.token).can_recalibrate
    assert not store.authenticate(operator.token).can_see(2)
    boss = store.authenticate(admin.token)
    assert boss.pitchers is None and boss.can_see(123456) and boss.can_recalibrate


def test_admin_operations_on_an_unknown_key_say_so(store: KeyStore):
    for operation in (store.revoke, store.rotate, lambda key_id: store.grant(key_id, [1])):
        with pytest.raises(KeyNotFound, match="readiness keys list"):
            operation("rk_00000000")


def test_bad_arguments_are_refused_before_touching_the_database(store: KeyStore):
    with pytest.raises(ValueError, match="roles: admin, operator, viewer"):
        store.issue("x", "superuser")
    with pytest.raises(ValueError, match="ttl_days"):
        store.issue("x", "viewer", ttl_days=0)
    with pytest.raises(ValueError, match="pitcher ids"):
        store.issue("x", "viewer", [-1])
    assert store.list() == []


def test_ensure_schema_is_idempotent(store: KeyStore):
    issued = store.issue("scout", "viewer")
    store.ensure_schema()
    assert [k.key_id for k in store.list()] == [issued.key_id]


def test_an_unreachable_database_is_unavailable_and_the_password_is_not_shown():
    with KeyStore("postgresql://readiness:s3cret-pw@127.0.0.1:1/readiness") as store:
        with pytest.raises(KeyStoreUnavailable, match="services.sh start") as error:
            store.authenticate("rk_00000000." + "A" * 43)
    assert "s3cret-pw" not in str(error.value)
    assert error.value.outcome == "unavailable"


def test_a_restarted_server_is_reconnected_to(store: KeyStore, db: psycopg.Connection):
    issued = store.issue("scout", "viewer")
    pid = store._conn.info.backend_pid  # the store's one connection (private, but the clearest handle on it)
    db.execute("select pg_terminate_backend(%s)", (pid,))
    store.forget()

    assert store.authenticate(issued.token).key_id == issued.key_id


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    args = build_parser().parse_args(["keys", *argv])
    args.run(args)
    return capsys.readouterr().out


def test_cli_issue_list_revoke(pg_url: str, store: KeyStore, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("DATABASE_URL", pg_url)

    out = _cli(capsys, "issue", "--name", "bullpen-dashboard", "--role", "viewer", "--pitcher", "592450",
               "--pitcher", "477132", "--ttl-days", "30")
    token = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("token: "))
    key_id = key_id_of(token)
    assert "shown once and cannot be shown again" in out
    assert out.count(token) == 1
    assert store.authenticate(token).pitchers == frozenset({592450, 477132})

    listing = _cli(capsys, "list")
    assert listing.splitlines()[0].split()[:4] == ["KEY", "NAME", "ROLE", "STATE"]
    line = next(line for line in listing.splitlines() if line.startswith(key_id))
    assert line.split()[:4] == [key_id, "bullpen-dashboard", "viewer", "active"]
    assert "477132,592450" in line
    assert token.split(".", 1)[1] not in listing

    _cli(capsys, "grant", key_id, "1")
    assert "1,477132,592450" in _cli(capsys, "list")
    _cli(capsys, "grant", "--remove", key_id, "1")

    assert f"revoked {key_id}" in _cli(capsys, "revoke", key_id)
    assert "revoked" in next(line for line in _cli(capsys, "list").splitlines() if line.startswith(key_id))
    store.forget()  # the CLI revoked it through its own KeyStore; this one had the key cached
    with pytest.raises(RevokedKey):
        store.authenticate(token)


def test_cli_rotate_prints_the_new_token_once(pg_url: str, store: KeyStore, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    old = store.issue("scout", "viewer", [7])

    out = _cli(capsys, "rotate", old.key_id, "--overlap-hours", "2")

    token = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("token: "))
    assert store.authenticate(token).pitchers == frozenset({7})
    assert f"{old.key_id} stays valid until" in out


def test_cli_errors_name_the_fix(pg_url: str, store: KeyStore, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("DATABASE_URL", pg_url)

    with pytest.raises(SystemExit) as exit_:
        main(["keys", "revoke", "rk_00000000"])

    assert exit_.value.code == 2
    assert "no API key rk_00000000; `readiness keys list`" in capsys.readouterr().err
