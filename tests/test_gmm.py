"""LFCC-GMM / CQCC-GMM: fitting, LLR signs, the likelihood maths, checkpoints, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from scipy.signal import lfilter

from spoofscope.models import build_model
from spoofscope.models.gmm import GMMBaseline, GMMConfig, GMMNotFittedError, gmm_log_likelihood

N = 8000  # 0.5 s


def shaped_noise(kind: str, n_clips: int, seed: int) -> list[np.ndarray]:
    """'bonafide': low-pass (one-pole) noise; 'spoof': high-pass (differenced) noise."""
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(n_clips):
        x = rng.normal(0, 0.1, N + 1)
        if kind == "bonafide":
            clips.append((0.3 * lfilter([1.0], [1.0, -0.9], x[:N])).astype(np.float32))
        else:
            clips.append(np.diff(x).astype(np.float32))
    return clips


@pytest.fixture(scope="module", params=["lfcc-gmm", "cqcc-gmm"])
def fitted(request):
    model = build_model(request.param, n_components=4)
    model.fit(shaped_noise("bonafide", 4, seed=0), shaped_noise("spoof", 4, seed=1))
    return model


def test_held_out_llrs_have_the_right_sign(fitted):
    bona = torch.from_numpy(np.stack(shaped_noise("bonafide", 3, seed=10)))
    spoof = torch.from_numpy(np.stack(shaped_noise("spoof", 3, seed=11)))
    with torch.inference_mode():
        llr_bona = fitted(bona).diff(dim=1)[:, 0]  # logit[1] - logit[0]
        llr_spoof = fitted(spoof).diff(dim=1)[:, 0]
    assert (llr_bona > 0).all() and (llr_spoof < 0).all()


def test_log_likelihood_equals_scikit_learn(fitted):
    from sklearn.mixture import GaussianMixture

    x = fitted.features(torch.from_numpy(shaped_noise("spoof", 1, seed=12)[0])[None])[0].double()
    weights, means, variances = fitted._gmm("spoof")
    ref = GaussianMixture(n_components=4, covariance_type="diag")
    ref.weights_, ref.means_, ref.covariances_ = (t.numpy() for t in (weights, means, variances))
    ref.precisions_cholesky_ = 1 / np.sqrt(ref.covariances_)
    expected = ref.score_samples(x.numpy())
    np.testing.assert_allclose(
        gmm_log_likelihood(x, weights, means, variances).numpy(), expected, rtol=1e-9
    )
    with torch.inference_mode():
        logit = fitted(torch.from_numpy(shaped_noise("spoof", 1, seed=12)[0])[None])
    assert logit[0, 0].item() == pytest.approx(expected.mean(), rel=1e-5)


def test_gmms_are_buffers_that_round_trip_through_safetensors(fitted, tmp_path):
    state = fitted.state_dict()
    assert set(state) == {
        f"{c}_{p}" for c in ("spoof", "bonafide") for p in ("weights", "means", "variances")
    } | {"fitted"}
    assert state["bonafide_means"].shape == (4, fitted.frontend.n_features)
    assert [p for p in fitted.parameters()] == [] and not fitted.trainable_by_gradient
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "g.safetensors"))
    fresh = build_model(fitted.name, n_components=4)
    fresh.load_state_dict(load_file(str(tmp_path / "g.safetensors")))
    x = torch.from_numpy(np.stack(shaped_noise("spoof", 2, seed=13)))
    with torch.inference_mode():
        assert fresh.is_fitted and torch.equal(fresh(x), fitted(x))


def test_unfitted_model_raises_a_clear_error():
    model = build_model("lfcc-gmm", n_components=4)
    with pytest.raises(RuntimeError, match="not fitted; call fit\\(\\) or load a checkpoint"):
        model(torch.zeros(1, N))
    assert issubclass(GMMNotFittedError, RuntimeError)


def test_fit_is_seeded_and_can_subsample_frames():
    bona, spoof = shaped_noise("bonafide", 3, seed=0), shaped_noise("spoof", 3, seed=1)
    a = build_model("lfcc-gmm", n_components=4, seed=5).fit(bona, spoof)
    b = build_model("lfcc-gmm", n_components=4, seed=5).fit(bona, spoof)
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    small = build_model("lfcc-gmm", n_components=4, max_train_frames=40).fit(bona, spoof)
    assert small.is_fitted


def test_fit_rejects_unusable_input():
    model = build_model("lfcc-gmm", n_components=512)
    with pytest.raises(ValueError, match="cannot fit 512 components"):
        model.fit(shaped_noise("bonafide", 1, 0), shaped_noise("spoof", 1, 1))
    with pytest.raises(ValueError, match="1-D audio"):
        model.fit([np.zeros((2, N), np.float32)], shaped_noise("spoof", 1, 1))
    with pytest.raises(ValueError, match="no spoof waveforms"):
        build_model("lfcc-gmm", n_components=2).fit(shaped_noise("bonafide", 1, 0), [])


def test_config_validation_and_feature_dims():
    with pytest.raises(ValueError, match="valid choices: lfcc, cqcc"):
        GMMConfig(feature="mfcc")
    with pytest.raises(ValueError, match="valid choices: diag"):
        GMMConfig(covariance="full")
    assert GMMBaseline(GMMConfig(n_components=2)).frontend.n_features == 57  # 19 x 3
    assert GMMBaseline(GMMConfig(feature="cqcc", n_components=2)).frontend.n_features == 60
    assert GMMBaseline(GMMConfig(n_components=2)).min_samples() == 480
