"""What is traced when a model is exported: ``(B, T) float32 wave -> (B, 2) logits`` modules.

* :class:`LogitsModule`: a model's ``forward_logits`` without the Python-level input checks.
  AASIST's ``fuse_for_inference()`` form is refused (:data:`FUSED_NOT_EXPORTABLE`).
* :class:`AASISTExport`: AASIST with the same maths in the layout ONNX Runtime runs fastest.
* :class:`GMMExport`: the GMM baselines with a float64 front end and no fitted-flag check.

:func:`dynamic_time` tells which forms may get a dynamic time axis.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from spoofscope.errors import SpoofscopeError
from spoofscope.models import SpoofModel

__all__ = [
    "FUSED_NOT_EXPORTABLE",
    "AASISTExport",
    "ExportError",
    "GMMExport",
    "LogitsModule",
    "dynamic_time",
    "exportable",
]

FUSED_NOT_EXPORTABLE = {
    "FusedAASIST": "it runs its first blocks per batch item and per time chunk in Python loops, "
    "so the exported graph would be fixed to one batch size (measured: its batch-1 export is "
    "also slower under ONNX Runtime than the plain graph)",
}


class ExportError(SpoofscopeError):
    """A model cannot be exported in the requested form (the message says why)."""


class LogitsModule(nn.Module):
    """``forward_logits`` of a model without its Python-level input checks (not traceable)."""

    def __init__(self, model: SpoofModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) float32 -> (B, 2)`` logits."""
        return self.model.forward_logits(wave)


class GMMExport(nn.Module):
    """A fitted GMM baseline in export form: ``(B, T) float32 -> (B, 2)`` logits.

    The front end and the likelihoods run in float64: ONNX Runtime's DFT sums in another order
    than PyTorch's FFT, and in float32 the log of near-empty spectral bins then moves the
    logits by up to 0.03; in float64 the export stays within 1e-5 of the float32 PyTorch
    model. The CQCC front end indexes a complex spectrum, which the exporter cannot translate:
    here the spectrum is kept as (real, imaginary) pairs and the CQT plan for ``samples`` is a
    constant, so a CQCC-GMM export accepts inputs of that length only.

    Args:
        model: a fitted :class:`~spoofscope.models.gmm.GMMBaseline` (left unchanged).
        samples: the input length (used by CQCC only).
    """

    def __init__(self, model: SpoofModel, samples: int) -> None:
        super().__init__()
        from spoofscope.cqt import CQCC

        if not model.is_fitted:
            raise ExportError(f"model {model.name!r} is not fitted; fit it before exporting")
        self.model = copy.deepcopy(model).double().eval()
        self.cqcc = isinstance(self.model.frontend, CQCC)
        if self.cqcc:
            index, weight = self.model.frontend.cqt.plan(samples)
            self.register_buffer("index", torch.from_numpy(index))
            self.register_buffer("weight", torch.from_numpy(weight).unsqueeze(-1))

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, D, frames)`` float64 features."""
        front = self.model.frontend
        if not self.cqcc:
            return front(wave.double())
        from spoofscope.features import add_deltas

        spectrum = torch.view_as_real(torch.fft.fft(wave.double(), dim=-1))  # (B, T, 2)
        bands = torch.view_as_complex((spectrum[:, self.index] * self.weight).contiguous())
        cqt = torch.view_as_real(torch.fft.ifft(bands, dim=-1))  # (B, K, M, 2)
        log_power = torch.log(cqt.square().sum(-1) + front.log_eps)
        return add_deltas(front.projection @ log_power, front.deltas, front.delta_width, True)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) float32 -> (B, 2)``: mean frame log-likelihood, spoof / bona fide GMM."""
        from spoofscope.models.gmm import gmm_log_likelihood

        feats = self.features(wave).transpose(1, 2)
        m = self.model
        scores = [
            gmm_log_likelihood(
                feats,
                getattr(m, f"{n}_weights"),
                getattr(m, f"{n}_means"),
                getattr(m, f"{n}_variances"),
            ).mean(dim=1)
            for n in ("spoof", "bonafide")
        ]
        return torch.stack(scores, dim=1).float()


class AASISTExport(nn.Module):
    """AASIST in the form ONNX Runtime runs fastest, with the plain model's maths.

    ``ResidualBlock`` pools with a 1-D max pool over a reshaped map (PyTorch's ``(1, 3)``
    2-D pool is slow); in ONNX the reshape forces layout conversions around every block, so
    here the pool is a 2-D ``(1, 3)`` max pool, which ORT runs in its blocked (NCHWc) layout.
    The sinc filter that the front end's 3x3 max pool drops (the last of 70) is not computed.
    Measured with ONNX Runtime (2 threads, batch 1): 15 % less time than the plain graph.
    ORT keeps every intermediate of a batch, about 300 MB per 4-s window, and batches gain
    little speed, so exported files ask :class:`~spoofscope.onnx_backend.OnnxModel` to run at
    most :attr:`max_batch` windows at a time.

    Args:
        model: an eval-mode :class:`~spoofscope.models.aasist.AASIST` (shared, not copied).
    """

    max_batch = 1

    def __init__(self, model: SpoofModel) -> None:
        super().__init__()
        self.model = model
        used = 3 * (model.sinc_filters.size(0) // 3)
        self.register_buffer("filters", model.sinc_filters[:used].detach().clone())

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) float32 -> (B, 2)`` logits."""
        m = self.model
        x = torch.abs(F.conv1d(wave.unsqueeze(1), self.filters)).unsqueeze(1)
        x = F.selu(m.front_bn(F.max_pool2d(x, (3, 3))))
        for block in m.encoder:
            out = block.conv2(F.selu(block.bn(block.conv1(x))))
            out = out + (x if block.skip is None else block.skip(x))
            x = F.max_pool2d(out, (1, 3))
        return m.classifier(m.graph_embed(x))


def exportable(model: SpoofModel, fused: bool = False) -> nn.Module:
    """The module that is traced for export: ``(B, T) float32 -> (B, 2)`` logits.

    Args:
        model: an eval-mode model (plain, not fused).
        fused: export ``model.fuse_for_inference()`` instead of the plain model.
    """
    from spoofscope.models.aasist import AASIST
    from spoofscope.models.gmm import GMMBaseline

    if isinstance(model, GMMBaseline):
        return GMMExport(model, model.segment_samples).eval()
    if isinstance(model, AASIST) and not fused:
        return AASISTExport(model).eval()
    inner = model.fuse_for_inference() if fused else model
    reason = FUSED_NOT_EXPORTABLE.get(type(inner).__name__) if inner is not model else None
    if reason:
        raise ExportError(
            f"the fused form of model {model.name!r} cannot be exported: {reason}; export the "
            "plain model (without --fused): ONNX Runtime folds its BatchNorms itself"
        )
    return LogitsModule(inner).eval()


def dynamic_time(module: nn.Module) -> bool:
    """Whether ``module`` may be exported with a dynamic time axis.

    Not AASIST: its graph pooling keeps ``int(nodes * ratio)`` nodes, a count that the
    exported graph would compute in float32 and round differently for some lengths (seen:
    logits off by 0.008). Not the GMMs: the exporter cannot take the size of a complex
    spectrum with a symbolic length, and the CQT plan is a constant of the length. Not an
    ensemble: with a dynamic time axis the exporter tied its members' shapes wrongly (seen:
    a reshape failing at batch 2, 20,321 samples); the detector feeds fixed windows anyway.
    """
    from spoofscope.models.aasist import AASIST
    from spoofscope.models.ensemble import Ensemble

    if isinstance(module, GMMExport | AASISTExport):
        return False
    inner = getattr(module, "model", module)
    return not isinstance(getattr(inner, "head", inner), AASIST | Ensemble)
