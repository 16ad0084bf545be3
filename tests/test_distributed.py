"""DDP through torchrun: 2 CPU processes (gloo) end with identical weights; rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from spoofscope.checkpoint import load_checkpoint
from spoofscope.data.dataset import AudioDataset
from spoofscope.data.manifest import Utterance, read_manifest, write_manifest
from spoofscope.distributed import DistInfo
from spoofscope.models import get_spec
from spoofscope.train import HASH_DIR_ENV
from spoofscope.train_eval import DevEvaluator, state_hash

SR = 16000


def _manifest(root: Path, split: str, count: int, rng: np.random.Generator) -> Path:
    utts = []
    for i in range(count):
        label = "bonafide" if i % 2 == 0 else "spoof"
        n = int(rng.uniform(0.4, 0.9) * SR)
        t = np.arange(n) / SR
        if label == "bonafide":
            x = np.sin(2 * np.pi * rng.uniform(150, 300) * t) + 0.05 * rng.normal(size=n)
        else:
            x = rng.normal(size=n)
        path = root / split / f"{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.3 * x / np.abs(x).max()).astype(np.float32), SR)
        utts.append(Utterance(f"{split}{i}", str(path), label))
    write_manifest(utts, root / f"{split}.jsonl")
    return root / f"{split}.jsonl"


def test_two_cpu_ranks_end_identical(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cfg = {
        "model": {"name": "rawnet2-lite", "overrides": dict(get_spec("rawnet2-lite").tiny)},
        "data": {
            "train": str(_manifest(tmp_path, "train", 20, rng)),
            "dev": str(_manifest(tmp_path, "dev", 11, rng)),  # odd: ranks score 6 and 5
            "segment_samples": 8000,
            "batch_size": 4,
            "workers": 0,
        },
        "optim": {"lr": 3e-3},
        "epochs": 2,
        "device": "cpu",
    }
    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump(cfg))
    out, hashes = tmp_path / "out", tmp_path / "hashes"
    env = {**os.environ, HASH_DIR_ENV: str(hashes), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
        "-m", "spoofscope", "train", str(config), "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0 = (hashes / "rank0.sha256").read_text()
    rank1 = (hashes / "rank1.sha256").read_text()
    assert rank0 == rank1  # parameters and BatchNorm buffers agree

    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]  # written once (rank 0 only)
    # 10 clips per rank in batches of 4 (last partial batch dropped): 2 steps, 16 clips/epoch
    assert lines[-1]["step"] == 2 * 2
    assert all(r["dev_items"] == 11 and r["train_items"] == 16 for r in lines)
    assert proc.stdout.count("epoch 2 step") == 1  # only rank 0 prints

    model, _ = load_checkpoint(out / "last.safetensors")
    assert state_hash(model) == rank0.strip()
    dev = AudioDataset(read_manifest(tmp_path / "dev.jsonl"), segment_samples=8000, crop="first")
    single = DevEvaluator(dev, 4, 0, DistInfo(), amp=False)(model)
    assert single.n_scored == 11
    assert single.eer == lines[-1]["dev_eer"]  # the gathered dev EER equals a 1-process one
