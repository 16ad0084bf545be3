"""The training configuration: a dataclass tree read by :func:`spoofscope.config_io.load_config`.

Sections: ``model``, ``data``, ``optim``, ``schedule``, ``loss`` and top-level run settings.
Every preset in ``configs/`` is a YAML file of this shape; ``spoofscope train`` saves the
resolved tree beside its outputs as ``resolved_config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "DataSection",
    "LossSection",
    "ModelSection",
    "OptimSection",
    "ScheduleSection",
    "TrainConfig",
]


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass
class ModelSection:
    """Which model to train.

    Attributes:
        name: a registered model name (``spoofscope models`` lists them); may be left
            empty with ``init_from`` (the checkpoint's model is used).
        overrides: model config fields to change, e.g. ``{nb_samp: 16000}``.
    """

    name: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSection:
    """Manifests and loading.

    Attributes:
        train: training manifest (JSONL, see :mod:`spoofscope.data.manifest`).
        dev: development manifest for dev EER, best checkpoint and early stopping
            (optional; without it only ``last.safetensors`` is written).
        segment_samples: training crop length; ``None`` = the model's ``segment_samples``.
        batch_size: training clips per step per process.
        eval_batch_size: dev clips per forward pass; ``None`` = ``batch_size``.
        workers: DataLoader decoding processes (0 = decode in the main process).
        train_crop: ``random`` crop (default) or ``first`` segment of each training clip.
        dev_crop: ``first`` segment (the official convention) or ``full`` length with
            length-bucketed batches.
        augment: augmentation settings passed to
            ``spoofscope.data.augment.augment_config_from_dict`` (empty = none).
    """

    train: str = ""
    dev: str | None = None
    segment_samples: int | None = None
    batch_size: int = 32
    eval_batch_size: int | None = None
    workers: int = 2
    train_crop: Literal["random", "first"] = "random"
    dev_crop: Literal["first", "full"] = "first"
    augment: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.batch_size >= 1, f"data.batch_size must be >= 1, got {self.batch_size}")
        _check(self.workers >= 0, f"data.workers must be >= 0, got {self.workers}")
        _check(
            self.eval_batch_size is None or self.eval_batch_size >= 1,
            f"data.eval_batch_size must be >= 1, got {self.eval_batch_size}",
        )
        _check(
            self.segment_samples is None or self.segment_samples >= 1,
            f"data.segment_samples must be >= 1, got {self.segment_samples}",
        )


@dataclass
class OptimSection:
    """Optimizer.

    Attributes:
        name: ``adam`` or ``adamw``.
        lr: peak learning rate.
        weight_decay: L2 penalty (Adam) or decoupled decay (AdamW).
        betas: Adam betas.
        grad_clip: clip the gradient norm to this value; ``None`` = no clipping.
    """

    name: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-4
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        _check(self.lr > 0, f"optim.lr must be > 0, got {self.lr}")
        _check(self.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        _check(
            self.grad_clip is None or self.grad_clip > 0,
            f"optim.grad_clip must be > 0 or null, got {self.grad_clip}",
        )


@dataclass
class ScheduleSection:
    """Learning-rate schedule (see :mod:`spoofscope.schedules`).

    Attributes:
        name: ``none``, ``cosine`` (per step, down to ``min_lr``), ``warmup-cosine``, or
            ``plateau`` (multiply by ``plateau_factor`` after ``plateau_patience`` epochs
            without a better dev EER).
        warmup_steps: linear warm-up steps from 0 (any schedule); ``None`` = 5 % of all
            steps for ``warmup-cosine``, 0 otherwise.
        min_lr: floor of the cosine and plateau schedules.
        plateau_factor: plateau multiplier, in (0, 1).
        plateau_patience: epochs without improvement before a plateau reduction.
    """

    name: Literal["none", "cosine", "warmup-cosine", "plateau"] = "cosine"
    warmup_steps: int | None = None
    min_lr: float = 0.0
    plateau_factor: float = 0.5
    plateau_patience: int = 2

    def __post_init__(self) -> None:
        _check(
            self.warmup_steps is None or self.warmup_steps >= 0,
            f"schedule.warmup_steps must be >= 0, got {self.warmup_steps}",
        )
        _check(
            0 < self.plateau_factor < 1,
            f"schedule.plateau_factor must be in (0, 1), got {self.plateau_factor}",
        )
        _check(self.min_lr >= 0, f"schedule.min_lr must be >= 0, got {self.min_lr}")


@dataclass
class LossSection:
    """Training objective (see :mod:`spoofscope.losses`).

    Attributes:
        name: ``weighted-ce`` (cross-entropy with class weights) or ``oc-softmax``
            (one-class softmax on the model embedding, Zhang et al. 2021).
        class_weights: ``inverse-frequency`` (``N / (2 N_class)`` from the training
            manifest), ``none``, or explicit ``[w_spoof, w_bonafide]`` in class-index order,
            e.g. the official ``[0.1, 0.9]``. Also weights the output-layer loss under
            OC-softmax.
        oc_margin_bonafide: OC-softmax margin ``m0`` for bona fide (0.9).
        oc_margin_spoof: OC-softmax margin ``m1`` for spoof (0.2).
        oc_scale: OC-softmax scale ``alpha`` (20).
    """

    name: Literal["weighted-ce", "oc-softmax"] = "weighted-ce"
    class_weights: Literal["inverse-frequency", "none"] | list[float] = "inverse-frequency"
    oc_margin_bonafide: float = 0.9
    oc_margin_spoof: float = 0.2
    oc_scale: float = 20.0

    def __post_init__(self) -> None:
        if isinstance(self.class_weights, list):
            _check(
                len(self.class_weights) == 2 and all(w > 0 for w in self.class_weights),
                "loss.class_weights must be inverse-frequency, none or two positive numbers "
                f"[w_spoof, w_bonafide], got {self.class_weights}",
            )
        _check(
            -1 <= self.oc_margin_spoof < self.oc_margin_bonafide <= 1,
            "OC-softmax margins need -1 <= oc_margin_spoof < oc_margin_bonafide <= 1, got "
            f"{self.oc_margin_spoof} and {self.oc_margin_bonafide}",
        )
        _check(self.oc_scale > 0, f"loss.oc_scale must be > 0, got {self.oc_scale}")


@dataclass
class TrainConfig:
    """One training run.

    Attributes:
        model, data, optim, schedule, loss: the sections above.
        epochs: passes over the training manifest.
        max_steps: stop after this many optimizer steps (``None`` = no limit).
        patience: early stopping: stop after this many epochs without a lower dev EER
            (``None`` = never).
        seed: seeds model init, data order, crops, augmentation and dropout.
        amp: mixed precision (float16 autocast + gradient scaling) on CUDA; ignored on CPU.
        device: ``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
        init_from: start from this checkpoint (ours, or an official AASIST ``.pth``);
            ``model.name`` must then match the checkpoint's model or be left at the checkpoint's.
        freeze: parameter-name prefixes to keep fixed, or ``all-but-classifier``.
        out_dir: output directory (``--out`` overrides it; default ``runs/<config name>``).
    """

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    loss: LossSection = field(default_factory=LossSection)
    epochs: int = 20
    max_steps: int | None = None
    patience: int | None = None
    seed: int = 1234
    amp: bool = True
    device: str = "auto"
    init_from: str | None = None
    freeze: Literal["all-but-classifier"] | list[str] = field(default_factory=list)
    out_dir: str | None = None

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _check(
            self.max_steps is None or self.max_steps >= 1,
            f"max_steps must be >= 1 or null, got {self.max_steps}",
        )
        _check(
            self.patience is None or self.patience >= 1,
            f"patience must be >= 1 or null, got {self.patience}",
        )
        _check(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
