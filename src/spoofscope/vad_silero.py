"""Silero VAD (v5/v6, 16 kHz) run over whole recordings at once, from the weights in its wheel.

The ``silero-vad`` wheel ships its network as TorchScript (``silero_vad/data/silero_vad.jit``,
what ``silero_vad.load_silero_vad()`` loads, v6 in silero-vad 6.x). We read the 16 kHz
weights out of that file (never importing the package: its import sets
``torch.set_num_threads(1)`` for the whole process) into our own batched module; nothing is
downloaded. The wheel's ``silero_vad_16k.safetensors`` holds the same network with older
weights (v5): it is used only if the TorchScript file's layout is not the expected one.

The network reads 512-sample chunks (32 ms at 16 kHz), each preceded by the last 64 samples of
the chunk before (zeros for the first): a 256-point windowed STFT (hop 128, reflect-padded by 64
on the right) -> magnitudes ``(129, 4)`` -> four conv blocks -> an LSTM cell whose state runs
from chunk to chunk -> a 1x1 conv and a sigmoid: one speech probability per chunk.

Upstream runs that one chunk at a time (one Python call per 32 ms). Here everything but the
LSTM is independent per chunk, so the STFT (as an ``rfft``) and the convolutions run on large
batches of chunks, and the LSTM runs over the whole chunk sequence in one ``torch.nn.LSTM`` call
with the cell's weights, the state carried from block to block. The probabilities equal
upstream's stateful streaming to ~1e-5 (a test compares them with the wheel's TorchScript
model). It runs on one torch thread (:func:`single_threaded`): one hour of audio takes about
4 s on this 2-core CPU, in memory bounded by the block size.

The LSTM's state carries information over tens of seconds (restarting it, even after a 30-s
warm-up, changes later probabilities by up to 0.1), so the recording is not split into
parallel streams: the output is upstream's for the whole recording.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spoofscope.errors import SpoofscopeError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
CHUNK = 512  # samples per probability at 16 kHz
CONTEXT = 64  # samples of the previous chunk prepended to each chunk
JIT_FILE = "silero_vad.jit"
SAFETENSORS_FILE = "silero_vad_16k.safetensors"
#: our parameter names (those of the safetensors file) -> names inside the TorchScript model
JIT_NAMES = {
    "stft_conv.weight": "_model.stft.forward_basis_buffer",
    **{f"conv{i + 1}.{p}": f"_model.encoder.{i}.reparam_conv.{p}" for i in range(4)
       for p in ("weight", "bias")},
    **{f"lstm_cell.{p}": f"_model.decoder.rnn.{p}"
       for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")},
    "final_conv.weight": "_model.decoder.decoder.2.weight",
    "final_conv.bias": "_model.decoder.decoder.2.bias",
}  # fmt: skip
#: Chunks per batch through the STFT and convolutions (~65 s of audio, ~30 MB of activations).
BLOCK = 2048

_lock = threading.Lock()
_cache: dict[str, SileroNet] = {}
_threads = {"users": 0, "saved": 1}
_threads_lock = threading.Lock()


class SileroUnavailableError(SpoofscopeError):
    """The silero-vad package (and so its model file) is not installed."""


def package_data_dir() -> Path:
    """``silero_vad/data`` of the installed wheel, found without importing the package."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise SileroUnavailableError(
            "VAD backend 'silero' needs the silero-vad package (pip install silero-vad; its "
            "wheel ships the model, nothing is downloaded); or choose backend 'energy' or 'none'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


class SileroNet(nn.Module):
    """The Silero VAD 16 kHz network, batched over chunks.

    Args:
        state: the tensors of ``silero_vad_16k.safetensors``.
    """

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.register_buffer("window", state["stft_conv.weight"][0, 0].clone())  # (256,)
        strides = (1, 2, 2, 1)
        self.convs = nn.ModuleList()
        for i, stride in enumerate(strides, 1):
            weight = state[f"conv{i}.weight"]
            conv = nn.Conv1d(weight.shape[1], weight.shape[0], 3, stride=stride, padding=1)
            conv.weight.data.copy_(weight)
            conv.bias.data.copy_(state[f"conv{i}.bias"])
            self.convs.append(conv)
        hidden = state["lstm_cell.weight_hh"].shape[1]
        self.lstm = nn.LSTM(hidden, hidden)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(self.lstm, f"{name}_l0").data.copy_(state[f"lstm_cell.{name}"])
        self.head = nn.Conv1d(hidden, 1, 1)
        self.head.weight.data.copy_(state["final_conv.weight"])
        self.head.bias.data.copy_(state["final_conv.bias"])

    def features(self, chunks: torch.Tensor) -> torch.Tensor:
        """Per-chunk encoder output.

        Args:
            chunks: ``(N, CONTEXT + CHUNK)`` float32 samples.

        Returns:
            ``(N, 128)`` features.
        """
        padded = nn.functional.pad(chunks.unsqueeze(1), (0, 64), mode="reflect").squeeze(1)
        frames = padded.unfold(1, self.window.numel(), self.window.numel() // 2)  # (N, 4, 256)
        x = torch.fft.rfft(frames * self.window, dim=-1).abs().transpose(1, 2)  # (N, 129, 4)
        for conv in self.convs:
            x = torch.relu(conv(x))
        return x[:, :, 0]  # the time axis is 1 long after the strided convs

    def forward(
        self, chunks: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Speech probabilities of consecutive chunks.

        Args:
            chunks: ``(N, CONTEXT + CHUNK)`` consecutive chunks of one recording.
            state: the LSTM ``(h, c)``, each ``(1, 1, 128)``, after the previous block.

        Returns:
            ``(probabilities (N,), state)``.
        """
        h, state = self.lstm(self.features(chunks).unsqueeze(1), state)  # (N, 1, 128)
        logits = self.head(torch.relu(h).permute(1, 2, 0))  # (1, 1, N)
        return torch.sigmoid(logits)[0, 0], state


def _jit_state(path: Path) -> dict[str, torch.Tensor] | None:
    """The 16 kHz weights of the wheel's TorchScript model, or None if its layout differs."""
    if not path.is_file():
        return None
    try:
        with warnings.catch_warnings():  # torch 2.9+ deprecates TorchScript loading
            warnings.simplefilter("ignore", DeprecationWarning)
            scripted = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # a torch without TorchScript, or a file it cannot read
        log.warning("cannot load %s (%s); using %s", path, exc, SAFETENSORS_FILE)
        return None
    tensors = {**dict(scripted.named_parameters()), **dict(scripted.named_buffers())}
    if not all(name in tensors for name in JIT_NAMES.values()):
        log.warning("%s: unexpected TorchScript layout; using %s", path, SAFETENSORS_FILE)
        return None
    return {ours: tensors[theirs].detach().clone() for ours, theirs in JIT_NAMES.items()}


def load_net() -> SileroNet:
    """The network, loaded once per process from the installed wheel."""
    with _lock:
        if "net" not in _cache:
            data = package_data_dir()
            state = _jit_state(data / JIT_FILE)
            if state is None:
                from safetensors.torch import load_file

                path = data / SAFETENSORS_FILE
                if not path.is_file():
                    raise SileroUnavailableError(
                        f"silero-vad is installed but has neither a usable {JIT_FILE} nor "
                        f"{SAFETENSORS_FILE} in {data}; reinstall silero-vad (>= 6)"
                    )
                state = load_file(str(path))
            _cache["net"] = SileroNet(state).eval()
        return _cache["net"]


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (re-entrant across threads).

    The network is a chain of tiny operations (an LSTM step is a 1x128 by 128x512 product):
    with two threads each one waits for the other, and on a busy CPU for a time slice. Measured
    on this 2-core machine under load: 120 s of audio in 0.13 s with one thread, 0.59 s with
    two; one 125-step LSTM call 0.8 ms vs 58 ms (median) and up to 1.5 s.
    """
    with _threads_lock:
        if _threads["users"] == 0:
            _threads["saved"] = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads["users"] += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads["users"] -= 1
            if _threads["users"] == 0:
                torch.set_num_threads(_threads["saved"])


def speech_probabilities(wave: np.ndarray, block: int = BLOCK, gain: float = 1.0) -> np.ndarray:
    """Silero speech probability of every 512-sample chunk of a 16 kHz recording.

    Args:
        wave: ``(T,)`` float samples at 16 kHz; the last chunk is zero-padded.
        block: chunks per batch (bounds memory; results do not depend on it).
        gain: factor applied to the samples (block by block: the wave is not copied).

    Returns:
        ``(ceil(T / 512),)`` float32 probabilities; chunk ``i`` covers samples
        ``[512 i, 512 (i + 1))``.
    """
    net = load_net()
    n_chunks = -(-wave.size // CHUNK)
    out = np.empty(n_chunks, dtype=np.float32)
    signal = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    state = None
    with torch.inference_mode(), single_threaded():
        for first in range(0, n_chunks, block):
            last = min(first + block, n_chunks)
            # samples [512 first - 64, 512 last), zeros before the start and after the end
            piece = torch.zeros(CONTEXT + (last - first) * CHUNK)
            lo = first * CHUNK - CONTEXT
            src = signal[max(lo, 0) : last * CHUNK]
            offset = max(-lo, 0)
            piece[offset : offset + src.numel()] = src
            if gain != 1.0:
                piece *= gain
            chunks = piece.unfold(0, CONTEXT + CHUNK, CHUNK)
            probs, state = net(chunks, state)
            out[first:last] = probs.numpy()
    return out
