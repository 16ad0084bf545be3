"""RawNet2: shapes, gradients, determinism, the official parameter counts, the lite preset."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from spoofscope.models import build_model, get_spec
from spoofscope.models.rawnet2 import RawNet2, RawNet2Config
from spoofscope.models.sinc import mel_sinc_filters

TINY = get_spec("rawnet2").tiny


def official_param_count(sinc: int, c1: int, c2: int, gru: int, layers: int, fc: int) -> int:
    """Parameters of the official ``RawNet`` (asvspoof-challenge/2021 LA/Baseline-RawNet2/
    model.py) built from its YAML: every ``nn.Parameter``, as ``main.py`` sums them.

    Blocks 1-5 carry a ``bn1`` (unused by the forward pass); blocks 0-1 are (c1, c1),
    block 2 is (c1, c2) with a 1x1 downsample conv, blocks 3-5 are (c2, c2).
    """

    def conv(i, o, k):
        return i * o * k + o

    def block(i, o, bn1):
        return (
            2 * i * bn1 + conv(i, o, 3) + 2 * o + conv(o, o, 3) + (conv(i, o, 1) if i != o else 0)
        )

    blocks = block(c1, c1, 0) + block(c1, c1, 1) + block(c1, c2, 1) + 3 * block(c2, c2, 1)
    fms = 2 * conv(c1, c1, 1) + 4 * conv(c2, c2, 1)
    gru_params = 3 * (gru * c2 + gru * gru + 2 * gru) + (layers - 1) * 3 * (2 * gru * gru + 2 * gru)
    return 2 * sinc + blocks + fms + 2 * c2 + gru_params + conv(gru, fc, 1) + conv(fc, 2, 1)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def wave(batch: int = 2, n: int = 16000, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, n, generator=torch.Generator().manual_seed(seed)) * 0.1


def test_default_config_is_the_official_2021_yaml():
    cfg = RawNet2Config()
    assert (cfg.nb_samp, cfg.first_conv, cfg.sinc_taps) == (64600, 1024, 1025)
    assert cfg.filts == (20, (20, 20), (20, 128), (128, 128)) and cfg.blocks == (2, 4)
    assert (cfg.gru_node, cfg.nb_gru_layer, cfg.nb_fc_node) == (1024, 3, 1024)
    assert cfg.block_channels() == [(20, 20)] * 2 + [(20, 128)] + [(128, 128)] * 3


def test_parameter_counts_equal_the_official_models():
    official = official_param_count(20, 20, 128, 1024, 3, 1024)
    assert official == 17_621_410
    # the 848 parameters of the five dead bn1 layers (2*20 + 2*20 + 3*2*128) are left out
    assert n_params(RawNet2()) == official - 848 == 17_620_562
    assert n_params(RawNet2(RawNet2Config(preact=True))) == official


def test_paper_configuration_has_the_published_size():
    """ICASSP 2021 configuration (eurecom-asp/rawnet2-antispoofing model_config_RawNet2.yaml):
    the AASIST paper (Jung et al. 2022, Table 2) lists RawNet2 at 25.43 M parameters."""
    cfg = RawNet2Config(
        first_conv=128, filts=(128, (128, 128), (128, 512), (512, 512)), preact=True
    )
    count = n_params(RawNet2(cfg))
    assert count == official_param_count(128, 128, 512, 1024, 3, 1024) == 25_433_602
    assert round(count / 1e4) == 2543


def test_lite_preset_is_small_and_cheap():
    lite, full = build_model("rawnet2-lite"), RawNet2()
    assert n_params(lite) == 203_010 < 300_000
    x = wave(1, 64600)

    def macs(model):
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model(x)
        return counter.get_total_flops() // 2

    lite_macs, full_macs = macs(lite), macs(full)
    assert lite_macs < 0.3e9 and full_macs > 2e9 and full_macs > 8 * lite_macs


def test_default_model_scores_a_full_segment_with_log_softmax_outputs():
    model = RawNet2().eval()
    with torch.inference_mode():
        out = model(wave(1, 64600))
    assert out.shape == (1, 2)
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(1))


@pytest.mark.parametrize("n", [2251, 16000, 40000])
def test_output_shape_for_several_lengths(n):
    model = build_model("rawnet2", **TINY)
    assert model.min_samples() == 65 - 1 + 3**7 == 2251
    with torch.inference_mode():
        assert model(wave(3, n)).shape == (3, 2)


def test_too_short_input_raises_value_error():
    model = build_model("rawnet2", **TINY)
    with pytest.raises(ValueError, match="too short"):
        model(wave(1, model.min_samples() - 1))


def test_sinc_filters_are_fixed_mel_filters_outside_the_state_dict():
    model = RawNet2()
    assert model.sinc_filters.shape == (20, 1, 1025)
    torch.testing.assert_close(
        model.sinc_filters[:, 0], torch.from_numpy(mel_sinc_filters(20, 1024))
    )
    assert not any("sinc" in key for key in model.state_dict())
    assert all(p is not model.sinc_filters for p in model.parameters())


def test_gradients_reach_the_first_trainable_layer():
    torch.manual_seed(0)
    model = build_model("rawnet2", **TINY).train()
    loss = torch.nn.functional.cross_entropy(model(wave(4)), torch.tensor([0, 1, 0, 1]))
    loss.backward()
    assert model.first_bn.weight.grad.abs().sum() > 0
    assert model.blocks[0].conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


def test_eval_is_deterministic_whatever_the_grad_mode():
    torch.manual_seed(0)
    model = build_model("rawnet2", **TINY)
    x = wave(2)
    with torch.inference_mode():
        a = model(x)
        clone = build_model("rawnet2", **TINY)  # parameters created as inference tensors
        clone.load_state_dict(model.state_dict())
        assert torch.equal(a, model(x)) and torch.equal(a, clone(x))
    with torch.no_grad():
        assert torch.equal(a, model(x))


def test_preact_applies_the_first_batch_norm():
    torch.manual_seed(0)
    model = build_model("rawnet2", **TINY, preact=True).eval()
    assert model.blocks[0].bn1 is None and model.blocks[1].bn1 is not None
    x = wave(1)
    with torch.inference_mode():
        before = model(x)
        model.blocks[1].bn1.bias.fill_(3.0)
        assert not torch.allclose(before, model(x))


def test_config_survives_a_json_round_trip_and_rejects_bad_channels():
    cfg = RawNet2Config(filts=[16, [16, 16], [16, 64], [64, 64]], blocks=[2, 3])
    again = RawNet2Config(**json.loads(json.dumps(dataclasses.asdict(cfg))))
    assert again == cfg and cfg.filts[1] == (16, 16)
    assert len(RawNet2(cfg).blocks) == 5
    with pytest.raises(ValueError, match="chain"):
        RawNet2Config(filts=(20, (20, 20), (32, 128), (128, 128)))
    with pytest.raises(ValueError, match="filts"):
        RawNet2Config(filts=(20, (16, 16), (16, 128), (128, 128)))
