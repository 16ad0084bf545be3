"""Seconds of compute per second of audio for each spoof generator of the corpus builder.

TTS attacks speak ``--utterances`` telephone-style sentences; copy-synthesis attacks vocode as
many LibriSpeech clips (16 kHz, first ``--seconds`` s, read in place from the shared folder;
espeak-ng speech resampled to 16 kHz if it is missing). Per attack it prints the real-time
factor by wall clock and by CPU time (this process plus its children, so subprocess engines
count), the audio made, and the settings of the last call. Attacks that must be trained first
(``prepare``: the neural vocoders) are left out unless named with ``--attacks``, and then get
``--budget`` seconds of training on the clips, which is not counted. One warm-up call per
attack (loading piper's voice, importing pyworld) is not counted either.

    .venv/bin/python benchmarks/bench_generators.py [--attacks A01 A05] [--utterances 8]
        [--seconds 6] [--budget 60] [--threads 1]

Measured 2026-11-23 18:20 on this 2-core CPU while other helpers loaded it (load average 7.2),
so wall figures are pessimistic and CPU figures are the better guide; defaults
(``--utterances 8 --seconds 6``; TTS ~3.5 s sentences, copy 6-s LibriSpeech clips at 16 kHz):

    id   name                  wall RTF  CPU RTF
    A01  espeak-ng               0.009    0.004
    A02  flite-diphone           0.007    0.004
    A03  festival-diphone        0.138    0.064
    A04  piper-joe               0.366    0.145   (1 thread; includes reseeding the ONNX session)
    A05  world-copy              0.221    0.109   (harvest or dio drawn per utterance)
    A06  griffin-lim             0.126    0.065   (16-64 iterations drawn)
    A07  lpc-copy                0.014    0.010
    A10  festival-hts            0.131    0.086
    A11  flite-clustergen        0.022    0.015
    A12  mlsa-copy               0.294    0.153   (pysptk runs its MLSA filter per sample in Python)
    A14  harmonic-noise-copy     0.064    0.046
    A15  world-coded             0.143    0.109
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from spoofscope.corpus.generators import ATTACKS, get_generator

REPO = Path(__file__).resolve().parents[1]
SENTENCES = (
    "Please call the billing office back before five o'clock on Tuesday.",
    "Your package will arrive at the north entrance tomorrow morning.",
    "Press one to speak to an operator, or stay on the line.",
    "The appointment reminder was sent to your new address on Friday.",
    "We have updated the invoice, and a copy is on its way.",
    "Thank you for calling. All of our agents are busy right now.",
    "Your reservation for two people is confirmed for seven thirty.",
    "To hear these options again, press the star key.",
)


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bona_fide_clips(count: int, seconds: float) -> list[np.ndarray]:
    """``count`` 16-kHz clips of at most ``seconds`` s: LibriSpeech, else espeak-ng speech."""
    shared = Path(os.environ.get("SPOOFSCOPE_SHARED", REPO.parent / "shared"))
    files = sorted((shared / "speech" / "librispeech-train-clean-100").glob("*.flac"))[:count]
    if files:
        return [sf.read(f, dtype="float32")[0][: int(seconds * 16000)] for f in files]
    print(f"# LibriSpeech not found under {shared}; using espeak-ng speech", file=sys.stderr)
    espeak = get_generator("A01")
    rng = np.random.default_rng(0)
    waves = [espeak.synthesize(SENTENCES[i % len(SENTENCES)], rng) for i in range(count)]
    return [resample_poly(w, 160, 441).astype(np.float32) for w, _ in waves]


def bench(attack_id: str, clips: list[np.ndarray], utterances: int, budget: float) -> None:
    spec = ATTACKS[attack_id]
    gen = get_generator(attack_id)
    reason = gen.available()
    if reason is not None:
        print(f"{attack_id:4} {spec.name:22} unavailable: {reason}")
        return
    rng = np.random.default_rng(0)
    if spec.kind == "copy":
        gen.prepare(clips, 16000, REPO / ".cache" / "bench_generators", budget, rng)
        gen.resynthesize(clips[0][:8000], 16000, rng)  # warm-up
    else:
        gen.synthesize("Hello.", rng)  # warm-up
    wall0, cpu0, audio = time.perf_counter(), cpu_seconds(), 0.0
    for i in range(utterances):
        if spec.kind == "copy":
            clip = clips[i % len(clips)]
            audio += gen.resynthesize(clip, 16000, rng).size / 16000
        else:
            wave, rate = gen.synthesize(SENTENCES[i % len(SENTENCES)], rng)
            audio += wave.size / rate
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    print(
        f"{attack_id:4} {spec.name:22} wall RTF {wall / audio:6.3f}  CPU RTF {cpu / audio:6.3f}"
        f"  ({audio:5.1f} s audio)  {gen.settings}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    needs_training = {"A08", "A09", "A13"}
    parser.add_argument(
        "--attacks", nargs="*", default=[a for a in ATTACKS if a not in needs_training]
    )
    parser.add_argument("--utterances", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--budget", type=float, default=60.0, help="training s (neural vocoders)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    clips = bona_fide_clips(args.utterances, args.seconds)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}")
    for attack_id in args.attacks:
        bench(attack_id, clips, args.utterances, args.budget)


if __name__ == "__main__":
    main()
