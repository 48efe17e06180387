"""The per-run event log on the worker: <run_root>/<id>/worker-events.jsonl, one JSON object per
line with a gap-free `seq`. The training process appends while it runs; the job manager appends
terminal events after it exits, tails the file for live events and serves re-attaching clients
from it. No gRPC here."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any, Iterator

from .atomic import atomic_write

EVENTS_FILE = "worker-events.jsonl"
SPEC_FILE = "worker-spec.json"
# The log's durability rule (docs/INTERNALS.md, Durability), for every writer of it: each line is
# flushed to the OS when written (a killed process loses nothing, the worker's tail sees it at
# once); the file is fsynced after the events below, and the training process also fsyncs it
# before a checkpoint replaces the last one (train.py, sync_events).
SYNCED_EVENTS = frozenset({"checkpoint", "finished", "failed", "cancelled", "interrupted"})


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every complete line (a line cut short by a kill has no newline and is ignored). Loads the
    whole log: for tests and small files; the worker streams (iter_events, read_tail)."""
    return list(iter_events(path))


def iter_events(path: Path, from_seq: int = 1) -> Iterator[dict[str, Any]]:
    """The complete lines' events with seq >= from_seq, in file order, read as they are needed
    (a log of a long run can be far larger than the memory it may take)."""
    if not path.is_file():
        return
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                return  # torn by a kill
            if line.strip():
                e = json.loads(line)
                if int(e["seq"]) >= from_seq:
                    yield e


def read_tail(path: Path, n: int) -> list[dict[str, Any]]:
    """The last n complete events, reading the file backwards from its end."""
    if not path.is_file() or n <= 0:
        return []
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        data, pos = b"", end
        while pos > 0 and data.count(b"\n") <= n:
            step = min(pos, 1 << 16)
            pos -= step
            f.seek(pos)
            data = f.read(step) + data
    cut = data.rfind(b"\n")
    if cut < 0:
        return []
    lines = [l for l in data[: cut + 1].split(b"\n") if l.strip()]
    if pos > 0:
        lines = lines[1:]  # the first one may have been cut at the block's start
    return [json.loads(l) for l in lines[-n:]]


def last_seq_in(path: Path) -> int:
    events = read_tail(path, 1)
    return int(events[-1]["seq"]) if events else 0


def repair(path: Path, keep_upto_seq: int | None = None) -> int:
    """Drops a torn last line and, if given, every event with seq > keep_upto_seq (a resumed run
    replays them from its checkpoint). Returns the last kept seq. Atomic (atomic.py), and
    streamed: a log of any length is rewritten in constant memory (and not at all when there
    is nothing to drop)."""
    if keep_upto_seq is None and (not path.is_file() or _ends_clean(path)):
        return last_seq_in(path)
    last = 0

    def write(out) -> None:
        nonlocal last
        for e in iter_events(path):
            if keep_upto_seq is not None and int(e["seq"]) > keep_upto_seq:
                break
            out.write((json.dumps(e) + "\n").encode())
            last = int(e["seq"])

    atomic_write(path, write)
    return last


def _ends_clean(path: Path) -> bool:
    with open(path, "rb") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return True
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def write_event(f: IO[str], event: dict[str, Any]) -> None:
    """Appends `event` as one line to the open log `f`: flushed, and fsynced when its type is
    one of SYNCED_EVENTS."""
    f.write(json.dumps(event, allow_nan=True) + "\n")
    f.flush()
    if event["type"] in SYNCED_EVENTS:
        os.fsync(f.fileno())


def append(path: Path, event: dict[str, Any]) -> None:
    """One event the worker writes itself (all of them terminal, so fsynced)."""
    with open(path, "a", encoding="utf-8") as f:
        write_event(f, event)
