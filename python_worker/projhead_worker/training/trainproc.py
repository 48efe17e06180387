"""Entry point of a training process (one per run; torchrun starts one per rank).

    python -m projhead_worker.training.trainproc --run-dir DIR [--resume]

Reads DIR/worker-spec.json, runs train.train, and appends every event as one JSON line to
DIR/worker-events.jsonl (rank 0 only). The worker's job manager tails that file; it is also the
persisted log that lets clients re-attach. Signals: SIGUSR1 = cancel (checkpoint, then stop with
`cancelled`); SIGUSR2 (from the worker as it shuts down), SIGTERM, SIGINT = checkpoint, then stop
with `interrupted`. Exit codes are in EXIT below.

The process does not outlive its worker: when the worker dies (even by SIGKILL) it notices
within a tenth of a second (its parent pid changes, or $PROJHEAD_WORKER_PID is gone under
torchrun), checkpoints and stops as on SIGTERM (`interrupted`, reason worker_died). While it lives it holds an exclusive lock on
DIR/train.lock (taken by the worker before the start and handed down; the file holds the pid),
so a restarted worker never trains the same run twice at once.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from ..common import errors, runlock, storage
from ..common.childproc import INTERRUPT_SIGNAL, UNWRITTEN, WORKER_PID_ENV
from ..common.config import RunConfig, SpecError
from ..common.eventlog import EVENTS_FILE, SPEC_FILE, last_seq_in, write_event

EXIT = {"finished": 0, "crash": 1, "cancelled": 3, "non_finite_loss": 4, "dataset": 5, "invalid_spec": 6, "out_of_memory": 7,
        "locked": 8, "interrupted": 9, "io": 10}


PARENT_POLL_SECONDS = 0.1


def report_unwritten(cause: str, message: str, err: OSError) -> None:
    print(UNWRITTEN + json.dumps({"cause": cause, "message": message, "unwritten": storage.describe(err)}), file=sys.stderr, flush=True)


def interrupt_message(why: str, sig: str | None = None) -> str:
    """The words of a RunInterrupted event for its reason."""
    if why == "worker_signal":
        return "the worker was told to stop; the run checkpointed and stopped"
    if why == "worker_died":
        return "the worker went away; the run checkpointed and stopped"
    return f"the training process got {sig or 'a signal'}; it checkpointed and stopped"


def watch_parent(on_gone) -> None:
    """Calls on_gone() once when the worker that started this process is gone. Started by the
    worker itself, our parent must stay $PROJHEAD_WORKER_PID (we are re-parented when it dies,
    even before this runs); under torchrun (our parent is torchrun) that pid must exist. Run by
    hand, our parent must stay the one we started with."""
    worker = int(os.environ.get(WORKER_PID_ENV, "0") or 0)
    under_torchrun = "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_WORLD_SIZE" in os.environ
    first_parent = os.getppid()

    def gone() -> bool:
        if not worker:
            return os.getppid() != first_parent
        if not under_torchrun:
            return os.getppid() != worker
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    def loop():
        while not gone():
            time.sleep(PARENT_POLL_SECONDS)
        on_gone()

    threading.Thread(target=loop, daemon=True, name="parent-watch").start()


class Emitter:
    """Numbers events and appends them to the run's event log (rank 0 only: `main`)."""

    def __init__(self, path: Path, seq: int, main: bool = True):
        self.seq = seq
        self.path = path
        self._file = open(path, "a", encoding="utf-8") if main else None

    def __call__(self, type_: str, **fields) -> int:
        if self._file is None:
            return self.seq
        self.seq += 1
        if type_ == "started" and str(fields.get("device", "")).startswith("cuda") and os.environ.get("CUDA_VISIBLE_DEVICES"):
            # The worker gave this run its own GPU: name it as the machine does, not as cuda:0.
            first = os.environ["CUDA_VISIBLE_DEVICES"].split(",")[0].strip()
            if first.isdigit():
                fields = {**fields, "device": f"cuda:{first}"}
        rec = {"seq": self.seq, "time": time.time(), "type": type_, **fields}
        try:
            write_event(self._file, rec)  # the log's durability rule: eventlog.SYNCED_EVENTS
        except OSError as e:
            raise storage.with_path(e, self.path) from None
        return self.seq

    def sync(self) -> None:
        """Makes every event written so far durable (fsync); train.py calls it before a
        checkpoint replaces the last one, so the log holds every seq the checkpoint follows."""
        if self._file is None:
            return
        try:
            os.fsync(self._file.fileno())
        except OSError as e:
            raise storage.with_path(e, self.path) from None


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except OSError as e:  # a final event (finished, cancelled, interrupted) that could not be stored
        report_unwritten("io", storage.describe(e), e)
        return EXIT["io"]


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(prog="projhead_worker.training.trainproc")
    ap.add_argument("--run-dir", required=True, type=Path)
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)
    run_dir: Path = args.run_dir

    # reason: what train.py is told ("cancel" or "signal", also the checkpoint's reason); why:
    # the RunInterrupted reason when it is not a client's cancel (see INTERRUPT_SIGNAL).
    stop: dict[str, str | None] = {"reason": None, "why": None}

    def on_signal(signum, _frame):
        if signum == signal.SIGUSR1:
            stop["reason"] = "cancel"
            return
        stop["reason"] = stop["reason"] or "signal"
        if not stop["why"]:
            stop["why"] = "worker_signal" if signum == INTERRUPT_SIGNAL else "signal"
            stop["signal"] = signal.Signals(signum).name

    for s in (signal.SIGUSR1, INTERRUPT_SIGNAL, signal.SIGTERM, signal.SIGINT):
        signal.signal(s, on_signal)
    # torch comes only now: its import is the slow part of start-up, and a cancel or a shutdown
    # that arrives meanwhile must find the handlers above, not the signal's default action.
    from . import checkpoint, dist

    def on_parent_gone():
        # Nobody reads our stderr pipe any more: writes to it would raise BrokenPipeError in
        # the middle of the checkpoint. Send it to /dev/null, then stop as on SIGTERM.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        stop["reason"] = stop["reason"] or "signal"
        stop["why"] = stop["why"] or "worker_died"

    watch_parent(on_parent_gone)
    if int(os.environ.get("RANK", "0")) == 0 and runlock.acquire(run_dir) is None:
        print(f"another training process holds {run_dir / runlock.LOCK_FILE}; not starting a second one", file=sys.stderr)
        return EXIT["locked"]

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # torchrun started this process as one rank of several; gloo for CPU training, nccl on GPUs
        try:
            device = str(json.loads((run_dir / SPEC_FILE).read_text())["train"]["device"])
        except (OSError, ValueError, KeyError, TypeError):
            device = "auto"  # a bad spec is reported below, as one failed event from rank 0
        dist.init_from_env(dist.backend_for(device))
    emit = Emitter(run_dir / EVENTS_FILE, last_seq_in(run_dir / EVENTS_FILE), main=dist.is_main())

    def fail(cause: str, message: str) -> int:
        last = checkpoint.latest(run_dir)
        try:
            emit("failed", cause=cause, message=message, stderr_tail=[],
                 last_checkpoint=str(last.relative_to(run_dir)) if last else "")
        except OSError as e:
            report_unwritten(cause, message, e)
        return EXIT[cause]

    try:
        cfg = RunConfig.from_dict(json.loads((run_dir / SPEC_FILE).read_text()))
    except (SpecError, ValueError, OSError) as e:
        return fail("invalid_spec", str(e))

    from .train import Cancelled, train  # the training code loads once the spec has passed its checks

    resume_from = None
    if args.resume:
        checkpoint.clean_temporaries(run_dir)
        resume_from = checkpoint.latest(run_dir)
    try:
        summary = train(cfg, run_dir, emit, lambda: stop["reason"], resume_from=resume_from, last_seq=lambda: emit.seq,
                        sync_events=emit.sync)
    except Cancelled as c:
        if stop["reason"] == "cancel":
            emit("cancelled", step=c.step, checkpoint=c.checkpoint)
            return EXIT["cancelled"]
        why = stop["why"] or "signal"  # None: another rank was signalled, not this one
        emit("interrupted", reason=why, message=interrupt_message(why, stop.get("signal")), step=c.step, checkpoint=c.checkpoint)
        return EXIT["interrupted"]
    except Exception as e:  # noqa: BLE001 - every failure must end as a named event (MemoryError included)
        cause, message = errors.classify(e, errors.TRAINING)
        if cause in (errors.CRASH, errors.OUT_OF_MEMORY):
            traceback.print_exc()
        return fail(cause, message)
    finally:
        dist.cleanup()
    emit("finished", **summary)
    return EXIT["finished"]


if __name__ == "__main__":
    sys.exit(main())
