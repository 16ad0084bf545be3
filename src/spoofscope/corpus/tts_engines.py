"""Classical TTS engines as subprocesses: espeak-ng (A01), flite (A02, A11), festival (A03, A10).

Each engine writes the text to a temporary file (no shell, nothing from the text on a command
line), runs the program with a timeout, reads the WAV it wrote and deletes the files. Voices
and prosody (speed, pitch) are drawn per utterance from the caller's ``rng``; what was drawn
is left in ``settings`` (``{"voice": ..., "speed": ...}``); the builder uses
``settings["voice"]`` as the spoof's speaker.

Voices and splits: every engine takes ``voices=`` (its pool; default: all it knows) and has
``voice_pool(split)``, the voices for the ``"train"``, ``"dev"`` or ``"eval"`` split. The pools
are disjoint across splits where the engine has enough distinct voices (espeak-ng: its
variants are split three ways, every accent in every split); an engine with fewer than three
voices returns its whole pool for every split (its voices are seen in every split, as a seen
attack is in ASVspoof). Pass ``voices=gen.voice_pool(split)`` to :func:`get_generator` to get a
generator restricted to one split.
"""

from __future__ import annotations

import logging
import re
import subprocess
import tempfile
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from .generators import BaseGenerator, SynthesisError, missing_binaries

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "eval")
MAX_TEXT_CHARS = 2000

# espeak-ng accents (no mbrola voices: their databases are not installed)
ESPEAK_ACCENTS = (
    "en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
    "en-029", "en-us-nyc",
)  # fmt: skip
# espeak-ng variants (voices/!v/), split three ways; no two splits share one
ESPEAK_VARIANTS = {
    "train": (
        "m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "klatt", "klatt3", "klatt4",
        "adam", "Alex", "Andy", "Annie", "aunty", "belinda", "benjamin", "caleb", "david",
        "ed", "edward", "Gene", "john", "linda", "max", "Michael", "paul", "quincy", "rob",
        "robert", "steph", "travis", "victor", "zac",
    ),
    "dev": ("m6", "f4", "klatt2", "boris", "iven", "Jacky", "Lee", "norbert", "pablo", "shelby"),
    "eval": (
        "m7", "m8", "f5", "klatt5", "klatt6", "antonio", "edward2", "gustave", "iven2", "Mike",
        "steph2", "Tweaky", "grandma", "grandpa", "Storm", "sandro",
    ),
}  # fmt: skip


def sanitize_text(text: str) -> str:
    """Printable single-line text for a TTS engine (markup brackets and controls removed).

    Raises:
        ValueError: nothing speakable is left.
    """
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch if unicodedata.category(ch)[0] not in "CZ" else " " for ch in text)
    text = re.sub(r"[\[\]<>{}()\\|`\"]", " ", text)
    text = re.sub(r"\s+", " ", text).strip().lstrip("-").strip()
    if not re.search(r"\w", text):
        raise ValueError(f"nothing speakable in text {text!r}")
    return text[:MAX_TEXT_CHARS]


def read_wave(path: Path) -> tuple[np.ndarray, int]:
    """Read a WAV a tool wrote as float32 mono; raises SynthesisError if missing or silent."""
    if not path.is_file() or path.stat().st_size <= 44:
        raise SynthesisError(f"the engine wrote no audio to {path}")
    wave, rate = sf.read(str(path), dtype="float32", always_2d=True)
    wave = wave.mean(axis=1)
    if wave.size == 0 or not np.any(np.abs(wave) > 1e-4):
        raise SynthesisError(f"the engine wrote silence ({wave.size} samples) to {path}")
    return np.clip(wave, -1.0, 1.0).astype(np.float32), int(rate)


def run_tool(args: list[str], timeout_s: float) -> str:
    """Run ``args`` (no shell) and return its stdout+stderr; raise SynthesisError on failure."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"{args[0]} timed out after {timeout_s:.0f} s") from None
    except OSError as error:
        raise SynthesisError(f"cannot run {args[0]}: {error}") from None
    output = (done.stdout or "") + (done.stderr or "")
    if done.returncode != 0 or "SIOD ERROR" in output:
        raise SynthesisError(f"{args[0]} failed (exit {done.returncode}): {output[-500:].strip()}")
    return output


class _SubprocessTts(BaseGenerator):
    """Shared plumbing: voice pool, temp files, the call. Subclasses build the command."""

    program = ""
    all_voices: tuple[str, ...] = ()

    def __init__(self, voices: Sequence[str] | None = None, timeout_s: float = 60.0) -> None:
        super().__init__()
        self.voices = tuple(voices) if voices is not None else self.all_voices
        if not self.voices:
            raise ValueError(f"{type(self).__name__}: empty voice list")
        self.timeout_s = timeout_s

    def voice_pool(self, split: str) -> list[str]:
        """Voices of this generator's pool for one split (see the module docstring)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return list(self.voices)

    def available(self) -> str | None:
        return missing_binaries(self.program)

    def synthesize(self, text: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Speak ``text`` with a voice and prosody drawn from ``rng``.

        Returns:
            ``(wave, rate)``: float32 mono ``(T,)`` in [-1, 1] at the engine's native rate.

        Raises:
            ValueError: nothing speakable in ``text``.
            SynthesisError: the program failed, timed out or wrote silence.
        """
        clean = sanitize_text(text)
        voice = str(self.voices[int(rng.integers(len(self.voices)))])
        with tempfile.TemporaryDirectory(prefix="spoofscope-tts-") as tmp:
            text_path, wav_path = Path(tmp) / "text.txt", Path(tmp) / "out.wav"
            text_path.write_text(clean + "\n", encoding="utf-8")
            args, settings = self._command(voice, text_path, wav_path, rng)
            run_tool(args, self.timeout_s)
            wave, rate = read_wave(wav_path)
        self.settings = {"voice": voice, **settings}
        return wave, rate

    def _command(
        self, voice: str, text_path: Path, wav_path: Path, rng: np.random.Generator
    ) -> tuple[list[str], dict[str, float]]:
        raise NotImplementedError


class EspeakNg(_SubprocessTts):
    """A01: espeak-ng formant synthesis; voice = ``accent+variant``, speed and pitch drawn.

    Args:
        voices: espeak-ng voice strings (``"en-us+m3"``); default: every accent with every
            variant of all three splits.
        speed: range of words per minute drawn uniformly.
        pitch: range of espeak-ng pitch (0-99) drawn uniformly.
        timeout_s: per-utterance time limit.
    """

    program = "espeak-ng"
    all_voices = tuple(
        f"{accent}+{variant}"
        for split in SPLITS
        for variant in ESPEAK_VARIANTS[split]
        for accent in ESPEAK_ACCENTS
    )

    def __init__(
        self,
        voices: Sequence[str] | None = None,
        speed: tuple[int, int] = (130, 200),
        pitch: tuple[int, int] = (25, 75),
        timeout_s: float = 60.0,
    ) -> None:
        super().__init__(voices, timeout_s)
        self.speed, self.pitch = speed, pitch

    def voice_pool(self, split: str) -> list[str]:
        """This pool's voices whose variant belongs to ``split`` (variants disjoint by split)."""
        super().voice_pool(split)
        variants = set(ESPEAK_VARIANTS[split])
        return [voice for voice in self.voices if voice.partition("+")[2] in variants]

    def available(self) -> str | None:
        missing = missing_binaries(self.program)
        if missing:
            return missing
        try:
            return self._check_voices(run_tool([self.program, "--version"], 10.0))
        except SynthesisError as error:
            return str(error)

    def _check_voices(self, output: str) -> str | None:
        match = re.search(r"Data at:\s*(\S+)", output)
        if match is None:
            return f"cannot find the espeak-ng data folder in {output.strip()!r}"
        have = {p.name for p in (Path(match.group(1)) / "voices" / "!v").glob("*")}
        absent = sorted({v.partition("+")[2] for v in self.voices} - have - {""})
        if absent:
            return f"espeak-ng variants not installed: {', '.join(absent)}"
        # espeak-ng falls back silently on an unknown language: check the accents too
        listing = run_tool([self.program, "--voices"], 10.0).splitlines()[1:]
        languages = {line.split()[1] for line in listing if len(line.split()) > 1}
        languages |= set(re.findall(r"\((\S+) \d+\)", "\n".join(listing)))
        absent = sorted({v.partition("+")[0] for v in self.voices} - languages)
        return f"espeak-ng languages not installed: {', '.join(absent)}" if absent else None

    def _command(
        self, voice: str, text_path: Path, wav_path: Path, rng: np.random.Generator
    ) -> tuple[list[str], dict[str, float]]:
        speed = int(rng.integers(self.speed[0], self.speed[1] + 1))
        pitch = int(rng.integers(self.pitch[0], self.pitch[1] + 1))
        args = [self.program, "-v", voice, "-s", str(speed), "-p", str(pitch)]
        return [*args, "-w", str(wav_path), "-f", str(text_path)], {"speed": speed, "pitch": pitch}


class Flite(_SubprocessTts):
    """A02 (kal, kal16: diphone) and A11 (awb, rms, slt: clustergen) through ``flite``.

    Args:
        voices: flite voice names (``flite -lv``).
        stretch: range of the duration stretch drawn uniformly (> 1 is slower).
        timeout_s: per-utterance time limit.
    """

    program = "flite"
    all_voices = ("kal", "kal16", "awb", "rms", "slt")

    def __init__(
        self,
        voices: Sequence[str] | None = None,
        stretch: tuple[float, float] = (0.85, 1.2),
        timeout_s: float = 60.0,
    ) -> None:
        super().__init__(voices, timeout_s)
        self.stretch = stretch

    def available(self) -> str | None:
        missing = missing_binaries(self.program)
        if missing:
            return missing
        try:
            listed = run_tool([self.program, "-lv"], 10.0).split(":", 1)[-1].split()
        except SynthesisError as error:
            return str(error)
        absent = sorted(set(self.voices) - set(listed))
        return f"flite voices not installed: {', '.join(absent)}" if absent else None

    def _command(
        self, voice: str, text_path: Path, wav_path: Path, rng: np.random.Generator
    ) -> tuple[list[str], dict[str, float]]:
        stretch = round(float(rng.uniform(*self.stretch)), 3)
        args = [self.program, "-voice", voice, "--setf", f"duration_stretch={stretch}"]
        return [*args, "-f", str(text_path), "-o", str(wav_path)], {"stretch": stretch}


class Festival(_SubprocessTts):
    """A03 (kal_diphone, ked_diphone) and A10 (cmu_us_slt_arctic_hts) through ``text2wave``.

    Diphone voices get a drawn duration stretch; HTS voices a drawn speaking rate and a pitch
    shift in half-tones (hts_engine's ``-r`` and ``-fm``).

    Args:
        voices: festival voice names (``voice_<name>`` must exist).
        stretch: range of the duration stretch / inverse speaking rate drawn uniformly.
        semitones: range of the HTS pitch shift drawn uniformly.
        timeout_s: per-utterance time limit.
    """

    program = "text2wave"
    all_voices = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")

    def __init__(
        self,
        voices: Sequence[str] | None = None,
        stretch: tuple[float, float] = (0.85, 1.2),
        semitones: tuple[float, float] = (-2.0, 2.0),
        timeout_s: float = 60.0,
    ) -> None:
        super().__init__(voices, timeout_s)
        for voice in self.voices:
            if not re.fullmatch(r"[A-Za-z0-9_]+", voice):
                raise ValueError(f"invalid festival voice name {voice!r}")
        self.stretch, self.semitones = stretch, semitones

    def available(self) -> str | None:
        missing = missing_binaries(self.program, "festival")
        if missing:
            return missing
        roots = [Path("/usr/share/festival/voices"), Path("/usr/local/share/festival/voices")]
        found = {p.name for root in roots if root.is_dir() for p in root.glob("*/*")}
        absent = sorted(set(self.voices) - found)
        return f"festival voices not installed: {', '.join(absent)}" if absent else None

    def _command(
        self, voice: str, text_path: Path, wav_path: Path, rng: np.random.Generator
    ) -> tuple[list[str], dict[str, float]]:
        stretch = round(float(rng.uniform(*self.stretch)), 3)
        if voice.endswith("_hts"):
            shift = round(float(rng.uniform(*self.semitones)), 2)
            extra = (
                f'(set! hts_engine_params (append hts_engine_params (list (list "-r" '
                f'{1.0 / stretch:.3f}) (list "-fm" {shift:.2f}))))'
            )
            settings = {"stretch": stretch, "semitones": shift}
        else:
            extra = f"(Parameter.set 'Duration_Stretch {stretch:.3f})"
            settings = {"stretch": stretch}
        scheme = f"(begin (voice_{voice}) {extra})"
        return [self.program, "-eval", scheme, "-o", str(wav_path), str(text_path)], settings
