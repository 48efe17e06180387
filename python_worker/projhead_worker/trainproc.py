"""Entry point of a training process (one per run; torchrun starts one per rank).

    python -m projhead_worker.trainproc --run-dir DIR [--resume]

Reads DIR/worker-spec.json, runs train.train, and appends every event as one JSON line to
DIR/worker-events.jsonl (rank 0 only). The worker's job manager tails that file; it is also the
persisted log that lets clients re-attach. Signals: SIGUSR1 = cancel (checkpoint, then stop),
SIGTERM / SIGINT = checkpoint, then stop. Exit codes are in EXIT below.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from . import checkpoint, dist
from .config import RunConfig, SpecError
from .eventlog import EVENTS_FILE, SPEC_FILE, last_seq_in

EXIT = {"finished": 0, "crash": 1, "cancelled": 3, "non_finite_loss": 4, "dataset": 5, "invalid_spec": 6, "out_of_memory": 7}


class Emitter:
    """Numbers events and appends them to the run's event log (rank 0 only)."""

    def __init__(self, path: Path, seq: int):
        self.seq = seq
        self._file = open(path, "a", encoding="utf-8") if dist.is_main() else None

    def __call__(self, type_: str, **fields) -> int:
        if self._file is None:
            return self.seq
        self.seq += 1
        rec = {"seq": self.seq, "time": time.time(), "type": type_, **fields}
        self._file.write(json.dumps(rec, allow_nan=True) + "\n")
        self._file.flush()
        return self.seq


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="projhead_worker.trainproc")
    ap.add_argument("--run-dir", required=True, type=Path)
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)
    run_dir: Path = args.run_dir

    stop: dict[str, str | None] = {"reason": None}

    def on_signal(signum, _frame):
        stop["reason"] = "cancel" if signum == signal.SIGUSR1 else "signal"

    for s in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
        signal.signal(s, on_signal)

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # torchrun started this process as one rank of several
        import torch

        dist.init_from_env("nccl" if torch.cuda.is_available() else "gloo")
    emit = Emitter(run_dir / EVENTS_FILE, last_seq_in(run_dir / EVENTS_FILE))

    def fail(cause: str, message: str) -> int:
        last = checkpoint.latest(run_dir)
        emit("failed", cause=cause, message=message, stderr_tail=[],
             last_checkpoint=str(last.relative_to(run_dir)) if last else "")
        return EXIT[cause]

    try:
        cfg = RunConfig.from_dict(json.loads((run_dir / SPEC_FILE).read_text()))
    except (SpecError, ValueError, OSError) as e:
        return fail("invalid_spec", str(e))

    from .data import DatasetError  # imported late: torch import is the slow part of start-up
    from .train import Cancelled, NonFiniteLoss, train

    resume_from = None
    if args.resume:
        checkpoint.clean_temporaries(run_dir)
        resume_from = checkpoint.latest(run_dir)
    try:
        summary = train(cfg, run_dir, emit, lambda: stop["reason"], resume_from=resume_from, last_seq=lambda: emit.seq)
    except Cancelled as c:
        emit("cancelled", step=c.step, checkpoint=c.checkpoint)
        return EXIT["cancelled"]
    except NonFiniteLoss as e:
        return fail("non_finite_loss", str(e))
    except DatasetError as e:
        return fail("dataset", str(e))
    except SpecError as e:
        return fail("invalid_spec", str(e))
    except Exception as e:  # noqa: BLE001 - every failure must end as a named event
        if type(e).__name__ == "OutOfMemoryError" or "out of memory" in str(e).lower():
            return fail("out_of_memory", str(e).splitlines()[0])
        traceback.print_exc()
        if isinstance(e, ValueError):
            return fail("invalid_spec", str(e))
        return fail("crash", f"{type(e).__name__}: {e}")
    finally:
        dist.cleanup()
    emit("finished", **summary)
    return EXIT["finished"]


if __name__ == "__main__":
    sys.exit(main())
