"""Export a model to ONNX (run by ONNX Runtime) or TorchScript, its checkpoint metadata inside.

ONNX files are written by torch's dynamo-based exporter (``torch.onnx.export(..., dynamo=True)``,
opset :data:`DEFAULT_OPSET`) with a dynamic batch axis, and a dynamic time axis wherever the
model allows it (``metadata["export"]["dynamic_time"]`` says; otherwise only inputs of
``segment_samples`` are accepted). The legacy TorchScript-based exporter cannot export every
model: it has no complex tensors (so no LFCC / CQCC front end) and its trace of AASIST bakes the
batch size into a reshape. Every export is checked: ONNX Runtime must reproduce the PyTorch
logits on a few random inputs, else :class:`ExportError`.

What is exported, per model:

* the plain eval model (``forward_logits``, without the Python-level input checks); AASIST in
  an equivalent form that ONNX Runtime runs faster (:class:`~.export_forms.AASISTExport`).
  AASIST's ``fuse_for_inference()`` form runs its first blocks per batch item and per time
  chunk in Python loops, so it cannot be exported with a dynamic batch axis; its batch-1 export
  is also slower under ONNX Runtime than the plain graph, whose BatchNorms ORT folds itself
  (``benchmarks/bench_detect.py``). ``fused=True`` exports the fused form where it exports
  cleanly (the other models' fused form is the model itself).
* the GMM baselines in an export form (:class:`GMMExport`): float64 front end and likelihoods,
  no fitted-flag check. CQCC-GMM exports for one input length only (its CQT plan depends on it).

The checkpoint metadata (model name, config, sample rate, segment length, calibration, data card,
version) plus an ``"export"`` record is stored as JSON under the key :data:`METADATA_KEY`: in the
ONNX ``metadata_props`` or the TorchScript archive's extra file ``spoofscope.json``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spoofscope import __version__
from spoofscope.export_forms import ExportError, GMMExport, dynamic_time, exportable
from spoofscope.models import SpoofModel
from spoofscope.onnx_backend import METADATA_KEY

__all__ = [
    "DEFAULT_OPSET",
    "FORMATS",
    "METADATA_KEY",
    "ExportError",
    "GMMExport",
    "export_model",
    "exportable",
    "load_torchscript",
]

log = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript")
#: torchlib's own opset in torch 2.13: no version conversion; ONNX Runtime 1.20+ runs it.
DEFAULT_OPSET = 18
TORCHSCRIPT_EXTRA = "spoofscope.json"
#: largest |logit difference| between the exported file and PyTorch accepted by the check.
CHECK_TOLERANCE = 1e-3


def export_model(
    model: SpoofModel,
    path: str | Path,
    *,
    fmt: str = "onnx",
    metadata: dict[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
    fused: bool = False,
) -> Path:
    """Export ``model`` to ``path`` and check the file against PyTorch.

    Args:
        model: a model from :func:`spoofscope.checkpoint.load_model` (eval mode).
        path: the output file (``.onnx`` or ``.pt`` by convention).
        fmt: ``"onnx"`` or ``"torchscript"``.
        metadata: the checkpoint metadata to embed (default: rebuilt from the model).
        opset: ONNX opset (``fmt="onnx"`` only).
        fused: export the ``fuse_for_inference()`` form.

    Returns:
        ``path``.

    Raises:
        ExportError: the model cannot be exported in this form, or the exported file does
            not reproduce the PyTorch logits.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; valid choices: {', '.join(FORMATS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    module = exportable(model, fused)
    meta = dict(metadata if metadata is not None else _model_metadata(model))
    record = {
        "format": fmt,
        "fused": bool(fused),
        "form": type(module).__name__,
        "max_batch": getattr(module, "max_batch", None),
        "torch": torch.__version__,
        "spoofscope_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "input": "wave",
        "output": "logits",
        "int8": None,
    }
    example = _example(model, 2)
    if fmt == "onnx":
        record.update(_export_onnx(module, example, path, opset, model))
        meta["export"] = record
        from spoofscope.onnx_backend import write_onnx_metadata

        write_onnx_metadata(path, meta)
        run = _onnx_runner(path)
    else:
        traced = _trace(module, example, model)
        record.update(dynamic_batch=True, dynamic_time=dynamic_time(module))
        meta["export"] = record
        with _quiet():
            torch.jit.save(traced, str(path), _extra_files={TORCHSCRIPT_EXTRA: json.dumps(meta)})
            run = torch.jit.load(str(path))
    try:
        _check(run, model, record["dynamic_time"], f"{fmt} export of {model.name!r}")
    except ExportError:
        path.unlink(missing_ok=True)
        raise
    return path


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """Load a TorchScript export: ``(module, metadata)``; the module maps waves to logits."""
    extra = {TORCHSCRIPT_EXTRA: ""}
    from spoofscope.checkpoint_errors import CheckpointError

    if not Path(path).is_file():
        raise CheckpointError(f"TorchScript file not found: {path}")
    try:
        with _quiet():
            module = torch.jit.load(str(path), _extra_files=extra)
        return module.eval(), json.loads(extra[TORCHSCRIPT_EXTRA])
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a spoofscope TorchScript export ({exc})") from exc


def _model_metadata(model: SpoofModel) -> dict[str, Any]:
    meta = getattr(model, "checkpoint_metadata", None)
    if meta:
        return dict(meta)
    from spoofscope.checkpoint import build_metadata

    return build_metadata(model)


def _example(model: SpoofModel, batch: int, samples: int | None = None) -> torch.Tensor:
    """Seeded noise with a slow amplitude envelope, ``(batch, samples)`` float32."""
    samples = samples or model.segment_samples
    rng = np.random.default_rng(samples + batch)
    envelope = 0.05 + 0.1 * np.abs(np.sin(np.linspace(0, 6 * np.pi, samples)))
    wave = rng.normal(0.0, 1.0, (batch, samples)) * envelope
    return torch.from_numpy(wave.astype(np.float32))


def _export_onnx(
    module: nn.Module, example: torch.Tensor, path: Path, opset: int, model: SpoofModel
) -> dict[str, Any]:
    """Run the dynamo exporter; returns the export record's shape facts."""
    from torch.export import Dim

    time_dim = Dim.AUTO if dynamic_time(module) else Dim.STATIC
    shapes = {"wave": {0: Dim("batch", min=1, max=1 << 16), 1: time_dim}}
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), torch.no_grad(), _quiet():
            torch.onnx.export(
                module,
                (example,),
                str(path),
                input_names=["wave"],
                output_names=["logits"],
                opset_version=opset,
                dynamo=True,
                dynamic_shapes=shapes,
                external_data=False,
            )
    except Exception as exc:  # the exporter raises many types
        raise ExportError(
            f"model {model.name!r} cannot be exported to ONNX: {_cause(exc)}"
        ) from exc
    finally:
        log.debug("exporter output:\n%s", captured.getvalue())
    import onnx

    dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    return {
        "exporter": "torch.onnx.export(dynamo=True)",
        "opset": opset,
        "dynamic_batch": bool(dims[0].dim_param),
        "dynamic_time": bool(dims[1].dim_param),
    }


def _trace(module: nn.Module, example: torch.Tensor, model: SpoofModel) -> Any:
    try:  # with autograd on: RawNet2's no-grad GRU path (functional_call) is not traceable
        with torch.enable_grad(), _quiet():
            return torch.jit.trace(module, (example,), check_trace=False)
    except Exception as exc:
        detail = " ".join(str(exc).split())[:400]
        raise ExportError(
            f"model {model.name!r} cannot be traced to TorchScript: {detail}"
        ) from exc


_NOISY_LOGGERS = ("torch.onnx", "torch._dynamo", "torch._guards", "torch.export", "torch.fx")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' warnings and log lines (their failures still raise)."""
    loggers = [logging.getLogger(n) for n in _NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _cause(exc: BaseException) -> str:
    """The first line of the innermost cause of ``exc`` (the exporter wraps errors twice)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]


def _onnx_runner(path: Path) -> Any:
    from spoofscope.onnx_backend import OnnxModel

    return OnnxModel(path, threads=None)


def _check(run: Any, model: SpoofModel, variable_length: bool, what: str) -> None:
    """Compare the exported logits with PyTorch's at batch 1 and 3 (and another length).

    The reference is the model's ``fuse_for_inference()`` form (the same logits to float
    rounding, and several times faster for AASIST).
    """
    reference = model.fuse_for_inference()
    shapes = [(1, None), (3, None)]
    if variable_length:
        shapes.append((2, model.segment_samples + 4321))
    for batch, samples in shapes:
        x = _example(model, batch, samples)
        try:
            with torch.inference_mode():
                want = reference(x)
                got = run(x)
        except Exception as exc:  # ORT / TorchScript runtime errors: a broken export
            raise ExportError(f"{what} fails at input shape {tuple(x.shape)}: {exc}") from exc
        if got.shape != want.shape:
            raise ExportError(f"{what}: output shape {tuple(got.shape)} != {tuple(want.shape)}")
        diff = float((got - want).abs().max())
        if not diff <= CHECK_TOLERANCE:
            raise ExportError(
                f"{what}: logits differ from PyTorch by {diff:.3g} at input shape "
                f"{tuple(x.shape)} (tolerance {CHECK_TOLERANCE})"
            )
