"""Training throughput on CPU: LCNN, RawNet2-lite and AASIST-L (their registry configs).

Each model trains in its own subprocess for ``--steps`` timed optimizer steps (after
``--warmup`` untimed ones) on synthetic in-memory batches (no files): half bona fide
(harmonic tones), half spoof (band-limited noise), ``--segment`` samples each. A step is
what ``spoofscope train`` does: forward, weighted cross-entropy, backward, Adam.

Printed per model: parameters, median seconds per step, samples/s, and memory:

- ``peak RSS``: the subprocess's peak resident set size (``resource.getrusage``
  ``ru_maxrss``), i.e. Python + torch's CPU allocations + libraries, at its high point;
- ``train delta``: peak RSS minus the RSS measured just before the first step (the
  activations, gradients and optimizer state a training step adds).

torch's CPU allocator keeps no peak statistics (``torch.cuda.max_memory_allocated`` is
CUDA-only) and ``tracemalloc`` does not see tensor memory, so RSS is the measure used.

    .venv/bin/python benchmarks/bench_train.py [--models lcnn] [--steps 5] [--batch-size 8]
        [--segment 64600] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

MODELS = ("lcnn", "rawnet2-lite", "aasist-l")
SR = 16000


def synthetic_batch(batch: int, segment: int, rng: np.random.Generator) -> tuple:
    """``(wave (B, T) float32, target (B,) int64)``: even rows bona fide, odd rows spoof."""
    t = np.arange(segment) / SR
    rows, labels = [], []
    for i in range(batch):
        if i % 2 == 0:
            f0 = rng.uniform(100, 250)
            x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
        else:
            spec = np.fft.rfft(rng.normal(size=segment))
            spec[: int(1500 * segment / SR)] = 0
            x = np.fft.irfft(spec, segment)
        rows.append(0.3 * x / np.abs(x).max())
        labels.append(1 - i % 2)
    wave = torch.from_numpy(np.stack(rows).astype(np.float32))
    return wave, torch.tensor(labels, dtype=torch.int64)


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def worker(name: str, steps: int, warmup: int, batch: int, segment: int) -> dict:
    from spoofscope.losses import Objective
    from spoofscope.models import build_model

    torch.manual_seed(0)
    model = build_model(name).train()
    objective = Objective(model, "weighted-ce", torch.tensor([0.1, 0.9]))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    batches = [synthetic_batch(batch, segment, rng) for _ in range(2)]
    rss_before = _rss_mb()
    times = []
    for step in range(warmup + steps):
        wave, target = batches[step % 2]
        start = time.perf_counter()
        loss = objective(wave, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    median = statistics.median(times)
    return {
        "model": name,
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "s_per_step": median,
        "samples_per_s": batch / median,
        "peak_rss_mb": peak_mb,
        "train_delta_mb": peak_mb - rss_before,
        "final_loss": float(loss),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--segment", type=int, default=64600, help="samples per clip")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        result = worker(args.worker, args.steps, args.warmup, args.batch_size, args.segment)
        print(json.dumps(result))
        return
    threads = args.threads or torch.get_num_threads()
    print(
        f"# torch {torch.__version__}, {threads} thread(s), "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}; "
        f"batch {args.batch_size} x {args.segment} samples, {args.steps} timed steps "
        f"after {args.warmup} warm-up"
    )
    print(
        f"{'model':<14}{'params':>10}{'s/step':>9}{'samples/s':>11}"
        f"{'peak RSS MB':>13}{'train delta MB':>16}"
    )
    for name in args.models:
        cmd = [
            sys.executable, __file__, "--worker", name, "--steps", str(args.steps),
            "--warmup", str(args.warmup), "--batch-size", str(args.batch_size),
            "--segment", str(args.segment), "--threads", str(threads),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{r['model']:<14}{r['params']:>10,}{r['s_per_step']:>9.3f}"
            f"{r['samples_per_s']:>11.2f}{r['peak_rss_mb']:>13.0f}{r['train_delta_mb']:>16.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
