"""The lock that keeps two training processes off one run: an exclusive flock on
<run_dir>/train.lock (the file holds the holder's pid), which the kernel releases only when its
last holder is gone, however it dies. The worker takes it before it spawns a training process and
hands the descriptor down ($PROJHEAD_LOCK_FD); a training process started by hand takes it
itself; a resume waits for it to be free. Shared by jobs.py and trainproc.py; no torch here."""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

LOCK_FILE = "train.lock"
POLL_SECONDS = 0.1


class Held(Exception):
    """The lock stayed taken; `pid` is what its file says (or "?")."""

    def __init__(self, pid: str):
        super().__init__(pid)
        self.pid = pid


def try_take(run_dir: Path) -> int | None:
    """The locked descriptor, or None when another process holds the lock. The caller closes it."""
    fd = os.open(Path(run_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def take(run_dir: Path, timeout: float) -> int | None:
    """try_take, retried for up to `timeout` seconds; the pid of this process written in."""
    deadline = time.monotonic() + timeout
    while True:
        fd = try_take(run_dir)
        if fd is not None:
            write_pid(fd, os.getpid())
            return fd
        if time.monotonic() > deadline:
            return None
        time.sleep(POLL_SECONDS)


def write_pid(fd: int, pid: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{pid}\n".encode(), 0)


def wait_free(run_dir: Path, timeout: float) -> None:
    """Returns once no process holds the lock; raises Held after `timeout` seconds."""
    path = Path(run_dir) / LOCK_FILE
    if not path.exists():
        return
    fd = os.open(path, os.O_RDWR)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Held(path.read_text().strip() or "?") from None
                time.sleep(POLL_SECONDS)
    finally:
        os.close(fd)
