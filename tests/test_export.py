"""Export to ONNX / TorchScript: logits equal PyTorch's, metadata round trip, int8 agreement.

Every registered model is exported: ``aasist`` and ``aasist-l`` with the official weights on
the reference inputs (oracle: ``reference/aasist/expected_logits.json``), the others in their
tiny configs with a short segment (the exporter's time grows with the sequence length).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from spoofscope.checkpoint import save_checkpoint
from spoofscope.checkpoint_errors import CheckpointError
from spoofscope.cli import main
from spoofscope.export import ExportError, export_model, load_torchscript
from spoofscope.models import build_model, get_spec, list_models
from spoofscope.onnx_backend import OnnxModel, read_onnx_metadata
from spoofscope.quantize import compare_int8, quantize_int8
from spoofscope.scoring import score_segments
from spoofscope.upstream import load_official_aasist

OFFICIAL = {"aasist": "AASIST.pth", "aasist-l": "AASIST-L.pth"}
SHORT = 16000  # samples: the tiny models' segment
SEGMENT_KEY = {"rawnet2": "nb_samp", "rawnet2-lite": "nb_samp", "aasist": "nb_samp"}
# The ensemble goes last: after its (static) export, a dynamic-time export of LCNN in the same
# process fails inside torch.export's symbolic shapes (seen with torch 2.13; one export per
# process, as `spoofscope export` does, is unaffected). Known issue, see the issue notes.
TINY = sorted(
    (name for name in list_models() if name not in OFFICIAL), key=lambda n: n == "ensemble"
)


def tiny_model(name: str, seed: int = 0):
    """A tiny instance of ``name`` with a 1-s segment; GMMs fitted on noise vs tones."""
    torch.manual_seed(seed)
    key = SEGMENT_KEY.get(name, "segment_samples")
    model = build_model(name, **get_spec(name).tiny, **{key: SHORT})
    if not model.trainable_by_gradient:
        rng = np.random.default_rng(seed)
        model.fit([noise(rng, SHORT) for _ in range(4)], [tone(rng, SHORT) for _ in range(4)])
    return model.eval()


def noise(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.normal(0, rng.uniform(0.02, 0.3), n)).astype(np.float32)


def tone(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n) / 16000
    freqs = rng.uniform(150, 3000, 3)
    wave = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in freqs)
    return (rng.uniform(0.05, 0.3) * wave + rng.normal(0, 0.003, n)).astype(np.float32)


def torch_logits(model, x: torch.Tensor) -> torch.Tensor:
    """PyTorch's logits; for the GMMs computed in float64, as they are exported.

    A GMM's logits are mean log-likelihoods of a few hundred, where float32 resolves only
    ~3e-5: its float32 front end alone moves them by up to ~2e-4 (checked below as well).
    """
    with torch.inference_mode():
        if model.trainable_by_gradient:
            return model(x)
        exact = copy.deepcopy(model).double().forward_logits(x.double()).float()
        np.testing.assert_allclose(model(x).numpy(), exact.numpy(), atol=1e-3, rtol=0)
        return exact


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and 2 threads on 2 busy cores run 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def aasist_dir(reference_dir: Path) -> Path:
    return reference_dir / "aasist"


@pytest.fixture(scope="module")
def expected(aasist_dir: Path) -> dict:
    return json.loads((aasist_dir / "expected_logits.json").read_text())


def test_every_registered_model_is_covered():
    assert sorted(TINY + list(OFFICIAL)) == list_models() and TINY[-1] == "ensemble"


# --- official AASIST weights ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_weights_onnx_equal_expected_logits(name, aasist_dir, expected, tmp_path):
    model = load_official_aasist(aasist_dir / OFFICIAL[name])
    assert model.name == name
    path = export_model(model, tmp_path / f"{name}.onnx")
    order = expected["inputs"]["order"]
    x = np.stack([np.load(aasist_dir / "inputs" / n) for n in order])
    want = np.array([expected["results"][OFFICIAL[name]]["outputs"][n]["logits"] for n in order])
    onnx_model = OnnxModel(path, threads=2)
    # batches of 3 and 2 (dynamic batch axis), through the scoring helper as the detector does
    scores, logits = score_segments(onnx_model, x, batch_size=3)
    np.testing.assert_allclose(logits, want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(scores, want[:, 1] - want[:, 0], atol=2e-4, rtol=0)
    assert onnx_model.name == name and onnx_model.segment_samples == 64600
    assert onnx_model.sample_rate == 16000 and not onnx_model.dynamic_time
    assert onnx_model.max_batch == 1  # the batches above ran one window at a time
    meta = onnx_model.checkpoint_metadata
    assert meta["config"] == json.loads(json.dumps(model.config_dict()))
    assert meta["export"]["format"] == "onnx" and meta["export"]["dynamic_batch"] is True
    with pytest.raises(ValueError, match="64600 samples only"):
        onnx_model(torch.from_numpy(x[:1, :32000]))


# --- tiny configs of the other models --------------------------------------------------------


CALIBRATION = {"method": "logistic", "a": 0.5, "b": 0.2, "lower": 0.2, "upper": 0.8, "source": {}}
META_IN = {"calibration": CALIBRATION, "data_card": {"x": 1}}


@pytest.mark.parametrize("name", TINY)
def test_tiny_onnx_equals_torch(name, tmp_path, trained):
    if name == trained[0].name:  # the int8 tests' model, trained on tones vs noise
        model, path = trained
    else:
        model = tiny_model(name)
        path = export_model(model, tmp_path / f"{name}.onnx", metadata=_meta(model) | META_IN)
    onnx_model = OnnxModel(path)
    assert onnx_model.max_batch is None
    rng = np.random.default_rng(1)
    lengths = [SHORT, SHORT + 3333] if onnx_model.dynamic_time else [SHORT]
    for batch, length in [(1, SHORT), (4, SHORT)] + [(2, n) for n in lengths[1:]]:
        x = torch.from_numpy(np.stack([noise(rng, length) if i % 2 else tone(rng, length)
                                       for i in range(batch)]))  # fmt: skip
        got = onnx_model(x)
        assert got.shape == (batch, 2) and got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), torch_logits(model, x).numpy(), atol=1e-4, rtol=0)
    meta = read_onnx_metadata(path)
    assert meta["model"] == name and meta["segment_samples"] == SHORT
    assert meta["calibration"] == META_IN["calibration"] and meta["data_card"] == {"x": 1}
    assert meta["export"]["opset"] == 18 and meta["export"]["int8"] is None
    assert {p.key for p in onnx.load(str(path)).metadata_props} >= {"spoofscope"}


def _meta(model) -> dict:
    from spoofscope.checkpoint import build_metadata

    return build_metadata(model)


@pytest.mark.parametrize("name", ["rawnet2-lite", "cqcc-gmm"])
def test_torchscript_equals_torch(name, tmp_path):
    model = tiny_model(name)
    path = export_model(model, tmp_path / f"{name}.pt", fmt="torchscript")
    module, meta = load_torchscript(path)
    assert meta["model"] == name and meta["export"]["format"] == "torchscript"
    x = torch.from_numpy(np.stack([tone(np.random.default_rng(i), SHORT) for i in range(3)]))
    with torch.inference_mode():
        np.testing.assert_allclose(
            module(x).numpy(), torch_logits(model, x).numpy(), atol=1e-4, rtol=0
        )


# --- errors -----------------------------------------------------------------------------------


def test_unexportable_forms_raise_clear_errors(tmp_path):
    aasist = build_model("aasist", **get_spec("aasist").tiny)
    with pytest.raises(ExportError, match="fused form of model 'aasist'.*batch"):
        export_model(aasist, tmp_path / "a.onnx", fused=True)
    gmm = build_model("lfcc-gmm", **get_spec("lfcc-gmm").tiny)
    with pytest.raises(ExportError, match="'lfcc-gmm' is not fitted"):
        export_model(gmm, tmp_path / "g.onnx")
    with pytest.raises(ValueError, match="valid choices: onnx, torchscript"):
        export_model(gmm, tmp_path / "g.x", fmt="tflite")


def test_onnx_model_rejects_missing_invalid_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        OnnxModel(tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(CheckpointError, match="not a readable ONNX model"):
        OnnxModel(bad)
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["wave"], ["logits"])],
        "plain",
        [onnx.helper.make_tensor_value_info("wave", onnx.TensorProto.FLOAT, ["b", 2])],
        [onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["b", 2])],
    )
    foreign = tmp_path / "foreign.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)]),
              str(foreign))  # fmt: skip
    with pytest.raises(CheckpointError, match="no spoofscope metadata"):
        OnnxModel(foreign)
    with pytest.raises(CheckpointError, match="no spoofscope metadata"):
        read_onnx_metadata(foreign)


# --- int8 -------------------------------------------------------------------------------------


def train_tones_vs_noise(steps: int = 40):
    """A tiny RawNet2-lite trained to call tones bona fide and noise spoof."""
    model = tiny_model("rawnet2-lite", seed=3).train()
    rng = np.random.default_rng(3)
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        waves = [tone(rng, SHORT) for _ in range(8)] + [noise(rng, SHORT) for _ in range(8)]
        labels = torch.tensor([1] * 8 + [0] * 8)
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(np.stack(waves))), labels)
        optim.zero_grad()
        loss.backward()
        optim.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(model, its ONNX export)`` of :func:`train_tones_vs_noise`."""
    model = train_tones_vs_noise()
    path = tmp_path_factory.mktemp("int8") / "tones.onnx"
    return model, export_model(model, path, metadata=_meta(model) | META_IN)


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_int8_agrees_with_fp32(trained, mode):
    trained_onnx = trained[1]
    rng = np.random.default_rng(11)
    waves = [tone(rng, SHORT) for _ in range(60)] + [noise(rng, SHORT) for _ in range(60)]
    labels = [1] * 60 + [0] * 60
    calibration = waves[::10] if mode == "static" else None
    int8 = quantize_int8(trained_onnx, trained_onnx.with_suffix(f".{mode}.onnx"), mode, calibration)
    meta = read_onnx_metadata(int8)
    assert meta["export"]["int8"]["mode"] == mode and meta["model"] == "rawnet2-lite"
    result = compare_int8(trained_onnx, int8, waves, labels)
    assert result["n"] == 120
    assert result["eer_fp32"] < 0.1, "the model did not learn: decisions are not meaningful"
    assert result["agreement"] >= 0.99 and result["agreement_argmax"] >= 0.99
    assert abs(result["eer_int8"] - result["eer_fp32"]) <= 0.02
    assert 0 < result["max_abs_score_diff"] < 1.0  # quantised, not a copy
    with pytest.raises(ValueError, match="one label per waveform"):
        compare_int8(trained_onnx, int8, waves, labels[:-1])


def test_detector_runs_the_onnx_file_like_the_checkpoint(trained, tmp_path):
    from spoofscope.inference import Detector

    model, onnx_path = trained
    ckpt = save_checkpoint(model, tmp_path / "tones.safetensors", calibration=CALIBRATION)
    rng = np.random.default_rng(7)
    wave = np.concatenate([tone(rng, 24000), noise(rng, 20000), tone(rng, 9000)])
    results = [
        Detector.from_pretrained(path, backend, vad="none").detect(wave)
        for path, backend in ((ckpt, "torch"), (onnx_path, "onnx"))
    ]
    torch_scores, onnx_scores = ([w.score for w in r.windows] for r in results)
    assert len(onnx_scores) == len(torch_scores) >= 3
    np.testing.assert_allclose(onnx_scores, torch_scores, atol=1e-4)
    np.testing.assert_allclose(results[1].p_spoof, results[0].p_spoof, atol=1e-4)
    assert results[1].verdict == results[0].verdict


# --- command line -----------------------------------------------------------------------------


def test_cli_export_onnx_int8_and_torchscript(tmp_path, capsys):
    model = tiny_model("lfcc-gmm")
    ckpt = save_checkpoint(
        model, tmp_path / "gmm.safetensors", calibration={"a": 1.5}, data_card={"corpus": "t"}
    )
    out = tmp_path / "out" / "gmm.onnx"
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    onnx_model = OnnxModel(out)
    meta = onnx_model.checkpoint_metadata
    assert meta["calibration"] == {"a": 1.5} and meta["data_card"] == {"corpus": "t"}
    assert meta["export"]["fused"] is False and meta["export"]["opset"] == 18
    x = torch.from_numpy(np.stack([tone(np.random.default_rng(5), SHORT)]))
    np.testing.assert_allclose(onnx_model(x).numpy(), torch_logits(model, x).numpy(), atol=1e-4)

    pt = tmp_path / "gmm.pt"
    assert main(["export", "--checkpoint", str(ckpt), "--format", "torchscript",
                 "--out", str(pt)]) == 0  # fmt: skip
    assert load_torchscript(pt)[1]["calibration"] == {"a": 1.5}
    # usage errors: exit code 2 and a message naming the problem
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(out), "--int8"]) == 2
    assert "nothing to quantise to int8" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(ckpt), "--format", "torchscript", "--int8"]) == 2
    assert "--int8 needs --format onnx" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(tmp_path / "missing.safetensors")]) == 2
    assert "not found" in capsys.readouterr().err
