"""The per-run event log on the worker: <run_root>/<id>/worker-events.jsonl, one JSON object per
line with a gap-free `seq`. The training process appends while it runs; the job manager appends
terminal events after it exits, tails the file for live events and serves re-attaching clients
from it. No gRPC here."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text

EVENTS_FILE = "worker-events.jsonl"
SPEC_FILE = "worker-spec.json"


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every complete line (a line cut short by a kill has no newline and is ignored)."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n")
    if end < 0:
        return []
    return [json.loads(line) for line in data[: end + 1].splitlines() if line.strip()]


def last_seq_in(path: Path) -> int:
    events = read_events(path)
    return int(events[-1]["seq"]) if events else 0


def repair(path: Path, keep_upto_seq: int | None = None) -> int:
    """Drops a torn last line and, if given, every event with seq > keep_upto_seq (a resumed run
    replays them from its checkpoint). Returns the last kept seq. Atomic (atomic.py)."""
    events = read_events(path)
    if keep_upto_seq is not None:
        events = [e for e in events if int(e["seq"]) <= keep_upto_seq]
    atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in events))
    return int(events[-1]["seq"]) if events else 0


def append(path: Path, event: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")
        f.flush()
        os.fsync(f.fileno())
