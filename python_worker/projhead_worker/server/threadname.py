"""Names the calling thread for the operating system (what `top -H`, `ps -L` and
/proc/<pid>/task/*/comm show): Python 3.11 names its threads only for itself. The gRPC pool's
threads carry one name, so a thread count can tell that bounded pool, which grows lazily to the
most calls it has served at once, from threads that leak. Linux only; elsewhere it does nothing."""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

PR_SET_NAME = 15
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform.startswith("linux") else None


def name_os_thread(name: str) -> None:
    if _libc is not None:
        _libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)  # the kernel keeps 15 bytes
