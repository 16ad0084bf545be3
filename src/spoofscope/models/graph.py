"""Graph layers of AASIST: graph attention, heterogeneous graph attention, graph pooling.

Nodes are rows of a ``(B, N, D)`` tensor. The spectral graph has one node per sub-band, the
temporal graph one node per frame. The layers follow the official AASIST maths (Jung et al.,
ICASSP 2022) with names of our own; :mod:`spoofscope.upstream` maps the official names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _attention_vector(dim: int) -> nn.Parameter:
    weight = nn.Parameter(torch.empty(dim, 1))
    nn.init.xavier_normal_(weight)
    return weight


def _batch_norm_nodes(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over all nodes of all items: ``(B, N, D) -> (B, N, D)``."""
    return bn(x.reshape(-1, x.size(-1))).view(x.shape)


def pairwise_scores(x: torch.Tensor, proj: nn.Linear) -> torch.Tensor:
    """``tanh(proj(x_i * x_j))`` for every node pair: ``(B, N, D) -> (B, N, N, D')``."""
    return torch.tanh(proj(x.unsqueeze(2) * x.unsqueeze(1)))


class GraphAttention(nn.Module):
    """Graph attention layer over a fully connected graph (GAT-S / GAT-T of AASIST).

    Args:
        in_dim: node feature size ``D``.
        out_dim: output node feature size.
        temperature: the attention logits are divided by it before the softmax.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float) -> None:
        super().__init__()
        self.temperature = temperature
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = _attention_vector(out_dim)
        self.proj_att = nn.Linear(in_dim, out_dim)
        self.proj_self = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.drop = nn.Dropout(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, in_dim) -> (B, N, out_dim)``."""
        x = self.drop(x)
        logits = torch.matmul(pairwise_scores(x, self.att_proj), self.att_weight).squeeze(-1)
        att = F.softmax(logits / self.temperature, dim=-1)  # (B, N, N), rows sum to 1
        out = self.proj_att(torch.matmul(att, x)) + self.proj_self(x)
        return F.selu(_batch_norm_nodes(self.bn, out))


class HeteroGraphAttention(nn.Module):
    """Heterogeneous graph attention over temporal + spectral nodes plus a master node.

    Node pairs within the temporal set, within the spectral set and across the two sets each
    get their own attention vector (the two cross directions share one, as upstream).

    Args:
        in_dim: node feature size of both inputs and of the master node.
        out_dim: output feature size.
        temperature: divisor of the attention logits.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float) -> None:
        super().__init__()
        self.temperature = temperature
        self.proj_t = nn.Linear(in_dim, in_dim)
        self.proj_s = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_proj_master = nn.Linear(in_dim, out_dim)
        self.att_weight_tt = _attention_vector(out_dim)
        self.att_weight_ss = _attention_vector(out_dim)
        self.att_weight_ts = _attention_vector(out_dim)
        self.att_weight_master = _attention_vector(out_dim)
        self.proj_att = nn.Linear(in_dim, out_dim)
        self.proj_self = nn.Linear(in_dim, out_dim)
        self.proj_att_master = nn.Linear(in_dim, out_dim)
        self.proj_self_master = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.drop = nn.Dropout(0.2)

    def forward(
        self, x_t: torch.Tensor, x_s: torch.Tensor, master: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Update both node sets and the master node.

        Args:
            x_t: temporal nodes ``(B, Nt, in_dim)``.
            x_s: spectral nodes ``(B, Ns, in_dim)``.
            master: master node ``(B, 1, in_dim)`` or ``(1, 1, in_dim)`` (broadcast).

        Returns:
            ``(B, Nt, out_dim)``, ``(B, Ns, out_dim)`` and the master node ``(B, 1, out_dim)``.
        """
        n_t = x_t.size(1)
        x = self.drop(torch.cat([self.proj_t(x_t), self.proj_s(x_s)], dim=1))
        att = F.softmax(self.pair_logits(x, n_t) / self.temperature, dim=-1)
        master = self._update_master(x, master)
        out = self.proj_att(torch.matmul(att, x)) + self.proj_self(x)
        out = F.selu(_batch_norm_nodes(self.bn, out))
        return out[:, :n_t], out[:, n_t:], master

    def pair_logits(self, x: torch.Tensor, n_t: int) -> torch.Tensor:
        """Attention logits ``(B, N, N)`` with one attention vector per block of node pairs."""
        scores = pairwise_scores(x, self.att_proj)
        vectors = torch.cat([self.att_weight_tt, self.att_weight_ss, self.att_weight_ts], dim=1)
        per_type = torch.matmul(scores, vectors)  # (B, N, N, 3)
        n = x.size(1)
        is_s = torch.arange(n, device=x.device) >= n_t
        block = torch.where(is_s[:, None] == is_s[None, :], is_s[:, None].long(), 2)
        index = block.expand(x.size(0), n, n).unsqueeze(-1)
        return torch.gather(per_type, -1, index).squeeze(-1)

    def _update_master(self, x: torch.Tensor, master: torch.Tensor) -> torch.Tensor:
        logits = torch.matmul(torch.tanh(self.att_proj_master(x * master)), self.att_weight_master)
        att = F.softmax(logits / self.temperature, dim=1)  # (B, N, 1) over nodes
        pooled = torch.matmul(att.transpose(1, 2), x)  # (B, 1, in_dim)
        return self.proj_att_master(pooled) + self.proj_self_master(master)


class GraphPool(nn.Module):
    """Keep the top ``ratio`` of nodes ranked by a learned sigmoid score (gated by it).

    Args:
        ratio: fraction of nodes kept (``max(int(N * ratio), 1)`` nodes).
        in_dim: node feature size.
        dropout: dropout on the scorer's input.
    """

    def __init__(self, ratio: float, in_dim: int, dropout: float = 0.3) -> None:
        super().__init__()
        self.ratio = ratio
        self.score = nn.Linear(in_dim, 1)
        self.drop = nn.Dropout(dropout)

    def n_kept(self, n_nodes: int) -> int:
        """How many of ``n_nodes`` nodes survive."""
        return max(int(n_nodes * self.ratio), 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(B, N, D) -> (B, n_kept(N), D)``, nodes in descending score order."""
        scores = torch.sigmoid(self.score(self.drop(h)))
        idx = torch.topk(scores, self.n_kept(h.size(1)), dim=1).indices
        return torch.gather(h * scores, 1, idx.expand(-1, -1, h.size(-1)))


class HeteroBranch(nn.Module):
    """One of AASIST's two inference branches: HS-GAL, graph pooling, HS-GAL (residual).

    Args:
        in_dim: input node size (``gat_dims[0]``); also the master node size.
        dim: node size inside the branch (``gat_dims[1]``).
        ratio: graph-pooling ratio (``pool_ratios[2]``).
        temperature: attention temperature (``temperatures[2]``).
    """

    def __init__(self, in_dim: int, dim: int, ratio: float, temperature: float) -> None:
        super().__init__()
        self.master = nn.Parameter(torch.randn(1, 1, in_dim))
        self.hgat1 = HeteroGraphAttention(in_dim, dim, temperature)
        self.pool_t = GraphPool(ratio, dim)
        self.pool_s = GraphPool(ratio, dim)
        self.hgat2 = HeteroGraphAttention(dim, dim, temperature)

    def forward(
        self, x_t: torch.Tensor, x_s: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, Nt, in_dim), (B, Ns, in_dim)`` -> pooled temporal, spectral and master nodes."""
        t, s, master = self.hgat1(x_t, x_s, self.master)
        s = self.pool_s(s)
        t = self.pool_t(t)
        t_aug, s_aug, master_aug = self.hgat2(t, s, master)
        return t + t_aug, s + s_aug, master + master_aug
