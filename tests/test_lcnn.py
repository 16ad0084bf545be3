"""LFCC-LCNN: shapes, front end inside the model, MFM, gradients, the official size."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from spoofscope.models import build_model
from spoofscope.models.lcnn import LCNN, LCNNConfig, MaxFeatureMap


def wave(batch: int = 2, n: int = 16000, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, n, generator=torch.Generator().manual_seed(seed)) * 0.1


def official_trainable_params() -> int:
    """Trainable parameters of the 2021 LA baseline ``Model`` (baseline_LA/model.py) with
    ``lfcc_dim = 20`` and deltas: the 9 convolutions, two BLSTMLayer(96, 96) (48 units per
    direction) and ``Linear(96, 1)``. The BatchNorm2d layers are ``affine=False``."""
    convs = [(1, 64, 5), (32, 64, 1), (32, 96, 3), (48, 96, 1), (48, 128, 3), (64, 128, 1),
             (64, 64, 3), (32, 64, 1), (32, 64, 3)]  # fmt: skip
    conv = sum(i * o * k * k + o for i, o, k in convs)
    direction = 4 * 48 * (96 + 48) + 2 * 4 * 48
    return conv + 2 * 2 * direction + 96 + 1


def test_trainable_parameters_equal_the_baseline_plus_a_two_way_head():
    ours = sum(p.numel() for p in LCNN().parameters() if p.requires_grad)
    assert official_trainable_params() == 269_729
    assert ours == 269_729 + 97 == 269_826  # Linear(96, 2) instead of Linear(96, 1)


@pytest.mark.parametrize("n", [2400, 16000, 64600])
def test_output_shape_for_several_lengths(n):
    model = build_model("lcnn")
    with torch.inference_mode():
        assert model(wave(2, n)).shape == (2, 2)


def test_front_end_is_the_baseline_lfcc():
    model = LCNN()
    feats = model.features(wave(2, 16000))
    assert feats.shape == (2, 1 + 16000 // 160, 60)
    lfcc = model.lfcc
    assert (lfcc.n_fft, lfcc.win_length, lfcc.hop_length, lfcc.hi - lfcc.lo) == (
        1024,
        320,
        160,
        256,
    )
    assert lfcc.with_energy and lfcc.pre_emphasis == 0.97 and lfcc.fbank.shape == (256, 20)
    assert len(lfcc.state_dict()) == 0  # recomputed from the config


def test_too_short_input_raises_value_error():
    model = LCNN()
    assert model.min_samples() == 2400  # 16 frames for four 2x2 max pools
    with pytest.raises(ValueError, match="too short"):
        model(wave(1, 2399))


def test_max_feature_map_takes_the_max_of_the_channel_halves():
    x = torch.randn(2, 6, 4, 5)
    out = MaxFeatureMap()(x)
    assert out.shape == (2, 3, 4, 5)
    assert torch.equal(out, torch.maximum(x[:, :3], x[:, 3:]))


def test_gradients_reach_the_first_convolution():
    torch.manual_seed(0)
    model = LCNN().train()
    loss = torch.nn.functional.cross_entropy(model(wave(4)), torch.tensor([0, 1, 0, 1]))
    loss.backward()
    first = model.cnn[0]
    assert isinstance(first, torch.nn.Conv2d) and first.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


def test_eval_is_deterministic_and_train_mode_uses_dropout():
    torch.manual_seed(0)
    model = LCNN()
    x = wave(2)
    with torch.inference_mode():
        model.eval()
        assert torch.equal(model(x), model(x))
        model.train()
        assert not torch.equal(model(x), model(x))


def test_config_json_round_trip_and_validation():
    cfg = LCNNConfig(lfcc_dim=30)
    assert LCNNConfig(**json.loads(json.dumps(dataclasses.asdict(cfg)))) == cfg
    assert LCNN(cfg).output.in_features == (90 // 16) * 32
    with pytest.raises(ValueError, match="16 feature dims"):
        LCNNConfig(lfcc_dim=5, deltas=False)
