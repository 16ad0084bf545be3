"""AASIST / AASIST-L: official-weight parity, the upstream importer, training, the fused path.

The oracle is ``reference/aasist`` (outputs of the official clovaai code, see its README §1).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import spoofscope.models.aasist_fast as aasist_fast
from spoofscope.checkpoint_errors import CheckpointError
from spoofscope.errors import SpoofscopeError
from spoofscope.models import build_model, get_spec
from spoofscope.models.aasist import AASIST, AASISTConfig, _mask_filters
from spoofscope.models.sinc import mel_sinc_filters
from spoofscope.upstream import (
    discarded_official_keys,
    load_official_aasist,
    official_key_map,
)

CHECKPOINTS = ["AASIST.pth", "AASIST-L.pth", "asvspoof5-baseline-AASIST.pth"]
TOL = {"atol": 1e-4, "rtol": 1e-4}


@pytest.fixture(scope="module")
def aasist_dir(reference_dir: Path) -> Path:
    return reference_dir / "aasist"


@pytest.fixture(scope="module")
def expected(aasist_dir: Path) -> dict:
    return json.loads((aasist_dir / "expected_logits.json").read_text())


@pytest.fixture(scope="module")
def inputs(aasist_dir: Path, expected: dict) -> torch.Tensor:
    """The five official model inputs, ``(5, 64600)`` in the recorded batch order."""
    order = expected["inputs"]["order"]
    return torch.from_numpy(np.stack([np.load(aasist_dir / "inputs" / n) for n in order]))


def _model_config(conf: Path) -> dict:
    config = json.loads(conf.read_text())["model_config"]
    assert config.pop("architecture") == "AASIST"
    return config


def _logits_and_embedding(model: torch.nn.Module, x: torch.Tensor):
    """One forward pass; the embedding is the classifier's input, caught by a hook."""
    classifier = model.head.classifier if hasattr(model, "head") else model.classifier
    seen = []
    handle = classifier.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    try:
        with torch.inference_mode():
            logits = model(x)
    finally:
        handle.remove()
    return logits, seen[0]


# --- config ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "conf"),
    [
        ("aasist", "AASIST.conf"),
        ("aasist-l", "AASIST-L.conf"),
        ("aasist", "asvspoof5-baseline-AASIST.conf"),
    ],
)
def test_registry_presets_equal_official_confs(aasist_dir, name, conf):
    official = _model_config(aasist_dir / conf)
    ours = get_spec(name).default_config()
    for key, value in official.items():
        assert getattr(ours, key) == _tuples(value), key
    assert AASISTConfig(**official) == ours


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def test_config_accepts_lists_and_survives_json():
    config = get_spec("aasist-l").default_config()
    assert isinstance(config.filts[1], tuple) and isinstance(config.pool_ratios, tuple)
    restored = AASISTConfig(**json.loads(json.dumps(dataclasses.asdict(config))))
    assert restored == config
    assert isinstance(restored.filts[4], tuple) and isinstance(restored.gat_dims, tuple)


@pytest.mark.parametrize(
    "bad",
    [
        {"filts": (70, (1, 32), (16, 32), (32, 64), (64, 64))},  # does not chain
        {"filts": (70, (1, 32), (32, 32), (32, 64), (64, 32))},  # blocks 4-6 not (c, c)
        {"pool_ratios": (0.5, 0.0, 0.5, 0.5)},
        {"temperatures": (2.0, 2.0, 100.0)},
        {"gat_dims": (64,)},
    ],
)
def test_bad_config_names_the_value(bad):
    with pytest.raises(ValueError, match=r"filts|pool_ratios|temperatures|gat_dims|malformed"):
        AASISTConfig(**bad)


def test_sinc_filters_are_the_official_bank_and_not_saved(aasist_dir):
    bank = np.load(aasist_dir / "sinc_filterbank_70x129.npy")
    assert np.array_equal(mel_sinc_filters(70, 128), bank)  # bit for bit
    model = AASIST()
    assert np.array_equal(model.sinc_filters[:, 0].numpy(), bank)
    assert "sinc_filters" not in model.state_dict()
    assert model.segment_samples == 64600


# --- parity with the official model -----------------------------------------------------


@pytest.mark.parametrize("fused", [False, True], ids=["eager", "fused"])
@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_official_checkpoint_parity(aasist_dir, expected, inputs, checkpoint, fused):
    model = load_official_aasist(aasist_dir / checkpoint)
    if fused:
        model = model.fuse_for_inference()
    outputs = expected["results"][checkpoint]["outputs"]
    want = [outputs[name] for name in expected["inputs"]["order"]]
    want_logits = torch.tensor([w["logits"] for w in want])
    want_embed = torch.tensor([w["embedding"] for w in want])
    single = [_logits_and_embedding(model, inputs[i : i + 1]) for i in range(len(want))]
    logits = torch.cat([s[0] for s in single])
    torch.testing.assert_close(logits, want_logits, **TOL)
    torch.testing.assert_close(torch.cat([s[1] for s in single]), want_embed, **TOL)
    assert logits.argmax(1).tolist() == [w["predicted_index"] for w in want]
    batch_logits, batch_embed = _logits_and_embedding(model, inputs)
    batched = expected["results"][checkpoint]["batch_consistency"]["batched_logits"]
    torch.testing.assert_close(batch_logits, torch.tensor(batched), **TOL)
    torch.testing.assert_close(batch_embed, want_embed, **TOL)
    assert batch_logits.argmax(1).tolist() == want_logits.argmax(1).tolist()


# --- the importer ----------------------------------------------------------------------


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_key_map_covers_the_official_state_dict_exactly(aasist_dir, checkpoint):
    manifest = json.loads((aasist_dir / "aasist_model_manifest.json").read_text())
    official = {key for key, _, _ in manifest["state_dict_manifest"][checkpoint]}
    model = load_official_aasist(aasist_dir / checkpoint)
    key_map = official_key_map(model)
    assert set(key_map) | discarded_official_keys(model) == official
    assert sorted(key_map.values()) == sorted(model.state_dict())
    assert all(".bn1." in key for key in discarded_official_keys(model))


@pytest.mark.parametrize(
    ("checkpoint", "name"), [("AASIST.pth", "aasist"), ("AASIST-L.pth", "aasist-l")]
)
def test_architecture_inferred_from_shapes_without_conf(aasist_dir, tmp_path, checkpoint, name):
    lone = tmp_path / checkpoint  # no sibling .conf here
    shutil.copy(aasist_dir / checkpoint, lone)
    model = load_official_aasist(lone)
    assert model.name == name
    assert model.config == get_spec(name).default_config()
    assert not model.training


def test_sibling_conf_and_explicit_config(aasist_dir):
    model = load_official_aasist(aasist_dir / "asvspoof5-baseline-AASIST.pth")
    assert model.name == "aasist"
    config = json.loads((aasist_dir / "AASIST-L.conf").read_text())  # whole .conf accepted
    assert load_official_aasist(aasist_dir / "AASIST-L.pth", config).name == "aasist-l"
    with pytest.raises(CheckpointError, match="shape"):
        load_official_aasist(aasist_dir / "AASIST-L.pth", _model_config(aasist_dir / "AASIST.conf"))
    with pytest.raises(CheckpointError, match="RawNet"):
        load_official_aasist(aasist_dir / "AASIST.pth", {"architecture": "RawNet"})


def test_wrapped_and_data_parallel_state_dicts(aasist_dir, tmp_path, inputs):
    state = torch.load(aasist_dir / "AASIST-L.pth", map_location="cpu", weights_only=True)
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, wrapped)
    model = load_official_aasist(wrapped)
    reference = load_official_aasist(aasist_dir / "AASIST-L.pth")
    assert model.name == "aasist-l"
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_unexpected_and_missing_keys_are_listed(aasist_dir, tmp_path):
    state = torch.load(aasist_dir / "AASIST.pth", map_location="cpu", weights_only=True)
    config = _model_config(aasist_dir / "AASIST.conf")
    extra = tmp_path / "extra.pth"
    torch.save({**state, "head.weight": torch.zeros(2)}, extra)
    with pytest.raises(CheckpointError, match=r"unexpected keys \['head.weight'\]"):
        load_official_aasist(extra, config)
    missing = tmp_path / "missing.pth"
    torch.save({k: v for k, v in state.items() if k != "out_layer.bias"}, missing)
    with pytest.raises(CheckpointError, match=r"missing keys \['out_layer.bias'\]"):
        load_official_aasist(missing, config)
    with pytest.raises(CheckpointError, match="neither AASIST nor AASIST-L"):
        load_official_aasist(missing)  # cannot be recognised without a config


class _Payload:
    """Unpickling this would create a file: proof that nothing was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_with_code_is_refused_not_executed(tmp_path):
    marker = tmp_path / "executed"
    evil = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.zeros(1), "x": _Payload(marker)}, evil)
    with pytest.raises(CheckpointError, match="not a plain weights file.*not unpickled"):
        load_official_aasist(evil)
    assert not marker.exists()
    assert issubclass(CheckpointError, SpoofscopeError)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_official_aasist(garbage)
    with pytest.raises(CheckpointError, match="not found"):
        load_official_aasist(tmp_path / "absent.pth")


# --- training and the fused path on tiny models ------------------------------------------


def _tiny(seed: int = 0, **overrides) -> AASIST:
    torch.manual_seed(seed)
    model = build_model("aasist", **{**get_spec("aasist").tiny, **overrides})
    for module in model.modules():  # non-trivial BN statistics, so BN folding is exercised
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def test_training_step_updates_everything():
    model = _tiny().train()
    x = torch.randn(4, 8000) * 0.1
    before = model.front_bn.running_mean.clone()
    logits = model(x)
    assert not torch.equal(logits, model(x))  # dropout is active
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 0, 1])).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
    assert not torch.equal(model.front_bn.running_mean, before)  # batch statistics used


def test_freq_aug_only_in_training():
    x = torch.randn(2, 8000) * 0.1
    plain, aug = _tiny(), _tiny(freq_aug=True)
    assert AASISTConfig().freq_aug is False
    with torch.inference_mode():
        assert torch.equal(plain(x), aug(x))  # eval mode: never masked
    plain.train(), aug.train()
    changed = []
    for seed in range(4):
        torch.manual_seed(seed)
        a = aug.front_end(x)
        changed.append(not torch.equal(a, plain.front_end(x)))
    assert any(changed)
    widths = []
    for _ in range(60):
        kept = _mask_filters(torch.ones(70, 1, 129)).abs().sum((1, 2)) > 0
        zero_rows = (~kept).nonzero().flatten()
        if len(zero_rows):  # one contiguous run
            assert zero_rows[-1] - zero_rows[0] + 1 == len(zero_rows)
        widths.append(len(zero_rows))
    assert 0 < max(widths) <= 19


@pytest.mark.parametrize("chunk_frames", [None, 300, 1000])
@pytest.mark.parametrize("length", [2315, 16000, 64600 + 1234])
def test_fused_matches_eager_at_chunk_edges(monkeypatch, chunk_frames, length):
    if chunk_frames is not None:  # several chunks plus a remainder in blocks 1-3
        monkeypatch.setattr(aasist_fast, "CHUNK_ELEMENTS", 8 * 24 * chunk_frames)
    model = _tiny(seed=2)
    fused = model.fuse_for_inference()
    x = torch.randn(3, length, generator=torch.Generator().manual_seed(length)) * 0.2
    with torch.inference_mode():
        want = model(x)
        torch.testing.assert_close(fused(x), want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fused.embed(x), model.embed(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fused(x[1:2]), want[1:2], atol=1e-5, rtol=1e-5)


def test_fused_is_eval_only_and_checks_input():
    model = _tiny()
    fused = model.fuse_for_inference()
    assert fused.name == "aasist" and fused.config == model.config
    assert fused.segment_samples == model.segment_samples == 64600
    with pytest.raises(RuntimeError, match="inference only"):
        fused.train()
    with pytest.raises(ValueError, match="too short"):
        fused(torch.zeros(1, model.min_samples() - 1))
    assert model.training is False  # building the fused copy left the model alone
