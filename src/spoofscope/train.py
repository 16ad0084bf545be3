"""The training loop behind ``spoofscope train``: one process, or DDP under ``torchrun``.

Outputs in the run directory (written by rank 0 only):

- ``resolved_config.yaml``: the configuration after overrides and defaults;
- ``last.safetensors`` (every epoch) and ``best.safetensors`` (lowest dev EER): spoofscope
  checkpoints whose data card names the manifests and their counts;
- ``train_state.pt``: the resume state (model, optimizer, schedule, scaler, progress, RNG);
- ``metrics.jsonl``: one line per epoch.

Determinism: data order depends on ``(seed, epoch)``, crops and augmentation on ``(seed,
epoch, index)``, dropout on ``(seed, epoch, rank)``; so a run resumed after epoch ``k``
gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from spoofscope.config_io import diff_configs, load_yaml, save_config, to_dict
from spoofscope.distributed import DistInfo, all_reduce_sum, broadcast_state, setup, teardown
from spoofscope.errors import SpoofscopeError
from spoofscope.losses import Objective, class_counts, class_weights
from spoofscope.schedules import LRSchedule, build_optimizer
from spoofscope.train_config import TrainConfig
from spoofscope.train_eval import RunFiles, progress_bar, state_hash
from spoofscope.train_setup import (
    apply_freeze,
    build_data,
    data_card,
    load_split,
    prepare_model,
    set_frozen_bn_eval,
)
from spoofscope.train_state import Progress, get_rng_state, mix_seed, seed_everything, set_rng_state

__all__ = ["HASH_DIR_ENV", "run_training"]

log = logging.getLogger(__name__)

HASH_DIR_ENV = "SPOOFSCOPE_TRAIN_HASH_DIR"
"""When set, every rank writes ``rank<N>.sha256`` (its final state-dict hash) there."""

EpochCallback = Callable[[dict[str, Any]], None]


def run_training(
    cfg: TrainConfig,
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    on_epoch: EpochCallback | None = None,
) -> dict[str, Any]:
    """Train ``cfg`` and write the run directory.

    Args:
        cfg: the resolved configuration.
        out_dir: output directory; default ``cfg.out_dir``, else an error.
        resume: continue the run found in ``out_dir`` (``train_state.pt``).
        on_epoch: called on rank 0 with each epoch's metrics record.

    Returns:
        A summary: ``{"out_dir", "epochs", "steps", "best_eer", "best_epoch", "stop_reason",
        "skipped_files"}``.

    Raises:
        SpoofscopeError: bad configuration, manifests, checkpoint or run directory.
    """
    out = Path(out_dir or cfg.out_dir or "")
    if not str(out) or str(out) == ".":
        raise SpoofscopeError("no output directory: pass --out DIR or set out_dir")
    info = setup(cfg.device)
    try:
        seed_everything(cfg.seed)
        train = load_split(cfg.data.train, "train", both_classes=True)
        if not train:
            raise SpoofscopeError("data.train is required: the training manifest")
        dev = load_split(cfg.data.dev, "dev", both_classes=True)
        model = prepare_model(cfg)
        files = RunFiles(out)
        if files.path(files.STATE).exists() and not resume:
            raise SpoofscopeError(
                f"{out} already holds a run; pass --resume to continue it or choose another --out"
            )
        if resume and not files.path(files.STATE).exists():
            raise SpoofscopeError(f"--resume: no {files.STATE} in {out}")
        if not model.trainable_by_gradient:
            from spoofscope.train_gmm import train_gmm

            return train_gmm(cfg, model, train, dev, files, info, on_epoch)
        return _Trainer(cfg, model, train, dev, files, info).run(resume, on_epoch)
    finally:
        teardown(info)


class _Trainer:
    def __init__(self, cfg: TrainConfig, model: Any, train: list, dev: list, files: RunFiles,
                 info: DistInfo) -> None:  # fmt: skip
        self.info, self.files, self.train_utts, self.dev_utts = info, files, train, dev
        self.frozen = apply_freeze(model, cfg.freeze)
        self.model = model.to(info.device)
        seg = cfg.data.segment_samples or model.segment_samples
        if seg < model.min_samples():
            raise SpoofscopeError(
                f"data.segment_samples={seg} is shorter than {model.name!r} accepts "
                f"({model.min_samples()} samples)"
            )
        self.cfg = cfg = dataclasses.replace(
            cfg,
            model=dataclasses.replace(cfg.model, name=model.name),
            data=dataclasses.replace(cfg.data, segment_samples=seg),
            out_dir=str(files.root),
        )
        self.cuda = info.device.type == "cuda"
        self.amp = cfg.amp and self.cuda
        self.train_ds, self.sampler, self.loader, self.evaluator = build_data(
            cfg, model, train, dev, info
        )
        counts = class_counts(train)
        oc = {
            "margin_bonafide": cfg.loss.oc_margin_bonafide,
            "margin_spoof": cfg.loss.oc_margin_spoof,
            "scale": cfg.loss.oc_scale,
        }
        weights = class_weights(cfg.loss.class_weights, counts)
        self.objective = Objective(model, cfg.loss.name, weights, oc).to(info.device)
        self.optimizer = build_optimizer(self.objective, cfg.optim)
        total = len(self.loader) * cfg.epochs
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        s = cfg.schedule
        self.schedule = LRSchedule(
            self.optimizer, s.name, total, s.warmup_steps, s.min_lr, s.plateau_factor,
            s.plateau_patience,
        )  # fmt: skip
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None
        self.progress = Progress()
        self.skipped = {"train": 0, "dev": 0}
        if cfg.patience and not self.evaluator:
            log.warning("patience=%d needs a dev manifest: early stopping is off", cfg.patience)

    # --- resume state ---------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "progress": self.progress.to_dict(),
            "skipped": dict(self.skipped),
            "rng": get_rng_state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.objective.load_state_dict(state["objective"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        if self.scaler and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.progress = Progress.from_dict(state["progress"])
        self.skipped = dict(state["skipped"])
        set_rng_state(state["rng"])
        log.info("resumed after epoch %d, step %d", self.progress.epoch, self.progress.step)

    # --- loop -----------------------------------------------------------------------
    def run(self, resume: bool, on_epoch: EpochCallback | None) -> dict[str, Any]:
        cfg, info, files = self.cfg, self.info, self.files
        if resume:
            self.restore(files.load_state())
            _warn_config_changes(cfg, files.path(files.CONFIG))
        self.progress.finished = self._done()
        net: torch.nn.Module = self.objective
        if info.distributed:
            net = torch.nn.parallel.DistributedDataParallel(
                self.objective, device_ids=[info.device] if self.cuda else None
            )
        if info.is_main:
            save_config(cfg, files.path(files.CONFIG))
            files.truncate_metrics(self.progress.epoch)
        while not self.progress.finished:
            record = self._epoch(net)
            if info.is_main:
                files.append_metrics(record)
                if on_epoch:
                    on_epoch(record)
        self._write_hash()
        p = self.progress
        return {
            "out_dir": str(files.root), "epochs": p.epoch, "steps": p.step,
            "best_eer": p.best_eer, "best_epoch": p.best_epoch, "stop_reason": p.stop_reason,
            "skipped_files": dict(self.skipped), "rank": info.rank,
        }  # fmt: skip

    def _done(self) -> bool:
        p, cfg = self.progress, self.cfg
        if cfg.max_steps and p.step >= cfg.max_steps:
            p.stop_reason = p.stop_reason or "max_steps"
        elif p.epoch >= cfg.epochs:
            p.stop_reason = p.stop_reason or "epochs"
        elif cfg.patience and self.evaluator and p.bad_epochs >= cfg.patience:
            p.stop_reason = p.stop_reason or "early stopping"
        else:
            p.stop_reason = ""
        return bool(p.stop_reason)

    def _epoch(self, net: torch.nn.Module) -> dict[str, Any]:
        cfg, info, p = self.cfg, self.info, self.progress
        epoch, start = p.epoch, time.perf_counter()
        torch.manual_seed(mix_seed(cfg.seed, epoch, info.rank))
        self.sampler.set_epoch(epoch)
        self.train_ds.set_epoch(epoch)
        net.train()
        set_frozen_bn_eval(self.model, cfg.freeze)
        loss_sum = n_items = skipped = 0.0
        bar = progress_bar(self.loader, f"epoch {epoch + 1}/{cfg.epochs}", info)
        for batch in bar:
            if cfg.max_steps and p.step >= cfg.max_steps:
                break
            skipped += batch["skipped"]
            loss, n = self._step(net, batch)
            if n:
                loss_sum, n_items = loss_sum + loss * n, n_items + n
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        bar.close()
        broadcast_state(self.objective, info)
        loss_sum, n_items, skipped = all_reduce_sum([loss_sum, n_items, skipped], info)
        self.skipped["train"] += int(skipped)
        dev = self.evaluator(self.model) if self.evaluator else None
        dev_eer = dev.eer if dev else None
        if dev:
            self.skipped["dev"] += dev.skipped
        train_loss = loss_sum / n_items if n_items else None
        self.schedule.epoch_end(dev_eer if self.evaluator else train_loss)
        p.epoch += 1
        improved = dev_eer is not None and (p.best_eer is None or dev_eer < p.best_eer)
        if improved:
            p.best_eer, p.best_epoch, p.bad_epochs = dev_eer, p.epoch, 0
        elif self.evaluator:
            p.bad_epochs += 1
        p.finished = self._done()
        record = {
            "epoch": p.epoch, "step": p.step, "train_loss": train_loss, "dev_eer": dev_eer,
            "best_eer": p.best_eer, "lr": self.schedule.current_lr(),
            "seconds": round(time.perf_counter() - start, 3),
            "train_items": int(n_items), "skipped_train": int(skipped),
            "skipped_dev": dev.skipped if dev else 0, "dev_items": dev.n_scored if dev else 0,
        }  # fmt: skip
        if info.is_main:
            self._save(improved, record)
        return record

    def _step(self, net: torch.nn.Module, batch: dict[str, Any]) -> tuple[float, int]:
        info, cfg = self.info, self.cfg
        wave = batch["wave"].to(info.device, non_blocking=True)
        target = batch["label"].to(info.device, non_blocking=True)
        n = int(wave.shape[0])
        if n == 0:
            if not info.distributed:
                return 0.0, 0
            # every rank must join the gradient all-reduce: a zero-weight dummy batch
            wave = torch.zeros(1, cfg.data.segment_samples or 1, device=info.device)
            target = torch.zeros(1, dtype=torch.int64, device=info.device)
        with torch.autocast("cuda", enabled=self.amp):
            loss = net(wave, target)
        if n == 0:
            loss = loss * 0.0
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if cfg.optim.grad_clip:
            params = [q for g in self.optimizer.param_groups for q in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.schedule.step()
        self.progress.step += 1
        return float(loss.detach()), n

    def _save(self, improved: bool, record: dict[str, Any]) -> None:
        from spoofscope.checkpoint import save_checkpoint

        files, cfg = self.files, self.cfg
        card = data_card(cfg, self.train_utts, self.dev_utts, dict(self.skipped))
        extra: dict[str, Any] = {"training": {**record, "loss": cfg.loss.name}}
        if self.objective.oc is not None:
            extra["oc_softmax"] = self.objective.oc.describe()
        save_checkpoint(self.model, files.path(files.LAST), data_card=card, extra=extra)
        if improved:
            save_checkpoint(self.model, files.path(files.BEST), data_card=card, extra=extra)
        files.save_state(self.state())

    def _write_hash(self) -> None:
        target = os.environ.get(HASH_DIR_ENV)
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            path = Path(target) / f"rank{self.info.rank}.sha256"
            path.write_text(state_hash(self.model) + "\n")


def _warn_config_changes(cfg: TrainConfig, saved: Path) -> None:
    """Log the settings a resumed run changes relative to its saved config."""
    if saved.is_file():
        changed = diff_configs(load_yaml(saved), to_dict(cfg))
        if changed:
            log.warning("resuming with changed settings: %s", ", ".join(changed))
