"""Run lifecycle on the worker: start (idempotent), resume, cancel, list, and the event stream
that clients re-attach to. Each run trains in its own process (trainproc.py, or torchrun for
several processes), which supervise.py starts, signals and follows; this module queues the runs,
gives them devices, keeps their events in memory for watchers, stores the events the worker
writes itself, and turns a process that died without saying why into a named end event.

No gRPC here: server/service.py translates. Errors are raised as JobError(code, message) with a code
from errors.STATUSES, which server/service.py maps to gRPC status codes in one place.

Over 450 lines on purpose: one class, JobManager, whose methods share one lock and the state it
guards (the jobs, the queue, the device reservations); split across modules, the rule "touch
that state only under the lock" would have no one place to be read. What does not need the lock
lives elsewhere: the processes (supervise.py), where a resume continues (resume.py), the event
log (eventlog.py), the run lock (runlock.py).
"""
from __future__ import annotations

import collections
import errno
import itertools
import json
import os
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..common import eventlog, memory, runlock
from ..common.atomic import atomic_write_text
from ..common.config import RULES, RUN_ID_RE, RunConfig, SpecError
from ..common.echo import echo
from ..common.errors import JobError
from ..common.eventlog import EVENTS_FILE, SPEC_FILE
from ..common.storage import StorageHealth, is_disk_full
from ..common.storage import describe as storage_describe
from . import supervise
from .resume import resume_point, wait_for_training_lock
from .supervise import TrainingProcess, assign_devices, cuda_device_count, start_training

TERMINAL = {"finished", "failed", "cancelled", "interrupted"}
# Events of a run kept in memory (the newest); WatchRun reads older ones from the run's event log
# on disk, so a run of any length (logEverySteps 1 for weeks) costs the worker bounded memory:
# ~1.3 KB an event, ~3 MB a run at most.
EVENT_TAIL = 2048
# How long one StartRun may wait for the run to be free (another StartRun of it, a training
# process of it that outlived its worker).
ADMISSION_SECONDS = 60.0
STATE_OF_TERMINAL = {"finished": "finished", "failed": "failed", "cancelled": "cancelled", "interrupted": "interrupted"}


@dataclass
class Job:
    run_id: str
    run_dir: Path
    spec: dict[str, Any]
    state: str = "pending"  # pending, running, finished, failed, cancelled, interrupted
    created_at: float = field(default_factory=time.time)
    events: collections.deque[dict[str, Any]] = field(default_factory=collections.deque)  # the newest EVENT_TAIL
    error: str = ""
    process: TrainingProcess | None = None  # while it runs here, and after
    cancel_requested: bool = False
    killed_by_us: bool = False
    resume: bool = False
    resumed_from: int = 0  # seq the current (resumed) incarnation continues after
    unsaved: list[dict[str, Any]] = field(default_factory=list)  # events the worker could not store yet
    gpus: list[int] = field(default_factory=list)  # indices into the worker's GPUs, one per process
    cond: threading.Condition = field(default_factory=threading.Condition)
    last_seq: int = 0
    step: int = 0  # of the newest step or epoch event
    epoch: int = 0

    def __post_init__(self) -> None:
        given, self.events = self.events, collections.deque(maxlen=EVENT_TAIL)
        self.absorb(given)

    def absorb(self, events) -> None:
        """Takes published events into the tail, the last seq and the progress."""
        for e in events:
            self.events.append(e)
            self.last_seq = int(e["seq"])
            if e["type"] in ("step", "epoch"):
                self.step, self.epoch = int(e.get("step", 0)), int(e.get("epoch", 0))

    @property
    def first_seq(self) -> int:
        """The oldest seq in memory (last_seq + 1 when none is)."""
        return int(self.events[0]["seq"]) if self.events else self.last_seq + 1

    @property
    def proc(self):
        """The training process's Popen (None before it started here)."""
        return self.process.proc if self.process else None

    @property
    def active(self) -> bool:
        return self.state in ("pending", "running")

    @property
    def process_alive(self) -> bool:
        """Its training process still exists: it may have written its final event (the run's
        state is terminal) and still hold its device while it exits."""
        return self.process is not None and self.process.alive()

    def status(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "state": self.state,
            "last_seq": self.last_seq,
            "epoch": self.epoch,
            "step": self.step,
            "method": self.spec.get("method", {}).get("name", ""),
            "dataset": self.spec.get("data", {}).get("name", ""),
            "error": self.error,
            "created_at": self.created_at,
        }


class JobManager:
    def __init__(self, run_root: Path, max_running: int = 1, python: str = sys.executable,
                 log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
                 max_memory: int | None = None, gpu_count: Callable[[], int] | None = None):
        self.run_root = Path(run_root).resolve()
        self.run_root.mkdir(parents=True, exist_ok=True)
        self.max_running = max_running
        self.max_memory = max_memory or memory.default_budget()
        self._gpu_count = gpu_count or cuda_device_count
        self.python = python
        self.log = log
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._closing = False
        # One StartRun at a time per run id, from its checks to its answer (see start()).
        self._admitting: dict[str, tuple[threading.Lock, int]] = {}
        self.storage = StorageHealth(self.run_root, retry=self._flush_unsaved, log=log)
        self._load_existing()
        self.storage.start()

    # -- queries -------------------------------------------------------------------------------

    def get(self, run_id: str) -> Job:
        self._check_id(run_id)
        with self._lock:
            job = self._jobs.get(run_id)
        if job is None:
            raise JobError("not_found", f"run_id: no run {run_id!r} on this worker (run root {self.run_root})")
        return job

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)
        return [j.status() for j in jobs]

    def run_dir(self, run_id: str) -> Path:
        return self.get(run_id).run_dir

    # -- start / resume ------------------------------------------------------------------------

    def start(self, spec: dict[str, Any], resume: bool) -> tuple[dict[str, Any], bool, int]:
        """Returns (status, created, resumed_from_seq)."""
        if not isinstance(spec, dict) or not spec.get("run_id"):
            raise JobError("invalid_argument", "spec.run_id: got '', expected 1-128 characters of A-Z a-z 0-9 . _ - (required)")
        try:
            cfg = RunConfig.from_dict(spec)
        except SpecError as e:
            raise JobError("invalid_argument", f"spec.{e}") from None
        resolved = cfg.to_dict()
        self._check_not_linked(self.run_root / cfg.run_id)
        self.check_fits(cfg)
        # Requests for one run id are admitted one at a time: a resume's look at the run and its
        # wait for the run's train.lock belong together (else a request that looked before the
        # first resume started the process waits for that very process, 60 s, and fails). The
        # others for this id wait here until the first has answered, then see the run going.
        # Runs with other ids are not held up: the manager's lock is not taken while waiting.
        # Each request waits at most ADMISSION_SECONDS in all (for the one before it, then for
        # the run's train.lock), so none holds a server thread for longer.
        deadline = time.monotonic() + ADMISSION_SECONDS
        with self._admission(cfg.run_id, deadline):
            return self._start_admitted(cfg, resolved, resume, deadline)

    @contextmanager
    def _admission(self, run_id: str, deadline: float):
        with self._lock:
            lock, users = self._admitting.get(run_id, (threading.Lock(), 0))
            self._admitting[run_id] = (lock, users + 1)
        try:
            if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise JobError("failed_precondition", f"run_id: another StartRun of run {run_id!r} is still waiting for the run "
                                                      f"(its training lock); retry later")
            try:
                yield
            finally:
                lock.release()
        finally:
            with self._lock:
                lock, users = self._admitting[run_id]
                if users == 1:
                    del self._admitting[run_id]  # bounded by the requests in flight
                else:
                    self._admitting[run_id] = (lock, users - 1)

    def _start_admitted(self, cfg: RunConfig, resolved: dict[str, Any], resume: bool,
                        deadline: float) -> tuple[dict[str, Any], bool, int]:
        if resume:
            self._wait_until_untrained(cfg.run_id, deadline)
        with self._lock:
            if self._closing:
                raise JobError("failed_precondition", "the worker is shutting down")
            job = self._jobs.get(cfg.run_id)
            if job is None and resume and (self.run_root / cfg.run_id / SPEC_FILE).is_file():
                job = self._load_one(self.run_root / cfg.run_id)  # stored by another worker on this run root
            if job is not None and job.active:
                self._check_same_spec_running(job, resolved)
                # A retried resume (its first answer was lost) learns where the run continues.
                return job.status(), False, job.resumed_from if resume else 0
            if job is not None and not resume:
                raise JobError(
                    "already_exists",
                    f"run_id: run {cfg.run_id!r} already exists ({job.state}); resume it or choose another id",
                )
            run_dir = self.run_root / cfg.run_id
            self._check_not_linked(run_dir)
            if resume:
                if job is None:
                    raise JobError("not_found", f"run_id: no run {cfg.run_id!r} to resume in {self.run_root}")
                if _without(job.spec, "train.epochs") != _without(resolved, "train.epochs"):
                    raise JobError("failed_precondition",
                                   f"spec: differs from the stored spec of run {cfg.run_id!r} (only train.epochs may change on resume)")
                if job.state == "finished" and resolved["train"]["epochs"] <= job.spec["train"]["epochs"]:
                    return job.status(), False, 0
                job = self._resumed(job, resolved, run_dir)
            else:
                job = self._created(cfg.run_id, resolved, run_dir)
            self._jobs[cfg.run_id] = job
            self._queue.append(cfg.run_id)
            self._pump()
            return job.status(), True, job.resumed_from

    def _wait_until_untrained(self, run_id: str, deadline: float) -> None:
        """Before a resume touches anything of the run: a training process of it that outlived
        its worker (it checkpoints and stops when it notices), or this worker's own one that is
        still exiting, must be gone. Waited for outside the manager's lock: it may take seconds."""
        with self._lock:
            current = self._jobs.get(run_id)
            ours = current is not None and current.active
        if not ours:
            own = current.proc.pid if current is not None and current.proc is not None else None
            wait_for_training_lock(self.run_root / run_id, timeout=max(0.0, deadline - time.monotonic()), own_pid=own)

    @staticmethod
    def _check_same_spec_running(job: Job, resolved: dict[str, Any]) -> None:
        """A StartRun of a run in progress is answered with it only for the spec it runs."""
        if _without(job.spec, "train.epochs") != _without(resolved, "train.epochs"):
            raise JobError("already_exists", f"run_id: run {job.run_id!r} is running with a different spec")
        if job.spec["train"]["epochs"] != resolved["train"]["epochs"]:
            # Not silently ignored: the running process keeps the epochs it started with.
            raise JobError("already_exists",
                           f"train.epochs: run {job.run_id!r} is {job.state} with train.epochs {job.spec['train']['epochs']}, "
                           f"not {resolved['train']['epochs']}; change it with a resume once the run has stopped")

    def _resumed(self, job: Job, resolved: dict[str, Any], run_dir: Path) -> Job:
        """The job of a resume: the event log cut back to the checkpoint it continues from and
        the (possibly new) spec stored. Without a checkpoint (it stopped before its first one)
        the run starts over: resumed_from 0 tells the client to drop every event it stored."""
        from ..training import checkpoint  # torch import deferred: the server starts fast

        try:
            checkpoint.clean_temporaries(run_dir)
            ckpt = checkpoint.latest(run_dir)
            keep = resume_point(run_dir, ckpt, resolved["model"]) if ckpt else 0
            resumed_from = eventlog.repair(run_dir / EVENTS_FILE, keep_upto_seq=keep)
            atomic_write_text(run_dir / SPEC_FILE, json.dumps(resolved, indent=1))
        except OSError as e:
            raise self._io_error(job.run_id, e, run_dir) from None
        return Job(job.run_id, run_dir, resolved, created_at=job.created_at, resume=ckpt is not None,
                   resumed_from=resumed_from, events=eventlog.read_tail(run_dir / EVENTS_FILE, EVENT_TAIL))

    def _created(self, run_id: str, resolved: dict[str, Any], run_dir: Path) -> Job:
        """The job of a new run. No job, so no worker-spec.json here: a folder left by a client
        or by a start that died before writing the spec; its stale worker log must not number
        events."""
        created_dir = not run_dir.exists()
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / EVENTS_FILE).unlink(missing_ok=True)
            atomic_write_text(run_dir / SPEC_FILE, json.dumps(resolved, indent=1))
        except OSError as e:
            if created_dir:
                shutil.rmtree(run_dir, ignore_errors=True)  # nothing half-made stays
            raise self._io_error(run_id, e, run_dir) from None
        return Job(run_id, run_dir, resolved)

    def check_fits(self, cfg: RunConfig) -> None:
        """Refuses a spec this worker cannot hold: more processes than devices, or more memory
        than its budget (serve --max-memory), before anything is allocated or written."""
        nproc = cfg.train.nproc
        gpus = self.gpu_count() if cfg.train.device != "cpu" else 0
        if cfg.train.device.startswith("cuda") and not gpus:
            raise JobError("failed_precondition", f"train.device: got {cfg.train.device!r}, this worker has no CUDA device")
        index = _explicit_gpu(cfg.train.device)
        if index is not None and index >= gpus:
            raise JobError("failed_precondition",
                           f"train.device: got {cfg.train.device!r}, this worker has {gpus} CUDA devices (cuda:0 to cuda:{gpus - 1})")
        nodes, where = supervise.nodes_available()
        if cfg.train.nnodes > nodes:
            raise JobError("failed_precondition", f"train.nnodes: got {cfg.train.nnodes}, {where}")
        devices, what = (gpus, "CUDA devices") if gpus else (os.cpu_count() or 1, "CPU cores")
        if nproc > devices:
            raise JobError("resource_exhausted", f"train.nproc: got {nproc}, this worker has {devices} {what}")
        est = memory.estimate_run(cfg)
        if est.total > self.max_memory:
            raise JobError("resource_exhausted",
                           f"spec: needs about {memory.gib(est.total)} of memory, this worker allows {memory.gib(self.max_memory)} "
                           f"(serve --max-memory): {est.words()}")

    def gpu_count(self) -> int:
        return self._gpu_count()

    def _io_error(self, run_id: str, e: OSError, path: Path) -> JobError:
        """A write of the worker's own state failed during a request: the storage is reported
        unwritable and the caller learns which path and why."""
        self.storage.report(e, path)
        return JobError("resource_exhausted" if is_disk_full(e) else "failed_precondition",
                        f"run {run_id!r}: cannot write the run folder: {storage_describe(e, path)}")

    def _pump(self) -> None:
        """Starts queued runs while fewer than max_running are running. Holds self._lock."""
        if self._closing:
            return  # queued runs stay queued: a later worker starts them
        # Live training processes, not states: a run whose final event is out may still be
        # exiting, holding its device and its memory; _on_exit pumps again once it is gone.
        live = [j for j in self._jobs.values() if j.state == "running" or j.process_alive]
        running = len(live)
        while self._queue and running < self.max_running:
            job = self._jobs[self._queue[0]]
            if job.state != "pending":
                self._queue.popleft()
                continue
            device = str(job.spec["train"].get("device", "auto"))
            count = self.gpu_count() if device == "auto" or device.startswith("cuda") else 0
            if count:
                # One GPU per process of every live run, explicit cuda:N ones included: the
                # next run waits for free ones (a run naming a busy GPU waits for that GPU,
                # first come first served).
                busy = {g for j in live for g in j.gpus}
                index = _explicit_gpu(device)
                if index is not None:
                    gpus = None if index in busy else [index]
                else:
                    gpus = assign_devices(int(job.spec["train"].get("nproc", 1)), busy, count)
                if gpus is None:
                    return
                job.gpus = gpus
            self._queue.popleft()
            try:
                self._launch(job)
            except Exception as e:  # noqa: BLE001 - a run that cannot start fails by name, the others go on
                cause = "io" if isinstance(e, OSError) else "internal"
                why = storage_describe(e) if isinstance(e, OSError) else str(e)
                event = {"seq": job.last_seq + 1, "time": time.time(), "type": "failed", "cause": cause,
                         "message": f"could not start the training process: {why}", "stderr_tail": [], "last_checkpoint": ""}
                self._persist(job, event)
                self._publish(job, [event])
                continue
            running += 1
            live.append(job)

    def _launch(self, job: Job) -> None:
        train = job.spec["train"]
        # An explicit cuda:N keeps the worker's GPUs visible (N indexes them); its GPU is only reserved.
        gpus = [] if _explicit_gpu(str(train.get("device", ""))) is not None else job.gpus
        job.process = start_training(self.python, job.run_dir, job.run_id, nproc=int(train.get("nproc", 1)),
                                     nnodes=int(train.get("nnodes", 1) or 1), resume=job.resume, gpus=gpus,
                                     events_path=job.run_dir / EVENTS_FILE, log=self.log)
        job.state = "running"
        job.process.watch(on_events=lambda events: self._publish(job, events),
                          on_exit=lambda code, error: self._on_exit(job, code, error))

    def _publish(self, job: Job, events: list[dict[str, Any]]) -> None:
        with job.cond:
            job.absorb(events)
            for e in events:
                if e["type"] in TERMINAL:
                    job.state = STATE_OF_TERMINAL[e["type"]]
                    job.error = _error_of(e)
            job.cond.notify_all()

    def _persist(self, job: Job, event: dict[str, Any]) -> None:
        """Appends an event the worker writes itself; when that fails (disk full, read-only or
        immutable folder) it is kept in memory, the worker reports its storage unwritable, and
        the storage thread writes it once it can. Never raises: the run ends either way."""
        path = job.run_dir / EVENTS_FILE
        try:
            if job.unsaved:
                raise OSError(errno.EAGAIN, "earlier events of this run are not stored yet", str(path))
            eventlog.append(path, event)
        except OSError as e:
            job.unsaved.append(event)
            self.storage.report(e, path)

    def _flush_unsaved(self) -> str:
        """Writes the events _persist could not; "" when nothing is left, else what still fails."""
        with self._lock:
            pending = [j for j in self._jobs.values() if j.unsaved]
        for job in pending:
            path = job.run_dir / EVENTS_FILE
            with job.cond:
                try:
                    on_disk = eventlog.repair(path) if path.exists() else 0
                    for e in list(job.unsaved):
                        if int(e["seq"]) == on_disk + 1:
                            eventlog.append(path, e)
                            on_disk += 1
                        job.unsaved.remove(e)
                except (OSError, ValueError) as e:
                    return storage_describe(e, path)
        return ""

    def _end_event(self, job: Job, code: int | None, error: Exception | None) -> dict[str, Any]:
        """The terminal event for a training process that exited without writing one."""
        assert job.process is not None
        cause, msg = job.process.exit_cause(code, error, killed_by_us=job.killed_by_us, closing=self._closing)
        ckpt_rel = "checkpoints/last.pt" if (job.run_dir / "checkpoints" / "last.pt").is_file() else ""
        seq, now, step = job.last_seq + 1, time.time(), job.status()["step"]
        if cause == "cancelled":
            return {"seq": seq, "time": now, "type": "cancelled", "step": step, "checkpoint": ckpt_rel}
        if cause == "interrupted":
            return {"seq": seq, "time": now, "type": "interrupted", "reason": "worker_signal", "message": msg,
                    "step": step, "checkpoint": ckpt_rel}
        return {"seq": seq, "time": now, "type": "failed", "cause": cause, "message": msg,
                "stderr_tail": list(job.process.stderr_tail)[-20:], "last_checkpoint": ckpt_rel}

    def _on_exit(self, job: Job, code: int | None, error: Exception | None = None) -> None:
        try:
            if job.process is not None:
                job.process.join_stderr(timeout=2.0)  # its last lines may name the end
            if not job.events or job.events[-1]["type"] not in TERMINAL:
                path = job.run_dir / EVENTS_FILE
                try:
                    if path.exists():
                        eventlog.repair(path)  # a torn last line goes before the closing event
                except (OSError, ValueError):
                    pass  # _persist finds out and keeps the event for later
                event = self._end_event(job, code, error)
                self._persist(job, event)
                self._publish(job, [event])
        except Exception as e:  # noqa: BLE001 - the queue must move on whatever happened here
            self.log(f"[{job.run_id}] could not close the run cleanly: {type(e).__name__}: {e}")
            if job.active:
                self._publish(job, [{"seq": job.last_seq + 1, "time": time.time(), "type": "failed", "cause": "internal",
                                     "message": f"the worker could not close the run: {type(e).__name__}: {e}",
                                     "stderr_tail": [], "last_checkpoint": ""}])
        finally:
            with self._lock:
                self._pump()

    # -- watch / cancel ------------------------------------------------------------------------

    def watch(self, run_id: str, from_seq: int, is_active: Callable[[], bool]) -> Iterator[dict[str, Any]]:
        """Yields events with seq > from_seq: stored ones first, then live ones. Ends after the
        terminal event, when the run is not running any more, or when the client has gone."""
        job = self.get(run_id)
        next_seq = from_seq + 1
        older: Iterator[dict[str, Any]] | None = None  # the event log on disk, read as needed
        try:
            while is_active():
                with job.cond:
                    # seq starts at 1 and has no gaps, so event seq s sits at index s - first.
                    first = job.first_seq
                    from_memory = next_seq >= first or next_seq > job.last_seq
                    if from_memory:
                        idx = max(0, next_seq - first)  # from_seq may be any uint64: past the end, nothing
                        batch = list(itertools.islice(job.events, idx, None)) if idx < len(job.events) else []
                        if not batch:
                            if not job.active:
                                return
                            job.cond.wait(timeout=0.5)
                            continue
                if not from_memory:
                    # Older than the tail in memory: from the log, in batches, until the tail.
                    if older is None:
                        older = eventlog.iter_events(job.run_dir / EVENTS_FILE, next_seq)
                    batch = list(itertools.takewhile(lambda e: int(e["seq"]) < first, itertools.islice(older, 512)))
                    if not batch or int(batch[0]["seq"]) != next_seq:
                        raise JobError("failed_precondition",
                                       f"run {run_id!r}: event {next_seq} is neither in memory nor in its event log "
                                       f"{job.run_dir / EVENTS_FILE}")
                    if int(batch[-1]["seq"]) + 1 >= first:
                        older.close()
                        older = None
                for e in batch:
                    yield e
                    next_seq = int(e["seq"]) + 1
                    if e["type"] in TERMINAL:
                        return
        finally:
            if older is not None:
                older.close()

    def cancel(self, run_id: str, graceful: bool) -> dict[str, Any]:
        job = self.get(run_id)
        with self._lock:
            if job.state == "pending":
                self._queue = collections.deque(r for r in self._queue if r != run_id)
                event = {"seq": job.last_seq + 1, "time": time.time(), "type": "cancelled", "step": 0, "checkpoint": ""}
                self._persist(job, event)
                self._publish(job, [event])
                return job.status()
        if job.state == "running" and job.process is not None and job.process.alive():
            job.cancel_requested = True
            if graceful:
                job.process.cancel()
            else:
                job.killed_by_us = True
                job.process.kill()
        return job.status()

    def shutdown(self, timeout: float = 30.0) -> int:
        """Asks every running training process to checkpoint and stop, then waits for it and
        for its last events to be published (so that watchers get them before the server stops).
        Returns how many runs it stopped."""
        with self._lock:
            self._closing = True
            running = [j.process for j in self._jobs.values() if j.state == "running" and j.process]
        for p in running:
            p.interrupt()
        deadline = time.time() + timeout
        for p in running:
            p.wait_or_kill(max(0.1, deadline - time.time()))
        for p in running:
            p.join(max(1.0, deadline - time.time()))  # its end event published
        self.storage.stop()
        return len(running)

    # -- helpers -------------------------------------------------------------------------------

    def _check_id(self, run_id: str) -> None:
        if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):  # the pattern refuses ".." too
            raise JobError("invalid_argument", f"run_id: got {echo(run_id)}, expected {RULES['run_id'].expected}")

    def _check_not_linked(self, run_dir: Path) -> None:
        """A run folder (or a file the worker writes in it) that is a symbolic link, or that
        resolves outside the run root, would make the worker write where it was never told to:
        refused, never followed."""
        for p in (run_dir, run_dir / SPEC_FILE, run_dir / EVENTS_FILE, run_dir / runlock.LOCK_FILE,
                  run_dir / "checkpoints", run_dir / "checkpoints" / "last.pt"):
            if p.is_symlink():
                raise JobError("failed_precondition",
                               f"{p}: is a symbolic link; the worker does not follow links in its run root ({self.run_root})")
        if run_dir.exists() and not run_dir.resolve().is_relative_to(self.run_root):
            raise JobError("failed_precondition", f"{run_dir}: resolves outside the run root {self.run_root}")

    def _load_existing(self) -> None:
        for spec_path in sorted(self.run_root.glob(f"*/{SPEC_FILE}")):
            try:
                self._check_not_linked(spec_path.parent)
            except JobError as e:
                self.log(f"skipping {spec_path.parent}: {e}")
                continue
            self._load_one(spec_path.parent)

    def _load_one(self, run_dir: Path) -> Job | None:
        """Registers the run stored in run_dir (not running here). Also used for a run that
        appeared after start-up: another worker sharing this run root created it (a sweep over
        several local workers moves a dead worker's run to another one)."""
        spec_path = run_dir / SPEC_FILE
        try:
            spec = json.loads(spec_path.read_text())
            events = eventlog.read_tail(run_dir / EVENTS_FILE, EVENT_TAIL)
        except (OSError, ValueError) as e:
            self.log(f"skipping {run_dir}: {e}")
            return None
        job = Job(run_dir.name, run_dir, spec, events=events, created_at=spec_path.stat().st_mtime)
        if not events or events[-1]["type"] not in TERMINAL:
            self._close_orphan(job)
        job.state = STATE_OF_TERMINAL.get(job.events[-1]["type"], "interrupted") if job.events else "interrupted"
        job.error = _error_of(job.events[-1]) if job.events else "interrupted (worker_died): the worker stopped before the run began; resume it"
        self._jobs[job.run_id] = job
        return job

    def _close_orphan(self, job: Job) -> None:
        """A stored run without a final event: its worker and training process both died. When
        no process holds its train.lock (another worker on this run root may be training it),
        the log gets the `interrupted` event nobody wrote, so watchers and clients see the end."""
        try:
            fd = runlock.try_take(job.run_dir)
        except OSError:
            return
        if fd is None:
            return  # alive elsewhere
        try:
            path = job.run_dir / EVENTS_FILE
            last = eventlog.repair(path) if path.exists() else 0
            if not last:
                return  # nothing was stored: nothing to close
            step = next((int(e.get("step", 0)) for e in reversed(job.events) if e["type"] in ("step", "epoch", "checkpoint")), job.step)
            ckpt = job.run_dir / "checkpoints" / "last.pt"
            event = {"seq": last + 1, "time": time.time(), "type": "interrupted", "reason": "worker_died",
                     "message": "the worker and the training process stopped without a final event",
                     "step": step, "checkpoint": "checkpoints/last.pt" if ckpt.is_file() else ""}
            eventlog.append(path, event)
            job.events.clear()
            job.absorb(eventlog.read_tail(path, EVENT_TAIL))
        except (OSError, ValueError) as e:
            self.log(f"{job.run_dir}: could not record the end of an interrupted run: {e}")
        finally:
            os.close(fd)


def _error_of(e: dict[str, Any]) -> str:
    """RunStatus.error for a terminal event."""
    if e["type"] == "failed":
        return f"{e.get('cause')}: {e.get('message')}"
    if e["type"] == "interrupted":
        return f"interrupted ({e.get('reason')}): {e.get('message')}; resume it"
    return ""


def _explicit_gpu(device: str) -> int | None:
    """N of an explicit `cuda:N`, else None."""
    return int(device[5:]) if device.startswith("cuda:") else None


def _without(spec: dict[str, Any], dotted: str) -> dict[str, Any]:
    out = json.loads(json.dumps(spec))
    *parents, leaf = dotted.split(".")
    d = out
    for p in parents:
        d = d.get(p, {})
    d.pop(leaf, None)
    return out
