"""Checks every registered model passes: shape, gradients, determinism, save/load, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spoofscope.checkpoint import load_checkpoint, load_model, save_checkpoint
from spoofscope.models import build_model, get_spec, list_models

ALL_MODELS = list_models()
SEGMENT = 16000  # 1 s: long enough for every model, short enough to be fast


def tiny_model(name: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(name, **get_spec(name).tiny)
    if not model.trainable_by_gradient:
        rng = np.random.default_rng(seed)
        bona = [rng.normal(0, 0.1, SEGMENT).astype(np.float32) for _ in range(3)]
        spoof = [np.sin(np.arange(SEGMENT) * 0.3).astype(np.float32) * 0.3 for _ in range(3)]
        spoof = [s + rng.normal(0, 0.01, SEGMENT).astype(np.float32) for s in spoof]
        model.fit(bona, spoof)
    return model.eval()


def batch(n: int = 2, length: int = SEGMENT, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, length, generator=gen) * 0.1).float()


def test_registry_has_the_seed_models():
    expected = {"aasist", "aasist-l", "rawnet2", "rawnet2-lite", "lcnn", "lfcc-gmm", "cqcc-gmm"}
    assert expected <= set(ALL_MODELS)


def test_unknown_model_lists_valid_names():
    with pytest.raises(KeyError, match="valid choices: .*aasist"):
        build_model("aasist-xxl")


def test_unknown_config_key_lists_valid_keys():
    with pytest.raises(TypeError, match="valid keys: .*"):
        build_model("aasist", gat_dimz=(8, 8))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_output_shape_and_metadata(name):
    model = tiny_model(name)
    out = model(batch(3))
    assert out.shape == (3, 2)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert model.name == name
    assert model.sample_rate == 16000
    assert model.segment_samples > 0


@pytest.mark.parametrize("name", ALL_MODELS)
def test_eval_is_deterministic_and_batch_independent(name):
    model = tiny_model(name)
    x = batch(3)
    with torch.inference_mode():
        a, b = model(x), model(x)
        single = torch.cat([model(x[i : i + 1]) for i in range(3)])
    assert torch.equal(a, b)
    torch.testing.assert_close(single, a, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_gradients_flow(name):
    model = tiny_model(name)
    if not model.trainable_by_gradient:
        params = [p for p in model.parameters() if p.requires_grad]
        assert params == [], "a model fitted without gradients should expose no trainable params"
        return
    model.train()
    logits = model(batch(4))
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 0, 1]))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads, "no trainable parameters"
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    first = next(p for p in model.parameters() if p.requires_grad)
    assert first.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize("layout", ["file", "dir"])
def test_save_load_gives_identical_outputs(name, layout, tmp_path):
    model = tiny_model(name, seed=3)
    target = tmp_path / ("ckpt.safetensors" if layout == "file" else "ckpt")
    save_checkpoint(model, target, data_card={"train": "synthetic noise"})
    loaded, meta = load_checkpoint(target)
    assert meta["model"] == name and meta["data_card"] == {"train": "synthetic noise"}
    assert type(loaded) is type(model) and loaded.config == model.config
    reloaded = load_model(target)
    x = batch(2)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))
        assert torch.equal(model(x), reloaded(x))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_fused_inference_path_matches(name):
    model = tiny_model(name)
    x = batch(2)
    with torch.inference_mode():
        torch.testing.assert_close(model.fuse_for_inference()(x), model(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(SEGMENT),  # no batch dimension
        torch.zeros(1, 1, SEGMENT),  # extra dimension
        torch.zeros(1, SEGMENT, dtype=torch.float64),
        torch.zeros(1, SEGMENT, dtype=torch.int16),
        np.zeros((1, SEGMENT), dtype=np.float32),
        torch.zeros(0, SEGMENT),
    ],
    ids=["1d", "3d", "float64", "int16", "numpy", "empty-batch"],
)
def test_bad_input_raises_value_error(name, bad):
    model = tiny_model(name)
    with pytest.raises(ValueError):
        model(bad)
