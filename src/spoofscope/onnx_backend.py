"""Run exported models with ONNX Runtime; int8 quantisation and its agreement with float32.

:class:`OnnxModel` is a drop-in for a PyTorch model wherever spoofscope scores waveforms
(``score_segments``, the :class:`~spoofscope.inference.Detector`): it is called with a
``(B, T)`` float32 tensor and returns ``(B, 2)`` logits, and carries ``name``, ``sample_rate``,
``segment_samples`` and ``checkpoint_metadata`` read from the file (written by
:mod:`spoofscope.export`). Int8 quantisation is in :mod:`spoofscope.quantize`. Only these
modules import ``onnxruntime``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spoofscope.checkpoint_errors import CheckpointError
from spoofscope.models.base import check_wave

__all__ = [
    "METADATA_KEY",
    "OnnxModel",
    "read_onnx_metadata",
    "session_options",
    "write_onnx_metadata",
]

log = logging.getLogger(__name__)

METADATA_KEY = "spoofscope"


def session_options(threads: int | None = None) -> Any:
    """ONNX Runtime options: ``threads`` intra-op threads (None = ORT's default), all graph
    optimisations, sequential execution, denormals flushed (as :func:`~spoofscope.scoring.
    flush_denormals` does for PyTorch)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.set_denormal_as_zero", "1")
    opts.log_severity_level = 3
    return opts


class OnnxModel:
    """An exported model run by ONNX Runtime, called like a PyTorch model.

    Args:
        path: an ``.onnx`` file written by :func:`spoofscope.export.export_model`.
        threads: intra-op threads (None = ONNX Runtime's default, one per core).
        max_batch: run larger batches in slices of this many windows, which bounds memory:
            ONNX Runtime keeps every intermediate of the whole batch (AASIST: about 300 MB per
            4-s window). None = the file's ``export.max_batch`` (set for AASIST), else no limit.

    Attributes:
        name: the registry name of the exported model.
        sample_rate: input sample rate in Hz.
        segment_samples: the model's window length in samples.
        checkpoint_metadata: the embedded metadata (with an ``"export"`` record).
        dynamic_time: whether inputs of other lengths than ``segment_samples`` are accepted.

    Raises:
        CheckpointError: the file is missing, not a readable ONNX model, or has no spoofscope
            metadata.
    """

    trainable_by_gradient = False

    def __init__(
        self, path: str | Path, threads: int | None = None, max_batch: int | None = None
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"ONNX model not found: {self.path}")
        try:
            self.session = ort.InferenceSession(
                str(self.path), session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own Fail / InvalidProtobuf types
            raise CheckpointError(f"{self.path}: not a readable ONNX model ({exc})") from exc
        text = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        meta = _parse_metadata(text, self.path)
        self.checkpoint_metadata: dict[str, Any] = meta
        self.name: str = str(meta["model"])
        self.sample_rate: int = int(meta["sample_rate"])
        self.segment_samples: int = int(meta["segment_samples"])
        wave_input = self.session.get_inputs()[0]
        self.input_name = wave_input.name
        self.output_name = self.session.get_outputs()[0].name
        self.dynamic_time = not isinstance(wave_input.shape[1], int)
        if max_batch is None:
            max_batch = (meta.get("export") or {}).get("max_batch")
        if max_batch is not None and int(max_batch) < 1:
            raise ValueError(f"max_batch must be >= 1 or None, got {max_batch}")
        self.max_batch: int | None = None if max_batch is None else int(max_batch)

    def __call__(self, wave: torch.Tensor) -> torch.Tensor:
        """Score a batch: ``(B, T)`` float32 tensor -> ``(B, 2)`` float32 logits tensor."""
        check_wave(wave)
        if not self.dynamic_time and wave.shape[1] != self.segment_samples:
            raise ValueError(
                f"{self.path.name} accepts inputs of {self.segment_samples} samples only "
                f"(exported with a fixed time axis), got shape {tuple(wave.shape)}"
            )
        array = np.ascontiguousarray(wave.detach().cpu().numpy())
        step = self.max_batch or len(array)
        outs = [
            self.session.run([self.output_name], {self.input_name: array[i : i + step]})[0]
            for i in range(0, len(array), step)
        ]
        return torch.from_numpy(outs[0] if len(outs) == 1 else np.concatenate(outs))

    forward = __call__

    def eval(self) -> OnnxModel:
        """No-op (an exported model is always in eval mode); for drop-in use."""
        return self

    def fuse_for_inference(self) -> OnnxModel:
        """No-op: ONNX Runtime optimises the graph when the session is created."""
        return self

    def to(self, *_: Any, **__: Any) -> OnnxModel:
        """No-op: the session runs on the CPU."""
        return self

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, name={self.name!r})"


def _parse_metadata(text: str | None, path: Path) -> dict[str, Any]:
    if text is None:
        raise CheckpointError(
            f"{path}: ONNX file has no spoofscope metadata; export it with `spoofscope export`"
        )
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: spoofscope metadata is not valid JSON ({exc})") from exc
    missing = [k for k in ("model", "sample_rate", "segment_samples") if k not in meta]
    if missing:
        raise CheckpointError(f"{path}: spoofscope metadata lacks {', '.join(missing)}")
    return meta


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The spoofscope metadata of an ONNX file, without creating a session."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ONNX model not found: {path}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable ONNX model ({exc})") from exc
    props = {p.key: p.value for p in proto.metadata_props}
    return _parse_metadata(props.get(METADATA_KEY), path)


def write_onnx_metadata(path: str | Path, metadata: dict[str, Any]) -> None:
    """Store ``metadata`` as JSON under :data:`METADATA_KEY` in the file's ``metadata_props``."""
    import onnx

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    props[METADATA_KEY] = json.dumps(metadata, sort_keys=True)
    onnx.helper.set_model_props(proto, props)
    proto.doc_string = f"spoofscope {metadata.get('model', '')} countermeasure: wave -> logits"
    onnx.save(proto, str(path))
