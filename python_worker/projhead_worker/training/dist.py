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

# A gloo group for small CPU-side agreements (stop flags, barriers) when the main group is NCCL;
# None means the default group (already gloo).
_CONTROL = None


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


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the gradients of every rank into each rank's slice:
    forward [b, ...] -> [W*b, ...] (rank order); backward: reduce-scatter of the incoming
    gradient (NCCL), or all_reduce + own slice (gloo has no reduce-scatter)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        t = t.contiguous()
        w = td.get_world_size()
        out = torch.empty((w * t.shape[0], *t.shape[1:]), dtype=t.dtype, device=t.device)
        if td.get_backend() == "nccl":
            td.all_gather_into_tensor(out, t)
        else:
            td.all_gather(list(out.chunk(w)), t)
        return out

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        g = g.contiguous()
        w, r = td.get_world_size(), td.get_rank()
        if td.get_backend() == "nccl":
            gx = torch.empty((g.shape[0] // w, *g.shape[1:]), dtype=g.dtype, device=g.device)
            td.reduce_scatter_tensor(gx, g)
            return gx
        g = g.clone()
        td.all_reduce(g)  # SUM
        return g.chunk(w)[r].contiguous()


def gather_with_grad(t: torch.Tensor) -> torch.Tensor:
    """Concatenates `t` from all ranks along dim 0, rank order; every rank must pass the same
    shape. The backward pass sums the incoming gradients of all ranks into each rank's slice,
    which is what makes a local-mean loss under DDP's gradient averaging equal the
    global-batch gradient (see losses.info_nce)."""
    if world_size() == 1:
        return t
    return _GatherWithGrad.apply(t)


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


def resolve_device(name: str) -> torch.device:
    """The device of this process for a train.device value (auto: CUDA when there is one); under
    torchrun with CUDA, this rank's own GPU. The training and the evaluation process use it."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"train.device: {name!r} requested but CUDA is not available on this worker")
    if name.startswith("cuda") and world_size() > 1:
        # one GPU per rank: torchrun's LOCAL_RANK picks it (a cuda:N index does not apply)
        return torch.device("cuda", local_rank())
    return torch.device(name)


def backend_for(device: str) -> str:
    """The process-group backend for a train.device value: nccl when the run trains on CUDA,
    gloo on the CPU (also on a machine that has GPUs)."""
    return "nccl" if device != "cpu" and torch.cuda.is_available() else "gloo"


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
    if "SLURM_STEP_ID" in os.environ:
        # Under srun, across nodes: which rank runs where, one line per rank in the worker's log.
        import socket
        import sys

        print(f"projhead: rank {td.get_rank()} of {td.get_world_size()} on {socket.gethostname()} "
              f"(node rank {os.environ.get('GROUP_RANK', '?')}, local rank {local_rank()}, "
              f"master {os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')})", file=sys.stderr, flush=True)
    global _CONTROL
    if backend == "nccl":
        _CONTROL = td.new_group(backend="gloo")  # collective: every rank creates it
    return True


def cleanup() -> None:
    global _CONTROL
    if is_dist():
        td.destroy_process_group()
    _CONTROL = None


def barrier() -> None:
    """Waits for every rank (a CPU-side gloo barrier, so no CUDA stream is synchronised)."""
    if not is_dist():
        return
    td.barrier(group=_CONTROL)


def max_over_ranks(value: int) -> int:
    """The largest of every rank's `value` (a CPU all_reduce on the control group). The training
    loop uses it to agree on stopping: all ranks must leave the step loop at the same step, or
    the ones that go on wait forever in the next collective."""
    if world_size() == 1:
        return int(value)
    t = torch.tensor([int(value)], dtype=torch.int64)
    td.all_reduce(t, op=td.ReduceOp.MAX, group=_CONTROL)
    return int(t.item())
