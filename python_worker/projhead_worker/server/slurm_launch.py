"""How a worker inside a SLURM job starts a run's training: `srun` one task per node of the
allocation, each a `torchrun` that meets the others at a c10d rendezvous on this (the batch)
node. The slurm runtime's job script sets PROJHEAD_LAUNCH=srun; elsewhere runs start as before.

srun passes the signals the worker sends (SIGTERM, SIGUSR1, SIGUSR2) on to its tasks, and
torchrun on to the ranks (TORCHRUN_ENV in supervise.py), so cancel and shutdown work unchanged.

The rendezvous endpoint is the worker's own address and a free port there: PROJHEAD_RDZV_HOST,
which the job script sets to the address the worker binds (the node's first non-loopback
address, or PROJHEAD_BIND_HOST), so the other nodes reach it on the network the orchestrator
uses too; this node's hostname when unset. c10d then gives node ranks in the sorted order of
the nodes' host names, and each node's ranks are consecutive (node rank x nproc + local rank);
MASTER_ADDR is rank 0's host name. So every node's host name must resolve, on every node, to an
address the others reach (as on most clusters; gloo binds to that address as well).
"""
from __future__ import annotations

import os
import socket
import sys


def enabled() -> bool:
    return os.environ.get("PROJHEAD_LAUNCH") == "srun" and "SLURM_JOB_ID" in os.environ


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def command(python: str, nnodes: int, nproc: int, trainproc_args: list[str], run_id: str) -> list[str]:
    """The argv that trains one run over `nnodes` nodes with `nproc` processes on each."""
    endpoint = f"{os.environ.get('PROJHEAD_RDZV_HOST') or socket.gethostname()}:{_free_port()}"
    print(f"projhead worker: run {run_id} trains on {nnodes} node(s) x {nproc} process(es), c10d rendezvous at {endpoint}",
          file=sys.stderr, flush=True)
    return [
        "srun", f"--nodes={nnodes}", f"--ntasks={nnodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
        "--overlap",  # the step shares the CPUs the worker's batch step holds
        python, "-m", "torch.distributed.run", f"--nnodes={nnodes}", f"--nproc-per-node={nproc}",
        "--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}", f"--rdzv-id={run_id}-{os.getpid()}",
        *trainproc_args,
    ]
