"""Service persistence (spoofscope.service.db / store): schema migrations, detections, the review
queue and its export to training, kept-audio retention. Against SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import sqlalchemy as sa
import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from conftest_service import SR, noise, tone
from spoofscope.checkpoint import load_checkpoint
from spoofscope.cli import main
from spoofscope.data.dataset import AudioDataset
from spoofscope.data.manifest import read_manifest
from spoofscope.inference import Detector
from spoofscope.service import store
from spoofscope.service.db import (
    Base,
    Detection,
    ReviewItem,
    make_engine,
    migrate,
    session_factory,
    utcnow,
)

TABLES = {"jobs", "detections", "api_keys", "review_items", "rate_counters", "alembic_version"}


@pytest.fixture
def sessions(fresh_database_url):
    migrate(fresh_database_url)
    engine = make_engine(fresh_database_url)
    yield session_factory(engine)
    engine.dispose()


def fake_result(verdict: str, p_spoof: float | None = 0.5, duration_s: float = 2.0) -> dict:
    return {
        "source": "x.wav", "verdict": verdict, "p_spoof": p_spoof,
        "score": None if p_spoof is None else 1.0 - 2 * p_spoof, "duration_s": duration_s,
        "flagged": [], "thresholds": {"lower": 0.3, "upper": 0.7},
        "aggregation": {"method": "min"}, "runtime_s": 0.01,
        "model": {"name": "lfcc-gmm", "id": "abcdef123456", "version": "0.1.0", "backend": "torch"},
        "windows": [{"start_s": 0.0, "end_s": duration_s, "score": 0.0, "p_spoof": p_spoof,
                     "speech_fraction": 1.0, "voted": True}],
    }  # fmt: skip


def save(s, result: dict, **kwargs) -> Detection:
    kwargs.setdefault("client", "k1")
    kwargs.setdefault("source", "x.wav")
    kwargs.setdefault("audio_sha256", "0" * 64)
    kwargs.setdefault("latency_s", 0.01)
    return store.save_detection(s, result, **kwargs)


# --- schema ------------------------------------------------------------------------------


def test_migration_creates_the_schema_from_empty_and_is_idempotent(fresh_database_url):
    engine = make_engine(fresh_database_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) == set()
        migrate(fresh_database_url)
        migrate(fresh_database_url)  # again: nothing to do, no error
        assert set(sa.inspect(engine).get_table_names()) == TABLES
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
                ("0001",)
            ]
            # the migration builds exactly the schema the models describe
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == []
    finally:
        engine.dispose()


def test_concurrent_migrations_do_not_collide(fresh_database_url):
    """Replicas starting together all migrate: two processes at once must both succeed."""
    code = (
        "import sys, time; from spoofscope.service.db import migrate; "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); migrate(sys.argv[1])"
    )
    start_at = str(time.time() + 1.2)  # both start migrating at the same moment
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, fresh_database_url, start_at], stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    engine = make_engine(fresh_database_url)
    assert set(sa.inspect(engine).get_table_names()) == TABLES
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(new_database):
    engine = make_engine(new_database("sqlite"))
    with engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "busy_timeout", "foreign_keys")
        }
    engine.dispose()
    assert pragma == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1}


# --- detections ----------------------------------------------------------------------------


def test_save_detection_stores_every_field(sessions, service_checkpoint):
    detector = Detector.from_pretrained(service_checkpoint, vad="none")
    result = detector.detect(noise(1.0)).to_dict()
    before = utcnow()
    with sessions() as s:
        det = save(s, result, client="key-7", source="call.wav", audio_sha256="ab" * 32,
                   latency_s=0.125, audio_path="/kept/call.wav")  # fmt: skip
    with sessions() as s:
        got = store.get_detection(s, det.id)
        assert store.get_detection(s, "nope") is None
        n_review = s.scalar(sa.select(sa.func.count()).select_from(ReviewItem))
    assert len(got.id) == 32 and int(got.id, 16) >= 0
    assert before <= got.created_at <= utcnow() and got.created_at.tzinfo is dt.UTC
    assert (got.client, got.source, got.audio_sha256) == ("key-7", "call.wav", "ab" * 32)
    assert got.duration_s == pytest.approx(1.0)
    assert got.verdict == result["verdict"] == "spoof"
    assert got.p_spoof == pytest.approx(result["p_spoof"]) and got.p_spoof > 0.9
    assert got.score == pytest.approx(result["score"])
    assert got.windows == result["windows"] and len(got.windows) == 19
    model = result["model"]
    assert (got.model_id, got.model_version, got.model_name) == (
        model["id"], model["version"], "lfcc-gmm"
    )  # fmt: skip
    assert len(got.model_id) == 12 and got.model_version
    assert got.latency_s == 0.125 and got.audio_path == "/kept/call.wav"
    assert got.result == {**result, "id": det.id}  # JSON round trip, whole
    assert got.job_id is None and n_review == 0  # not in the review band, no sampling


def test_review_band_always_queued_and_a_seeded_sample_of_the_rest(sessions):
    verdicts = ["review"] * 10 + ["bonafide", "spoof", "no_speech"] * 40
    random.Random(1).shuffle(verdicts)
    with sessions() as s:
        rng = random.Random(7)
        dets = [save(s, fake_result(v), review_sample_rate=0.25, rng=rng) for v in verdicts]
        items = {i.detection_id: i.reason for i in store.list_review(s, "open", limit=1000)}
    replay = random.Random(7)
    expected = {}
    for det in dets:
        if det.verdict == "review":
            expected[det.id] = "review-band"
        elif replay.random() < 0.25:
            expected[det.id] = "sample"
    assert items == expected
    n_sampled = sum(r == "sample" for r in items.values())
    assert 15 <= n_sampled <= 45  # ~25 % of 120
    with sessions() as s:  # rate 0: only the review band; rate 1: everything
        assert [bool(save(s, fake_result(v)).id) for v in ("spoof", "review")] == [True, True]
        all_in = save(s, fake_result("bonafide"), review_sample_rate=1.0)
        assert store.counts(s)["review_open"] == len(expected) + 2
        assert any(i.detection_id == all_in.id for i in store.list_review(s, limit=1000))


def test_list_and_label_review(sessions):
    with sessions() as s:
        dets = [save(s, fake_result("review", 0.4 + 0.01 * i)) for i in range(3)]
        queue = store.list_review(s)
        assert [i.detection_id for i in queue] == [d.id for d in dets]  # oldest first
        assert queue[0].detection.p_spoof == pytest.approx(0.4)  # detection loaded with it
        with pytest.raises(ValueError, match="'maybe'.*bonafide, spoof"):
            store.label_review(s, queue[0].id, "maybe", None, "ann")
        with pytest.raises(store.NotFound, match="nope"):
            store.label_review(s, "nope", "spoof", None, "ann")
        with pytest.raises(ValueError, match="valid: open, labelled, all"):
            store.list_review(s, "closed")
        item = store.label_review(s, queue[1].id, "spoof", "robotic", "ann")
        assert (item.status, item.label, item.comment, item.reviewer) == (
            "labelled", "spoof", "robotic", "ann"
        )  # fmt: skip
    with sessions() as s:
        assert [i.id for i in store.list_review(s)] == [queue[0].id, queue[2].id]
        store.label_review(s, queue[1].id, "bonafide", "second look", "bob")  # replaces
        (done,) = store.list_review(s, "labelled")
        assert (done.label, done.reviewer, done.comment) == ("bonafide", "bob", "second look")
        assert done.labelled_at.tzinfo is dt.UTC
        assert len(store.list_review(s, "all")) == 3
        assert len(store.list_review(s, "open", limit=1)) == 1


def labelled_corpus(s, root: Path, n: int = 12) -> dict[str, str]:
    """Detections with kept audio (tones and noise), labelled by a 'reviewer'."""
    truth = {}
    for i in range(n):
        label = "bonafide" if i % 2 == 0 else "spoof"
        wave = tone(0.6, 150.0 + 20 * i) if label == "bonafide" else noise(0.6, seed=i)
        path = root / f"a{i:02d}.wav"
        sf.write(path, wave, SR)
        det = save(s, fake_result("review"), audio_path=str(path))
        item = next(it for it in store.list_review(s, limit=100) if it.detection_id == det.id)
        store.label_review(s, item.id, label, f"clip {i}", "ann")
        truth[det.id] = label
    return truth


def test_export_review_manifest_reads_back_and_loads(sessions, tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    with sessions() as s:
        truth = labelled_corpus(s, audio, n=4)
        no_audio = save(s, fake_result("review"))  # labelled, audio not kept: left out
        store.label_review(s, store.list_review(s)[0].id, "spoof", None, "ann")
        gone = save(s, fake_result("review"), audio_path=str(audio / "deleted.wav"))
        store.label_review(s, store.list_review(s)[0].id, "spoof", None, "ann")
        relative = tmp_path / "audio" / "rel.wav"
        sf.write(relative, tone(0.5), SR)
        rel = save(s, fake_result("review"), audio_path="rel.wav")  # relative to audio_dir
        store.label_review(s, store.list_review(s)[0].id, "bonafide", None, "ann")
        save(s, fake_result("review"), audio_path=str(relative))  # still open: left out
        n = store.export_review_manifest(s, tmp_path / "out" / "review.jsonl", audio)
    truth[rel.id] = "bonafide"
    assert n == 5
    utts = read_manifest(tmp_path / "out" / "review.jsonl")
    assert {u.id: u.label for u in utts} == truth
    assert no_audio.id not in truth and gone.id not in truth
    assert {u.dataset for u in utts} == {"spoofscope-review"}
    assert all(Path(u.path).is_absolute() and Path(u.path).is_file() for u in utts)
    assert utts[0].extra["reviewer"] == "ann" and utts[0].extra["model_id"] == "abcdef123456"
    dataset = AudioDataset(utts, segment_samples=4000, crop="first")
    items = [dataset[i] for i in range(len(dataset))]
    assert all(it is not None and it["wave"].shape == (4000,) for it in items)
    assert [it["label"] for it in items] == [1 if u.label == "bonafide" else 0 for u in utts]


def test_review_export_cli_feeds_spoofscope_train(new_database, tmp_path, capsys):
    """The loop closes: reviewers' labels -> `review export` -> `spoofscope train` runs on it."""
    url = new_database("sqlite")
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as s:
        labelled_corpus(s, tmp_path, n=12)
    engine.dispose()
    out = tmp_path / "review.jsonl"
    assert main(["review", "export", "--out", str(out), "--database-url", url]) == 0
    assert "12 labelled items" in capsys.readouterr().out
    cfg = {
        "model": {"name": "lfcc-gmm", "overrides": {"n_components": 2, "max_iter": 5}},
        "data": {"train": str(out), "dev": str(out), "segment_samples": 8000, "workers": 0},
        "epochs": 1,
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "run")]) == 0
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["skipped_train"] == 0 and record["dev_eer"] < 0.2
    _, meta = load_checkpoint(tmp_path / "run" / "best.safetensors")
    assert meta["data_card"]["train"]["count"] == 12
    assert meta["data_card"]["train"]["datasets"] == {"spoofscope-review": 12}


def test_review_export_cli_errors(new_database, tmp_path, capsys):
    url = new_database("sqlite")
    assert main(["review", "export", "--out", str(tmp_path / "m.jsonl"), "--database-url",
                 url]) == 0  # fmt: skip
    assert "0 labelled items" in capsys.readouterr().out
    bad = "postgresql+psycopg://nobody:secret-pw@127.0.0.1:1/none"
    assert main(["review", "export", "--out", str(tmp_path / "m.jsonl"), "--database-url",
                 bad]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "cannot open database" in err and "secret-pw" not in err


# --- retention -----------------------------------------------------------------------------


def test_purge_expired_audio(sessions, tmp_path):
    files = [tmp_path / f"k{i}.wav" for i in range(4)]
    for f in files:
        sf.write(f, np.zeros(160, np.float32), SR)
    now = utcnow()
    with sessions() as s:
        old = save(s, fake_result("spoof"), audio_path=str(files[0]))
        shared_old = save(s, fake_result("spoof"), audio_path=str(files[1]))
        shared_new = save(s, fake_result("spoof"), audio_path=str(files[1]))
        new = save(s, fake_result("spoof"), audio_path=str(files[2]))
        rel_old = save(s, fake_result("spoof"), audio_path=files[3].name)
        none = save(s, fake_result("spoof"))
        for det in (old, shared_old, rel_old, none):
            s.get(Detection, det.id).created_at = now - dt.timedelta(days=31)
        s.commit()
        assert store.purge_expired_audio(s, 30, audio_dir=tmp_path, now=now) == 3
        assert store.purge_expired_audio(s, 30, audio_dir=tmp_path, now=now) == 0
    assert [f.exists() for f in files] == [False, True, True, False]  # k1 still used
    with sessions() as s:
        paths = {d: store.get_detection(s, d.id).audio_path for d in (old, shared_old, rel_old)}
        assert set(paths.values()) == {None}
        assert store.get_detection(s, shared_new.id).audio_path == str(files[1])
        assert store.get_detection(s, new.id).audio_path == str(files[2])
        # a day later the shared file's newest user expires as well
        later = now + dt.timedelta(days=31)
        assert store.purge_expired_audio(s, 30, now=later) == 2
    assert not any(f.exists() for f in files)


def test_counts(sessions):
    with sessions() as s:
        save(s, fake_result("review"))
        save(s, fake_result("spoof"))
        store.create_job(s, "k1", [{"name": "a", "path": "/x", "sha256": "0"}])
        got = store.counts(s)
    assert got == {
        "detections": 2, "jobs": 1, "review_items": 1, "api_keys": 0, "review_open": 1,
        "jobs_queued": 1, "jobs_running": 0, "jobs_done": 0, "jobs_failed": 0,
    }  # fmt: skip


def test_postgres_missing_skips_locally_and_fails_on_ci(monkeypatch):
    from conftest_service import require_postgres
    from pg_server import PgUnavailable

    reason = PgUnavailable("no initdb here")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="SQLite only.*no initdb here"):
        require_postgres(reason)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set.*no initdb here"):
        require_postgres(reason)


def test_shared_database_url_fixture_is_migrated(database_url):
    engine = make_engine(database_url)
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    engine.dispose()
