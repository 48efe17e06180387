"""The worker's own SLURM job. The slurm runtime submits jobs with `--requeue` and
`--signal=B:USR1@N`: N seconds before the time limit SLURM sends SIGUSR1 to the batch shell,
which is the worker (the job script `exec`s it). The worker then checkpoints its runs, stops
serving and requeues its own job, so the job comes back under the same id (SLURM_RESTART_COUNT
one higher) whether or not an orchestrator is watching, as PyTorch Lightning's and submitit's
SLURM support do. SIGTERM (scancel, preemption) checkpoints and exits without a requeue:
a preempted job is requeued by SLURM itself, a cancelled one is meant to end.
"""
from __future__ import annotations

import os
import subprocess
import sys


def requeue_own_job(timeout_s: float = 30.0) -> bool:
    """Requeues the job this process runs in; False (and a line on stderr) when not in a job or
    when scontrol refuses. Called last, after the runs have checkpointed: the requeue ends the
    job's processes."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        print("projhead worker: SIGUSR1 outside a SLURM job: stopping without a requeue", file=sys.stderr, flush=True)
        return False
    try:
        r = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"projhead worker: scontrol requeue {job} failed: {e}", file=sys.stderr, flush=True)
        return False
    if r.returncode != 0:
        print(f"projhead worker: scontrol requeue {job} refused: {(r.stderr or r.stdout).strip()}", file=sys.stderr, flush=True)
        return False
    print(f"projhead worker: job {job} requeued before its time limit", file=sys.stderr, flush=True)
    return True
