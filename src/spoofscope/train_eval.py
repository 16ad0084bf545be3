"""Dev evaluation during training (sharded over ranks, gathered) and the run's output files."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from spoofscope.data.dataset import AudioDataset, collate
from spoofscope.data.sampler import LengthBucketSampler, probe_lengths, shard
from spoofscope.distributed import DistInfo, all_gather_objects
from spoofscope.models import SpoofModel

__all__ = ["DevEvaluator", "RunFiles", "progress_bar", "state_hash"]

log = logging.getLogger(__name__)


def progress_bar(items: Iterable[Any], desc: str, info: DistInfo, total: int | None = None) -> Any:
    """A tqdm bar over ``items`` on rank 0 when stderr is a terminal; silent otherwise."""
    from tqdm.auto import tqdm

    quiet = not info.is_main or not sys.stderr.isatty()
    return tqdm(items, desc=desc, total=total, disable=quiet, leave=False, dynamic_ncols=True)


@dataclass(frozen=True)
class DevResult:
    """Dev evaluation of one epoch: EER (None if a class is missing), counts."""

    eer: float | None
    n_scored: int
    skipped: int


class DevEvaluator:
    """Scores this rank's share of the dev set and gathers everyone's scores.

    Args:
        dataset: the dev :class:`AudioDataset` (``crop="first"`` or ``"full"``).
        batch_size: clips per forward pass.
        workers: DataLoader workers.
        info: the distributed context.
        amp: autocast on CUDA.
    """

    def __init__(
        self, dataset: AudioDataset, batch_size: int, workers: int, info: DistInfo, amp: bool
    ) -> None:
        self.dataset = dataset
        self.info = info
        self.workers = workers
        self.amp = amp and info.device.type == "cuda"
        mine = shard(len(dataset), info.rank, info.world_size)
        if dataset.crop == "full":
            lengths = [0] * len(dataset)
            probed = probe_lengths([dataset.utterances[i] for i in mine], dataset.sample_rate)
            for i, n in zip(mine, probed, strict=True):
                lengths[i] = n
            self.batches = LengthBucketSampler(lengths, batch_size, indices=mine).batches
        else:
            self.batches = [mine[i : i + batch_size] for i in range(0, len(mine), batch_size)]

    @torch.no_grad()
    def __call__(self, model: SpoofModel) -> DevResult:
        """Dev EER of ``model`` (scores ``logit[1] - logit[0]``), identical on every rank."""
        from spoofscope.metrics import eer
        from spoofscope.scoring import scores_from_logits

        was_training = model.training
        model.eval()
        loader = DataLoader(
            self.dataset,
            batch_sampler=self.batches,
            num_workers=self.workers,
            collate_fn=collate,
            pin_memory=self.info.device.type == "cuda",
        )
        index, scores, labels, skipped = [], [], [], 0
        for batch in progress_bar(loader, "dev", self.info):
            skipped += batch["skipped"]
            if batch["wave"].shape[0] == 0:
                continue
            wave = batch["wave"].to(self.info.device, non_blocking=True)
            with torch.autocast("cuda", enabled=self.amp):
                logits = model(wave)
            scores.append(scores_from_logits(logits.float()))
            index.append(batch["index"].numpy())
            labels.append(batch["label"].numpy())
        model.train(was_training)
        local = (
            np.concatenate(index) if index else np.zeros(0, np.int64),
            np.concatenate(scores) if scores else np.zeros(0),
            np.concatenate(labels) if labels else np.zeros(0, np.int64),
            skipped,
        )
        parts = all_gather_objects(local, self.info)
        all_scores = np.concatenate([p[1] for p in parts])
        all_labels = np.concatenate([p[2] for p in parts])
        total_skipped = sum(p[3] for p in parts)
        bona, spoof = all_scores[all_labels == 1], all_scores[all_labels == 0]
        if len(bona) == 0 or len(spoof) == 0 or not np.isfinite(all_scores).all():
            log.warning(
                "dev EER undefined: %d bona fide and %d spoof scores (finite: %s)",
                len(bona), len(spoof), bool(np.isfinite(all_scores).all()),
            )  # fmt: skip
            return DevResult(None, len(all_scores), total_skipped)
        return DevResult(float(eer(bona, spoof)), len(all_scores), total_skipped)


class RunFiles:
    """Paths of a run's outputs and the writers used by rank 0."""

    CONFIG = "resolved_config.yaml"
    METRICS = "metrics.jsonl"
    STATE = "train_state.pt"
    BEST = "best.safetensors"
    LAST = "last.safetensors"

    def __init__(self, out_dir: str | Path) -> None:
        self.root = Path(out_dir)

    def path(self, name: str) -> Path:
        return self.root / name

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one JSON line to ``metrics.jsonl``."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self.path(self.METRICS).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=False) + "\n")

    def truncate_metrics(self, epochs: int) -> None:
        """Keep the first ``epochs`` lines (a resumed run rewrites later ones)."""
        path = self.path(self.METRICS)
        if not path.is_file():
            return
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(lines[:epochs]), encoding="utf-8")

    def save_state(self, state: dict[str, Any]) -> None:
        """Write the resume state atomically."""
        tmp = self.path(self.STATE + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path(self.STATE))

    def load_state(self) -> dict[str, Any]:
        """Read the resume state (``weights_only=True``: tensors and plain containers)."""
        return torch.load(self.path(self.STATE), map_location="cpu", weights_only=True)


def state_hash(module: torch.nn.Module) -> str:
    """SHA-256 of every state-dict tensor (names, dtypes, shapes and bytes), for comparisons."""
    digest = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        t = value.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()
