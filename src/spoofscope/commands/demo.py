"""``spoofscope demo``: the detector on clips it makes itself, no input needed.

It takes a real recording that ``scripts/setup.sh`` installs (an Asterisk prompt, read by a
person), makes synthetic copies of the same words with two speech synthesizers (Piper, a
neural VITS voice, and espeak-ng, a formant synthesizer), splices one synthetic sentence
into the middle of the real recording, and runs the detector on all four.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

NAME = "demo"
HELP = "run the detector on clips made on the spot (a real recording, two TTS copies, a splice)"

#: Asterisk prompts used as the real recording, in order of preference.
PROMPTS = ("demo-congrats", "demo-instruct", "vm-options", "demo-thanks")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="spoofscope-demo", help="folder for the clips (made)")
    parser.add_argument("--model", help="checkpoint or .onnx file (default: the shipped model)")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthesizers")
    parser.add_argument("--plot", action="store_true", help="also write a PNG per clip")


def _real_recording() -> tuple[Path, str]:
    from spoofscope.corpus.sources import asterisk_recordings
    from spoofscope.errors import SpoofscopeError

    prompts = {rec.source_id.split(":", 1)[1]: rec for rec in asterisk_recordings()}
    for name in PROMPTS:
        if name in prompts and prompts[name].text:
            return Path(prompts[name].path), prompts[name].text
    raise SpoofscopeError(
        "the demo needs the Asterisk English prompts (Debian packages asterisk-core-sounds-en-wav "
        "and asterisk-core-sounds-en); install them with: bash scripts/setup.sh"
    )


def _synthesize(attack: str, text: str, seed: int) -> tuple[Any, int]:
    import numpy as np

    from spoofscope.corpus.generators import get_generator
    from spoofscope.errors import SpoofscopeError

    gen = get_generator(attack)
    reason = gen.available()
    if reason:
        raise SpoofscopeError(f"{gen.spec.name} is not usable here: {reason}")
    return gen.synthesize(text, np.random.default_rng(seed))


def make_clips(out: Path, seed: int = 0) -> list[tuple[Path, str]]:
    """Write the four demo clips to ``out``; returns ``(path, what it is)`` pairs."""
    import numpy as np
    import soundfile as sf
    import soxr

    from spoofscope.audio import load_audio

    rate = 16000
    out.mkdir(parents=True, exist_ok=True)
    source, text = _real_recording()
    clips: list[tuple[Path, str]] = []

    def at_level(wave: np.ndarray) -> np.ndarray:
        """``wave`` at an RMS of 0.1, so no clip differs from the others by loudness."""
        return (0.1 / max(float(np.sqrt(np.mean(wave**2))), 1e-6)) * wave

    def synthesized(attack: str, words: str) -> np.ndarray:
        wave, native = _synthesize(attack, words, seed)
        return at_level(soxr.resample(wave, native, rate) if native != rate else wave)

    def write(name: str, wave: np.ndarray, what: str) -> None:
        path = out / name
        sf.write(path, np.clip(wave, -1, 1), rate, subtype="PCM_16")
        clips.append((path, what))

    real = at_level(load_audio(source, sample_rate=rate))
    write("real-asterisk.wav", real, f"real: {source.name}, a person reading a prompt")
    write("tts-piper.wav", synthesized("A04", text), "fake: the same words by piper (TTS)")
    write("tts-espeak.wav", synthesized("A01", text), "fake: the same words by espeak (TTS)")
    sentence = synthesized("A04", "Please confirm the payment to this new account now.")
    half, pause = len(real) // 2, np.zeros(rate // 4, np.float32)
    write(
        "spliced.wav",
        np.concatenate([real[:half], pause, sentence, pause, real[half:]]),
        f"fake inside real: a piper sentence at {(half + len(pause)) / rate:.1f} s",
    )
    return clips


def run(args: argparse.Namespace) -> int:
    from spoofscope.detect_output import render_table
    from spoofscope.inference import Detector

    out = Path(args.out)
    clips = make_clips(out, args.seed)
    detector = Detector.from_pretrained(args.model, backend=args.backend)
    results = detector.detect_many([str(path) for path, _ in clips], envelope=args.plot)
    print(render_table(results))
    print()
    for (path, what), result in zip(clips, results, strict=True):
        print(f"  {path.name:<18} {what}")
        if args.plot and hasattr(result, "windows"):
            from spoofscope.timeline_plot import plot_timeline

            plot_timeline(result, out / f"{path.stem}.png")
    print(f"\nclips written to {out}/ (model: {detector.model_info.get('name')})")
    return 0
