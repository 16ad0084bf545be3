"""Training set-up helpers: manifests, model (fresh or from a checkpoint), freezing, data card."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from spoofscope.data.dataset import AudioDataset, build_augmenter, collate
from spoofscope.data.manifest import Utterance, read_manifest
from spoofscope.distributed import DistInfo
from spoofscope.errors import SpoofscopeError
from spoofscope.losses import find_classifier
from spoofscope.models import SpoofModel, build_model
from spoofscope.train_config import TrainConfig

__all__ = [
    "apply_freeze",
    "build_data",
    "data_card",
    "load_split",
    "prepare_model",
    "set_frozen_bn_eval",
]

log = logging.getLogger(__name__)


def load_split(path: str | None, what: str, *, both_classes: bool) -> list[Utterance]:
    """Read manifest ``path`` for ``data.<what>``; empty list when ``path`` is empty.

    Raises:
        SpoofscopeError: missing/invalid manifest, no utterances, or (``both_classes``) only
            one class present.
    """
    if not path:
        return []
    utts = read_manifest(path)
    if not utts:
        raise SpoofscopeError(f"data.{what}: manifest {path} has no utterances")
    if both_classes:
        labels = Counter(u.label for u in utts)
        if len(labels) < 2:
            raise SpoofscopeError(
                f"data.{what}: manifest {path} has only {dict(labels)}; "
                "training and dev EER need both bonafide and spoof utterances"
            )
    return utts


def prepare_model(cfg: TrainConfig) -> SpoofModel:
    """The model to train: built from ``model.name`` + overrides, or loaded from ``init_from``.

    With ``init_from`` the architecture comes from the checkpoint; ``model.overrides`` may
    still change non-shape settings (dropout, ``nb_samp``, ...), and the weights must fit.

    Raises:
        SpoofscopeError: unknown model name or config key, unreadable checkpoint, or a
            checkpoint of another model than ``model.name``.
    """
    name, overrides = cfg.model.name, dict(cfg.model.overrides)
    if cfg.init_from:
        from spoofscope.checkpoint import load_model
        from spoofscope.models import build_from_config

        source = load_model(cfg.init_from)
        if name and name != source.name:
            raise SpoofscopeError(
                f"init_from {cfg.init_from} holds a {source.name!r} model but model.name is "
                f"{name!r}; set model.name={source.name}"
            )
        if not overrides:
            return source
        try:
            model = build_from_config(source.name, {**source.config_dict(), **overrides})
        except (KeyError, TypeError, ValueError) as exc:
            raise SpoofscopeError(f"model.overrides: {_message(exc)}") from None
        try:
            model.load_state_dict(source.state_dict(), strict=True)
        except RuntimeError as exc:
            raise SpoofscopeError(
                f"model.overrides change the shape of {source.name!r}; the weights of "
                f"{cfg.init_from} no longer fit: {exc}"
            ) from None
        return model
    if not name:
        from spoofscope.models import list_models

        raise SpoofscopeError(
            f"model.name is required (or init_from); valid choices: {', '.join(list_models())}"
        )
    try:
        return build_model(name, **overrides)
    except KeyError as exc:
        raise SpoofscopeError(f"model.name: {_message(exc)}") from None
    except (TypeError, ValueError) as exc:
        raise SpoofscopeError(f"model.overrides: {_message(exc)}") from None


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def frozen_prefixes(model: nn.Module, spec: str | list[str]) -> tuple[list[str], bool]:
    """``(prefixes, invert)``: names matching a prefix are frozen, or unfrozen if ``invert``."""
    if spec == "all-but-classifier":
        return [find_classifier(model)], True
    return list(spec), False


def is_frozen(name: str, prefixes: list[str], invert: bool) -> bool:
    hit = any(_matches(name, p) for p in prefixes)
    return hit != invert


def apply_freeze(model: nn.Module, spec: str | list[str]) -> list[str]:
    """Set ``requires_grad=False`` on the parameters selected by ``spec``.

    Args:
        model: the model.
        spec: parameter-name prefixes (``"encoder"`` freezes ``encoder.*``), or
            ``"all-but-classifier"``.

    Returns:
        The frozen parameter names.

    Raises:
        SpoofscopeError: a prefix matches no parameter (the message lists the top-level
            modules), or nothing would remain trainable.
    """
    if not spec:
        return []
    prefixes, invert = frozen_prefixes(model, spec)
    names = [n for n, _ in model.named_parameters()]
    for p in prefixes:
        if not any(_matches(n, p) for n in names):
            top = sorted({n.split(".")[0] for n in names})
            raise SpoofscopeError(
                f"freeze prefix {p!r} matches no parameter; top-level modules: {', '.join(top)}"
            )
    frozen = []
    for n, param in model.named_parameters():
        if is_frozen(n, prefixes, invert):
            param.requires_grad_(False)
            frozen.append(n)
    if len(frozen) == len(names):
        raise SpoofscopeError(f"freeze {spec!r} leaves no trainable parameter")
    log.info("froze %d of %d parameter tensors", len(frozen), len(names))
    return frozen


def set_frozen_bn_eval(model: nn.Module, spec: str | list[str]) -> None:
    """Put BatchNorm layers inside frozen parts in eval mode (keep their running statistics).

    Call after every ``model.train()``.
    """
    if not spec:
        return
    prefixes, invert = frozen_prefixes(model, spec)
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and is_frozen(
            name, prefixes, invert
        ):
            module.eval()


def data_card(
    cfg: TrainConfig, train: list[Utterance], dev: list[Utterance], skipped: dict[str, int]
) -> dict[str, Any]:
    """The training-data description stored in checkpoints."""

    def describe(path: str | None, utts: list[Utterance]) -> dict[str, Any] | None:
        if not path:
            return None
        return {
            "manifest": str(Path(path).resolve()),
            "count": len(utts),
            "labels": dict(sorted(Counter(u.label for u in utts).items())),
            "datasets": dict(sorted(Counter(u.dataset for u in utts).items())),
        }

    return {
        "train": describe(cfg.data.train, train),
        "dev": describe(cfg.data.dev, dev),
        "skipped_files": skipped,
        "segment_samples": cfg.data.segment_samples,
        "augment": cfg.data.augment or None,
    }


def build_data(
    cfg: TrainConfig,
    model: SpoofModel,
    train: list[Utterance],
    dev: list[Utterance],
    info: DistInfo,
) -> tuple[AudioDataset, DistributedSampler, DataLoader, Any]:
    """Training dataset, its (distributed, shuffling) sampler and loader, and the dev evaluator.

    ``cfg.data.segment_samples`` must already be resolved. The last partial batch of each
    rank is dropped when a rank has more than one batch. The evaluator is ``None`` without
    a dev manifest.
    """
    from spoofscope.train_eval import DevEvaluator

    seg = cfg.data.segment_samples
    train_ds = AudioDataset(
        train, sample_rate=model.sample_rate, segment_samples=seg, crop=cfg.data.train_crop,
        augment=build_augmenter(cfg.data.augment, model.sample_rate), seed=cfg.seed,
    )  # fmt: skip
    sampler = DistributedSampler(train_ds, info.world_size, info.rank, shuffle=True, seed=cfg.seed)
    per_rank = -(-len(train) // info.world_size)
    loader = DataLoader(
        train_ds, cfg.data.batch_size, sampler=sampler, collate_fn=collate,
        num_workers=cfg.data.workers, drop_last=per_rank > cfg.data.batch_size,
        pin_memory=info.device.type == "cuda",
    )  # fmt: skip
    evaluator = None
    if dev:
        dev_ds = AudioDataset(
            dev, sample_rate=model.sample_rate, segment_samples=seg, crop=cfg.data.dev_crop,
            min_samples=model.min_samples(), seed=cfg.seed,
        )  # fmt: skip
        batch = cfg.data.eval_batch_size or cfg.data.batch_size
        evaluator = DevEvaluator(dev_ds, batch, cfg.data.workers, info, cfg.amp)
    return train_ds, sampler, loader, evaluator
