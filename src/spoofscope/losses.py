"""Training objectives: weighted cross-entropy and one-class softmax (OC-softmax).

OC-softmax (Zhang, Jiang and Duan, "One-class learning towards synthetic voice spoofing
detection", IEEE SPL 2021) pulls bona fide embeddings towards a learned direction ``w`` and
pushes spoofed ones away: with ``s = cos(w, x)``, the loss is
``softplus(alpha * (m0 - s))`` for bona fide and ``softplus(alpha * (s - m1))`` for spoof
(``m0 = 0.9``, ``m1 = 0.2``, ``alpha = 20``).

Our models must still give ``(B, 2)`` logits (the checkpoint contract), so under OC-softmax
the model's own output layer is trained at the same time on the *detached* embedding with
(weighted) cross-entropy: it does not shape the embedding, and it keeps checkpoints usable
by every scoring path. The learned direction is stored in the checkpoint metadata
(``extra.oc_softmax``) for scoring by cosine.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spoofscope.data.manifest import Utterance
from spoofscope.errors import SpoofscopeError

__all__ = ["OCSoftmax", "Objective", "class_counts", "class_weights", "find_classifier"]


def class_counts(utterances: Iterable[Utterance]) -> tuple[int, int]:
    """``(n_spoof, n_bonafide)`` in class-index order."""
    counts = [0, 0]
    for utt in utterances:
        counts[utt.target] += 1
    return counts[0], counts[1]


def class_weights(spec: str | list[float], counts: tuple[int, int]) -> torch.Tensor | None:
    """Cross-entropy class weights ``[w_spoof, w_bonafide]``.

    Args:
        spec: ``"inverse-frequency"`` (``N / (2 N_c)``), ``"none"``, or two numbers.
        counts: ``(n_spoof, n_bonafide)`` of the training set.

    Returns:
        A float32 tensor of shape ``(2,)``, or ``None`` for unweighted.
    """
    if isinstance(spec, list | tuple):
        return torch.tensor([float(w) for w in spec], dtype=torch.float32)
    if spec == "none":
        return None
    if spec != "inverse-frequency":
        raise ValueError(f"unknown class_weights {spec!r}; valid: inverse-frequency, none, [a, b]")
    total = sum(counts)
    return torch.tensor([total / (2 * max(c, 1)) for c in counts], dtype=torch.float32)


def find_classifier(model: nn.Module) -> str:
    """Name of the output layer: the last ``nn.Linear`` with two outputs.

    Raises:
        SpoofscopeError: the model has no such layer.
    """
    names = [
        n for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.out_features == 2
    ]
    if not names:
        raise SpoofscopeError(
            f"model {getattr(model, 'name', type(model).__name__)!r} has no 2-output linear "
            "layer to treat as its classifier"
        )
    return names[-1]


class OCSoftmax(nn.Module):
    """One-class softmax on embeddings of shape ``(B, D)``.

    Args:
        dim: embedding size ``D``.
        margin_bonafide: ``m0``; bona fide cosines are pushed above it.
        margin_spoof: ``m1``; spoof cosines are pushed below it.
        scale: ``alpha``.
    """

    def __init__(
        self, dim: int, margin_bonafide: float = 0.9, margin_spoof: float = 0.2, scale: float = 20.0
    ) -> None:
        super().__init__()
        self.center = nn.Parameter(torch.empty(1, dim))
        nn.init.kaiming_uniform_(self.center, a=0.25)
        self.margin_bonafide = margin_bonafide
        self.margin_spoof = margin_spoof
        self.scale = scale

    def cosine(self, emb: torch.Tensor) -> torch.Tensor:
        """``(B, D) -> (B,)`` cosine to the bona fide direction (higher = more bona fide)."""
        return F.linear(F.normalize(emb.float(), dim=1), F.normalize(self.center, dim=1))[:, 0]

    def forward(self, emb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean OC-softmax loss of embeddings ``(B, D)`` with targets ``(B,)`` (1 = bona fide)."""
        s = self.cosine(emb)
        bona = target == 1
        z = torch.where(bona, self.margin_bonafide - s, s - self.margin_spoof)
        return F.softplus(self.scale * z).mean()

    def describe(self) -> dict[str, Any]:
        """JSON-ready parameters, stored in checkpoints."""
        return {
            "center": F.normalize(self.center.detach().float(), dim=1)[0].cpu().tolist(),
            "margin_bonafide": self.margin_bonafide,
            "margin_spoof": self.margin_spoof,
            "scale": self.scale,
        }


class Objective(nn.Module):
    """Model + loss in one module, so DDP synchronises every trainable tensor.

    Args:
        model: the :class:`~spoofscope.models.SpoofModel` being trained.
        name: ``"weighted-ce"`` or ``"oc-softmax"``.
        weights: class weights ``(2,)`` or ``None``.
        oc: OC-softmax settings (``margin_bonafide``, ``margin_spoof``, ``scale``).
    """

    def __init__(
        self,
        model: nn.Module,
        name: str,
        weights: torch.Tensor | None = None,
        oc: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.name = name
        self.register_buffer("weights", weights, persistent=False)
        self.oc: OCSoftmax | None = None
        if name == "oc-softmax":
            if not hasattr(model, "embed"):
                raise SpoofscopeError(
                    f"loss oc-softmax needs a model with an embed() method; model "
                    f"{getattr(model, 'name', '?')!r} has none (use loss.name=weighted-ce)"
                )
            self.head = find_classifier(model)
            dim = model.get_submodule(self.head).in_features
            self.oc = OCSoftmax(dim, **(oc or {}))
        elif name != "weighted-ce":
            raise ValueError(f"unknown loss {name!r}; valid choices: weighted-ce, oc-softmax")

    def forward(self, wave: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss of a batch: ``wave (B, T)`` float32, ``target (B,)`` int64."""
        if self.oc is None:
            return F.cross_entropy(self.model(wave).float(), target, weight=self.weights)
        emb = self.model.embed(wave)
        head = self.model.get_submodule(self.head)
        head_loss = F.cross_entropy(head(emb.detach()).float(), target, weight=self.weights)
        return self.oc(emb, target) + head_loss
