"""The lock that keeps two training processes off one run: an exclusive flock on
<run_dir>/train.lock (the file holds the holder's pid), which the kernel releases only when its
last holder is gone, however it dies. The worker takes it before it spawns a training process and
hands the descriptor down ($PROJHEAD_LOCK_FD); a training process started by hand takes it
itself; a resume waits for it to be free. Shared by supervise.py, jobs.py and trainproc.py; no
torch here. `hold` is the same kernel lock on any file, for work done once across processes."""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

LOCK_FILE = "train.lock"
# The descriptor of the lock the worker took for a training process it starts.
LOCK_FD_ENV = "PROJHEAD_LOCK_FD"
POLL_SECONDS = 0.1

T = TypeVar("T")


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
    fd = _retry(lambda: try_take(run_dir), timeout)
    if fd is not None:
        write_pid(fd, os.getpid())
    return fd


def acquire(run_dir: Path, timeout: float = 60.0) -> int | None:
    """The lock for the training process of run_dir: the one the worker took before it started
    this process and handed down ($PROJHEAD_LOCK_FD), so the run is locked from the first instant;
    run by hand, taken here, waiting up to `timeout` for a previous training process of the run.
    Returns the fd (-1 for a rank under torchrun, which holds the inherited lock itself), or None
    when the lock stayed taken."""
    inherited = os.environ.get(LOCK_FD_ENV)
    if inherited:
        try:
            fd = int(inherited)
            os.fstat(fd)
            return fd
        except (ValueError, OSError):
            # torchrun holds the inherited lock; its ranks do not get the fd.
            return -1
    return take(run_dir, timeout)


@contextlib.contextmanager
def hold(path: Path) -> Iterator[None]:
    """An exclusive flock on the file `path` (created) for the body, waiting as long as another
    process holds it: for work that two processes should do once, not side by side (the
    evaluation's baseline cache). Released when the body ends, or by the kernel when this
    process dies."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_pid(fd: int, pid: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{pid}\n".encode(), 0)


def wait_free(run_dir: Path, timeout: float) -> None:
    """Returns once no process holds the lock; raises Held after `timeout` seconds."""
    path = Path(run_dir) / LOCK_FILE
    if not path.exists():
        return
    fd = os.open(path, os.O_RDWR)

    def free() -> bool | None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True

    try:
        if _retry(free, timeout) is None:
            raise Held(path.read_text().strip() or "?")
    finally:
        os.close(fd)


def _retry(attempt: Callable[[], T | None], timeout: float) -> T | None:
    """attempt() every POLL_SECONDS until it returns something, for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = attempt()
        if got is not None or time.monotonic() > deadline:
            return got
        time.sleep(POLL_SECONDS)
