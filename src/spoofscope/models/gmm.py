"""LFCC-GMM and CQCC-GMM, the ASVspoof 2019/2021 baselines (``asvspoof-challenge/2021``
``LA/Baseline-LFCC-GMM`` and ``LA/Baseline-CQCC-GMM``).

Two diagonal-covariance GMMs (512 components, 10 EM iterations in the baselines) are fitted
by EM on frame-level features: one on bona fide, one on spoofed speech. An utterance scores
the mean frame log-likelihood under each: ``logit[0]`` (spoof GMM), ``logit[1]`` (bona fide
GMM), so ``logit[1] - logit[0]`` is the baselines' log-likelihood ratio. Features default to
the 2021 LA Matlab settings: LFCC :data:`spoofscope.features.LFCC_GMM_2021` (19 x 3 = 57
dims) and CQCC :class:`spoofscope.cqt.CQCC` (``B = 12``, 62.5 Hz-4 kHz, ``d = 16``, c0-c19,
deltas: 60 dims). The GMM parameters are persistent buffers (in the safetensors
checkpoint); the model has no gradient-trainable parameters.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from spoofscope.cqt import CQCC
from spoofscope.errors import SpoofscopeError
from spoofscope.features import LFCC, LFCC_GMM_2021
from spoofscope.models.base import SpoofModel

__all__ = ["GMMBaseline", "GMMConfig", "GMMNotFittedError", "gmm_log_likelihood"]

log = logging.getLogger(__name__)

FEATURES = ("lfcc", "cqcc")


class GMMNotFittedError(SpoofscopeError, RuntimeError):
    """A GMM baseline was asked to score before ``fit()`` or loading a checkpoint."""


@dataclass(frozen=True)
class GMMConfig:
    """GMM baseline settings; defaults follow the ASVspoof 2021 LA Matlab baselines.

    Attributes:
        feature: ``"lfcc"`` or ``"cqcc"``.
        n_components: Gaussians per class (512).
        covariance: covariance type; only ``"diag"`` (the baselines') is supported.
        max_iter: EM iterations (10 in the baselines).
        tol: EM convergence threshold on the mean log-likelihood gain.
        reg_covar: variance floor added on the diagonal.
        init: scikit-learn ``init_params`` (``"kmeans"``, ``"k-means++"``, ``"random"``,
            ``"random_from_data"``).
        seed: random seed of the initialisation and frame subsampling.
        max_train_frames: fit each GMM on at most this many randomly chosen frames
            (``None`` = all frames).
        segment_samples: window length used when scoring long audio in windows.
        deltas: delta orders appended to the static coefficients (2 = static + D + DD).
        lfcc_win_length, lfcc_hop_length, lfcc_n_fft, lfcc_n_filters, lfcc_n_ceps,
        lfcc_f_min, lfcc_f_max: LFCC settings (30 ms / 15 ms, 1024, 70 filters, 19
            coefficients incl. c0, 0-4 kHz).
        cqcc_bins_per_octave, cqcc_f_min, cqcc_f_max, cqcc_d, cqcc_n_ceps: CQCC settings
            (12 bins/octave, 62.5-4000 Hz, d = 16, 19 coefficients + c0). The 2019
            baseline used 96, 15.625, 8000, 16, 29.
    """

    feature: str = "lfcc"
    n_components: int = 512
    covariance: str = "diag"
    max_iter: int = 10
    tol: float = 1e-3
    reg_covar: float = 1e-6
    init: str = "kmeans"
    seed: int = 0
    max_train_frames: int | None = None
    segment_samples: int = 64600
    deltas: int = 2
    lfcc_win_length: int = 480
    lfcc_hop_length: int = 240
    lfcc_n_fft: int = 1024
    lfcc_n_filters: int = 70
    lfcc_n_ceps: int = 19
    lfcc_f_min: float = 0.0
    lfcc_f_max: float = 4000.0
    cqcc_bins_per_octave: int = 12
    cqcc_f_min: float = 62.5
    cqcc_f_max: float = 4000.0
    cqcc_d: int = 16
    cqcc_n_ceps: int = 19

    def __post_init__(self) -> None:
        if self.feature not in FEATURES:
            raise ValueError(f"unknown feature {self.feature!r}; valid choices: lfcc, cqcc")
        if self.covariance != "diag":
            raise ValueError(f"unsupported covariance {self.covariance!r}; valid choices: diag")
        if self.n_components < 1 or self.max_iter < 1:
            raise ValueError(f"n_components and max_iter must be >= 1: {self}")
        if self.max_train_frames is not None and self.max_train_frames < 1:
            raise ValueError(f"max_train_frames must be None or >= 1, got {self.max_train_frames}")


class GMMBaseline(SpoofModel):
    """Bona fide vs spoof GMM pair: ``forward(wave (B, T)) -> (B, 2)`` mean log-likelihoods.

    Args:
        config: the settings; ``GMMConfig(feature="cqcc")`` for CQCC-GMM.
    """

    trainable_by_gradient = False

    def __init__(self, config: GMMConfig | None = None) -> None:
        super().__init__()
        config = config or GMMConfig()
        self.config = config
        self.segment_samples = config.segment_samples
        self.frontend = _build_frontend(config)
        k, d = config.n_components, self.frontend.n_features
        for name in ("spoof", "bonafide"):
            self.register_buffer(f"{name}_weights", torch.full((k,), 1.0 / k))
            self.register_buffer(f"{name}_means", torch.zeros(k, d))
            self.register_buffer(f"{name}_variances", torch.ones(k, d))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.uint8))

    @property
    def is_fitted(self) -> bool:
        """Whether the GMMs hold fitted (or loaded) parameters."""
        return bool(self.fitted.item())

    def min_samples(self) -> int:
        """Shortest input: one LFCC frame, or one period of the lowest CQT band."""
        cfg = self.config
        if cfg.feature == "lfcc":
            return cfg.lfcc_win_length
        return math.ceil(self.sample_rate / cfg.cqcc_f_min)

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, frames, D)`` frame features."""
        return self.frontend(wave).transpose(1, 2)

    def forward_logits(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, 2)``: mean frame log-likelihood under the spoof / bona fide GMM."""
        if not self.is_fitted:
            raise GMMNotFittedError("model is not fitted; call fit() or load a checkpoint")
        feats = self.features(wave).double()
        scores = [
            gmm_log_likelihood(feats, *self._gmm(name)).mean(dim=1)
            for name in ("spoof", "bonafide")
        ]
        return torch.stack(scores, dim=1).float()

    def _gmm(self, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return tuple(
            getattr(self, f"{name}_{part}").double() for part in ("weights", "means", "variances")
        )  # type: ignore[return-value]

    @torch.no_grad()
    def fit(self, bonafide_waves: Iterable[Any], spoof_waves: Iterable[Any]) -> GMMBaseline:
        """Fit both GMMs with EM (scikit-learn ``GaussianMixture``, diagonal covariances).

        Args:
            bonafide_waves: 1-D float waveforms (numpy arrays or tensors) of bona fide speech.
            spoof_waves: 1-D float waveforms of spoofed speech.

        Returns:
            ``self``, fitted and in eval mode.

        Raises:
            ValueError: a class has no usable audio or fewer frames than components.
            ImportError: scikit-learn is missing (``pip install spoofscope[gmm]``).
        """
        try:
            from sklearn.exceptions import ConvergenceWarning
            from sklearn.mixture import GaussianMixture
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "GMM fitting needs scikit-learn: pip install 'spoofscope[gmm]'"
            ) from exc
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        self.eval()
        for name, waves in (("bonafide", bonafide_waves), ("spoof", spoof_waves)):
            frames = self._stack_features(waves, name)
            if cfg.max_train_frames is not None and len(frames) > cfg.max_train_frames:
                frames = frames[
                    np.sort(rng.choice(len(frames), cfg.max_train_frames, replace=False))
                ]
            if len(frames) < cfg.n_components:
                raise ValueError(
                    f"{name}: {len(frames)} feature frames cannot fit {cfg.n_components} components"
                )
            gmm = GaussianMixture(
                n_components=cfg.n_components,
                covariance_type="diag",
                max_iter=cfg.max_iter,
                tol=cfg.tol,
                reg_covar=cfg.reg_covar,
                init_params=cfg.init,
                random_state=cfg.seed,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                gmm.fit(frames)
            log.info(
                "%s GMM: %d frames, %d iterations, mean log-likelihood %.3f",
                name, len(frames), gmm.n_iter_, gmm.score(frames),
            )  # fmt: skip
            for part, value in (
                ("weights", gmm.weights_),
                ("means", gmm.means_),
                ("variances", gmm.covariances_),
            ):
                getattr(self, f"{name}_{part}").copy_(torch.from_numpy(value))
        self.fitted.fill_(1)
        return self

    def _stack_features(self, waves: Iterable[Any], name: str) -> np.ndarray:
        device = self.bonafide_means.device
        parts = []
        for i, wave in enumerate(waves):
            x = torch.as_tensor(np.asarray(wave) if not torch.is_tensor(wave) else wave)
            if x.dim() != 1 or x.numel() < self.min_samples():
                raise ValueError(
                    f"{name} waveform {i}: expected 1-D audio of >= {self.min_samples()} samples,"
                    f" got shape {tuple(x.shape)}"
                )
            feats = self.features(x.to(device=device, dtype=torch.float32)[None])[0]
            parts.append(feats.double().cpu().numpy())
        if not parts:
            raise ValueError(f"no {name} waveforms to fit")
        return np.concatenate(parts)


def gmm_log_likelihood(
    x: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, variances: torch.Tensor
) -> torch.Tensor:
    """Frame log-likelihoods under a diagonal-covariance GMM.

    Args:
        x: ``(..., D)`` frames.
        weights: ``(K,)`` mixture weights.
        means: ``(K, D)``.
        variances: ``(K, D)``.

    Returns:
        ``(...)``: ``log sum_k w_k N(x; mu_k, diag(var_k))``.
    """
    precision = 1.0 / variances
    const = (
        torch.log(weights)
        - 0.5 * (x.shape[-1] * math.log(2 * math.pi) + torch.log(variances).sum(dim=1))
        - 0.5 * (means.square() * precision).sum(dim=1)
    )
    quad = x @ (means * precision).T - 0.5 * x.square() @ precision.T
    return torch.logsumexp(quad + const, dim=-1)


def _build_frontend(cfg: GMMConfig) -> nn.Module:
    if cfg.feature == "lfcc":
        settings = dict(LFCC_GMM_2021)
        settings.update(
            win_length=cfg.lfcc_win_length,
            hop_length=cfg.lfcc_hop_length,
            n_fft=cfg.lfcc_n_fft,
            n_filters=cfg.lfcc_n_filters,
            n_ceps=cfg.lfcc_n_ceps,
            f_min=cfg.lfcc_f_min,
            f_max=cfg.lfcc_f_max,
            deltas=cfg.deltas,
        )
        return LFCC(**settings)
    return CQCC(
        bins_per_octave=cfg.cqcc_bins_per_octave,
        f_min=cfg.cqcc_f_min,
        f_max=cfg.cqcc_f_max,
        d=cfg.cqcc_d,
        n_ceps=cfg.cqcc_n_ceps,
        deltas=cfg.deltas,
    )
