"""Whether the worker can write its own state (the run root and the runs' event logs), and the
words for a write that failed. A failed write anywhere in the job manager is reported here; a
thread then probes the run root every few seconds (a small file written, fsynced and removed)
and retries what could not be stored, so the worker says NOT_SERVING exactly while its state
cannot be written, and SERVING again once it can. No gRPC here: server/service.py turns `ok` into health.
"""
from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Callable

PROBE_BYTES = 4096
PROBE_EVERY_SECONDS = 2.0


def describe(err: OSError, path: Path | str | None = None) -> str:
    """'<path>: <what went wrong>' for an OSError, path from the error when it has one."""
    where = err.filename if err.filename else path
    what = err.strerror or type(err).__name__
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        what += " (disk full)"
    elif err.errno == errno.EROFS:
        what += " (file system mounted read-only)"
    elif err.errno in (errno.EPERM, errno.EACCES):
        what += " (not writable, or immutable)"
    return f"{where}: {what}" if where else what


def with_path(err: OSError, path: Path | str) -> OSError:
    """err naming `path` when it names no file (a write to an open file names none)."""
    if err.filename:
        return err
    out = type(err)(err.errno, err.strerror, str(path))
    out.__cause__ = err
    return out


def is_disk_full(err: OSError) -> bool:
    return err.errno in (errno.ENOSPC, errno.EDQUOT)


class StorageHealth:
    """`problem` is "" while the worker can write its state, else what failed (path and why)."""

    def __init__(self, root: Path, retry: Callable[[], str] = lambda: "", log: Callable[[str], None] = lambda m: None):
        self.root = Path(root)
        self._retry = retry  # stores what is pending; returns "" or the write that still fails
        self._log = log
        self._lock = threading.Lock()
        self._problem = ""
        self._listeners: list[Callable[[bool], None]] = []
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    @property
    def problem(self) -> str:
        with self._lock:
            return self._problem

    @property
    def ok(self) -> bool:
        return not self.problem

    def on_change(self, fn: Callable[[bool], None]) -> None:
        self._listeners.append(fn)

    def report(self, err: OSError, path: Path | str | None = None) -> str:
        """A write of the worker's state failed: say so at once, probe until it works again."""
        msg = describe(err, path)
        self._set(msg)
        self._wake.set()
        return msg

    def check(self) -> str:
        """Probes the run root and retries pending writes; updates and returns `problem`."""
        probe = self.root / f".projhead-probe-{os.getpid()}"
        msg = ""
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"\0" * PROBE_BYTES)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            msg = describe(e, probe)
        finally:
            try:
                probe.unlink()
            except OSError:
                pass
        if not msg:
            msg = self._retry()
        self._set(msg)
        return msg

    def start(self) -> None:
        self.check()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="storage-health")
        self._thread.start()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopped:
            self._wake.wait(PROBE_EVERY_SECONDS)
            self._wake.clear()
            if self._stopped:
                return
            try:
                self.check()
            except Exception as e:  # noqa: BLE001 - the monitor must outlive any surprise
                self._set(f"storage check failed: {type(e).__name__}: {e}")

    def _set(self, msg: str) -> None:
        with self._lock:
            changed = bool(msg) != bool(self._problem)
            self._problem = msg
        if changed:
            self._log(f"storage: {msg}" if msg else "storage: writable again")
            for fn in self._listeners:
                fn(not msg)
