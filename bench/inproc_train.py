"""The worker's training called in-process, with no gRPC, no worker server and no second process:
the baseline of bench/bench_orchestrated.ts.

    python bench/inproc_train.py --spec RUN/worker-spec.json --run-dir DIR --run-id ID

Reads the resolved RunConfig dict the worker stored for an orchestrated run (worker-spec.json,
so both runs train exactly the same configuration), runs projhead_worker.training.train.train with the
same event writer the training process uses (trainproc.Emitter, events in DIR/worker-events.jsonl)
and prints one JSON line: the started and finished event times (time.time(), seconds), the CPU
seconds of this process between them and in all, and the summary.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

_WORKER = Path(__file__).resolve().parent.parent / "python_worker"
if str(_WORKER) not in sys.path:
    sys.path.insert(0, str(_WORKER))


def main(argv: list[str] | None = None) -> int:
    t_main = time.time()
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True, type=Path)
    ap.add_argument("--run-dir", required=True, type=Path)
    ap.add_argument("--run-id", default="")
    args = ap.parse_args(argv)

    from projhead_worker.common.config import RunConfig
    from projhead_worker.common.eventlog import EVENTS_FILE, read_events
    from projhead_worker.training.train import train
    from projhead_worker.training.trainproc import Emitter

    spec = json.loads(args.spec.read_text())
    if args.run_id:
        spec["run_id"] = args.run_id
    cfg = RunConfig.from_dict(spec)
    args.run_dir.mkdir(parents=True, exist_ok=False)
    events_emitter = Emitter(args.run_dir / EVENTS_FILE, 0)
    cpu_at: dict[str, float] = {}

    def emit(type_: str, **fields) -> int:
        if type_ in ("started", "finished"):
            cpu_at[type_] = time.process_time()  # CPU time of this process, all its threads
        return events_emitter(type_, **fields)

    summary = train(cfg, args.run_dir, emit, lambda: None, last_seq=lambda: events_emitter.seq,
                    sync_events=events_emitter.sync)
    emit("finished", **summary)
    events = read_events(args.run_dir / EVENTS_FILE)
    times = {e["type"]: e["time"] for e in events if e["type"] in ("started", "finished")}
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"started": times["started"], "finished": times["finished"], "main_entered": t_main,
                      "train_cpu_seconds": cpu_at["finished"] - cpu_at["started"],
                      "process_cpu_seconds": ru.ru_utime + ru.ru_stime, "summary": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
