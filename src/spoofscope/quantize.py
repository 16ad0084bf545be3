"""Int8 versions of exported ONNX models (``onnxruntime.quantization``) and their agreement
with the float32 original (:func:`compare_int8`).

Measured on the official AASIST weights over 554 real clips (3 ASVspoof 2019 reference clips,
251 LibriSpeech and 300 FSDD recordings, all bona fide but 2): ``dynamic`` (the default) kept
99.6 % of the decisions at the float32 EER threshold and 100 % at the argmax (scores moved by
up to 0.33), but is no faster than float32, as AASIST's time goes into convolutions; ``static``
kept 99.3 % / 85 % (scores moved by up to 8.4). The GMM baselines have nothing to quantise.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spoofscope.onnx_backend import OnnxModel, read_onnx_metadata, write_onnx_metadata

__all__ = ["INT8_MODES", "INT8_OPS", "compare_int8", "quantize_int8", "speechlike"]

log = logging.getLogger(__name__)

INT8_MODES = ("dynamic", "static")
#: ops quantised per mode. Dynamic: weights of matrix products (int8 convolutions through
#: ConvInteger are slower than float32 in ONNX Runtime and lose too much accuracy in the
#: sinc front ends). Static (QDQ, calibrated activations): convolutions and matrix products.
INT8_OPS = {"dynamic": ["MatMul", "Gemm", "LSTM"], "static": ["Conv", "MatMul", "Gemm"]}


def quantize_int8(
    fp32_path: str | Path,
    int8_path: str | Path,
    mode: str = "dynamic",
    calibration: Iterable[np.ndarray] | None = None,
) -> Path:
    """Quantise an exported float32 model to int8 with ``onnxruntime.quantization``.

    Args:
        fp32_path: an ``.onnx`` file from :func:`spoofscope.export.export_model`.
        int8_path: the output file.
        mode: ``"dynamic"`` (int8 weights of matrix products, activations quantised on the
            fly; no data needed) or ``"static"`` (QDQ, per-channel weights, activation ranges
            calibrated on ``calibration``).
        calibration: ``static`` only: 1-D float32 waveforms of ``segment_samples`` each
            (default: 32 :func:`speechlike` signals; real speech calibrates better).

    Returns:
        ``int8_path``, carrying the float32 file's metadata with ``export.int8`` filled in.
    """
    from onnxruntime import quantization as q

    if mode not in INT8_MODES:
        raise ValueError(f"unknown int8 mode {mode!r}; valid choices: {', '.join(INT8_MODES)}")
    meta = read_onnx_metadata(fp32_path)
    int8_path = Path(int8_path)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    ops = INT8_OPS[mode]
    _check_quantisable(Path(fp32_path), ops)
    feeds = []
    if mode == "static":
        if calibration is None:
            log.warning("static int8: calibrating on synthetic speech-like signals")
            calibration = speechlike(32, int(meta["segment_samples"]))
        feeds = [{"wave": np.asarray(w, np.float32)[None]} for w in calibration]
        if not feeds:
            raise ValueError("static int8 quantisation needs calibration waveforms")
    root = logging.getLogger()
    root_level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime.quantization warns on the root logger
    with contextlib.ExitStack() as stack:
        stack.callback(root.setLevel, root_level)
        tmp = stack.enter_context(tempfile.TemporaryDirectory(dir=int8_path.parent))
        source = _preprocess(Path(fp32_path), Path(tmp) / "pre.onnx")
        if mode == "dynamic":
            q.quantize_dynamic(
                source, str(int8_path), weight_type=q.QuantType.QInt8, op_types_to_quantize=ops
            )
        else:
            q.quantize_static(
                source, str(int8_path), _Reader(feeds), quant_format=q.QuantFormat.QDQ,
                per_channel=True, op_types_to_quantize=ops,
                activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
            )  # fmt: skip
    meta.setdefault("export", {})["int8"] = {
        "mode": mode,
        "ops": ops,
        "calibration_waves": len(feeds),
    }
    write_onnx_metadata(int8_path, meta)
    return int8_path


def speechlike(n: int, samples: int, sample_rate: int = 16000, seed: int = 0) -> list[np.ndarray]:
    """``n`` synthetic speech-like signals of ``samples`` samples (calibration stand-ins).

    Each is a glottal-like harmonic series on a gliding pitch (80-260 Hz) shaped by three
    formant peaks, chopped into 3-6 Hz syllables, with noise bursts (fricatives) and a
    noise floor; peak amplitude 0.05-0.9.

    Returns:
        ``n`` float32 arrays of shape ``(samples,)``.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sample_rate
    out = []
    for _ in range(n):
        f0 = rng.uniform(80, 260) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t))
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        formants = rng.uniform([300, 900, 2200], [900, 2200, 3500])
        voiced = np.zeros(samples)
        for k in range(1, int(4000 / f0.max())):
            gain = sum(np.exp(-(((k * f0 - f) / 150.0) ** 2)) for f in formants) + 0.05
            voiced += gain * np.sin(k * phase) / k
        syllables = np.clip(np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6)), 0, None)
        bursts = (np.sin(2 * np.pi * rng.uniform(1, 3) * t) > 0.8) * rng.normal(0, 0.3, samples)
        wave = voiced * syllables + bursts + rng.normal(0, 0.01, samples)
        out.append((wave / np.abs(wave).max() * rng.uniform(0.05, 0.9)).astype(np.float32))
    return out


def _check_quantisable(path: Path, ops: list[str]) -> None:
    """Raise ``ValueError`` when no ``ops`` node of the graph has a float32 weight."""
    import onnx

    graph = onnx.load(str(path)).graph
    float_weights = {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    if not any(n.op_type in ops and set(n.input) & float_weights for n in graph.node):
        raise ValueError(
            f"{path.name}: nothing to quantise to int8 (no {'/'.join(ops)} with float32 "
            "weights; the GMM baselines compute in float64)"
        )


def _preprocess(src: Path, dst: Path) -> str:
    """``quant_pre_process`` (shape inference, graph optimisation) as ORT recommends; the
    symbolic shape inference is skipped for graphs it cannot handle."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst))
    except Exception as exc:  # symbolic shape inference does not know every op (e.g. DFT)
        log.debug("symbolic shape inference failed (%s); pre-processing without it", exc)
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    return str(dst)


class _Reader:
    """A ``CalibrationDataReader`` over a list of feed dicts."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._it = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def compare_int8(
    fp32_path: str | Path,
    int8_path: str | Path,
    waves: Sequence[np.ndarray] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    batch_size: int = 8,
) -> dict[str, Any]:
    """Decisions and EER of an int8 model against its float32 original on an evaluation set.

    Each waveform is cut or repeated to the model's segment (the official convention) and
    scored by both files (log-odds, higher = bona fide). A decision is ``score > threshold``
    (bona fide) with the float32 model's EER threshold, placed midway between the two float32
    scores that the EER point separates, the same for both models (``score > 0``, the argmax,
    when ``labels`` hold one class only).

    Args:
        fp32_path: the float32 ``.onnx`` file.
        int8_path: its int8 version.
        waves: 1-D float waveforms (any length) or an ``(N, T)`` array.
        labels: ``(N,)``, 1 = bona fide, 0 = spoof.
        batch_size: windows per ONNX Runtime call.

    Returns:
        ``{"agreement", "agreement_argmax", "eer_fp32", "eer_int8", "threshold", "n",
        "max_abs_score_diff"}``; the EERs are fractions (None with one class only).
    """
    from spoofscope.audio import repeat_pad
    from spoofscope.metrics import det_curve, eer
    from spoofscope.scoring import score_segments

    labels = np.asarray(labels).astype(int)
    if len(labels) != len(waves) or len(labels) == 0:
        raise ValueError(f"need one label per waveform, got {len(labels)} for {len(waves)}")
    scores = []
    for path in (fp32_path, int8_path):
        model = OnnxModel(path)
        segments = np.stack([repeat_pad(np.asarray(w, np.float32), model.segment_samples)
                             for w in waves])  # fmt: skip
        scores.append(score_segments(model, segments, batch_size=batch_size)[0])
    s32, s8 = scores
    bona, spoof = labels == 1, labels == 0
    result: dict[str, Any] = {"n": int(len(labels)), "eer_fp32": None, "eer_int8": None}
    threshold = 0.0
    if bona.any() and spoof.any():
        point = det_curve(s32[bona], s32[spoof]).eer_point()
        ordered = np.sort(s32)  # the point rejects ordered[:index], accepts the rest
        below = ordered[point.index - 1] if point.index > 0 else ordered[0] - 1.0
        above = ordered[point.index] if point.index < len(ordered) else ordered[-1] + 1.0
        threshold = (below + above) / 2
        result["eer_fp32"] = point.value
        result["eer_int8"] = eer(s8[bona], s8[spoof])
    result["threshold"] = float(threshold)
    result["agreement"] = float(np.mean((s32 > threshold) == (s8 > threshold)))
    result["agreement_argmax"] = float(np.mean((s32 > 0) == (s8 > 0)))
    result["max_abs_score_diff"] = float(np.max(np.abs(s32 - s8)))
    return result
