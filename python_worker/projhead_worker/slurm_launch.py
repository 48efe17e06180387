"""How a worker inside a SLURM job starts a run's training: `srun` one task per node of the
allocation, each a `torchrun` that meets the others at a c10d rendezvous on this (the batch)
node. The slurm runtime's job script sets PROJHEAD_LAUNCH=srun; elsewhere runs start as before.

srun passes the signals the worker sends (SIGTERM, SIGUSR1, SIGUSR2) on to its tasks, and
torchrun on to the ranks (TORCHRUN_ENV in supervise.py), so cancel and shutdown work unchanged.
"""
from __future__ import annotations

import os
import socket


def enabled() -> bool:
    return os.environ.get("PROJHEAD_LAUNCH") == "srun" and "SLURM_JOB_ID" in os.environ


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def command(python: str, nnodes: int, nproc: int, trainproc_args: list[str], run_id: str) -> list[str]:
    """The argv that trains one run over `nnodes` nodes with `nproc` processes on each."""
    endpoint = f"{socket.gethostname()}:{_free_port()}"
    return [
        "srun", f"--nodes={nnodes}", f"--ntasks={nnodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
        "--overlap",  # the step shares the CPUs the worker's batch step holds
        python, "-m", "torch.distributed.run", f"--nnodes={nnodes}", f"--nproc-per-node={nproc}",
        "--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}", f"--rdzv-id={run_id}-{os.getpid()}",
        *trainproc_args,
    ]
