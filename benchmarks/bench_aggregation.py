"""Which window aggregation finds a spoofed stretch inside a long bona fide recording?

Builds long recordings by concatenating bona fide clips (LibriSpeech, read in place from the
shared folder), and in half of them splices one spoofed stretch between two clips: espeak-ng
speech (formant synthesis, several voices, speeds and pitches) and/or the ASVspoof 2019 LA
spoof clips of the shared reference folder. Every segment is set to the same RMS level and
segments are separated by short pauses of faint noise. Each recording goes once through the
detector (windows, voice activity, model), then every aggregation is computed from the same
window scores, and the recording-level EER is reported (a recording with any spoofed stretch
counts as spoof) with a stratified bootstrap 95 % interval.

    .venv/bin/python benchmarks/bench_aggregation.py [--checkpoint PATH] [--recordings 60]
        [--spoof espeak|asvspoof|both] [--vad silero|energy|none] [--hop 0.5] [--threads N]
        [--json FILE]

Defaults: the official AASIST weights (``../shared/reference/aasist/AASIST.pth`` beside the
repository, or ``$SPOOFSCOPE_SHARED/reference/aasist/AASIST.pth``). The figures depend on
the model: re-run with the shipped default model once it exists.

Measured (2-core CPU, ``--threads 1``, seed 0 unless said; EER %, 95 % interval):

    --spoof both (AASIST):      min 23.3 [16.7, 40.0]  top-2 26.7  top-3 30.0  top-5 30.0
                                mean 43.3  weighted 36.7  first window 40.0
    --spoof espeak (AASIST):    min 3.3 [0.0, 10.0]  top-2 3.3  top-3 6.7  top-5 6.7
                                mean 30.0  weighted 23.3  first window 50.0
    --spoof asvspoof (AASIST):  every aggregation 40-50 (chance: the 2-s ASVspoof clips
                                spliced into LibriSpeech are not found by any of them)
    --checkpoint AASIST-L.pth --spoof both:
                                min 13.3 [6.7, 23.3]  top-2 20.0  top-3 23.3  top-5 20.0
                                mean 30.0  weighted 30.0  first window 36.7
    --checkpoint AASIST-L.pth --spoof espeak --recordings 40 --clips 12 18 --seed 1
    (197-s recordings):         min 5.0 [0.0, 15.0]  top-2 10.0  top-3 10.0  top-5 10.0
                                mean 30.0  weighted 25.0  first window 45.0

Hence the detector's default aggregation, ``min`` (:data:`spoofscope.detection.
DEFAULT_AGGREGATION`): a short spoofed stretch moves the most spoof-like window, while a mean
over a minute of bona fide speech dilutes it away.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from spoofscope.audio import load_audio
from spoofscope.inference import Detector
from spoofscope.metrics import bootstrap_eer
from spoofscope.windows import aggregate

SR = 16000
REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPOOFSCOPE_SHARED", REPO.parent / "shared"))
LEVEL_RMS = 0.05
SENTENCES = [
    "The committee will meet again on Thursday to review the budget.",
    "Please transfer the remaining balance to my savings account today.",
    "I have been waiting for the train for almost forty minutes now.",
    "The weather should clear up by the weekend, according to the forecast.",
    "Could you call me back when you get this message?",
    "Our records show that the payment was received last Monday.",
    "She planted tomatoes, beans and a row of sunflowers along the fence.",
    "The new bridge will open to traffic at the end of the month.",
    "Remember to bring your identity card and a copy of the contract.",
    "He said the meeting was moved to the small room on the third floor.",
    "We walked along the river until the lights of the town appeared.",
    "This is your bank calling about unusual activity on your card.",
    "Dinner is at seven, and nobody should be late this time.",
    "The library closes early on public holidays and Sundays.",
    "I can confirm the order and send the invoice by email.",
    "The children were laughing in the garden all afternoon.",
]
VOICES = ["en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029"]
VARIANTS = ["m1", "m3", "f1", "f3", "f5", "klatt", "klatt3", "Andy", "belinda", "john"]
KS = (2, 3, 5)


def level(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) or 1.0
    return (x * (LEVEL_RMS / rms)).astype(np.float32)


def espeak_clip(rng: np.random.Generator, binary: str) -> np.ndarray:
    """1-2 sentences by a random espeak-ng voice, at 16 kHz."""
    text = " ".join(rng.choice(SENTENCES, size=int(rng.integers(1, 3)), replace=False))
    voice = f"{rng.choice(VOICES)}+{rng.choice(VARIANTS)}"
    cmd = [binary, "-v", voice, "-s", str(int(rng.integers(140, 200))),
           "-p", str(int(rng.integers(30, 70))), "--stdout", text]  # fmt: skip
    wav = subprocess.run(cmd, capture_output=True, check=True).stdout
    return load_audio(wav, SR)


def spoof_sources(kind: str) -> list:
    """Callables ``rng -> (T,) spoofed clip``."""
    sources = []
    if kind in ("espeak", "both"):
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise SystemExit(
                "espeak-ng is not installed (apt-get install espeak-ng), or --spoof asvspoof"
            )
        sources.append(lambda rng: espeak_clip(rng, binary))
    if kind in ("asvspoof", "both"):
        folder = SHARED / "reference" / "aasist" / "inputs"
        clips = [load_audio(folder / f"{c}.flac", SR) for c in ("LA_D_1003356", "LA_E_6163791")]
        sources.append(lambda rng: clips[int(rng.integers(len(clips)))])
    return sources


def pause(rng: np.random.Generator) -> np.ndarray:
    n = int(rng.uniform(0.2, 0.6) * SR)
    return (1e-4 * rng.standard_normal(n)).astype(np.float32)


def build_recordings(n: int, kind: str, seed: int, clips: tuple[int, int]):
    """``[(wave, is_spoof, spoof_seconds)]``: half of them hold one spoofed stretch."""
    rng = np.random.default_rng(seed)
    bona_files = sorted((SHARED / "speech" / "librispeech-train-clean-100").glob("*.flac"))
    if not bona_files:
        raise SystemExit(f"no LibriSpeech clips under {SHARED / 'speech'}")
    order = list(rng.permutation(len(bona_files)))
    sources = spoof_sources(kind)
    out = []
    for i in range(n):
        parts = []
        for _ in range(int(rng.integers(clips[0], clips[1] + 1))):
            if not order:
                order = list(rng.permutation(len(bona_files)))
            parts.append(level(load_audio(bona_files[order.pop()], SR)))
        is_spoof = i % 2 == 1
        spoof_s = 0.0
        if is_spoof:
            fake = level(sources[i // 2 % len(sources)](rng))
            spoof_s = fake.size / SR
            parts.insert(int(rng.integers(0, len(parts) + 1)), fake)
        pieces = []
        for part in parts:
            pieces += [part, pause(rng)]
        out.append((np.concatenate(pieces), is_spoof, spoof_s))
    return out


def aggregations(windows) -> dict[str, float]:
    """Every aggregation of one recording's voting windows (all windows if none votes)."""
    voting = [w for w in windows if w.voted] or list(windows)
    s = np.array([w.score for w in voting])
    speech = np.array([max(w.speech_fraction, 1e-6) for w in voting])
    out = {
        "first window (status quo)": windows[0].score,
        "mean": aggregate(s, "mean"),
        "min (max p_spoof)": aggregate(s, "min"),
        "weighted (speech)": aggregate(s, "weighted", weights=speech),
    }
    for k in KS:
        out[f"top-{k}"] = aggregate(s, "top-k", k=k)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=str(SHARED / "reference/aasist/AASIST.pth"))
    parser.add_argument("--recordings", type=int, default=60)
    parser.add_argument("--spoof", choices=("espeak", "asvspoof", "both"), default="both")
    parser.add_argument("--clips", type=int, nargs=2, default=(3, 6), metavar=("MIN", "MAX"))
    parser.add_argument("--vad", choices=("silero", "energy", "none"), default="silero")
    parser.add_argument("--hop", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--json", help="also write the figures as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    recordings = build_recordings(args.recordings, args.spoof, args.seed, tuple(args.clips))
    build_s = time.perf_counter() - t0
    detector = Detector.from_pretrained(args.checkpoint, vad=args.vad, hop=args.hop)
    rows, t0 = [], time.perf_counter()
    for wave, is_spoof, _ in recordings:
        result = detector.detect(wave)
        rows.append((is_spoof, aggregations(result.windows)))
    score_s = time.perf_counter() - t0
    audio_s = sum(w.size for w, _, _ in recordings) / SR
    spoof_share = [s / (w.size / SR) for w, is_spoof, s in recordings if is_spoof]
    print(f"checkpoint {args.checkpoint}; vad {args.vad}; hop {args.hop}; spoof {args.spoof}")
    print(
        f"{len(recordings)} recordings ({sum(r[0] for r in rows)} with a spoofed stretch), "
        f"{audio_s / 60:.1f} min of audio, mean length {audio_s / len(recordings):.1f} s; "
        f"spoofed share of a spoof recording: median {np.median(spoof_share):.1%}; "
        f"built in {build_s:.0f} s, scored in {score_s:.0f} s"
    )
    print(f"{'aggregation':28s} {'EER %':>7s}  95% CI (bootstrap, 1000)")
    figures = {}
    for name in rows[0][1]:
        bona = np.array([r[1][name] for r in rows if not r[0]])
        spoof = np.array([r[1][name] for r in rows if r[0]])
        ci = bootstrap_eer(bona, spoof, 1000, 0.95, seed=0)
        figures[name] = {"eer": ci.eer, "low": ci.low, "high": ci.high}
        print(f"{name:28s} {100 * ci.eer:7.2f}  [{100 * ci.low:.2f}, {100 * ci.high:.2f}]")
    if args.json:
        doc = {"settings": vars(args), "audio_minutes": audio_s / 60, "eer": figures}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
