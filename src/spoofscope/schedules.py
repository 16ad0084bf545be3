"""Optimizers and learning-rate schedules: linear warm-up, then constant, cosine, or
reduce-on-plateau.

:class:`LRSchedule` sets the learning rate of every parameter group itself (no torch
scheduler object) from a small, exactly resumable state: the step count and, for the
plateau schedule, the current factor and its bookkeeping.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = ["SCHEDULES", "LRSchedule", "build_optimizer"]

SCHEDULES = ("none", "cosine", "warmup-cosine", "plateau")


class LRSchedule:
    """Per-step learning rate ``lr(step)`` for an optimizer.

    ``lr(step) = base_lr * warmup(step) * shape(step)`` where ``warmup`` rises linearly
    from ``1 / warmup_steps`` to 1 over ``warmup_steps`` steps, and ``shape`` is 1
    (``none``), a cosine from 1 down to ``min_lr / base_lr`` over ``total_steps``
    (``cosine``, ``warmup-cosine``), or the plateau factor (``plateau``, reduced by
    :meth:`epoch_end`). The rate never goes below ``min_lr`` once warm-up is over.

    Args:
        optimizer: the optimizer whose groups' ``lr`` is set (each group's initial ``lr``
            is its base rate).
        name: one of :data:`SCHEDULES`.
        total_steps: the planned number of optimizer steps (cosine length).
        warmup_steps: warm-up length; ``None`` = 5 % of ``total_steps`` for
            ``warmup-cosine``, else 0.
        min_lr: the floor.
        plateau_factor: multiplier applied on a plateau.
        plateau_patience: epochs without improvement before a reduction.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        name: str,
        total_steps: int,
        warmup_steps: int | None = None,
        min_lr: float = 0.0,
        plateau_factor: float = 0.5,
        plateau_patience: int = 2,
    ) -> None:
        if name not in SCHEDULES:
            raise ValueError(f"unknown schedule {name!r}; valid choices: {', '.join(SCHEDULES)}")
        if warmup_steps is None:
            warmup_steps = max(1, round(0.05 * total_steps)) if name == "warmup-cosine" else 0
        self.optimizer = optimizer
        self.name = name
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = int(warmup_steps)
        self.min_lr = float(min_lr)
        self.plateau_factor = float(plateau_factor)
        self.plateau_patience = int(plateau_patience)
        self.base_lrs = [float(g.get("initial_lr", g["lr"])) for g in optimizer.param_groups]
        for group, base in zip(optimizer.param_groups, self.base_lrs, strict=True):
            group["initial_lr"] = base
        self.step_count = 0
        self.factor = 1.0
        self.best: float | None = None
        self.bad_epochs = 0
        self._apply()

    def lr_at(self, step: int, base: float) -> float:
        """The learning rate for optimizer step ``step`` (0-based) of a group with ``base``."""
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        if self.name in ("cosine", "warmup-cosine"):
            span = max(1, self.total_steps - self.warmup_steps)
            progress = min(1.0, max(0.0, (step - self.warmup_steps) / span))
            floor = min(self.min_lr, base)
            lr = floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        elif self.name == "plateau":
            lr = max(min(self.min_lr, base), base * self.factor)
        else:
            lr = base
        return lr * warm

    def step(self) -> None:
        """Advance one optimizer step and set the next rate."""
        self.step_count += 1
        self._apply()

    def epoch_end(self, metric: float | None) -> None:
        """Report the epoch's dev metric (lower is better); the plateau schedule may reduce."""
        if self.name != "plateau" or metric is None or not math.isfinite(metric):
            return
        if self.best is None or metric < self.best:
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.plateau_patience:
                self.factor *= self.plateau_factor
                self.bad_epochs = 0
        self._apply()

    def current_lr(self) -> float:
        """The rate of the first parameter group."""
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        """The resumable state (plain Python numbers)."""
        return {
            "step_count": self.step_count,
            "factor": self.factor,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output and set the rate accordingly."""
        self.step_count = int(state["step_count"])
        self.factor = float(state["factor"])
        self.best = None if state["best"] is None else float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        self._apply()

    def _apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self.lr_at(self.step_count, base)


def build_optimizer(module: nn.Module, optim: Any) -> torch.optim.Optimizer:
    """Adam or AdamW over ``module``'s trainable parameters.

    Args:
        module: the model (or model + loss) being trained.
        optim: an :class:`~spoofscope.train_config.OptimSection` (``name``, ``lr``,
            ``betas``, ``weight_decay``).
    """
    params = [p for p in module.parameters() if p.requires_grad]
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(optim.name)
    if cls is None:
        raise ValueError(f"unknown optimizer {optim.name!r}; valid choices: adam, adamw")
    return cls(params, lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay)
