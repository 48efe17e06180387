"""The worker's own SLURM job. The slurm runtime submits jobs with `--requeue` and
`--signal=B:USR1@N`: N seconds before the time limit SLURM sends SIGUSR1 to the batch shell,
which is the worker (the job script `exec`s it). The worker then checkpoints its runs, stops
serving and requeues its own job, so the job comes back under the same id (SLURM_RESTART_COUNT
one higher) whether or not an orchestrator is watching, as PyTorch Lightning's and submitit's
SLURM support do. SIGTERM (scancel, preemption) checkpoints and exits without a requeue:
a preempted job is requeued by SLURM itself, a cancelled one is meant to end.

A worker that stopped no run does not requeue its job: a job whose orchestrator went away (and
so stopped giving it runs) then ends at its next time limit instead of coming back forever.
"""
from __future__ import annotations

import os
import subprocess
import sys


def after_time_limit_warning(runs_stopped: int) -> bool:
    """Requeues this job when the warning stopped runs; True when it was requeued."""
    if runs_stopped == 0:
        print("projhead worker: time-limit warning with no run training: job not requeued", file=sys.stderr, flush=True)
        return False
    return requeue_own_job()


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
