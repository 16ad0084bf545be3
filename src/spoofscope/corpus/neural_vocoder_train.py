"""Training of the tiny neural vocoders on this CPU, within a wall-time budget, with a cache.

The nets (:mod:`.neural_vocoder_nets`) learn from random 0.5-1 s segments of the bona fide
training waves (16 kHz, each wave first brought to a common speech level by :func:`level_gain`,
then a random gain of +-6 dB per segment). The loss is a weighted sum of a multi-resolution
STFT loss (spectral convergence + log-magnitude L1, per resolution) and a log-mel L1 loss; no
discriminator (at a budget of minutes it does not pay off on two cores). The learning rate
follows a cosine from ``lr`` to ``lr / 10`` over the budget (over ``steps`` when given).

:func:`train_or_load` keeps ``<name>.safetensors`` + ``<name>.json`` (config, data
fingerprint, budget, seed, steps done, final loss) in the work directory and reuses them when
called again with the same key; any change of data, config, budget or seed retrains.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .neural_vocoder_dsp import HOP, LogMel, estimate_f0, excitation
from .neural_vocoder_nets import build_net

__all__ = [
    "TrainConfig",
    "data_fingerprint",
    "level_gain",
    "mrstft_loss",
    "train_or_load",
]

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
TARGET_RMS = 0.05  # about -26 dBFS speech level, the level the nets see


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a trained vocoder (it is part of the cache key).

    Attributes:
        arch: network name in :data:`.neural_vocoder_nets.NETS`.
        net: keyword arguments of the network.
        resolutions: MR-STFT ``(n_fft, hop, win)`` triples.
        w_stft: weight of the MR-STFT loss (summed over resolutions, then averaged).
        w_mel: weight of the log-mel L1 loss.
        batch: segments per step.
        seg_range: (min, max) segment length in seconds; one length per batch.
        lr: peak Adam learning rate.
    """

    arch: str
    net: dict[str, Any] = field(default_factory=dict)
    resolutions: tuple[tuple[int, int, int], ...] = (
        (512, 128, 512),
        (1024, 256, 1024),
        (256, 64, 256),
        (128, 32, 128),
    )
    w_stft: float = 1.0
    w_mel: float = 1.0
    batch: int = 4
    seg_range: tuple[float, float] = (0.5, 1.0)
    lr: float = 5e-3

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))


def level_gain(wave: np.ndarray, target_rms: float = TARGET_RMS) -> float:
    """The gain that brings the louder half of a wave's 20 ms frames to ``target_rms``.

    Args:
        wave: float array ``(T,)`` at 16 kHz.

    Returns:
        a positive gain; 1.0 for silent or empty input.
    """
    n = len(wave) // 320
    if n == 0:
        rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if len(wave) else 0.0
    else:
        frames = np.sqrt(np.mean(np.square(wave[: n * 320].reshape(n, 320), dtype=np.float64), 1))
        rms = float(np.mean(np.sort(frames)[n // 2 :]))
    return target_rms / rms if rms > 1e-6 else 1.0


def data_fingerprint(waves: Sequence[np.ndarray], sample_rate: int) -> dict[str, Any]:
    """SHA-256 over the sample rate and every wave's float32 samples, with counts."""
    digest = hashlib.sha256(f"{sample_rate}:{len(waves)}".encode())
    total = 0
    for w in waves:
        a = np.ascontiguousarray(w, dtype=np.float32)
        digest.update(len(a).to_bytes(8, "little"))
        digest.update(a.tobytes())
        total += len(a)
    return {
        "sha256": digest.hexdigest(),
        "n_waves": len(waves),
        "seconds": round(total / sample_rate, 3),
    }


def mrstft_loss(
    y_hat: torch.Tensor, y: torch.Tensor, resolutions: Sequence[tuple[int, int, int]]
) -> torch.Tensor:
    """Multi-resolution STFT loss: mean over resolutions of spectral convergence + log-mag L1.

    Args:
        y_hat, y: waveforms ``(B, T)``.
    """
    total = y.new_zeros(())
    for n_fft, hop, win in resolutions:
        window = torch.hann_window(win, device=y.device)
        s_hat, s = (
            torch.stft(x, n_fft, hop, win, window, return_complex=True).abs().clamp(min=1e-7)
            for x in (y_hat, y)
        )
        sc = torch.linalg.norm(s - s_hat) / torch.linalg.norm(s).clamp(min=1e-7)
        total = total + sc + (s.log() - s_hat.log()).abs().mean()
    return total / len(resolutions)


class _Segments:
    """Random fixed-length batches from level-normalised waves (length-weighted choice)."""

    def __init__(self, waves: Sequence[np.ndarray], rng: np.random.Generator) -> None:
        self.waves = [np.asarray(w, np.float32) * np.float32(level_gain(w)) for w in waves]
        self.waves = [w for w in self.waves if len(w) > 0]
        if not self.waves:
            raise ValueError("no non-empty training waves to train a vocoder on")
        lengths = np.array([len(w) for w in self.waves], dtype=np.float64)
        self.p = lengths / lengths.sum()
        self.rng = rng

    def batch(self, batch: int, n: int) -> torch.Tensor:
        out = np.zeros((batch, n), np.float32)
        for i, k in enumerate(self.rng.choice(len(self.waves), size=batch, p=self.p)):
            w = self.waves[k]
            start = int(self.rng.integers(0, max(1, len(w) - n + 1)))
            piece = w[start : start + n]
            gain = 10.0 ** (self.rng.uniform(-6.0, 6.0) / 20.0)
            out[i, : len(piece)] = np.clip(piece * gain, -1.0, 1.0)
        return torch.from_numpy(out)


def _train(
    net: torch.nn.Module, cfg: TrainConfig, data: _Segments, budget_s: float, steps: int | None
) -> dict[str, Any]:
    logmel = LogMel()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.8, 0.99))
    lo, hi = (int(s * 16000) // HOP for s in cfg.seg_range)
    start = time.perf_counter()
    step, step_time, loss_avg = 0, 0.0, float("nan")
    net.train()
    while steps is None or step < steps:
        elapsed = time.perf_counter() - start
        if elapsed + step_time > budget_s:
            break
        progress = step / steps if steps else elapsed / max(budget_s, 1e-9)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * (0.1 + 0.45 * (1.0 + math.cos(math.pi * min(progress, 1.0))))
        frames = int(data.rng.integers(lo, hi + 1))
        wave = data.batch(cfg.batch, frames * HOP)
        mel = logmel(wave)[:, :, :frames]
        source = None
        if net.uses_source:
            f0 = estimate_f0(wave)[:, :frames]
            source = excitation(f0, HOP, phase0=2 * math.pi * torch.rand(cfg.batch))
        y_hat = net(mel, source)
        loss = cfg.w_stft * mrstft_loss(y_hat, wave, cfg.resolutions)
        if cfg.w_mel:
            loss = loss + cfg.w_mel * (logmel(y_hat) - logmel(wave)).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        step += 1
        value = float(loss.detach())
        loss_avg = value if step == 1 else 0.95 * loss_avg + 0.05 * value
        step_time = (time.perf_counter() - start) / step
        if step % 200 == 0:
            logger.info("%s step %d loss %.4f (%.2f s/step)", cfg.arch, step, loss_avg, step_time)
    net.eval()
    return {
        "steps_done": step,
        "train_seconds": round(time.perf_counter() - start, 2),
        "final_loss": round(loss_avg, 5),
    }


def train_or_load(
    name: str,
    cfg: TrainConfig,
    waves: Sequence[np.ndarray],
    work_dir: Path,
    budget_s: float,
    seed: int,
    steps: int | None = None,
    fingerprint: dict[str, Any] | None = None,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train vocoder ``name`` within ``budget_s`` seconds, or load it from ``work_dir``.

    Args:
        name: file stem of the cache (e.g. ``"hifi-tiny"``).
        cfg: the training configuration.
        waves: training waves, float32 ``(T_i,)`` at 16 kHz.
        work_dir: cache directory (created).
        budget_s: wall-time limit of the training loop in seconds.
        seed: seeds weight initialisation and segment sampling.
        steps: if given, train exactly this many steps (budget permitting): reproducible
            weights regardless of machine speed.
        fingerprint: precomputed :func:`data_fingerprint` of ``waves``.

    Returns:
        the net in eval mode and its metadata (what the JSON holds).
    """
    work_dir = Path(work_dir)
    key = {
        "format": CACHE_FORMAT,
        "name": name,
        "config": cfg.to_dict(),
        "data": fingerprint or data_fingerprint(waves, 16000),
        "budget_s": float(budget_s),
        "seed": int(seed),
        "steps": steps,
    }
    json_path, weights_path = work_dir / f"{name}.json", work_dir / f"{name}.safetensors"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_net(cfg.arch, **cfg.net)
    if json_path.is_file() and weights_path.is_file():
        try:
            meta = json.loads(json_path.read_text())
        except (OSError, ValueError):
            meta = {}
        if {k: meta.get(k) for k in key} == key:
            net.load_state_dict(load_file(str(weights_path)))
            net.eval()
            logger.info("%s: reusing the trained vocoder in %s", name, work_dir)
            return net, meta
        logger.info(
            "%s: cache in %s does not match (data, config, budget or seed); retraining",
            name,
            work_dir,
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        stats = _train(net, cfg, _Segments(waves, np.random.default_rng(seed)), budget_s, steps)
    meta = {**key, **stats, "torch": torch.__version__}
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = work_dir / f"{name}.safetensors.tmp{os.getpid()}"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
    os.replace(tmp, weights_path)
    tmp = work_dir / f"{name}.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
    os.replace(tmp, json_path)
    logger.info(
        "%s: trained %d steps in %.1f s (loss %.4f)",
        name,
        stats["steps_done"],
        stats["train_seconds"],
        stats["final_loss"],
    )
    return net, meta
