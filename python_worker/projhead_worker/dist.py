"""torch.distributed helpers. Every function works (as the single-process identity) when
torch.distributed is not initialised, so callers need no `if distributed:` branches.

Multi-process runs are started by torchrun, which sets RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT; `init_from_env` reads them.
"""
from __future__ import annotations

import os
from typing import Iterable

import torch
import torch.distributed as td


def is_dist() -> bool:
    """True when a process group is initialised (world size may still be 1)."""
    return td.is_available() and td.is_initialized()


def world_size() -> int:
    return td.get_world_size() if is_dist() else 1


def rank() -> int:
    return td.get_rank() if is_dist() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def gather_with_grad(t: torch.Tensor) -> torch.Tensor:
    """Concatenates `t` from all ranks along dim 0, rank order; every rank must pass the same
    shape. The backward pass sums the incoming gradients of all ranks into each rank's slice
    (torch.distributed.nn.functional.all_gather), which is what makes a local-mean loss under
    DDP's gradient averaging equal the global-batch gradient (see losses.info_nce)."""
    if world_size() == 1:
        return t
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(t.contiguous()), dim=0)


def all_reduce_mean_(tensors: Iterable[torch.Tensor]) -> None:
    """In-place average over ranks of a list of tensors, with one collective (flattened);
    used for the gradients of parameters that DDP does not own (the projection head)."""
    ts = [t for t in tensors if t is not None]
    if world_size() == 1 or not ts:
        return
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    flat = _flatten_dense_tensors(ts)
    td.all_reduce(flat)  # SUM: gloo has no AVG
    flat.div_(world_size())
    for t, s in zip(ts, _unflatten_dense_tensors(flat, ts)):
        t.copy_(s)


def broadcast_(tensors: Iterable[torch.Tensor], src: int = 0) -> None:
    """In-place broadcast of tensors from `src` (e.g. to give every rank the same head)."""
    ts = list(tensors)
    if world_size() == 1 or not ts:
        return
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    flat = _flatten_dense_tensors([t.detach() for t in ts])
    td.broadcast(flat, src)
    with torch.no_grad():
        for t, s in zip(ts, _unflatten_dense_tensors(flat, ts)):
            t.copy_(s)


def init_from_env(backend: str | None = None) -> bool:
    """Initialises the default process group from torchrun's environment variables when
    WORLD_SIZE > 1. backend None = nccl when CUDA is available, else gloo. Returns is_dist()."""
    if is_dist():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        # Each process drives one GPU; set it before NCCL creates its communicator.
        torch.cuda.set_device(local_rank())
    td.init_process_group(backend=backend, init_method="env://")
    return True


def cleanup() -> None:
    if is_dist():
        td.destroy_process_group()


def barrier() -> None:
    if not is_dist():
        return
    if td.get_backend() == "nccl":
        td.barrier(device_ids=[torch.cuda.current_device()])
    else:
        td.barrier()
