"""Score calibration, thresholds, decisions, checkpoint storage, and ``spoofscope calibrate``."""

from __future__ import annotations

import json
import math
import re
import shutil

import numpy as np
import pytest
import soundfile as sf

from spoofscope import metrics
from spoofscope.calibration import (
    DEFAULT_CALIBRATION,
    Calibration,
    CalibrationError,
    calibration_from_metadata,
    fit_calibration,
)
from spoofscope.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from spoofscope.cli import main
from spoofscope.data.manifest import Utterance, read_manifest, write_manifest
from spoofscope.detection import DEFAULT_AGGREGATION
from spoofscope.evaluate import EvalOptions, score_utterances
from spoofscope.models import build_model

SR = 16000
SEG = 8000


def gaussian_task(n_bona: int, n_spoof: int, seed: int = 0):
    """Bona fide ~ N(2, 1.5^2), spoof ~ N(-1, 1.5^2): the true LLR is linear in the score."""
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(2.0, 1.5, n_bona), rng.normal(-1.0, 1.5, n_spoof)])
    labels = np.r_[np.ones(n_bona, int), np.zeros(n_spoof, int)]
    return scores, labels


TRUE_A = 3.0 / 1.5**2  # (mu1 - mu0) / sigma^2
TRUE_B = -(2.0**2 - 1.0**2) / (2 * 1.5**2)  # -(mu1^2 - mu0^2) / (2 sigma^2)


@pytest.fixture(scope="module")
def fitted() -> tuple[Calibration, np.ndarray, np.ndarray]:
    scores, labels = gaussian_task(20000, 20000)
    return fit_calibration(scores, labels), scores, labels


def test_recovers_the_true_llr(fitted):
    cal, scores, labels = fitted
    assert cal.method == "logistic"
    assert cal.a == pytest.approx(TRUE_A, abs=0.05)
    assert cal.b == pytest.approx(TRUE_B, abs=0.05)
    assert cal.source["cllr_after"] < cal.source["cllr_before"]  # raw scores are miscalibrated


@pytest.mark.parametrize(("n_bona", "n_spoof", "prior"), [(4000, 30000, 0.5), (20000, 20000, 0.9)])
def test_prior_weighting(n_bona, n_spoof, prior):
    """Class counts do not move the fit; the target prior shifts b by logit(prior)."""
    scores, labels = gaussian_task(n_bona, n_spoof, seed=3)
    cal = fit_calibration(scores, labels, target_prior=prior)
    assert cal.a == pytest.approx(TRUE_A, abs=0.06)
    assert cal.b == pytest.approx(TRUE_B + math.log(prior / (1 - prior)), abs=0.08)
    assert cal.source["target_prior"] == prior


def test_monotone(fitted):
    cal = fitted[0]
    grid = np.linspace(-50, 50, 2001)
    p = cal.p_spoof(grid)
    assert np.all(np.diff(p) <= 0) and np.all(np.diff(p)[900:1100] < 0)
    assert p[0] == pytest.approx(1.0) and p[-1] == pytest.approx(0.0)
    assert np.all((p >= 0) & (p <= 1)) and np.isfinite(cal.p_spoof(np.array([1e6, -1e6]))).all()
    assert cal.p_spoof(np.zeros((2, 3))).shape == (2, 3)


def check_eer_point(p_bona, p_spoof, threshold, eer):
    """At ``threshold`` the bona fide flagged and the spoofs passed are both the EER."""
    n = min(len(p_bona), len(p_spoof))
    assert abs(np.mean(p_bona > threshold) - eer) <= 2 / n
    assert abs(np.mean(p_spoof < threshold) - eer) <= 2 / n


def test_thresholds_sit_at_the_stated_operating_points(fitted):
    cal, scores, labels = fitted
    bona, spoof = scores[labels == 1], scores[labels == 0]
    p_bona, p_spoof = cal.p_spoof(bona), cal.p_spoof(spoof)
    src = cal.source
    assert 0.0 < cal.lower < 0.5 <= cal.upper < 1.0
    # lower: at most 1 % of spoofs fall below it, and it is the largest such threshold
    assert np.mean(p_spoof < cal.lower) <= 0.01 < np.mean(p_spoof <= cal.lower)
    assert src["spoof_pass_rate_at_lower"] == np.mean(p_spoof < cal.lower)
    assert cal.lower == src["p_spoof_at_spoof_pass_rate"]
    # upper: the EER point, here just below 0.5 (equal variances), so raised to 0.5
    eer = metrics.eer(bona, spoof)
    assert src["eer"] == eer and 0.1 < eer < 0.2
    check_eer_point(p_bona, p_spoof, src["p_spoof_at_eer"], eer)
    assert 0.45 < src["p_spoof_at_eer"] < 0.5 and cal.upper == 0.5
    assert src["n_bonafide"] == src["n_spoof"] == 20000
    assert src["score_mode"] == "log-odds" and re.match(r"\d{4}-\d\d-\d\d", src["date"])


def test_upper_is_the_eer_point_when_above_one_half():
    rng = np.random.default_rng(5)  # wide bona fide, narrow spoof: the EER point is spoof-side
    bona, spoof = rng.normal(2.0, 2.5, 20000), rng.normal(-1.0, 1.0, 20000)
    cal = fit_calibration(np.r_[bona, spoof], np.r_[np.ones(20000), np.zeros(20000)])
    assert cal.upper > 0.5 and cal.upper == cal.source["p_spoof_at_eer"]
    check_eer_point(cal.p_spoof(bona), cal.p_spoof(spoof), cal.upper, cal.source["eer"])
    assert cal.source["bonafide_flag_rate_at_upper"] == pytest.approx(cal.source["eer"], abs=1e-4)


@pytest.mark.parametrize("seed", range(6))
def test_the_band_always_brackets_one_half(seed):
    rng = np.random.default_rng(seed)
    n_bona, n_spoof = rng.integers(3, 60, 2)
    shift = rng.uniform(0.2, 8.0)
    scores = np.r_[rng.normal(shift, rng.uniform(0.5, 3), n_bona), rng.normal(0, 1, n_spoof)]
    cal = fit_calibration(scores, np.r_[np.ones(n_bona), np.zeros(n_spoof)])
    assert 0.0 <= cal.lower <= 0.5 <= cal.upper <= 1.0
    assert cal.lower == min(cal.source["p_spoof_at_spoof_pass_rate"], 0.5)
    assert cal.upper == max(cal.source["p_spoof_at_eer"], 0.5)


def test_perfect_separation_gives_a_finite_fit():
    cal = fit_calibration([5.0, 6.0, 7.0, -5.0, -6.0, -7.0], [1, 1, 1, 0, 0, 0])
    assert 0 < cal.a < 10 and cal.source["eer"] == 0.0
    assert cal.decide(float(cal.p_spoof(np.array([6.0]))[0])) == "bonafide"
    assert cal.decide(float(cal.p_spoof(np.array([-6.0]))[0])) == "spoof"


def test_source_keeps_the_score_distribution_for_drift_monitoring(fitted):
    from spoofscope.service.drift import psi, reference_from_calibration

    cal, scores, _ = fitted
    q = cal.source["score_quantiles"]
    assert len(q) == 21 and q == sorted(q)
    assert q[0] == pytest.approx(scores.min()) and q[-1] == pytest.approx(scores.max())
    assert cal.source["score_mean"] == pytest.approx(scores.mean())
    reference = reference_from_calibration(cal)
    assert reference is not None and reference.kind == "calibration"
    assert psi(scores, reference) < 0.01  # the fitting scores themselves: no drift
    assert psi(scores + 3 * scores.std(), reference) > 0.25


def test_decide_outcomes_and_overrides():
    cal = Calibration("logistic", 1.0, 0.0, 0.2, 0.8)
    assert [cal.decide(p) for p in (0.0, 0.19, 0.2, 0.5, 0.8, 0.81, 1.0)] == [
        "bonafide", "bonafide", "review", "review", "review", "spoof", "spoof"
    ]  # fmt: skip
    assert cal.decide(0.5, lower=0.6) == "bonafide"
    assert cal.decide(0.5, upper=0.4, lower=0.1) == "spoof"
    assert cal.decide(0.5, lower=0.5, upper=0.5) == "review"
    with pytest.raises(CalibrationError, match="lower 0.9 is above upper 0.8"):
        cal.decide(0.5, lower=0.9)
    with pytest.raises(CalibrationError, match="upper must be in"):
        cal.decide(0.5, upper=1.5)
    with pytest.raises(CalibrationError, match="p_spoof must be in"):
        cal.decide(float("nan"))


def test_round_trips(fitted, tmp_path):
    cal = fitted[0]
    doc = json.loads(json.dumps(cal.to_dict()))
    assert Calibration.from_dict(doc) == cal
    model = build_model("lfcc-gmm", n_components=2, segment_samples=SEG)
    rng = np.random.default_rng(0)
    model.fit(
        [rng.normal(0, 0.1, SEG) for _ in range(2)], [rng.normal(0, 0.3, SEG) for _ in range(2)]
    )
    path = save_checkpoint(model, tmp_path / "m.safetensors", calibration=cal.to_dict())
    assert calibration_from_metadata(read_metadata(path)) == cal
    bare = save_checkpoint(model, tmp_path / "bare.safetensors")
    assert calibration_from_metadata(read_metadata(bare)) is DEFAULT_CALIBRATION
    assert calibration_from_metadata(None) is DEFAULT_CALIBRATION
    assert calibration_from_metadata({"calibration": json.dumps(cal.to_dict())}) == cal


def test_default_calibration_is_the_models_softmax():
    cal = DEFAULT_CALIBRATION
    assert (cal.method, cal.a, cal.b, cal.lower, cal.upper) == ("identity", 1.0, 0.0, 0.3, 0.7)
    assert cal.source["calibrated"] is False
    logits = np.array([[0.3, -1.2]])  # spoof, bona fide
    softmax_spoof = np.exp(0.3) / (np.exp(0.3) + np.exp(-1.2))
    assert cal.p_spoof(logits[:, 1] - logits[:, 0])[0] == pytest.approx(softmax_spoof)


def test_fit_errors():
    with pytest.raises(CalibrationError, match="both classes, got 3 bona fide and 0 spoof"):
        fit_calibration([1.0, 2.0, 3.0], [1, 1, 1])
    with pytest.raises(CalibrationError, match="scores must be finite, got 1: \\[nan\\]"):
        fit_calibration([1.0, float("nan"), 0.0], [1, 1, 0])
    with pytest.raises(CalibrationError, match="anti-correlated"):
        scores, labels = gaussian_task(200, 200)
        fit_calibration(-scores, labels)
    with pytest.raises(CalibrationError, match="labels must be 1 .bona fide. or 0"):
        fit_calibration([1.0, 2.0], [1, 2])
    with pytest.raises(CalibrationError, match="target_prior must be in"):
        fit_calibration([1.0, 2.0], [1, 0], target_prior=1.0)
    with pytest.raises(CalibrationError, match="all 2 scores are equal"):
        fit_calibration([1.0, 1.0], [1, 0])
    with pytest.raises(CalibrationError, match="2 scores but 3 labels"):
        fit_calibration([1.0, 2.0], [1, 0, 1])
    assert fit_calibration([2.0, -2.0], ["bonafide", "spoof"]).a > 0


def test_invalid_stored_calibrations():
    with pytest.raises(CalibrationError, match="slope a > 0"):
        Calibration("logistic", -1.0, 0.0, 0.2, 0.8)
    with pytest.raises(CalibrationError, match="unknown calibration method 'platt'; valid"):
        Calibration.from_dict({"method": "platt", "a": 1, "b": 0, "lower": 0.1, "upper": 0.9})
    with pytest.raises(CalibrationError, match="missing upper"):
        calibration_from_metadata({"calibration": {"method": "logistic", "a": 1, "b": 0,
                                                   "lower": 0.1}})  # fmt: skip
    with pytest.raises(CalibrationError, match="lower 0.9 is above upper 0.1"):
        Calibration("logistic", 1.0, 0.0, 0.9, 0.1)


# --- the calibrate command, end to end on tones (bona fide) vs noise (spoof) ---


def tone(rng, n: int, snr_db: float) -> np.ndarray:
    t = np.arange(n) / SR
    x = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 1500) * t)
    return (x + rng.normal(0, 0.3 / np.sqrt(2) * 10 ** (-snr_db / 20), n)).astype(np.float32)


def noise(rng, n: int) -> np.ndarray:
    return rng.normal(0, rng.uniform(0.05, 0.2), n).astype(np.float32)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("cal")
    rng = np.random.default_rng(0)
    model = build_model("lfcc-gmm", n_components=4, segment_samples=SEG)
    model.fit([tone(rng, SEG, 30.0) for _ in range(6)], [noise(rng, SEG) for _ in range(6)])
    card = {"train": {"manifest": "/data/train.jsonl", "count": 12}, "dev": None}
    ckpt = save_checkpoint(model, root / "gmm.safetensors", data_card=card, extra={"run": "x"})
    utts = []
    for i in range(12):  # 3 bona fide tones buried in noise make the task imperfect
        n = int(rng.integers(SEG // 2, 2 * SEG))
        sf.write(root / f"b{i}.wav", tone(rng, n, -10.0 if i < 3 else 30.0), SR)
        sf.write(root / f"s{i}.wav", noise(rng, n), SR)
        utts += [
            Utterance(f"b{i}", f"b{i}.wav", "bonafide"),
            Utterance(f"s{i}", f"s{i}.wav", "spoof"),
        ]
    (root / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    utts.append(Utterance("broken", "broken.wav", "spoof"))
    write_manifest(utts, root / "dev.jsonl")
    only_bona = [u for u in utts if u.label == "bonafide"]
    write_manifest(only_bona, root / "bona.jsonl")
    return root, ckpt, model


def test_calibrate_cli_stores_the_fit(task, capsys):
    root, ckpt, model = task
    out = root / "calibrated.safetensors"
    argv = ["calibrate", "--checkpoint", str(ckpt), "--manifest", str(root / "dev.jsonl")]
    assert main([*argv, "--out", str(out), "--workers", "0"]) == 0
    printed = capsys.readouterr()
    meta = read_metadata(out)
    cal = calibration_from_metadata(meta)
    # the same scores the evaluation code gives, fitted directly, give the stored calibration
    utts = [u for u in read_manifest(root / "dev.jsonl") if u.id != "broken"]
    window = cal.source["window"]
    assert window["window_mode"] == "full" and window["aggregation"] == DEFAULT_AGGREGATION
    options = EvalOptions(
        "full", hop=window["hop"], aggregation=window["aggregation"], top_k=3, workers=0
    )
    scored, failures = score_utterances(model, utts, options)
    assert not failures
    scores = np.array([s.score for s in scored])
    labels = np.array([s.utt.target for s in scored])
    direct = fit_calibration(scores, labels)
    assert (cal.a, cal.b, cal.lower, cal.upper) == pytest.approx(
        (direct.a, direct.b, direct.lower, direct.upper), rel=1e-9
    )
    src = cal.source
    assert (src["n_bonafide"], src["n_spoof"], src["n_unreadable"]) == (12, 12, 1)
    assert src["manifest"] == "dev" and src["model"] == "lfcc-gmm"
    assert 0.0 < src["eer"] < 0.3
    # the printed figures are the stored ones
    text = printed.out
    assert f"a = {cal.a:.6g}, b = {cal.b:.6g}" in text
    assert f"EER: {src['eer'] * 100:.3f} %" in text
    assert f"p_spoof < {cal.lower:.6g}" in text and f"p_spoof > {cal.upper:.6g}" in text
    assert (
        f"{src['cllr_before']:.4f} bits before" in text and f"{src['cllr_after']:.4f} after" in text
    )
    assert "trials: 12 bona fide, 12 spoof" in text and "1 unreadable" in text
    assert "broken" in printed.err
    # weights, data card and extra are kept; the source checkpoint is untouched
    new_model, _ = load_checkpoint(out)
    for key, value in model.state_dict().items():
        assert np.array_equal(value.numpy(), new_model.state_dict()[key].numpy()), key
    assert meta["data_card"] == read_metadata(ckpt)["data_card"] and meta["extra"] == {"run": "x"}
    assert read_metadata(ckpt)["calibration"] is None


@pytest.mark.parametrize(
    ("options", "window"),
    [
        (["--mode", "official"], {"window_mode": "official"}),
        (["--aggregation", "min", "--hop", "0.25"], {"aggregation": "min", "hop": 0.25}),
    ],
)
def test_calibrate_cli_in_place(task, tmp_path, capsys, options, window):
    root, ckpt, _ = task
    copy = shutil.copy(ckpt, tmp_path / "copy.safetensors")
    argv = ["calibrate", "--checkpoint", str(copy), "--manifest", str(root / "dev.jsonl")]
    assert main([*argv, *options, "--workers", "0"]) == 0
    meta = read_metadata(copy)
    cal = calibration_from_metadata(meta)
    assert cal.method == "logistic"
    assert {k: cal.source["window"][k] for k in window} == window
    assert meta["data_card"]["train"]["count"] == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.safetensors"]  # no leftovers
    assert f"stored in: {copy}" in capsys.readouterr().out


def test_calibrate_cli_in_place_directory_checkpoint(task, tmp_path):
    root, _, model = task
    folder = save_checkpoint(model, tmp_path / "ckpt", extra={"run": "y"})
    argv = ["calibrate", "--checkpoint", str(folder), "--manifest", str(root / "dev.jsonl")]
    assert main([*argv, "--workers", "0"]) == 0
    stored = calibration_from_metadata(read_metadata(folder))
    on_disk = json.loads((folder / "metadata.json").read_text())
    assert stored.method == "logistic" and Calibration.from_dict(on_disk["calibration"]) == stored
    assert on_disk["extra"] == {"run": "y"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.safetensors"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--manifest", "{root}/bona.jsonl"], "both classes, got 12 bona fide and 0 spoof"),
        (["--manifest", "{root}/missing.jsonl"], "manifest not found"),
        (["--manifest", "{root}/dev.jsonl", "--target-prior", "1.5"], "--target-prior"),
        (["--manifest", "{root}/dev.jsonl", "--out", "{root}/x.pth"], "write a .safetensors"),
    ],
)
def test_calibrate_cli_user_errors(task, capsys, extra, message):
    root, ckpt, _ = task
    argv = ["calibrate", "--checkpoint", str(ckpt), "--workers", "0"]
    argv += [a.format(root=root) for a in extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_calibrate_cli_official_pth_needs_out(tmp_path, capsys):
    pth = tmp_path / "AASIST.pth"
    pth.write_bytes(b"not read")
    manifest = tmp_path / "dev.jsonl"
    write_manifest([Utterance("a", "a.wav", "bonafide")], manifest)
    assert main(["calibrate", "--checkpoint", str(pth), "--manifest", str(manifest)]) == 2
    assert "give --out NEW.safetensors" in capsys.readouterr().err
