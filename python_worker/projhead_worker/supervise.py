"""Supervision of the processes the worker starts (training processes, torchrun, evaluations),
the OS side of a run's life: the environment they get (no secrets, torchrun's signal
forwarding, one GPU set per run), signals to whole process trees, and the small protocol
constants shared with trainproc.py. No gRPC and no torch here.
"""
from __future__ import annotations

import os
import signal
import subprocess

# What the worker sends its training processes when it shuts down: checkpoint and end
# `interrupted` (worker_signal). SIGTERM/SIGINT reaching a training process directly say `signal`.
INTERRUPT_SIGNAL = signal.SIGUSR2
# A final event a training process could not write (disk full, read-only folder) goes to its
# stderr as this prefix and JSON {cause, message, unwritten}; the worker reads it from there.
UNWRITTEN = "projhead-unwritten-event: "


# torchrun starts every rank in a session of its own, so a signal to torchrun's process group
# does not reach them. torchrun forwards SIGTERM/SIGINT to the ranks by itself; SIGUSR1 (cancel)
# and SIGUSR2 (worker shutdown) would kill it (default action) unless it is told to forward them. It waits this long for
# the ranks (they agree on the step, rank 0 checkpoints) before it SIGKILLs them.
# PET_* are torchrun's flags as environment variables; TORCHELASTIC_SIGNALS_TO_HANDLE is what
# older torchruns read directly.
TORCHRUN_ENV = {
    "PET_SIGNALS_TO_HANDLE": "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1,SIGUSR2",
    "TORCHELASTIC_SIGNALS_TO_HANDLE": "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1,SIGUSR2",
    "TORCH_ELASTIC_SHUTDOWN_TIMEOUT": "60",
    "PET_SHUTDOWN_TIMEOUT": "60",
}


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Signals the training process's group and, for SIGKILL, every descendant too: torchrun's
    ranks live in sessions of their own and would outlive a killed torchrun otherwise (they are
    listed before torchrun dies, since they are re-parented afterwards)."""
    descendants = process_tree(proc.pid) if sig == signal.SIGKILL else []
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    for pid in descendants:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def process_tree(pid: int) -> list[int]:
    """Every descendant of pid, from /proc (Linux; elsewhere none are found)."""
    children: dict[int, list[int]] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []
    for e in entries:
        try:
            with open(f"/proc/{e}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # fields after the command name in parentheses (which may contain spaces): state ppid ...
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(e))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


# The worker's secrets: never handed to the processes it starts (they run the client's spec).
SECRET_ENV = ("PROJHEAD_TOKEN",)


def child_env() -> dict[str, str]:
    """This process's environment without the worker's secrets."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_ENV}


def visible_gpus() -> list[str]:
    """The GPUs this worker may use, as CUDA_VISIBLE_DEVICES names them: its own
    CUDA_VISIBLE_DEVICES when set, else every GPU the NVIDIA driver lists (no torch import)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and not d.strip().startswith("-")]
    try:
        return [str(i) for i in range(len(os.listdir("/proc/driver/nvidia/gpus")))]
    except OSError:
        return []


def cuda_device_count() -> int:
    return len(visible_gpus())


def assign_devices(nproc: int, busy: set[int], count: int) -> list[int] | None:
    """Device indices for a run of nproc processes: free ones only, one per process; None
    when not enough are free (the run waits)."""
    free = [i for i in range(count) if i not in busy]
    return free[:nproc] if len(free) >= nproc else None
