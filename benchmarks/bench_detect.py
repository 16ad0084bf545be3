"""Speed and memory of every model on every backend: torch eager, torch fused, ONNX fp32, ONNX int8.

For each model and backend, in a fresh subprocess (so ``ru_maxrss`` is that configuration's
peak memory): milliseconds per 4-s window at batch 1 and at ``--batch``, utterances (windows)
per second and the real-time factor (compute seconds per second of audio). Then, per backend,
the end-to-end real-time factor of ``Detector.detect`` on a long synthetic recording (speech-like
signal, ``--detect-minutes``). With ``--official-dir`` (a checkout of clovaai/aasist, never part
of this repository) the official AASIST weights also run through the official code, interleaved
with our paths in one process, for the speed-up and the logit difference at batch 1.

Models are the registry presets with seeded random weights (speed does not depend on the
weights), except ``aasist`` / ``aasist-l``: the official weights from ``reference/aasist``, and
``default``: the shipped default model (``--models default --detect-models default``). The
GMMs are fitted for one EM iteration on speech-like signals. Exports and checkpoints are cached in
``--workdir``. Run on an otherwise idle machine: the load average is printed before and after.

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_detect.py --official-dir /path/to/aasist \\
        --out docs/bench_detect.json
    .venv/bin/python benchmarks/bench_detect.py --models aasist rawnet2-lite --backends onnx \\
        --detect-minutes 0
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
REFERENCE = REPO.parent / "shared" / "reference" / "aasist"
OFFICIAL_WEIGHTS = {"aasist": "AASIST.pth", "aasist-l": "AASIST-L.pth"}
MODELS = ["aasist", "aasist-l", "rawnet2", "rawnet2-lite", "lcnn", "lfcc-gmm", "cqcc-gmm"]
BACKENDS = ["eager", "fused", "onnx", "onnx-int8"]
DETECT_BACKENDS = {"torch": "eager", "onnx": "onnx", "onnx-int8": "onnx-int8"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--backends", nargs="+", default=BACKENDS, choices=BACKENDS)
    p.add_argument("--batch", type=int, default=8, help="the batched measurement's batch size")
    p.add_argument("--runs", type=int, default=10, help="timed repetitions at batch 1")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--official-dir", type=Path, help="checkout of clovaai/aasist (optional)")
    p.add_argument("--detect-models", nargs="*", default=["aasist"])
    p.add_argument("--detect-minutes", type=float, default=10.0, help="0 = skip")
    p.add_argument("--vad", default="silero", help="detector VAD backend (silero|energy|none)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/spoofscope-bench"))
    p.add_argument("--out", type=Path, help="also write every figure to this JSON file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --- preparation (parent process) --------------------------------------------------------------


def prepare(name: str, workdir: Path) -> dict[str, str]:
    """Checkpoint, ONNX fp32 and ONNX int8 files of ``name`` (cached)."""
    from spoofscope.checkpoint import save_checkpoint
    from spoofscope.export import export_model
    from spoofscope.quantize import quantize_int8

    files = {
        "checkpoint": str(workdir / f"{name}.safetensors"),
        "onnx": str(workdir / f"{name}.onnx"),
        "onnx-int8": str(workdir / f"{name}.int8.onnx"),
    }
    if name in OFFICIAL_WEIGHTS:
        files["checkpoint"] = str(REFERENCE / OFFICIAL_WEIGHTS[name])
    if name == "default":  # the shipped model
        from spoofscope.inference_model import DEFAULT_MODEL_PATH

        files["checkpoint"] = str(DEFAULT_MODEL_PATH)
    model = None
    if not Path(files["checkpoint"]).is_file():
        model = build(name)
        save_checkpoint(model, files["checkpoint"])
    if not Path(files["onnx"]).is_file():
        from spoofscope.checkpoint import load_model

        model = model or load_model(files["checkpoint"])
        export_model(model, files["onnx"])
    if not Path(files["onnx-int8"]).is_file():
        try:
            quantize_int8(files["onnx"], files["onnx-int8"], "dynamic")
        except Exception as exc:  # e.g. nothing quantisable in the float64 GMM graphs
            print(f"{name}: no int8 file ({type(exc).__name__}: {exc})")
            files.pop("onnx-int8")
    return files


def build(name: str):
    import torch

    from spoofscope.models import build_model
    from spoofscope.quantize import speechlike

    torch.manual_seed(0)
    if name.endswith("-gmm"):
        model = build_model(name, max_iter=1, max_train_frames=20000)
        waves = speechlike(8, 64600)
        return model.fit(waves[:4], [w[::-1].copy() for w in waves[4:]])
    return build_model(name)


def write_long_recording(path: Path, minutes: float) -> None:
    """A speech-like recording: 4-s clips with short pauses, 16 kHz mono PCM16."""
    import numpy as np
    import soundfile as sf

    from spoofscope.quantize import speechlike

    clips = speechlike(32, 64000, seed=1)
    pause = np.zeros(8000, np.float32)
    with sf.SoundFile(str(path), "w", 16000, 1, "PCM_16") as out:
        written, i = 0, 0
        while written < minutes * 60 * 16000:
            block = np.concatenate([clips[i % len(clips)], pause])
            out.write(block)
            written, i = written + len(block), i + 1


def run_worker(job: dict) -> dict:
    """Run one measurement in a fresh interpreter; returns its JSON result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        return {**job, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(lines[-1])


# --- measurements (worker processes) -----------------------------------------------------------


def load_runner(job: dict):
    """``(callable wave batch -> logits, window samples)`` for the job's backend."""
    backend, files = job["backend"], job["files"]
    if backend.startswith("onnx"):
        from spoofscope.onnx_backend import OnnxModel

        model = OnnxModel(files[backend], threads=job["threads"])
        return model, model.segment_samples
    from spoofscope.checkpoint import load_model

    model = load_model(files["checkpoint"])
    return (model.fuse_for_inference() if backend == "fused" else model), model.segment_samples


def measure_speed(job: dict) -> dict:
    import numpy as np
    import torch

    from spoofscope.quantize import speechlike
    from spoofscope.scoring import flush_denormals

    torch.set_num_threads(job["threads"])
    runner, segment = load_runner(job)
    waves = np.stack(speechlike(max(job["batch"], 4), segment, seed=2))
    out = {**job}
    for batch, runs in ((1, job["runs"]), (job["batch"], max(3, job["runs"] // 3))):
        x = torch.from_numpy(waves[:batch])
        times = []
        with torch.inference_mode(), flush_denormals():
            for i in range(runs + 2):
                start = time.perf_counter()
                runner(x)
                if i >= 2:
                    times.append(time.perf_counter() - start)
        sec = statistics.median(times)
        out[f"ms_b{batch}"] = 1000 * sec
        out[f"utt_per_s_b{batch}"] = batch / sec
        out[f"rtf_b{batch}"] = sec / (batch * segment / 16000)
    return out


def measure_official(job: dict) -> dict:
    """Interleaved batch-1 timing: official code, eager, fused, ONNX fp32 and int8."""
    import torch

    sys.path.insert(0, str(BENCH))
    from bench_aasist_official import load_inputs, official_model, time_interleaved
    from spoofscope.onnx_backend import OnnxModel
    from spoofscope.scoring import flush_denormals
    from spoofscope.upstream import load_official_aasist

    torch.set_num_threads(job["threads"])
    weights = REFERENCE / OFFICIAL_WEIGHTS["aasist"]
    eager = load_official_aasist(weights)
    paths = {"official": official_model(Path(job["official_dir"]), weights), "eager": eager,
             "fused": eager.fuse_for_inference()}  # fmt: skip
    for key in ("onnx", "onnx-int8"):
        if key in job["files"]:
            paths[key] = OnnxModel(job["files"][key], threads=job["threads"])
    x = load_inputs(weights, 1)
    with flush_denormals():
        ms, logits = time_interleaved(paths, x, job["runs"], 2)
    return {**job, "ms": ms, "speedup": {k: ms["official"] / v for k, v in ms.items()},
            "max_abs_logit_diff": {k: float((v - logits["official"]).abs().max())
                                   for k, v in logits.items()}}  # fmt: skip


def measure_detect(job: dict) -> dict:
    import torch

    from spoofscope.inference import Detector

    torch.set_num_threads(job["threads"])
    path = job["files"]["checkpoint" if job["backend"] == "eager" else job["backend"]]
    backend = "torch" if job["backend"] == "eager" else "onnx"
    detector = Detector.from_pretrained(path, backend, vad=job["vad"])
    if backend == "onnx":  # the detector's own session uses ORT's default threads
        from spoofscope.onnx_backend import OnnxModel

        detector.model = OnnxModel(path, threads=job["threads"])
    start = time.perf_counter()
    result = detector.detect(job["recording"])
    wall = time.perf_counter() - start
    return {**job, "duration_s": result.duration_s, "wall_s": wall,
            "rtf": wall / result.duration_s, "verdict": result.verdict,
            "windows": len(result.windows)}  # fmt: skip


def worker(job: dict) -> None:
    kind = job["kind"]
    if kind == "baseline":
        import onnxruntime  # noqa: F401
        import torch  # noqa: F401

        result = dict(job)
    else:
        result = {"speed": measure_speed, "official": measure_official,
                  "detect": measure_detect}[kind](job)  # fmt: skip
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result, default=float))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    ``VmHWM`` of ``/proc/self/status`` where it exists: ``ru_maxrss`` keeps the peak of the
    process that forked this one across ``exec`` (here: the parent, after its exports).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- report ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    import torch

    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} cores")
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} before the run" + (" (busy!)" if load > 0.5 else ""))
    common = {"threads": args.threads, "runs": args.runs, "batch": args.batch}
    files = {name: prepare(name, args.workdir) for name in args.models}
    report: dict = {"torch": torch.__version__, "threads": args.threads, "load_before": load}
    report["baseline"] = run_worker({"kind": "baseline"})
    print(f"\nbaseline process (python + torch + onnxruntime imported): "
          f"{report['baseline'].get('peak_rss_mb', 0):.0f} MB peak RSS")  # fmt: skip
    head = f"{'model':13} {'backend':10} {'ms b1':>8} {'utt/s b1':>9} {'RTF b1':>7} "
    print("\n" + head + f"{'ms b' + str(args.batch):>9} {'utt/s':>7} {'RTF':>7} {'peak MB':>8}")
    report["speed"] = []
    for name in args.models:
        for backend in args.backends:
            if backend not in ("eager", "fused") and backend not in files[name]:
                continue
            r = run_worker({"kind": "speed", "model": name, "backend": backend,
                            "files": files[name], **common})  # fmt: skip
            report["speed"].append(r)
            if "error" in r:
                print(f"{name:13} {backend:10} error: {r['error']}")
                continue
            b = args.batch
            print(f"{name:13} {backend:10} {r['ms_b1']:8.1f} {r['utt_per_s_b1']:9.2f} "
                  f"{r['rtf_b1']:7.4f} {r[f'ms_b{b}']:9.1f} {r[f'utt_per_s_b{b}']:7.2f} "
                  f"{r[f'rtf_b{b}']:7.4f} {r['peak_rss_mb']:8.0f}")  # fmt: skip
    if args.official_dir and "aasist" in files:
        r = run_worker({"kind": "official", "official_dir": str(args.official_dir),
                        "files": files["aasist"], **common})  # fmt: skip
        report["official"] = r
        print("\nAASIST official weights, batch 1, interleaved, vs the official code:")
        for key, ms in r.get("ms", {}).items():
            print(f"  {key:10} {ms:8.1f} ms  {r['speedup'][key]:5.2f}x  "
                  f"max|dlogit| {r['max_abs_logit_diff'][key]:.2e}")  # fmt: skip
        if "error" in r:
            print(f"  error: {r['error']}")
    if args.detect_minutes > 0:
        recording = args.workdir / f"long_{args.detect_minutes:g}min.wav"
        if not recording.is_file():
            write_long_recording(recording, args.detect_minutes)
        print(f"\nDetector.detect on {recording.name} (vad={args.vad}):")
        report["detect"] = []
        for name in args.detect_models:
            for label, backend in DETECT_BACKENDS.items():
                if backend != "eager" and backend not in files.get(name, {}):
                    continue
                r = run_worker({"kind": "detect", "model": name, "backend": backend,
                                "files": files[name], "recording": str(recording),
                                "vad": args.vad, "threads": args.threads})  # fmt: skip
                report["detect"].append(r)
                if "error" in r:
                    print(f"  {name:13} {label:10} error: {r['error']}")
                    continue
                print(f"  {name:13} {label:10} {r['wall_s']:7.1f} s for {r['duration_s']:.0f} s"
                      f"  RTF {r['rtf']:.4f}  {r['windows']} windows  peak "
                      f"{r['peak_rss_mb']:.0f} MB  verdict {r['verdict']}")  # fmt: skip
    report["load_after"] = os.getloadavg()[0]
    print(f"\nload average {report['load_after']:.2f} after the run")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
