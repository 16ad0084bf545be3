"""Training the GMM baselines through ``spoofscope train``: one EM fit instead of epochs.

The training manifest is decoded in full (DataLoader workers, unreadable files skipped and
counted), waves are streamed by class into ``model.fit(bonafide, spoof)``, the dev set is
scored like the neural models', and the same files are written: ``resolved_config.yaml``,
``best.safetensors`` = ``last.safetensors``, ``train_state.pt`` (marked finished) and one
``metrics.jsonl`` line. Under ``torchrun`` rank 0 fits and writes; other ranks exit at once.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Subset

from spoofscope.config_io import save_config
from spoofscope.data.dataset import AudioDataset
from spoofscope.data.manifest import Utterance
from spoofscope.distributed import DistInfo
from spoofscope.errors import SpoofscopeError
from spoofscope.train_config import TrainConfig
from spoofscope.train_eval import DevEvaluator, RunFiles, progress_bar
from spoofscope.train_setup import data_card
from spoofscope.train_state import Progress

__all__ = ["train_gmm"]

log = logging.getLogger(__name__)


def _first(items: list[Any]) -> Any:
    return items[0]


def train_gmm(
    cfg: TrainConfig,
    model: Any,
    train: list[Utterance],
    dev: list[Utterance],
    files: RunFiles,
    info: DistInfo,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Fit a GMM baseline on ``train`` and write the run files (see the module docstring)."""
    from spoofscope.checkpoint import save_checkpoint

    if cfg.freeze or cfg.loss.name != "weighted-ce":
        log.warning("freeze / loss settings do not apply to the GMM model %r", model.name)
    if files.path(files.STATE).exists():  # --resume of a fitted GMM: nothing left to do
        log.info("%s is already fitted; nothing to resume", model.name)
        return {"out_dir": str(files.root), "epochs": 1, "stop_reason": "fitted"}
    if not info.is_main:  # no collective: EM may take longer than any barrier timeout
        log.warning("GMM fitting runs on rank 0 only; rank %d has nothing to do", info.rank)
        return {"out_dir": str(files.root), "epochs": 1, "rank": info.rank}
    cfg = dataclasses.replace(
        cfg,
        model=dataclasses.replace(cfg.model, name=model.name),
        data=dataclasses.replace(cfg.data, segment_samples=model.segment_samples),
        out_dir=str(files.root),
    )
    save_config(cfg, files.path(files.CONFIG))
    start = time.perf_counter()
    dataset = AudioDataset(
        train, sample_rate=model.sample_rate, crop="full", min_samples=model.min_samples(),
        seed=cfg.seed,
    )  # fmt: skip
    skipped = [0]

    def waves(label: int) -> Iterator[np.ndarray]:
        indices = [i for i, u in enumerate(train) if u.target == label]
        loader = DataLoader(
            Subset(dataset, indices), batch_size=1, collate_fn=_first,
            num_workers=cfg.data.workers,
        )  # fmt: skip
        name = "bonafide" if label == 1 else "spoof"
        for item in progress_bar(loader, f"{name} features", info, total=len(indices)):
            if item is None:
                skipped[0] += 1
                continue
            yield item["wave"]

    try:
        model.fit(waves(1), waves(0))
    except ValueError as exc:
        raise SpoofscopeError(f"cannot fit {model.name!r}: {exc}") from None
    skipped_files = {"train": skipped[0], "dev": 0}
    progress = Progress(epoch=1, step=0, finished=True, stop_reason="fitted")
    dev_eer, dev_items = None, 0
    if dev:
        dev_ds = AudioDataset(
            dev, sample_rate=model.sample_rate, segment_samples=model.segment_samples,
            crop=cfg.data.dev_crop, min_samples=model.min_samples(), seed=cfg.seed,
        )  # fmt: skip
        batch = cfg.data.eval_batch_size or cfg.data.batch_size
        single = DistInfo(0, 1, 0, info.device)
        result = DevEvaluator(dev_ds, batch, cfg.data.workers, single, amp=False)(model)
        dev_eer, skipped_files["dev"], dev_items = result.eer, result.skipped, result.n_scored
        progress.best_eer, progress.best_epoch = dev_eer, 1
    record = {
        "epoch": 1, "step": 0, "train_loss": None, "dev_eer": dev_eer, "best_eer": dev_eer,
        "lr": None, "seconds": round(time.perf_counter() - start, 3),
        "train_items": len(train) - skipped_files["train"],
        "skipped_train": skipped_files["train"], "skipped_dev": skipped_files["dev"],
        "dev_items": dev_items,
    }  # fmt: skip
    card = data_card(cfg, train, dev, skipped_files)
    extra = {"training": {**record, "loss": "gmm-em"}}
    for name in (files.LAST, files.BEST):
        save_checkpoint(model, files.path(name), data_card=card, extra=extra)
    files.save_state({"progress": progress.to_dict(), "skipped": skipped_files})
    files.truncate_metrics(0)
    files.append_metrics(record)
    if on_epoch:
        on_epoch(record)
    return {
        "out_dir": str(files.root), "epochs": 1, "steps": 0, "best_eer": dev_eer,
        "best_epoch": 1 if dev_eer is not None else None, "stop_reason": "fitted",
        "skipped_files": skipped_files,
    }  # fmt: skip
