"""Supervision of the processes the worker starts (training processes, torchrun, evaluations),
the OS side of a run's life: how a training process is launched (alone, under torchrun or srun)
and the environment it gets (no secrets, torchrun's signal forwarding, one GPU set per run, the
run's lock handed down), the threads that read its stderr and follow its event log, the words
for how it exited, and signals to whole process trees (the constants it shares with a training
process are in common/childproc.py). jobs.py decides what a run's process means for the run; no gRPC and no torch here.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from ..common import runlock
from ..common.childproc import INTERRUPT_SIGNAL, UNWRITTEN, WORKER_PID_ENV
from ..common.storage import describe as storage_describe
from . import slurm_launch

# How often the event log of a running process is read for new lines.
POLL_SECONDS = 0.05
READ_BYTES = 1 << 20


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


def nodes_available() -> tuple[int, str]:
    """How many nodes one run may train on here (train.nnodes), and what to say to a run that
    asks for more: the nodes of the worker's SLURM job, else 1."""
    if slurm_launch.enabled():
        try:
            n = int(os.environ.get("SLURM_JOB_NUM_NODES") or os.environ.get("SLURM_NNODES") or 1)
        except ValueError:
            n = 1
        return n, f"this worker's SLURM job has {n} node{'s' if n != 1 else ''}"
    return 1, "expected 1 on a worker outside a SLURM job (use the slurm runtime)"


class LaunchError(Exception):
    """A training process that could not be started; the message says why."""


def training_command(python: str, run_dir: Path, run_id: str, *, nproc: int, nnodes: int, resume: bool) -> list[str]:
    """The argv of a run's training: trainproc.py alone, under torchrun for several processes,
    or under srun across the nodes of a SLURM job (slurm_launch.py)."""
    args = ["-m", "projhead_worker.training.trainproc", "--run-dir", str(run_dir)] + (["--resume"] if resume else [])
    under_srun = slurm_launch.enabled()
    if nnodes > 1 and not under_srun:
        raise LaunchError(f"train.nnodes: got {nnodes}, expected 1 on a worker outside a SLURM job (use the slurm runtime)")
    if under_srun:
        return slurm_launch.command(python, nnodes, nproc, args, run_id)
    if nproc > 1:
        # torchrun owns rendezvous, per-rank environment and process supervision.
        return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]
    return [python, *args]


def training_env(lock_fd: int, *, nproc: int, gpus: list[int]) -> dict[str, str]:
    """The environment of a training process: the worker's without its secrets, the lock's
    descriptor, the worker's pid, torchrun's signal forwarding, and the run's own GPUs."""
    under_srun = slurm_launch.enabled()
    env = {**child_env(), "PYTHONUNBUFFERED": "1", WORKER_PID_ENV: str(os.getpid()), runlock.LOCK_FD_ENV: str(lock_fd)}
    # OpenMP threads that spin-wait lose whole time slices on a shared or busy CPU (3.9x
    # slower measured, docs/BENCHMARKS.md); passive waiting costs little on an idle one.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if nproc > 1 or under_srun:
        env.update(TORCHRUN_ENV)
    if under_srun:
        # Ranks on other nodes cannot see this pid; SLURM ends every step with the job.
        env.pop(WORKER_PID_ENV, None)
    if gpus:
        visible = visible_gpus()
        env["CUDA_VISIBLE_DEVICES"] = ",".join(visible[g] for g in gpus)
    return env


class TrainingProcess:
    """A run's training process (or its torchrun / srun) and the two threads that watch it:
    one reads its stderr (the last lines, for a failed event, and an end the process could not
    store, see UNWRITTEN), one follows its event log from `offset` until it exits."""

    def __init__(self, proc: subprocess.Popen, run_id: str, events_path: Path, offset: int,
                 log: Callable[[str], None]):
        self.proc = proc
        self.run_id = run_id
        self.events_path = events_path
        self.offset = offset
        self.log = log
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self.unwritten: dict[str, Any] | None = None
        # The signal the worker last sent to ask for an end (cancel, interrupt), if any.
        self.asked: signal.Signals | None = None
        self._stderr_thread: threading.Thread | None = None
        self._tail_thread: threading.Thread | None = None

    def watch(self, on_events: Callable[[list[dict[str, Any]]], None],
              on_exit: Callable[[int | None, Exception | None], None]) -> None:
        """Starts the threads: on_events gets every batch of new events, on_exit(returncode,
        error) is called once after the process exited. An error while following (the log
        unreadable, a line that is not JSON) kills the process: a run nobody follows must not
        go on unseen."""
        self._stderr_thread = threading.Thread(target=self._read_stderr, daemon=True, name=f"stderr-{self.run_id}")
        self._stderr_thread.start()
        self._tail_thread = threading.Thread(target=self._tail, args=(on_events, on_exit), daemon=True,
                                             name=f"tail-{self.run_id}")
        self._tail_thread.start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cancel(self) -> None:
        """Asks it to checkpoint and end `cancelled` (trainproc.py's SIGUSR1)."""
        self.asked = signal.SIGUSR1
        signal_group(self.proc, signal.SIGUSR1)

    def interrupt(self) -> None:
        """Asks it to checkpoint and end `interrupted` (worker_signal): the worker shuts down."""
        self.asked = INTERRUPT_SIGNAL
        signal_group(self.proc, INTERRUPT_SIGNAL)

    def kill(self) -> None:
        """Ends it and every process under it at once (torchrun's ranks included)."""
        signal_group(self.proc, signal.SIGKILL)

    def wait_or_kill(self, timeout: float) -> None:
        """Waits for the process to exit; SIGKILLs its tree after `timeout` seconds."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            signal_group(self.proc, signal.SIGKILL)

    def join_stderr(self, timeout: float) -> None:
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=timeout)

    def join(self, timeout: float) -> None:
        """Waits for the follower (and so for on_exit) to finish."""
        if self._tail_thread is not None:
            self._tail_thread.join(timeout=timeout)

    def _read_stderr(self) -> None:
        assert self.proc.stderr
        for line in stderr_lines(self.proc.stderr):
            if line.startswith(UNWRITTEN):
                try:
                    self.unwritten = json.loads(line[len(UNWRITTEN):])
                except ValueError:
                    pass
                continue
            self.stderr_tail.append(line)
            self.log(f"[{self.run_id}] {line}")

    def _tail(self, on_events, on_exit) -> None:
        error: Exception | None = None
        try:
            self._follow(on_events)
        except Exception as e:  # noqa: BLE001 - whatever it is, the run must end by name
            error = e
            signal_group(self.proc, signal.SIGKILL)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        on_exit(self.proc.returncode, error)

    def _follow(self, on_events) -> None:
        path, offset, buf = self.events_path, self.offset, b""
        while True:
            exited = self.proc.poll() is not None
            more = False
            if path.exists():
                with open(path, "rb") as f:
                    f.seek(offset)
                    # At most READ_BYTES at a time: a process that logs faster than the worker
                    # reads must not make it hold a whole backlog of events at once.
                    chunk = f.read(READ_BYTES)
                more = len(chunk) == READ_BYTES
                offset += len(chunk)
                buf += chunk
                *lines, buf = buf.split(b"\n")
                new = [json.loads(l) for l in lines if l.strip()]
                if new:
                    on_events(new)
            if exited and not more:
                return
            if not more:
                time.sleep(POLL_SECONDS)

    def exit_cause(self, code: int | None, error: Exception | None, *, killed_by_us: bool, closing: bool) -> tuple[str, str]:
        """(cause, message) of a process that exited without writing a final event: cause is
        a RunFailed cause, or "cancelled" / "interrupted" when the worker itself stopped it.
        `error`: what stopped the follower, if anything."""
        if error is not None:
            if isinstance(error, OSError):
                return "io", f"the worker could not follow the run: {storage_describe(error, self.events_path)}"
            return "internal", f"the worker could not follow the run: {type(error).__name__}: {error}"
        unwritten = self.unwritten
        if unwritten:
            # The process named its end but could not store it (see UNWRITTEN).
            cause = str(unwritten.get("cause") or "io")
            msg = str(unwritten.get("message") or "")
            if unwritten.get("unwritten") and cause != "io":
                msg += f" (not stored: {unwritten['unwritten']})"
            return cause, msg
        asked = self.asked
        if asked is not None and code in (-asked, 128 + asked):
            # The signal that asked for the end ended the process itself: it came before the
            # process had its handler (still starting: importing torch, or torchrun not yet
            # forwarding). srun and shells report a task a signal ended as 128 + N. It ends as
            # asked, without a checkpoint of this start.
            return ("cancelled" if asked == signal.SIGUSR1 else "interrupted",
                    f"training process ended on {asked.name} while it was still starting")
        if code is not None and code < 0:
            sig = signal.Signals(-code).name
            if killed_by_us:
                return "cancelled", f"training process stopped with {sig} on request"
            if closing:
                return "interrupted", f"training process did not stop in time as the worker shut down; killed with {sig}"
            if sig == "SIGKILL":
                return "crash", "training process was killed by SIGKILL (out of memory?)"
            return "crash", f"training process died of {sig}"
        msg = f"training process exited with code {code} without a result"
        if self.stderr_tail:
            msg += f": {self.stderr_tail[-1]}"
        return "crash", msg


def start_training(python: str, run_dir: Path, run_id: str, *, nproc: int, nnodes: int, resume: bool, gpus: list[int],
                   events_path: Path, log: Callable[[str], None]) -> TrainingProcess:
    """Starts a run's training process, not yet watched (TrainingProcess.watch). The run is
    locked before its process exists and the lock is handed down to it: the kernel releases it
    only when that process is gone (whatever becomes of this worker), so a restarted worker
    never resumes a run whose old process still writes to it."""
    cmd = training_command(python, run_dir, run_id, nproc=nproc, nnodes=nnodes, resume=resume)
    lock_fd = runlock.try_take(run_dir)
    if lock_fd is None:
        raise LaunchError(f"run {run_id!r} is being trained by another process")
    try:
        env = training_env(lock_fd, nproc=nproc, gpus=gpus)
        # Where following starts is fixed before the process exists: it may write at once.
        offset = events_path.stat().st_size if events_path.exists() else 0
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env, start_new_session=True,  # its own process group (torchrun's ranks get their own: signal_group)
            pass_fds=(lock_fd,),
        )
        runlock.write_pid(lock_fd, proc.pid)
    finally:
        os.close(lock_fd)  # the child's copy keeps the lock
    return TrainingProcess(proc, run_id, events_path, offset, log)


class EvaluationProcess:
    """The process of one Evaluate call (python -m projhead_worker.training.evaluation.job, in a session
    of its own): its results are JSON lines on stdout; its stderr is logged and its last lines
    kept. kill() ends it, at once, whatever it is doing (the client went away)."""

    def __init__(self, request: dict[str, Any], run_id: str, python: str = sys.executable):
        self.proc = subprocess.Popen([python, "-m", "projhead_worker.training.evaluation.job", json.dumps(request)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**child_env(), "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        threading.Thread(target=self._drain, args=(run_id,), daemon=True, name=f"evaluate-{run_id}").start()

    def records(self) -> Iterator[dict[str, Any]]:
        assert self.proc.stdout
        for raw in self.proc.stdout:
            yield json.loads(raw)

    def wait(self) -> int:
        return self.proc.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            signal_group(self.proc, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.stdout:
            self.proc.stdout.close()  # its descriptor now, not when the object is collected

    def _drain(self, run_id: str) -> None:
        assert self.proc.stderr
        for line in stderr_lines(self.proc.stderr):
            self.stderr_tail.append(line)
            print(f"[evaluate {run_id}] {line}", file=sys.stderr, flush=True)


def stderr_lines(stream: IO[bytes]) -> Iterator[str]:
    """The non-empty lines a child writes to its stderr pipe, until it closes or breaks; then
    the pipe is closed (the worker keeps a run's process object for good, not its descriptor)."""
    try:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                yield line
    except (OSError, ValueError):
        pass  # the pipe broke: nothing more to read
    finally:
        stream.close()
