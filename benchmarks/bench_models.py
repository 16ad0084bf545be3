"""Speed and size of every registered model on a 4-s (64,600-sample) input.

Prints, per model: trainable parameters, MACs per 4-s utterance (torch's FLOP counter / 2;
recurrent layers are counted by their matmuls where torch decomposes them), and median
milliseconds per utterance at batch 1 and batch 8, for the eager model and its
``fuse_for_inference()`` path, measured interleaved in one run.

    .venv/bin/python benchmarks/bench_models.py [--models aasist rawnet2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from spoofscope.models import build_model, list_models

SEGMENT = 64600


def prepared(name: str):
    torch.manual_seed(0)
    model = build_model(name)
    if not model.trainable_by_gradient:  # GMMs: fit briefly on noise so they can score
        model = build_model(name, max_iter=2)
        rng = np.random.default_rng(0)
        bona = [rng.normal(0, 0.1, SEGMENT * 20).astype(np.float32)]
        spoof = [rng.normal(0, 0.05, SEGMENT * 20).astype(np.float32)]
        model.fit(bona, spoof)
    return model.eval()


def macs(model: torch.nn.Module, x: torch.Tensor) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() / 2


def time_once(model: torch.nn.Module, x: torch.Tensor) -> float:
    with torch.inference_mode():
        start = time.perf_counter()
        model(x)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list_models())
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"# torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}"
    )
    header = "model          params    MACs/4s   eager b1  fused b1  eager b8/utt  fused b8/utt"
    print(header)
    gen = torch.Generator().manual_seed(0)
    x1 = torch.randn(1, SEGMENT, generator=gen) * 0.1
    x8 = torch.randn(8, SEGMENT, generator=gen) * 0.1
    for name in args.models:
        model = prepared(name)
        fused = model.fuse_for_inference()
        n_params = sum(p.numel() for p in model.parameters())
        n_macs = macs(model, x1)
        runs: dict[str, list[float]] = {k: [] for k in ("e1", "f1", "e8", "f8")}
        for m in (model, fused):  # warm-up
            time_once(m, x1)
            time_once(m, x8)
        for _ in range(args.repeats):  # interleaved, so drift hits all paths alike
            runs["e1"].append(time_once(model, x1))
            runs["f1"].append(time_once(fused, x1))
            runs["e8"].append(time_once(model, x8) / 8)
            runs["f8"].append(time_once(fused, x8) / 8)
        ms = {k: 1000 * statistics.median(v) for k, v in runs.items()}
        print(
            f"{name:14s} {n_params:8,d} {n_macs / 1e9:7.2f} G {ms['e1']:7.1f}ms "
            f"{ms['f1']:7.1f}ms {ms['e8']:10.1f}ms {ms['f8']:11.1f}ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
