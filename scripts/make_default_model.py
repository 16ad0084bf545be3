"""The whole recipe of the shipped default model, from nothing to ``spoofscope/weights/``.

    .venv/bin/python scripts/make_default_model.py [--corpus data/corpus] [--work runs/default]
        [--members lcnn rawnet2-lite] [--epochs N] [--install]

Steps (each skipped when its output exists, so a rerun resumes):

1. ``spoofscope corpus build --size full`` with the shared real recordings as extra bona fide
   (``../shared/speech``, read in place) into ``--corpus``;
2. ``spoofscope train configs/default-<member>.yaml`` for each member (each behind the
   default model's 3.8 kHz input low-pass);
3. ``spoofscope evaluate`` of each member on the eval split (whole files, min aggregation:
   what the detector does), then EER with 95 % bootstrap intervals on the seen and the unseen
   attacks separately;
4. the candidates (each member, and the ensemble of all of them) ranked by EER on the unseen
   attacks; ties (overlapping intervals) go to the faster one;
5. ``spoofscope calibrate`` of the winner on the dev split, and its final evaluation;
6. with ``--install``: the calibrated checkpoint copied to
   ``src/spoofscope/weights/default.safetensors`` and its figures to
   ``src/spoofscope/weights/default.json`` (read by ``docs/model-card.md``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WEIGHTS = REPO / "src" / "spoofscope" / "weights"


def sh(*args: str) -> None:
    """Run a spoofscope command, echoing it; stop the recipe if it fails."""
    cmd = [sys.executable, "-m", "spoofscope", *args]
    print("+ spoofscope " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def build_corpus(corpus: Path, size: str) -> None:
    if (corpus / "report.json").is_file():
        return
    extra = [
        SHARED / "speech" / "fsdd" / "recordings",
        SHARED / "speech" / "librispeech-train-clean-100",
    ]
    args = ["corpus", "build", "--out", str(corpus), "--size", size, "--workers", "2"]
    for folder in extra:
        args += ["--extra-bonafide", str(folder)]
    sh(*args)


def train(member: str, corpus: Path, work: Path, epochs: int | None) -> Path:
    out = work / member
    if (out / "best.safetensors").is_file():
        return out / "best.safetensors"
    args = ["train", f"configs/default-{member}.yaml", "--out", str(out)]
    args += [
        "--set",
        f"data.train={corpus / 'train.jsonl'}",
        "--set",
        f"data.dev={corpus / 'dev.jsonl'}",
    ]
    if epochs:
        args += ["--set", f"epochs={epochs}"]
    sh(*args)
    return out / "best.safetensors"


def evaluate(checkpoint: Path, manifest: Path, out: Path) -> dict[str, np.ndarray]:
    """Scores of ``manifest`` by ``checkpoint``, split into bona fide / seen / unseen spoofs."""
    scores_file = out / manifest.stem / "scores.txt"
    if not scores_file.is_file():
        sh(
            "evaluate", "--checkpoint", str(checkpoint), "--manifest", str(manifest),
            "--out", str(out), "--mode", "full", "--aggregation", "min", "--no-plots",
        )  # fmt: skip
    scores = dict(line.split() for line in scores_file.read_text().splitlines() if line.strip())
    groups: dict[str, list[float]] = {"bonafide": [], "seen": [], "unseen": []}
    for line in manifest.read_text().splitlines():
        utt = json.loads(line)
        if utt["id"] not in scores:
            continue
        role = utt.get("extra", {}).get("role", "train")
        key = "bonafide" if utt["label"] == "bonafide" else ("unseen" if role == "eval" else "seen")
        groups[key].append(float(scores[utt["id"]]))
    return {k: np.asarray(v) for k, v in groups.items()}


def eer_table(groups: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """EER (%) with a 95 % stratified bootstrap interval for seen, unseen and all spoofs."""
    from spoofscope.metrics import bootstrap_eer

    out = {}
    for name, spoof in (
        ("seen", groups["seen"]),
        ("unseen", groups["unseen"]),
        ("all", np.concatenate([groups["seen"], groups["unseen"]])),
    ):
        ci = bootstrap_eer(groups["bonafide"], spoof, n_resamples=1000, seed=0)
        out[name] = {
            "eer": 100 * ci.eer,
            "low": 100 * ci.low,
            "high": 100 * ci.high,
            "n_bonafide": int(groups["bonafide"].size),
            "n_spoof": int(spoof.size),
        }
    return out


def heldout_speakers(corpus: Path) -> list[str]:
    """Bona fide speakers of the eval split that appear in neither train nor dev."""
    seen: set[str] = set()
    for split in ("train", "dev"):
        for line in (corpus / f"{split}.jsonl").read_text().splitlines():
            utt = json.loads(line)
            if utt["label"] == "bonafide" and utt.get("speaker"):
                seen.add(utt["speaker"])
    held: set[str] = set()
    for line in (corpus / "eval.jsonl").read_text().splitlines():
        utt = json.loads(line)
        if utt["label"] == "bonafide" and utt.get("speaker") and utt["speaker"] not in seen:
            held.add(utt["speaker"])
    return sorted(held)


def ms_per_window(checkpoint: Path, repeats: int = 20) -> float:
    """Median fused-forward time of one 4-s window at batch 8, per window (ms)."""
    import torch

    from spoofscope.checkpoint import load_model
    from spoofscope.scoring import flush_denormals

    model = load_model(checkpoint).eval().fuse_for_inference()
    x = torch.randn(8, model.segment_samples)
    times = []
    with torch.inference_mode(), flush_denormals():
        model(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times)) / 8


def assemble_all(checkpoints: list[Path], out: Path) -> Path:
    from spoofscope.checkpoint import load_checkpoint, save_checkpoint
    from spoofscope.models.ensemble import assemble

    if out.is_file():
        return out
    loaded = [load_checkpoint(c) for c in checkpoints]
    model = assemble([m for m, _ in loaded])
    card = {"members": [str(c.relative_to(REPO)) for c in checkpoints]} | (
        loaded[0][1].get("data_card") or {}
    )
    save_checkpoint(model, out, data_card=card)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=REPO / "data" / "corpus")
    p.add_argument("--size", default="full", choices=("small", "full"))
    p.add_argument("--work", type=Path, default=REPO / "runs" / "default")
    p.add_argument("--members", nargs="+", default=["lcnn", "rawnet2-lite"])
    p.add_argument("--epochs", type=int, help="override the configs' epochs")
    p.add_argument("--install", action="store_true", help="copy the winner into weights/")
    args = p.parse_args()
    corpus, work = args.corpus.resolve(), args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    build_corpus(corpus, args.size)
    candidates = {m: train(m, corpus, work, args.epochs) for m in args.members}
    if len(candidates) > 1:
        candidates["ensemble"] = assemble_all(
            list(candidates.values()), work / "ensemble.safetensors"
        )

    results = {}
    for name, checkpoint in candidates.items():
        groups = evaluate(checkpoint, corpus / "eval.jsonl", work / f"eval-{name}")
        results[name] = {"eer": eer_table(groups), "ms_per_window": ms_per_window(checkpoint)}
        row = results[name]["eer"]
        print(
            f"{name:<14} unseen EER {row['unseen']['eer']:.2f}% seen {row['seen']['eer']:.2f}% "
            f"all {row['all']['eer']:.2f}%  {results[name]['ms_per_window']:.1f} ms/window",
            flush=True,
        )

    def rank(name: str) -> tuple[float, float]:
        return results[name]["eer"]["unseen"]["eer"], results[name]["ms_per_window"]

    best = min(results, key=rank)
    print(f"chosen: {best}", flush=True)
    calibrated = work / "default.safetensors"
    if not calibrated.is_file():
        sh(
            "calibrate", "--checkpoint", str(candidates[best]),
            "--manifest", str(corpus / "dev.jsonl"), "--out", str(calibrated),
        )  # fmt: skip
    final = eer_table(evaluate(calibrated, corpus / "eval.jsonl", work / "eval-default"))
    report = {
        "chosen": best,
        "heldout_bonafide_speakers": heldout_speakers(corpus),
        "candidates": results,
        "final": final,
        "corpus": json.loads((corpus / "report.json").read_text()).get("counts"),
        "date": time.strftime("%Y-%m-%d"),
    }
    (work / "default.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.install:
        WEIGHTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(calibrated, WEIGHTS / "default.safetensors")
        shutil.copyfile(work / "default.json", WEIGHTS / "default.json")
        print(f"installed {WEIGHTS / 'default.safetensors'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
