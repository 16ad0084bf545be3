"""torch.distributed set-up for ``torchrun`` launches (one node or many).

``torchrun`` sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; with ``WORLD_SIZE > 1`` :func:`setup` joins the process group (NCCL on
CUDA, gloo on CPU) through the ``env://`` rendezvous, which works across nodes. Without
those variables everything runs in one process and the collectives below are identities.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from spoofscope.errors import SpoofscopeError

__all__ = ["DistInfo", "all_gather_objects", "all_reduce_sum", "broadcast_state", "setup"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Attributes:
        rank: global rank (0 in a single process).
        world_size: number of processes.
        local_rank: rank within the node (selects the GPU).
        device: the torch device this process trains on.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: ``cuda:<local_rank>`` if CUDA is available, else CPU; else ``name`` itself."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise SpoofscopeError(f"invalid device {name!r}: {exc}; try auto, cpu, cuda") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SpoofscopeError(f"device {name!r} requested but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def setup(device_name: str = "auto") -> DistInfo:
    """Join the process group when launched by ``torchrun`` with ``WORLD_SIZE > 1``.

    Args:
        device_name: the ``device`` config value.

    Returns:
        This process's :class:`DistInfo`.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, init_method="env://")
        log.info("rank %d/%d joined the %s process group on %s", rank, world, backend, device)
    return DistInfo(rank, world, local_rank, device)


def teardown(info: DistInfo) -> None:
    """Leave the process group (no-op in a single process)."""
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` in a single process."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Element-wise sum of ``values`` over ranks (float64)."""
    if not info.distributed:
        return list(values)
    device = info.device if info.device.type == "cuda" else torch.device("cpu")
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def broadcast_state(module: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (e.g. BatchNorm running statistics) to every rank.

    DDP keeps parameters identical but lets each rank update its buffers from its own
    batches; calling this at the end of an epoch makes evaluation and saved checkpoints
    identical on every rank.
    """
    if not info.distributed:
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=0)
