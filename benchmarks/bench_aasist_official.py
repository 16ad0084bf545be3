"""Speed of AASIST on CPU: the official clovaai code vs our eager model vs our fused path.

All three run the same weights on the same 4-s (64,600-sample) inputs with the same thread
count. Repetitions are interleaved (official, eager, fused, official, ...) so that machine
load drifts affect all of them alike, and the median of ``--runs`` timings is reported.

Other processes competing for the cores slow the fused path more than the official code
(it runs more, shorter parallel regions), so measure on an otherwise idle machine; the load
average is printed before and after.

The official model code is NOT part of this repository. Point ``--official-dir`` at a
checkout of https://github.com/clovaai/aasist (the directory holding ``models/AASIST.py``);
without it only our two paths are measured.

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_aasist_official.py --official-dir /path/to/aasist
    .venv/bin/python benchmarks/bench_aasist_official.py --batch-sizes 1 8 --runs 15 \\
        --out docs/bench_aasist.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = REPO.parent / "shared" / "reference" / "aasist" / "AASIST.pth"
SEGMENT = 64600


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--official-dir", type=Path, help="checkout of clovaai/aasist (optional)")
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="official .pth file")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    p.add_argument("--runs", type=int, default=10, help="timed repetitions per path")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    return p.parse_args(argv)


def load_inputs(weights: Path, batch: int) -> torch.Tensor:
    """``(batch, 64600)``: the reference model inputs beside the weights, else seeded noise."""
    files = sorted((weights.parent / "inputs").glob("*.npy"))
    if files:
        clips = [np.load(f).astype(np.float32) for f in files]
    else:
        clips = [np.random.default_rng(0).normal(0, 0.1, SEGMENT).astype(np.float32)]
    rows = [clips[i % len(clips)] for i in range(batch)]
    return torch.from_numpy(np.stack(rows))


def official_model(official_dir: Path, weights: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """Build clovaai's ``Model`` from its own code and the ``.conf`` beside the weights."""
    sys.path.insert(0, str(official_dir.resolve()))
    module = importlib.import_module("models.AASIST")
    conf = weights.with_suffix(".conf")
    if not conf.is_file():
        raise SystemExit(f"{conf} not found: the official model needs its model_config")
    model = module.Model(json.loads(conf.read_text())["model_config"])
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()

    def run(x: torch.Tensor) -> torch.Tensor:
        out = model(x)
        return out[1] if isinstance(out, tuple) else out  # newer code returns (hidden, logits)

    return run


def time_interleaved(
    paths: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    x: torch.Tensor,
    runs: int,
    warmup: int,
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Median milliseconds per call of each path, and each path's logits."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    logits = {}
    with torch.inference_mode():
        for name, fn in paths.items():
            for _ in range(warmup):
                logits[name] = fn(x)
        for _ in range(runs):
            for name, fn in paths.items():
                start = time.perf_counter()
                fn(x)
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}, logits


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from spoofscope.upstream import load_official_aasist

    eager = load_official_aasist(args.weights)
    paths: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    if args.official_dir:
        paths["official"] = official_model(args.official_dir, args.weights)
    paths["eager"] = eager
    paths["fused"] = eager.fuse_for_inference()
    base = "official" if "official" in paths else "eager"
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, weights {args.weights}")
    load_before = os.getloadavg()[0]
    print(f"load average {load_before:.2f} on {os.cpu_count()} cores before the run")
    if load_before > 0.75 * (os.cpu_count() or 1):
        print("warning: the machine is busy; timings (the fused path's most) are unreliable")
    print(f"median of {args.runs} interleaved runs; speed-up and |logit diff| vs {base}")
    header = ("batch", 5), ("path", 9), ("ms/batch", 10), ("ms/utt", 8), ("speed-up", 9)
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'max|dlogit|':>12}")
    report = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": []}
    for batch in args.batch_sizes:
        x = load_inputs(args.weights, batch)
        ms, logits = time_interleaved(paths, x, args.runs, args.warmup)
        for name in paths:
            diff = (logits[name] - logits[base]).abs().max().item()
            ratio = ms[base] / ms[name]
            print(
                f"{batch:>5} {name:>9} {ms[name]:>10.1f} {ms[name] / batch:>8.1f} "
                f"{ratio:>8.2f}x {diff:>12.2e}"
            )
            report["results"].append(
                {
                    "batch": batch,
                    "path": name,
                    "ms_per_batch": ms[name],
                    "ms_per_utterance": ms[name] / batch,
                    f"speedup_vs_{base}": ratio,
                    f"max_abs_logit_diff_vs_{base}": diff,
                }
            )
    print(f"load average {os.getloadavg()[0]:.2f} after the run (this benchmark included)")
    report["load_average_before"] = load_before
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
