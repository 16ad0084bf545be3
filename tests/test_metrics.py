"""spoofscope.metrics against the official values in reference/metrics/expected_metrics.json.

Every non-null value in that file is checked (EERs with float64 ``==``, the rest to rtol 1e-12);
a metric key the test does not know fails the test, so nothing is skipped silently.
"""

from __future__ import annotations

import doctest
import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from spoofscope import metrics as m
from spoofscope.errors import SpoofscopeError
from spoofscope.protocols import read_protocol
from spoofscope.scorefiles import read_asv_scores, read_scores

RTOL = 1e-12
ATOL_ZERO = 1e-12
# Keys whose values are EERs (fractions): compared with ==.
EXACT_KEYS = {"asvspoof2019.eer", "asvspoof2021.eer", "asvspoof2021.wrapper_eer", "asvspoof5.eer"}
# Descriptive fields of a metric entry that hold no number to check.
TEXT_FIELDS = {"producer", "unit", "cost_model", "asv", "note", "error", "value"}


def close(got: float, want: float, exact: bool = False) -> bool:
    if exact:
        return got == want
    if want == 0:
        return abs(got) <= ATOL_ZERO
    return abs(got - want) <= RTOL * abs(want)


@pytest.fixture(scope="module")
def expected(reference_dir: Path) -> dict:
    return json.loads((reference_dir / "metrics" / "expected_metrics.json").read_text())


@pytest.fixture(scope="module")
def asv(reference_dir: Path) -> dict:
    base = reference_dir / "asvspoof2019"
    return {
        part: read_asv_scores(base / f"ASVspoof2019.LA.asv.{part}.gi.trl.scores.txt")
        for part in ("dev", "eval")
    }


@pytest.fixture(scope="module")
def attacks_5col(reference_dir: Path) -> dict[str, str | None]:
    path = reference_dir / "asvspoof2019/protocols_original_5col/ASVspoof2019.LA.cm.eval.trl.txt"
    return {r.utt_id: r.attack for r in read_protocol(path)}


@pytest.fixture(scope="module")
def score_sets(reference_dir: Path, expected: dict) -> dict:
    """name -> (bona fide, spoof, utt ids, labels) loaded once, negated where the JSON says."""
    out = {}
    for name, entry in expected["score_sets"].items():
        if name == "synth_tandem_sasv":
            continue
        sf = read_scores(reference_dir / "metrics" / entry["file"])
        scores = -sf.scores if entry["orientation"] != "as_is" else sf.scores
        bona = np.array([lab == "bonafide" for lab in sf.labels])
        out[name] = (scores[bona], scores[~bona], sf.utt_ids, bona)
    return out


def _cm_metric(key, bona, spoof, op, asv_scores, per_attack):
    """Our value for one metric key of a CM-only score set (dict for dict-valued keys)."""
    tandem = (asv_scores.target, asv_scores.nontarget, asv_scores.spoof)
    table = {
        "asvspoof2019.eer": lambda: m.eer(bona, spoof),
        "asvspoof2019.eer_threshold": lambda: m.eer_point(bona, spoof).threshold,
        "asvspoof2019.min_tdcf_legacy": lambda: m.min_tdcf_legacy(bona, spoof, op).value,
        "asvspoof2019.min_tdcf_legacy_threshold": lambda: (
            m.min_tdcf_legacy(bona, spoof, op).threshold
        ),
        "asvspoof2021.eer": lambda: m.eer(bona, spoof),
        "asvspoof2021.min_tdcf_revised": lambda: m.min_tdcf_revised(bona, spoof, op).value,
        "asvspoof2021.min_tdcf_revised_threshold": lambda: (
            m.min_tdcf_revised(bona, spoof, op).threshold
        ),
        "asvspoof2021.wrapper_min_tdcf_revised": lambda: (
            m.min_tdcf_from_coefficients(bona, spoof, *m.revised_coefficients(op)).value
        ),
        "asvspoof2021.wrapper_eer": lambda: m.eer(bona, spoof),
        "asvspoof2021.min_tdcf_legacy": lambda: m.min_tdcf_legacy(bona, spoof, op).value,
        "asvspoof5.min_dcf": lambda: m.min_dcf(bona, spoof).value,
        "asvspoof5.eer": lambda: m.track1_metrics(bona, spoof).eer,
        "asvspoof5.cllr": lambda: m.cllr(bona, spoof),
        "asvspoof5.act_dcf": lambda: m.act_dcf(bona, spoof).value,
        "asvspoof5.min_tdcf.asv5_default_rates": lambda: m.asvspoof5_min_tdcf(bona, spoof).value,
        "asvspoof5.min_tdcf.asv2019eval_as_wrapper": lambda: (
            m.asvspoof5_min_tdcf(bona, spoof, op, wrapper_quirk=True).value
        ),
        "asvspoof5.min_tdcf.asv2019eval_correct": lambda: (
            m.asvspoof5_min_tdcf(bona, spoof, op).value
        ),
        # Official accelerated and full searches agree on every set; ours is the exact search.
        "asvspoof5.teer": lambda: m.teer(bona, spoof, *tandem),
        "asvspoof5.teer_exact": lambda: m.teer(bona, spoof, *tandem),
        "asvspoof2019.eer_per_attack": per_attack,
        "clovaai_aasist.calculate_tDCF_EER": lambda: {
            "eer_percent": m.eer(bona, spoof) * 100,
            "min_tdcf_legacy": m.min_tdcf_legacy(bona, spoof, op).value,
        },
    }
    if key not in table:
        pytest.fail(f"metric {key!r} in expected_metrics.json is not mapped to our code")
    return table[key]()


def _rates_of(key: str, op: m.AsvOperatingPoint) -> dict[str, float]:
    """The ``asv_rates`` our code uses for a min t-DCF key."""
    if key.endswith("asv5_default_rates"):
        d = m.ASVSPOOF5_DEFAULT_ASV
        return {"Pfa_non_ASV_org": d.pfa, "Pmiss_ASV_org": d.pmiss, "Pfa_spf_ASV_org": d.pfa_spoof}
    spoof_rate = op.pmiss_spoof if key.endswith("as_wrapper") else op.pfa_spoof
    return {"Pfa_non_ASV_org": op.pfa, "Pmiss_ASV_org": op.pmiss, "Pfa_spf_ASV_org": spoof_rate}


def _compare(where: str, got, want, exact: bool) -> list[str]:
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            return [f"{where}: keys {sorted(got) if isinstance(got, dict) else got} != "
                    f"{sorted(want)}"]  # fmt: skip
        return [e for k in want for e in _compare(f"{where}.{k}", got[k], want[k], exact)]
    return [] if close(got, want, exact) else [f"{where}: got {got!r}, expected {want!r}"]


def _check_entry(name, key, entry, compute, op) -> list[str]:
    for field in entry:
        if field not in TEXT_FIELDS | {"threshold", "asv_rates"}:
            pytest.fail(f"{name}/{key}: field {field!r} is not checked by this test")
    where = f"{name}/{key}"
    if entry["value"] is None:
        assert "soft CM scores" in entry["error"], entry["error"]
        with pytest.raises(m.HardDecisionError, match="soft CM scores"):
            compute()
        return []
    exact = key in EXACT_KEYS or key == "asvspoof2019.eer_per_attack"
    errors = _compare(where, compute(), entry["value"], exact)
    if "threshold" in entry:  # actDCF's Bayes threshold
        errors += _compare(f"{where}.threshold", m.act_dcf([0.0], [0.0]).threshold,
                           entry["threshold"], False)  # fmt: skip
    if "asv_rates" in entry:
        errors += _compare(f"{where}.asv_rates", _rates_of(key, op), entry["asv_rates"], False)
    return errors


def test_every_cm_score_set_matches_official(expected, score_sets, asv, attacks_5col):
    eval_asv = asv["eval"]
    op = m.asv_operating_point(eval_asv.target, eval_asv.nontarget, eval_asv.spoof)
    errors, checked = [], 0
    for name, entry in expected["score_sets"].items():
        if name == "synth_tandem_sasv":
            continue
        bona, spoof, ids, is_bona = score_sets[name]
        assert (bona.size, spoof.size) == (entry["n_bonafide"], entry["n_spoof"])

        def per_attack(ids=ids, is_bona=is_bona, bona=bona, spoof=spoof):
            scores = np.concatenate((bona, spoof))  # attacks looked up in the 5-column protocol
            flags = np.concatenate((np.ones(bona.size, bool), np.zeros(spoof.size, bool)))
            ordered = [u for u, b in zip(ids, is_bona, strict=True) if b] + [
                u for u, b in zip(ids, is_bona, strict=True) if not b
            ]
            rows = m.eer_by_attack(scores, flags, [attacks_5col[u] for u in ordered])
            return {r.group: r.eer for r in rows}

        for key, metric in entry["metrics"].items():
            compute = lambda k=key, b=bona, s=spoof, p=per_attack: _cm_metric(  # noqa: E731
                k, b, s, op, eval_asv, p
            )
            errors += _check_entry(name, key, metric, compute, op)
            checked += 1
    assert not errors, "\n".join(errors)
    assert checked >= 150


def _tandem_metric(key: str, d: dict):
    al = d["asv_labels"]
    split = {k: d["asv"][al == k] for k in ("target", "nontarget", "spoof")}
    op = m.asv_operating_point(split["target"], split["nontarget"], split["spoof"])
    args = (d["cm"], d["asv"], d["sasv"], d["cm_labels"], al)

    def as_dict(r: m.Track2Metrics) -> dict:
        return {"a_dcf": r.a_dcf, "min_tdcf": r.min_tdcf, "teer_percent": r.teer_percent}

    bona_cm, spoof_cm = d["cm"][d["cm_labels"] == "bonafide"], d["cm"][d["cm_labels"] == "spoof"]
    table = {
        "asvspoof5.t2.default_asv_rates": lambda: as_dict(m.track2_metrics(*args)),
        "asvspoof5.t2.asv_org_from_same_set": lambda: as_dict(
            m.track2_metrics(*args, op, wrapper_quirk=True)
        ),
        "asvspoof5.t2.min_tdcf_asv_from_same_set_correct_Pfa_spoof": lambda: (
            m.track2_metrics(*args, op).min_tdcf
        ),
        "asvspoof5.a_dcf.CostModel_defaults": lambda: (
            m.a_dcf(
                *(d["sasv"][al == k] for k in ("target", "nontarget", "spoof")),
                m.ADCFCosts.cost_model_defaults(),
            ).value
        ),
        "asvspoof5.t1_on_cm_column": lambda: vars(m.track1_metrics(bona_cm, spoof_cm)),
    }
    if key not in table:
        pytest.fail(f"metric {key!r} of synth_tandem_sasv is not mapped to our code")
    rates = {"Pfa_asv": op.pfa, "Pmiss_asv": op.pmiss, "Pmiss_spoof_asv": op.pmiss_spoof,
             "Pfa_spoof_asv": op.pfa_spoof}  # fmt: skip
    return table[key](), rates


def test_tandem_set_matches_official_track2_wrapper(reference_dir, expected):
    entry = expected["score_sets"]["synth_tandem_sasv"]
    text = (reference_dir / "metrics" / entry["file"]).read_text()
    rows = [line.split() for line in text.splitlines()]
    d = {
        "cm": np.array([float(r[0]) for r in rows]),
        "asv": np.array([float(r[1]) for r in rows]),
        "sasv": np.array([float(r[2]) for r in rows]),
        "cm_labels": np.array([r[3] for r in rows]),
        "asv_labels": np.array([r[4] for r in rows]),
    }
    counts = {k: int((d["asv_labels"] == k).sum()) for k in ("target", "nontarget", "spoof")}
    assert counts == {k: entry[f"n_{k}"] for k in counts}
    errors = []
    for key, metric in entry["metrics"].items():
        extra = set(metric) - TEXT_FIELDS - {"asv_rates"}
        assert not extra, f"{key}: unchecked fields {extra}"
        got, rates = _tandem_metric(key, d)
        exact_eer = key == "asvspoof5.t1_on_cm_column"
        errors += _compare(key, got, metric["value"], False)
        if exact_eer:
            assert got["eer"] == metric["value"]["eer"]
        if "asv_rates" in metric:
            errors += _compare(f"{key}.asv_rates", rates, metric["asv_rates"], False)
    assert not errors, "\n".join(errors)


def test_asv_reference_values(expected, asv):
    errors = []
    for part, ref in expected["asv_reference"].items():
        a = asv[part]
        assert ref["file"] == f"ASVspoof2019.LA.asv.{part}.gi.trl.scores.txt"
        op = m.asv_operating_point(a.target, a.nontarget, a.spoof)
        c1, c2 = m.legacy_coefficients(op)
        r0, r1, r2 = m.revised_coefficients(op)
        ours = {
            "n_target": a.target.size,
            "n_nontarget": a.nontarget.size,
            "n_spoof": a.spoof.size,
            "asv_eer": op.eer,
            "asv_eer_threshold": op.threshold,
            "Pfa_asv": op.pfa,
            "Pmiss_asv": op.pmiss,
            "Pmiss_spoof_asv": op.pmiss_spoof,
            "Pfa_spoof_asv": op.pfa_spoof,
            "legacy_C1": c1,
            "legacy_C2": c2,
            "revised_C0": r0,
            "revised_C1": r1,
            "revised_C2": r2,
            "revised_tDCF_default_C0_plus_min_C1_C2": r0 + min(r1, r2),
            "revised_min_tDCF_of_perfect_CM_C0_over_default": m.min_tdcf_revised(
                [1.0, 2.0], [-1.0], op
            ).value,
            "asvspoof5_a_dcf_on_asv_scores_as_sasv_wrapper_costs": m.a_dcf(
                a.target, a.nontarget, a.spoof
            ).value,
            "asvspoof5_a_dcf_on_asv_scores_as_sasv_CostModel_defaults": m.a_dcf(
                a.target, a.nontarget, a.spoof, m.ADCFCosts.cost_model_defaults()
            ).value,
        }
        for key, want in ref.items():
            if key in {"file", "producers"}:
                continue
            if key not in ours:
                pytest.fail(f"asv_reference.{part}.{key} is not mapped to our code")
            errors += _compare(f"{part}.{key}", ours[key], want, key == "asv_eer")
    assert not errors, "\n".join(errors)


def test_cost_models_match_ours(expected):
    cm = expected["cost_models"]
    t = m.TDCFCosts()
    legacy = {"Pspoof": t.p_spoof, "Ptar": t.p_tar, "Pnon": t.p_non, "Cmiss_asv": t.c_miss_asv,
              "Cfa_asv": t.c_fa_asv, "Cmiss_cm": t.c_miss_cm, "Cfa_cm": t.c_fa_cm}  # fmt: skip
    revised = {"Pspoof": t.p_spoof, "Ptar": t.p_tar, "Pnon": t.p_non, "Cmiss": t.c_miss,
               "Cfa": t.c_fa, "Cfa_spoof": t.c_fa_spoof}  # fmt: skip
    d = m.DCFCosts()
    for name, ours in (
        ("legacy_2019", legacy),
        ("revised_2021", revised),
        ("asvspoof5_t1", {"Pspoof": d.p_spoof, "Cmiss": d.c_miss, "Cfa": d.c_fa}),
    ):
        assert {k: v for k, v in cm[name].items() if k in ours} == ours
    for name, costs in (
        ("asvspoof5_adcf_wrapper", m.ADCFCosts()),
        ("asvspoof5_adcf_CostModel_defaults", m.ADCFCosts.cost_model_defaults()),
    ):
        want = cm[name]
        assert (costs.p_tar, costs.p_non, costs.p_spoof) == (
            want["Ptrg"], want["Pnontrg"], want["Pspf"]
        )  # fmt: skip
        assert (costs.c_miss, costs.c_fa_asv, costs.c_fa_cm) == (
            want["Cmiss"], want["Cfa_asv"], want["Cfa_cm"]
        )  # fmt: skip
    rates = cm["asvspoof5_t2_tdcf"]["default_asv_error_rates"]
    d5 = m.ASVSPOOF5_DEFAULT_ASV
    assert (d5.pfa, d5.pmiss, d5.pfa_spoof) == (
        rates["Pfa_non_ASV_org"], rates["Pmiss_ASV_org"], rates["Pfa_spf_ASV_org"]
    )  # fmt: skip


MODULES = ["det", "tdcf", "teer", "asvspoof5", "breakdown", "errors"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(f"spoofscope.metrics.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name != "errors":
        assert result.attempted > 0, f"{name} has no doctest examples"


# ---------------------------------------------------------------- errors and edge cases


@pytest.mark.parametrize(
    ("bona", "spoof", "error", "match"),
    [
        ([0.1, np.nan], [0.0], m.NonFiniteScoreError, "bona fide.*NaN or infinite"),
        ([0.1], [0.0, np.inf], m.NonFiniteScoreError, "spoof.*index 1"),
        ([], [0.0], m.EmptyClassError, "no bona fide trials"),
        ([0.1], [], m.EmptyClassError, "no spoof trials"),
    ],
)
@pytest.mark.parametrize(
    "metric", [m.eer, m.min_dcf, m.act_dcf, m.cllr, m.det_curve, m.bootstrap_eer]
)
def test_bad_scores_raise_clear_errors(metric, bona, spoof, error, match):
    with pytest.raises(error, match=match) as info:
        metric(bona, spoof)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SpoofscopeError)


def test_tdcf_refuses_hard_decisions_and_bad_inputs():
    op = m.AsvOperatingPoint(pfa=0.02, pmiss=0.02, pmiss_spoof=0.3, pfa_spoof=0.7)
    for fn in (m.min_tdcf_legacy, m.min_tdcf_revised):
        with pytest.raises(m.HardDecisionError, match="only 2 distinct"):
            fn([1.0, 1.0, 0.0], [0.0, 1.0], op)
        with pytest.raises(m.NonFiniteScoreError):
            fn([1.0, np.nan, 0.5], [0.0], op)
        assert fn([1.0, 0.5, 0.7], [0.0], op).value >= 0  # 3 distinct values are accepted
    with pytest.raises(m.InvalidCostError, match="sum to one"):
        m.min_tdcf_legacy([2.0, 1.0], [0.0], op, m.TDCFCosts(p_spoof=0.5))
    with pytest.raises(m.InvalidCostError, match="weights must be >= 0"):
        m.legacy_coefficients(m.AsvOperatingPoint(pfa=1.0, pmiss=1.0, pmiss_spoof=0, pfa_spoof=1))


def test_tie_quirk_and_threshold_conventions():
    # All-equal scores: the official curve passes through frr = 1, far = 1 inside the tie.
    assert m.eer([0.5] * 10, [0.5] * 10) == 1.0
    curve = m.det_curve([0.5] * 2, [0.5] * 2)
    assert curve.frr.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert curve.far.tolist() == [1.0, 1.0, 1.0, 0.5, 0.0]
    assert curve.thresholds[0] == 0.5 - 0.001
    # Line order does not matter, only class grouping.
    rng = np.random.default_rng(7)
    b, s = rng.integers(0, 5, 50).astype(float), rng.integers(0, 5, 70).astype(float)
    assert m.eer(b, s) == m.eer(rng.permutation(b), rng.permutation(s))


def _det_reference(bona, spoof):
    """Direct transcription of the README DET definition (stable argsort, bona fide first)."""
    scores = np.concatenate((bona, spoof))
    labels = np.concatenate((np.ones(bona.size), np.zeros(spoof.size)))
    order = np.argsort(scores, kind="mergesort")
    tar = np.cumsum(labels[order])
    frr = np.concatenate(([0], tar / bona.size))
    far = np.concatenate(([1], (spoof.size - (np.arange(1, scores.size + 1) - tar)) / spoof.size))
    return frr, far, np.concatenate(([scores[order[0]] - 0.001], scores[order]))


@pytest.mark.parametrize("seed", range(4))
def test_det_curve_equals_stable_sort_definition(seed):
    rng = np.random.default_rng(seed)
    bona = rng.integers(-3, 4, 300) * 0.5  # heavy ties, including -0.0 / 0.0
    spoof = np.concatenate((rng.integers(-4, 3, 500) * 0.5, [-0.0, 0.0]))
    curve = m.det_curve(bona, spoof)
    frr, far, thr = _det_reference(bona, spoof)
    assert np.array_equal(curve.frr, frr) and np.array_equal(curve.far, far)
    assert np.array_equal(curve.thresholds, thr)


def test_cllr_stays_finite_for_huge_scores():
    assert np.isfinite(m.cllr([800.0, 1.0], [-900.0, 1000.0]))
    assert m.cllr([1e6], [-1e6]) == 0.0


def _teer_reference(bona, spoof, tar, non, spf) -> float:
    """Direct transcription of the README definition: loop over every ASV point."""
    cm = m.det_curve(bona, spoof)
    pm, pf = cm.frr, cm.far
    a_all, b_all, c_all, _ = m.asv_error_curves(tar, non, spf)
    best, value = np.inf, None
    with np.errstate(divide="ignore", invalid="ignore"):
        for a, b, c in zip(a_all, b_all, c_all, strict=True):
            pmiss_tdm = pm + (1 - pm) * a
            pfa_tdm = 0.5 * (1 - pm) * b + 0.5 * pf * c
            k = int(np.argmin(np.abs(pmiss_tdm - pfa_tdm)))
            if a < 0.5 * b + 0.5 * c:
                crit = abs(b / c - pf[k] / (1 - pm[k]))
                if crit < best:
                    best, value = crit, c * pf[k] * 100
    return value


@pytest.mark.parametrize("seed", range(6))
def test_teer_equals_full_search(seed):
    rng = np.random.default_rng(seed)
    rounding = 1 if seed % 2 else 6  # odd seeds: heavy ties
    bona = np.round(rng.normal(1.5, 1, 60), rounding)
    spoof = np.round(rng.normal(-1, 1.5, 90), rounding)
    tar, non = np.round(rng.normal(2, 1, 40), rounding), np.round(rng.normal(-2, 1, 70), rounding)
    spf = np.round(rng.normal(1, 1.5, 80), rounding)
    assert m.teer(bona, spoof, tar, non, spf) == _teer_reference(bona, spoof, tar, non, spf)


def test_teer_undefined_raises():
    # Only the first ASV point is admissible, and there the CM crossing sits at Pmiss_CM = 1
    # (the CM ranks spoof above bona fide), so the criterion is infinite: the official code
    # would crash with an UnboundLocalError.
    args = ([0.0], [1.0], [-5.0], [5.0], [5.0])
    assert _teer_reference(*args) is None
    with pytest.raises(m.UndefinedMetricError, match="t-EER is undefined"):
        m.teer(*args)


def _bootstrap_reference(bona, spoof, n, level, seed):
    rng = np.random.default_rng(seed)
    eers = []
    for _ in range(n):
        ib = rng.integers(0, bona.size, bona.size)
        isp = rng.integers(0, spoof.size, spoof.size)
        eers.append(m.eer(bona[ib], spoof[isp]))
    return np.quantile(eers, [(1 - level) / 2, (1 + level) / 2])


def test_bootstrap_equals_naive_resampling_and_is_seeded():
    rng = np.random.default_rng(3)
    bona, spoof = np.round(rng.normal(1, 1, 80), 1), np.round(rng.normal(-1, 1, 120), 1)
    ci = m.bootstrap_eer(bona, spoof, n_resamples=150, level=0.9, seed=11)
    low, high = _bootstrap_reference(bona, spoof, 150, 0.9, 11)
    assert (ci.low, ci.high) == (low, high)
    assert ci.eer == m.eer(bona, spoof) and ci.low <= ci.eer <= ci.high
    assert ci == m.bootstrap_eer(bona, spoof, n_resamples=150, level=0.9, seed=11)
    assert ci != m.bootstrap_eer(bona, spoof, n_resamples=150, level=0.9, seed=12)
    wider = m.bootstrap_eer(bona, spoof, n_resamples=150, level=0.99, seed=11)
    assert wider.low <= ci.low and wider.high >= ci.high
    with pytest.raises(m.MetricInputError, match="level"):
        m.bootstrap_eer(bona, spoof, 10, level=1.0)
    with pytest.raises(m.MetricInputError, match="n_resamples"):
        m.bootstrap_eer(bona, spoof, 0)


def test_breakdown_by_condition_pairs_classes():
    scores = [0.9, 0.8, 0.1, 0.7, 0.2, 0.3]
    bona = [True, True, False, True, False, False]
    cond = ["gsm", "none", "gsm", "opus", "none", "none"]
    rows = {r.group: r for r in m.eer_by_condition(scores, bona, cond)}
    assert rows["gsm"].eer == 0.0 and rows["none"].n_spoof == 2
    assert rows["opus"].eer is None and rows["opus"].n_spoof == 0
    with pytest.raises(m.MetricInputError, match="differ in length"):
        m.eer_by_attack([0.1, 0.2], [True], ["A01", "A02"])
