"""The ensemble / band-limited wrapper: its filter, its averaging and assembling members."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spoofscope.models import build_model, get_spec
from spoofscope.models.ensemble import assemble

RATE = 16000
RAWNET_TINY = get_spec("rawnet2-lite").tiny


def sine(freq: float, n: int = RATE) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float32) / RATE
    return (0.5 * torch.sin(2 * np.pi * freq * t))[None]


def rms_db(x: torch.Tensor) -> float:
    core = x[..., 500:-500]  # away from the zero-padded edges
    return float(20 * torch.log10(core.pow(2).mean().sqrt()))


def test_lowpass_keeps_the_telephone_band_and_removes_the_rest():
    model = build_model("ensemble", **get_spec("ensemble").tiny)
    for freq, lo, hi in [(300, -0.1, 0.1), (1000, -0.1, 0.1), (3400, -0.5, 0.1)]:
        assert lo < rms_db(model.lowpass(sine(freq))) - rms_db(sine(freq)) < hi, freq
    for freq in (4500, 6000, 7500):
        assert rms_db(model.lowpass(sine(freq))) - rms_db(sine(freq)) < -60, freq
    unfiltered = build_model("ensemble", **get_spec("ensemble").tiny, lowpass_hz=None)
    x = sine(6000)
    assert torch.equal(unfiltered.lowpass(x), x)


def test_logits_are_the_weighted_mean_of_the_members_on_filtered_input():
    torch.manual_seed(0)
    a, b = build_model("lcnn"), build_model("rawnet2-lite", **RAWNET_TINY)
    ens = assemble([a, b], weights=[3.0, 1.0])
    x = torch.randn(2, 20000)
    with torch.inference_mode():
        filtered = ens.lowpass(x)
        want = 0.75 * a(filtered) + 0.25 * b(filtered)
        torch.testing.assert_close(ens(x), want, atol=1e-5, rtol=0)
        # high-band content alone barely moves the logits
        high = 0.3 * sine(6500, 20000).repeat(2, 1)
        assert (ens(x + high) - ens(x)).abs().max() < 1e-3


def test_assemble_unwraps_one_member_ensembles_and_checks_their_filter():
    torch.manual_seed(1)
    single = build_model("ensemble", members=({"name": "lcnn", "config": {}},))
    other = build_model("rawnet2-lite", **RAWNET_TINY)
    ens = assemble([single, other])
    assert [m["name"] for m in ens.config.members] == ["lcnn", "rawnet2-lite"]
    x = torch.randn(1, 16000)
    with torch.inference_mode():
        torch.testing.assert_close(ens.members[0](x), single.members[0](x))
    with pytest.raises(ValueError, match="lowpass_hz=3800"):
        assemble([single], lowpass_hz=3000.0)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"members": ()}, "at least one member"),
        ({"members": ({"model": "lcnn"},)}, "each member must be"),
        ({"members": ({"name": "ensemble"},)}, "cannot itself be an ensemble"),
        ({"weights": (1.0,)}, "weights must be 2"),
        ({"lowpass_hz": 9000.0}, "lowpass_hz must be in"),
        ({"lowpass_taps": 128}, "odd number"),
    ],
)
def test_bad_configs_name_the_problem(overrides, match):
    config = dict(get_spec("ensemble").tiny) | overrides
    with pytest.raises(ValueError, match=match):
        build_model("ensemble", **config)


def test_gmm_members_are_refused():
    with pytest.raises(ValueError, match="trainable by gradient"):
        build_model("ensemble", members=({"name": "lfcc-gmm", "config": {"n_components": 2}},))
