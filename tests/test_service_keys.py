"""API keys (spoofscope.service.auth, `spoofscope keys`): hashed storage, constant-time checks,
scopes, revocation, and per-key rate limits shared by replicas. Against SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading

import pytest
import sqlalchemy as sa

from spoofscope.cli import main
from spoofscope.service import auth
from spoofscope.service.db import RateCounter, make_engine, migrate, session_factory
from spoofscope.service.store import NotFound


@pytest.fixture
def db(fresh_database_url):
    migrate(fresh_database_url)
    engine = make_engine(fresh_database_url)
    yield fresh_database_url, session_factory(engine), engine
    engine.dispose()


def all_text(engine) -> str:
    """Every value in every table, as one string."""
    out = []
    with engine.connect() as conn:
        for table in sa.inspect(engine).get_table_names():
            out += [repr(tuple(row)) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    return "\n".join(out)


def test_keys_are_stored_hashed_and_verified(db, caplog):
    _, sessions, engine = db
    caplog.set_level(logging.DEBUG)
    with sessions() as s:
        key, plaintext = auth.create_key(s, "detect", "ci bot")
        other, other_plain = auth.create_key(s, ["review", "detect"], "")
    prefix, secret = plaintext.split("_", 2)[1:]
    assert plaintext == f"ssk_{key.prefix}_{secret}" and len(secret) >= 40
    assert (key.scope_list, key.name, other.scope_list) == (
        ["detect"],
        "ci bot",
        ["review", "detect"],
    )
    stored = all_text(engine)
    assert secret not in stored and plaintext not in stored and other_plain not in stored
    scheme, salt, digest = key.secret_hash.split("$")
    assert scheme == "hmac-sha256" and len(salt) == 32 and len(digest) == 64
    assert key.secret_hash.split("$")[1] != other.secret_hash.split("$")[1]  # salted per key
    with sessions() as s:
        assert auth.verify_key(s, plaintext).id == key.id
        assert auth.verify_key(s, f"  {other_plain}\n").id == other.id
        wrong = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
        swapped = f"ssk_{other.prefix}_{secret}"  # a real prefix with another key's secret
        for bad in (wrong, swapped, "", None, "ssk_", "Bearer " + plaintext, secret,
                    f"ssk_000000000000_{secret}", plaintext.replace("ssk_", "sk_")):  # fmt: skip
            assert auth.verify_key(s, bad) is None, bad
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in logged and key.secret_hash not in logged


def test_the_pepper_is_part_of_the_hash(db, monkeypatch):
    _, sessions, _ = db
    monkeypatch.setenv(auth.PEPPER_ENV, "pepper-one")
    with sessions() as s:
        key, plaintext = auth.create_key(s, "detect")
        assert auth.verify_key(s, plaintext).id == key.id
        monkeypatch.setenv(auth.PEPPER_ENV, "pepper-two")  # a stolen database alone is useless
        assert auth.verify_key(s, plaintext) is None


def test_scopes_and_revocation(db):
    _, sessions, _ = db
    with sessions() as s:
        detect, detect_plain = auth.create_key(s, "detect")
        admin, admin_plain = auth.create_key(s, "admin")
        with pytest.raises(ValueError, match="'root'.*detect, review, admin"):
            auth.create_key(s, "detect,root")
        with pytest.raises(ValueError, match="no scope"):
            auth.create_key(s, [])
        assert [auth.has_scope(detect, sc) for sc in auth.SCOPES] == [True, False, False]
        assert [auth.has_scope(admin, sc) for sc in auth.SCOPES] == [True, True, True]
        with pytest.raises(ValueError, match="unknown scope 'x'"):
            auth.has_scope(admin, "x")
        revoked = auth.revoke_key(s, detect.prefix)  # by prefix (or id)
        when = revoked.revoked_at
        assert auth.verify_key(s, detect_plain) is None
        assert auth.verify_key(s, admin_plain).id == admin.id
        assert auth.revoke_key(s, detect.id).revoked_at == when  # twice: the first time stays
        with pytest.raises(NotFound, match="nope"):
            auth.revoke_key(s, "nope")
        assert [k.id for k in auth.list_keys(s)] == [detect.id, admin.id]


def test_rate_limit_counts_per_key_per_minute(db):
    _, sessions, _ = db
    t = dt.datetime(2025, 5, 1, 12, 0, 10, tzinfo=dt.UTC)
    with sessions() as s:
        assert [auth.check_rate(s, "k1", 5, now=t) for _ in range(7)] == [True] * 5 + [False] * 2
        assert auth.check_rate(s, "k2", 5, now=t)  # another key has its own count
        assert not auth.check_rate(s, "k1", 5, now=t + dt.timedelta(seconds=49))  # same minute
        assert auth.check_rate(s, "k1", 5, now=t + dt.timedelta(seconds=50))  # the next one
        assert auth.check_rate(s, "k1", 0, now=t)  # 0 = no limit
        windows = s.execute(sa.select(RateCounter.key_id, RateCounter.window_start)).all()
    # the new window replaced k1's old one; k2's stays until its next request
    minute = int(t.timestamp()) // 60 * 60
    assert sorted(windows) == [("k1", minute + 60), ("k2", minute)]


def test_rate_limit_is_shared_by_replicas(db):
    """Two engines (two API replicas) on one database, hammering one key from 6 threads:
    exactly `limit` requests pass."""
    url, _, _ = db
    limit, per_thread = 37, 15
    t = dt.datetime(2025, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
    engines = [make_engine(url, pool_size=3) for _ in range(2)]
    allowed, lock, start = [], threading.Lock(), threading.Barrier(6)

    def client(factory) -> None:
        start.wait()
        for _ in range(per_thread):
            with factory() as s:
                ok = auth.check_rate(s, "shared", limit, now=t)
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=client, args=(session_factory(engines[i % 2]),))
               for i in range(6)]  # fmt: skip
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for e in engines:
        e.dispose()
    assert len(allowed) == 6 * per_thread and sum(allowed) == limit


def test_keys_cli(new_database, capsys, caplog):
    url = new_database("sqlite")
    assert main(["keys", "create", "--scope", "detect", "--scope", "review", "--name", "ops",
                 "--database-url", url]) == 0  # fmt: skip
    out, err = capsys.readouterr()
    plaintext = out.strip()
    assert plaintext.startswith("ssk_") and "not shown again" in err and plaintext not in err
    assert main(["keys", "list", "--json", "--database-url", url]) == 0
    listed = capsys.readouterr().out
    (row,) = json.loads(listed)
    assert (row["scopes"], row["name"], row["revoked_at"]) == (["detect", "review"], "ops", None)
    assert plaintext.split("_", 2)[2] not in listed and "hmac" not in listed
    assert main(["keys", "list", "--database-url", url]) == 0
    assert row["id"] in capsys.readouterr().out
    engine = make_engine(url)
    with session_factory(engine)() as s:
        assert auth.verify_key(s, plaintext).id == row["id"]
    assert main(["keys", "revoke", row["id"], "--database-url", url]) == 0
    assert f"revoked key {row['id']}" in capsys.readouterr().out
    with session_factory(engine)() as s:
        assert auth.verify_key(s, plaintext) is None
    engine.dispose()
    assert main(["keys", "revoke", "missing", "--database-url", url]) == 2
    assert "no API key with id or prefix 'missing'" in capsys.readouterr().err
    assert main(["keys", "create", "--scope", "root", "--database-url", url]) == 2
    assert "valid scopes: detect, review, admin" in capsys.readouterr().err
    assert plaintext not in caplog.text
