"""``spoofscope evaluate`` end to end with a tiny LFCC-GMM on tones (bona fide) vs noise (spoof)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from spoofscope import metrics
from spoofscope.audio import repeat_pad
from spoofscope.checkpoint import save_checkpoint
from spoofscope.cli import main
from spoofscope.data.manifest import Utterance, read_manifest, write_manifest
from spoofscope.models import build_model
from spoofscope.scorefiles import read_scores

SR = 16000
SEG = 8000  # the model's window: 0.5 s keeps the test fast
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tone(rng, n: int, snr_db: float = 30.0) -> np.ndarray:
    t = np.arange(n) / SR
    x = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 1500) * t + rng.uniform(0, 6))
    noise = rng.normal(0, 0.3 / np.sqrt(2) * 10 ** (-snr_db / 20), n)
    return (x + noise).astype(np.float32)


def noise(rng, n: int) -> np.ndarray:
    return rng.normal(0, rng.uniform(0.05, 0.2), n).astype(np.float32)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    rng = np.random.default_rng(0)
    model = build_model("lfcc-gmm", n_components=4, segment_samples=SEG)
    model.fit([tone(rng, SEG) for _ in range(6)], [noise(rng, SEG) for _ in range(6)])
    path = tmp_path_factory.mktemp("ckpt") / "gmm.safetensors"
    card = {  # the shape spoofscope.train writes
        "train": {"manifest": "/data/train.jsonl", "count": 12, "labels": {"bonafide": 6,
                  "spoof": 6}, "datasets": {"synthetic-tones/train": 12}},
        "dev": None,
    }  # fmt: skip
    save_checkpoint(model, path, data_card=card)
    return path


def make_set(root, name: str, n_per_class: int, seed: int, corrupt: bool = False):
    """Write wavs and a manifest; 2 of the bona fide tones are buried in noise (hard trials)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    utts = []
    for i in range(n_per_class):
        n = int(rng.integers(SEG // 2, 2 * SEG))
        path = root / f"{name}_b{i}.wav"
        sf.write(path, tone(rng, n, snr_db=-10.0 if i < 2 else 30.0), SR)
        codec = "none" if i % 2 else "gsm"
        utts.append(Utterance(f"{name}_b{i}", path.name, "bonafide", name, None, "spk1",
                              {"codec": codec}))  # fmt: skip
        path = root / f"{name}_s{i}.wav"
        sf.write(path, noise(rng, n), SR)
        utts.append(Utterance(f"{name}_s{i}", path.name, "spoof", name, f"A0{1 + i % 2}", "spk2",
                              {"codec": codec}))  # fmt: skip
    if corrupt:
        (root / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
        utts.append(Utterance("broken", "broken.wav", "spoof", name, "A01", None, {}))
    manifest = root / f"{name}.jsonl"
    write_manifest(utts, manifest)
    return manifest, read_manifest(manifest)  # paths made absolute


def run(checkpoint, manifests, out, *extra):
    argv = ["evaluate", "--checkpoint", str(checkpoint), "--out", str(out), "--bootstrap", "200"]
    for m in manifests:
        argv += ["--manifest", str(m)]
    return main([*argv, *extra])


@pytest.fixture(scope="module")
def official(checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    manifest, utts = make_set(root / "data", "devset", 10, seed=1, corrupt=True)
    out = root / "out"
    code = run(checkpoint, [manifest], out, "--workers", "2")
    return code, out / "devset", utts


def test_score_file_has_every_readable_utterance(official):
    code, out, utts = official
    assert code == 0
    lines = (out / "scores.txt").read_text().splitlines()
    ids = [line.split()[0] for line in lines]
    assert ids == [u.id for u in utts if u.id != "broken"]
    assert all(len(line.split()) == 2 and np.isfinite(float(line.split()[1])) for line in lines)
    table = (out / "scores.tsv").read_text().splitlines()
    assert table[0].split("\t")[:6] == ["id", "label", "attack", "dataset", "speaker", "score"]
    assert "codec" in table[0].split("\t") and len(table) == len(lines) + 1


def test_metrics_equal_the_metrics_of_the_score_file(official):
    _, out, utts = official
    doc = json.loads((out / "metrics.json").read_text())
    labels = {u.id: u.label for u in utts}
    back = read_scores(out / "scores.txt")
    is_bona = np.array([labels[i] == "bonafide" for i in back.utt_ids])
    bona, spoof = back.scores[is_bona], back.scores[~is_bona]
    m = doc["metrics"]
    assert 0.0 < m["eer"] < 0.3  # two hard bona fide trials: an EER, but a small one
    assert m["eer"] == metrics.eer(bona, spoof)
    assert m["min_dcf"] == metrics.min_dcf(bona, spoof).value
    assert m["cllr"] == metrics.cllr(bona, spoof)
    ci = metrics.bootstrap_eer(bona, spoof, 200, 0.95, 0)
    assert (m["eer_ci"]["low"], m["eer_ci"]["high"]) == (ci.low, ci.high)
    assert m["eer_ci"]["low"] <= m["eer"] <= m["eer_ci"]["high"]
    assert doc["window_mode"] == "official" and doc["score_mode"] == "log-odds"
    assert (
        doc["window"]["segment_samples"] == SEG
        and "first 8000 samples" in (doc["window"]["description"])
    )
    assert doc["model"] == "lfcc-gmm" and len(doc["checkpoint_sha256"]) == 64
    assert doc["train_set"] == "synthetic-tones/train"
    assert doc["counts"] == {"utterances": 21, "scored": 20, "failed": 1, "bonafide": 10,
                             "spoof": 10}  # fmt: skip
    assert "min_tdcf_legacy" not in m  # no ASV scores given


def test_breakdowns(official):
    _, out, _ = official
    b = json.loads((out / "metrics.json").read_text())["metrics"]["breakdown"]
    assert [(r["group"], r["n_bonafide"], r["n_spoof"]) for r in b["attack"]] == [
        ("A01", 10, 5),
        ("A02", 10, 5),
    ]
    assert [(r["group"], r["n_bonafide"], r["n_spoof"]) for r in b["condition"]["codec"]] == [
        ("gsm", 5, 5),
        ("none", 5, 5),
    ]
    assert [r["group"] for r in b["dataset"]] == ["devset"]


def test_corrupt_file_is_counted_and_listed(official):
    _, out, _ = official
    doc = json.loads((out / "metrics.json").read_text())
    assert [f["id"] for f in doc["failures"]] == ["broken"]
    assert "broken.wav" in doc["failures"][0]["path"] and doc["failures"][0]["error"]


def test_plots_are_real_pngs(official):
    _, out, _ = official
    for name in ("det.png", "hist_class.png", "hist_attack.png"):
        data = (out / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000, name


def test_official_score_is_the_model_on_the_first_segment(official, checkpoint):
    from spoofscope.audio import load_audio
    from spoofscope.checkpoint import load_model

    _, out, utts = official
    scores = dict(line.split() for line in (out / "scores.txt").read_text().splitlines())
    model = load_model(checkpoint)
    for utt in utts[:4]:
        wave = repeat_pad(load_audio(utt.path), SEG)
        with torch.inference_mode():
            logit = model(torch.from_numpy(np.ascontiguousarray(wave))[None])[0].double()
        assert float(scores[utt.id]) == pytest.approx((logit[1] - logit[0]).item(), abs=1e-5)


def test_full_mode_scores_the_whole_file(checkpoint, tmp_path):
    rng = np.random.default_rng(5)
    # starts like bona fide, then 2.5 s of noise: only full-length scoring sees the noise
    sf.write(tmp_path / "mixed.wav", np.concatenate([tone(rng, SEG), noise(rng, 5 * SEG)]), SR)
    manifest, _ = make_set(tmp_path, "long", 3, seed=6)
    utts = [Utterance("mixed", "mixed.wav", "spoof", "long", "A03")]
    write_manifest([*read_manifest(manifest, resolve=False), *utts], manifest)
    results = {}
    for mode in ("official", "full"):
        out = tmp_path / mode
        assert run(checkpoint, [manifest], out, "--mode", mode, "--workers", "0") == 0
        doc = json.loads((out / "long" / "metrics.json").read_text())
        assert doc["window_mode"] == mode
        rows = (out / "long" / "scores.tsv").read_text().splitlines()
        results[mode] = {r.split("\t")[0]: r.split("\t") for r in rows[1:]}
        results[mode]["doc"] = doc
    official_score = float(results["official"]["mixed"][5])
    full_score = float(results["full"]["mixed"][5])
    assert official_score > 0 > full_score  # bona fide prefix vs a noisy whole
    assert results["official"]["mixed"][6] == "1"
    assert results["full"]["mixed"][6] == "11"  # ceil((48000 - 8000) / 4000) + 1
    assert results["full"]["mixed"][7] == "3.000"
    window = results["full"]["doc"]["window"]
    assert window["aggregation"] == "mean" and window["hop"] == 0.5
    assert "mean of window scores" in window["description"]


def test_cross_corpus_table(checkpoint, tmp_path, capsys):
    m1, _ = make_set(tmp_path / "a", "corpus_a", 4, seed=2)
    m2, _ = make_set(tmp_path / "b", "corpus_b", 5, seed=3)
    assert run(checkpoint, [m1, m2], tmp_path / "out", "--workers", "0") == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [r["test_set"] for r in summary["rows"]] == ["corpus_a", "corpus_b"]
    assert [(r["n_bonafide"], r["n_spoof"]) for r in summary["rows"]] == [(4, 4), (5, 5)]
    for row in summary["rows"]:
        per_set = json.loads((tmp_path / "out" / row["test_set"] / "metrics.json").read_text())
        assert row["eer_percent"] == per_set["metrics"]["eer_percent"]
        assert row["eer_ci_percent"][0] <= row["eer_percent"] <= row["eer_ci_percent"][1]
    table = (tmp_path / "out" / "summary.md").read_text()
    assert "| synthetic-tones/train | corpus_a |" in table
    assert "| synthetic-tones/train | corpus_b |" in table
    assert "Train on" in table and "first 8000 samples" in table
    assert table in printed


def test_one_class_manifest_is_reported_not_fatal(checkpoint, tmp_path, capsys):
    _, utts = make_set(tmp_path, "bona", 3, seed=4)
    manifest = tmp_path / "only_bona.jsonl"
    write_manifest([u for u in utts if u.label == "bonafide"], manifest)
    assert run(checkpoint, [manifest], tmp_path / "out") == 0
    doc = json.loads((tmp_path / "out" / "only_bona" / "metrics.json").read_text())
    m = doc["metrics"]
    assert m["eer"] is None and m["min_dcf"] is None and m["eer_ci"] is None
    assert "no spoof" in m["unavailable"]["eer"] and "both classes" in m["unavailable"]["eer"]
    assert "det" in doc["plots_not_drawn"] and not (tmp_path / "out/only_bona/det.png").exists()
    assert (tmp_path / "out" / "only_bona" / "hist_class.png").is_file()
    assert "EER n/a" in capsys.readouterr().out


def test_asv_scores_give_min_tdcf(checkpoint, tmp_path):
    manifest, _ = make_set(tmp_path, "tdcf", 4, seed=7)
    rng = np.random.default_rng(8)
    classes = (("target", 4), ("nontarget", -4), ("spoof", 1))
    lines = [f"LA_{i} {k} {rng.normal(mu, 1):.5f}" for k, mu in classes for i in range(30)]
    asv = tmp_path / "asv.txt"
    asv.write_text("\n".join(lines) + "\n")
    assert run(checkpoint, [manifest], tmp_path / "out", "--asv-scores", str(asv)) == 0
    m = json.loads((tmp_path / "out" / "tdcf" / "metrics.json").read_text())["metrics"]
    assert 0.0 <= m["min_tdcf_legacy"] <= 1.0 and 0.0 <= m["min_tdcf_revised"] <= 1.0


def test_every_file_unreadable_exits_1(checkpoint, tmp_path, capsys):
    manifest = tmp_path / "gone.jsonl"
    write_manifest([Utterance("x", str(tmp_path / "missing.wav"), "spoof")], manifest)
    assert run(checkpoint, [manifest], tmp_path / "out") == 1
    assert "missing.wav" in capsys.readouterr().err


@pytest.mark.parametrize(
    "what, message",
    [
        ("manifest", "manifest not found"),
        ("checkpoint", "checkpoint not found"),
        ("hop", "--hop must be a fraction"),
    ],
)
def test_user_errors_exit_2_without_traceback(checkpoint, tmp_path, capsys, what, message):
    manifest, _ = make_set(tmp_path, "tiny", 1, seed=9)
    argv = ["evaluate", "--checkpoint", str(checkpoint), "--manifest", str(manifest)]
    argv += ["--out", str(tmp_path / "out")]
    if what == "manifest":
        argv[argv.index(str(manifest))] = str(tmp_path / "nope.jsonl")
    elif what == "checkpoint":
        argv[argv.index(str(checkpoint))] = str(tmp_path / "nope.safetensors")
    else:
        argv += ["--hop", "1.5"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_report_doctests_and_condition_keys():
    import doctest

    import spoofscope.report
    from spoofscope.evaluate import condition_keys

    result = doctest.testmod(spoofscope.report)
    assert result.attempted >= 2 and result.failed == 0
    utts = [
        Utterance(f"u{i}", "x.wav", "spoof", extra={
            "codec": ["mp3", "opus"][i % 2], "transcript": f"words {i}", "subset": "eval",
            "tags": ["a"], "bitrate": [16, 32, 64][i % 3],
        })
        for i in range(6)
    ]  # fmt: skip
    # per-utterance text, single-valued and non-scalar fields are not conditions
    assert condition_keys(utts) == ["bitrate", "codec"]


def test_official_mode_reproduces_the_official_aasist_scores(reference_dir, tmp_path):
    """Official window mode + official score mode = logit[1] of the official pipeline."""
    doc = json.loads((reference_dir / "aasist" / "expected_logits.json").read_text())
    expected = doc["results"]["AASIST-L.pth"]["outputs"]
    clips = ["LA_T_1272637", "LA_D_1003356", "LA_E_6163791"]
    utts = []
    for clip in clips:
        logits = expected[f"{clip}.model_input.npy"]["logits"]
        label = "bonafide" if logits[1] > logits[0] else "spoof"
        path = reference_dir / "aasist" / "inputs" / f"{clip}.flac"
        utts.append(Utterance(clip, str(path), label, "asvspoof2019-la"))
    manifest = tmp_path / "la.jsonl"
    write_manifest(utts, manifest)
    ckpt = reference_dir / "aasist" / "AASIST-L.pth"
    extra = ["--score-mode", "official", "--workers", "0", "--bootstrap", "0", "--no-plots"]
    code = run(ckpt, [manifest], tmp_path / "out", *extra)
    assert code == 0
    lines = (tmp_path / "out" / "la" / "scores.txt").read_text().splitlines()
    scores = dict(line.split() for line in lines)
    for clip in clips:
        want = expected[f"{clip}.model_input.npy"]["logits"][1]
        assert float(scores[clip]) == pytest.approx(want, abs=2e-4)
    meta = json.loads((tmp_path / "out" / "la" / "metrics.json").read_text())
    assert meta["model"] == "aasist-l" and meta["score_mode"] == "official"
    assert meta["train_set"] is None and "first 64600 samples" in meta["window"]["description"]


class MeanModel(torch.nn.Module):
    """Logits (0, mean of the window): the log-odds score of a window is its mean sample
    (NaN when the mean is above 0.9, to stand for a model failing on some input)."""

    segment_samples, sample_rate = 400, SR

    def __init__(self):
        super().__init__()
        self.batches = []

    def forward(self, wave):
        self.batches.append(tuple(wave.shape))
        mean = wave.mean(dim=1)
        mean = torch.where(mean > 0.9, torch.nan, mean)
        return torch.stack([torch.zeros_like(mean), mean], dim=1)


def test_score_utterances_windows_batches_and_aggregates(tmp_path):
    from spoofscope.evaluate import EvalOptions, score_utterances
    from spoofscope.windows import make_windows

    waves = {
        "ramp": np.linspace(-0.5, 0.5, 1000, dtype=np.float32),  # 4 windows of 400, hop 200
        "short": np.full(150, 0.25, np.float32),  # repeat-padded to 400
        "nan": np.full(500, 0.95, np.float32),
    }
    utts = []
    for name, wave in waves.items():
        sf.write(tmp_path / f"{name}.wav", wave, SR, subtype="FLOAT")
        utts.append(Utterance(name, str(tmp_path / f"{name}.wav"), "bonafide"))
    model = MeanModel()
    options = EvalOptions(window_mode="full", batch_size=3, workers=0)
    scored, failures = score_utterances(model, utts, options)
    assert [f.id for f in failures] == ["nan"] and "non-finite" in failures[0].error
    got = {s.utt.id: s for s in scored}
    want = make_windows(waves["ramp"], 400, 0.5).segments.mean(axis=1).mean()
    assert got["ramp"].score == pytest.approx(float(want), abs=1e-6)
    assert got["ramp"].n_windows == 4 and got["ramp"].n_samples == 1000
    assert got["short"].score == pytest.approx(0.25) and got["short"].n_windows == 1
    # 4 + 1 + 2 windows in batches of 3 that mix files
    assert model.batches == [(3, 400), (3, 400), (1, 400)]
    first, _ = score_utterances(MeanModel(), utts[:1], EvalOptions(workers=2))
    assert first[0].score == pytest.approx(float(waves["ramp"][:400].mean()), abs=1e-6)
    assert first[0].n_windows == 1 and first[0].n_samples is None
