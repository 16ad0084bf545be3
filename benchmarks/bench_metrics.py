"""Speed of the ASVspoof metrics on synthetic score sets of 1e5 and 1e6 trials.

Each set has 10 % bona fide (N(2, 1)) and 90 % spoof (N(-2, 1)) CM scores, rounded to 1e-4 so
there are ties, and the ASV side has the same number of trials (10 % target, 30 % nontarget,
60 % spoof). Prints the median wall time of 3 runs (after one warm-up) per metric:

    .venv/bin/python benchmarks/bench_metrics.py [--sizes 100000 1000000] [--bootstrap 100]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from spoofscope import metrics as m


def synthetic(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    nb, nt, nn = n // 10, n // 10, 3 * n // 10
    return {
        "bona": np.round(rng.normal(2, 1, nb), 4),
        "spoof": np.round(rng.normal(-2, 1, n - nb), 4),
        "tar": rng.normal(3, 1, nt),
        "non": rng.normal(-3, 1, nn),
        "spf": rng.normal(1, 1.5, n - nt - nn),
    }


def timed(func, repeats: int = 3) -> float:
    func()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cases(d: dict[str, np.ndarray], n_boot: int) -> dict:
    """The timed calls, by name."""
    bona, spoof, tar, non, spf = d["bona"], d["spoof"], d["tar"], d["non"], d["spf"]
    op = m.asv_operating_point(tar, non, spf)
    return {
        "EER": lambda: m.eer(bona, spoof),
        "min t-DCF legacy": lambda: m.min_tdcf_legacy(bona, spoof, op),
        "min t-DCF revised": lambda: m.min_tdcf_revised(bona, spoof, op),
        "EER + both min t-DCF": lambda: (
            m.eer(bona, spoof),
            m.min_tdcf_legacy(bona, spoof, op),
            m.min_tdcf_revised(bona, spoof, op),
        ),
        "ASV operating point": lambda: m.asv_operating_point(tar, non, spf),
        "minDCF": lambda: m.min_dcf(bona, spoof),
        "actDCF": lambda: m.act_dcf(bona, spoof),
        "Cllr": lambda: m.cllr(bona, spoof),
        "a-DCF (ASV scores as SASV)": lambda: m.a_dcf(tar, non, spf),
        "t-EER (exact search)": lambda: m.teer(bona, spoof, tar, non, spf),
        f"bootstrap EER CI ({n_boot} resamples)": lambda: m.bootstrap_eer(bona, spoof, n_boot),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--bootstrap", type=int, default=100, help="resamples for the CI timing")
    args = parser.parse_args()
    print(f"numpy {np.__version__}, {platform.processor() or platform.machine()}, "
          f"median of 3 runs")  # fmt: skip
    for n in args.sizes:
        d = synthetic(n)
        rows = cases(d, args.bootstrap)
        print(f"\n{n:,} CM trials ({d['bona'].size:,} bona fide), {n:,} ASV trials")
        for name, func in rows.items():
            print(f"  {name:<36} {timed(func) * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
