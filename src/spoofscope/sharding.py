"""Bulk scoring across processes and machines: shard a list, write part files, merge in order.

Launched by ``torchrun`` (``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR``, ``MASTER_PORT`` set), rank
``r`` of ``W`` takes items ``r::W``, writes them to ``OUT.part<r>-of-<W>`` (JSONL, written to
a temporary name and renamed, so a part is either absent or complete), then every rank meets
at a barrier: torch.distributed with gloo when a rendezvous is available, else rank 0 polls
for the part files (which needs a file system shared by the ranks). Rank 0 merges the parts
into ``OUT`` (one record per line, in the original order) and removes them.

Each part starts with a header line ``{"part": {"rank", "world", "key", "items"}}``; ``key``
identifies the job (inputs and settings), so rank 0 never merges a stale part left by an
earlier, different job.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spoofscope.errors import SpoofscopeError

__all__ = [
    "ShardInfo",
    "barrier",
    "finish",
    "join",
    "merge_parts",
    "part_path",
    "shard_indices",
    "shard_info",
    "wait_for_parts",
    "write_jsonl",
    "write_part",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardInfo:
    """This process's place in a sharded job.

    Attributes:
        rank: 0-based rank.
        world: number of processes.
        rendezvous: True when torch.distributed can be initialised (``MASTER_ADDR`` and
            ``MASTER_PORT`` are set), else the barrier is file polling.
    """

    rank: int = 0
    world: int = 1
    rendezvous: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def shard_info(environ: dict[str, str] | None = None) -> ShardInfo:
    """Read ``RANK`` / ``WORLD_SIZE`` (as set by ``torchrun``); a single process without them.

    Raises:
        SpoofscopeError: the variables are not integers or ``RANK`` is out of range.
    """
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
    except ValueError:
        raise SpoofscopeError(
            f"RANK={env.get('RANK')!r} / WORLD_SIZE={env.get('WORLD_SIZE')!r} are not integers"
        ) from None
    if world < 1 or not 0 <= rank < world:
        raise SpoofscopeError(f"RANK={rank} is not in 0..WORLD_SIZE-1 (WORLD_SIZE={world})")
    rendezvous = bool(env.get("MASTER_ADDR")) and bool(env.get("MASTER_PORT"))
    return ShardInfo(rank, world, rendezvous)


def shard_indices(n_items: int, rank: int, world: int) -> list[int]:
    """Indices of the items rank ``rank`` of ``world`` takes: ``rank::world``.

    Example:
        >>> shard_indices(5, 0, 2), shard_indices(5, 1, 2)
        ([0, 2, 4], [1, 3])
    """
    return list(range(rank, n_items, world))


def part_path(out: str | Path, rank: int, world: int) -> Path:
    """``OUT.part<rank>-of-<world>`` next to the merged output."""
    out = Path(out)
    return out.with_name(f"{out.name}.part{rank}-of-{world}")


def write_part(
    out: str | Path, info: ShardInfo, key: str, records: Sequence[dict[str, Any]]
) -> Path:
    """Write this rank's records (each with an ``"index"``) atomically; returns the part path."""
    path = part_path(out, info.rank, info.world)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    header = {"part": {"rank": info.rank, "world": info.world, "key": key, "items": len(records)}}
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(header) + "\n")
        for record in records:
            handle.write(json.dumps(record) + "\n")
    os.replace(tmp, path)
    return path


def _header(path: Path) -> dict[str, Any] | None:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.loads(handle.readline()).get("part")
    except (OSError, ValueError, AttributeError):
        return None


def wait_for_parts(
    out: str | Path, world: int, key: str, timeout_s: float, poll_s: float = 0.5
) -> None:
    """Block until every rank's part of job ``key`` exists.

    Raises:
        SpoofscopeError: not all parts appeared within ``timeout_s`` (the missing ranks named).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        missing = [
            r for r in range(world) if (_header(part_path(out, r, world)) or {}).get("key") != key
        ]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise SpoofscopeError(
                f"timed out after {timeout_s:g} s waiting for the part files of ranks {missing} "
                f"({part_path(out, missing[0], world)}); do all ranks see the same file system?"
            )
        time.sleep(poll_s)


def merge_parts(out: str | Path, world: int, key: str, n_items: int) -> Path:
    """Merge the parts of job ``key`` into ``out`` (JSONL in index order); remove the parts.

    Raises:
        SpoofscopeError: a part is missing, belongs to another job, or the indices do not
            cover ``0..n_items-1`` exactly once.
    """
    out = Path(out)
    records: dict[int, dict[str, Any]] = {}
    parts = [part_path(out, r, world) for r in range(world)]
    for path in parts:
        if (_header(path) or {}).get("key") != key:
            raise SpoofscopeError(f"{path}: missing or from another job")
        with path.open(encoding="utf-8") as handle:
            next(handle)
            for line in handle:
                record = json.loads(line)
                records[int(record.pop("index"))] = record
    if sorted(records) != list(range(n_items)):
        raise SpoofscopeError(
            f"the parts hold {len(records)} records, expected indices 0..{n_items - 1}"
        )
    write_jsonl(out, (records[i] for i in range(n_items)))
    for path in parts:
        path.unlink()
    return out


def write_jsonl(out: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write records as JSONL (to a temporary name, then renamed)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    os.replace(tmp, out)
    return out


def join(info: ShardInfo, timeout_s: float) -> None:
    """Join the gloo process group when a rendezvous is available (a no-op otherwise).

    Called before the work starts, so a broken rendezvous fails at once, not after hours.
    ``timeout_s`` bounds every collective, including the final barrier.
    """
    if info.world == 1 or not info.rendezvous:
        return
    import datetime

    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(
            "gloo", init_method="env://", timeout=datetime.timedelta(seconds=timeout_s)
        )


def barrier(info: ShardInfo, out: str | Path, key: str, timeout_s: float) -> None:
    """Wait until every rank has written its part.

    A torch.distributed barrier when :func:`join` joined a process group; else rank 0 polls
    for the part files (:func:`wait_for_parts`) and the other ranks return at once.
    """
    if info.world == 1:
        return
    if info.rendezvous:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            return
    if info.is_main:
        wait_for_parts(out, info.world, key, timeout_s)


def finish(info: ShardInfo) -> None:
    """Leave the process group if :func:`barrier` joined one."""
    if info.world > 1 and info.rendezvous:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
