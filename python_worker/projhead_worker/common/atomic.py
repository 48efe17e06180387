"""The one way the worker replaces a file: write a temporary file in the same folder, fsync it,
rename it over the target, fsync the folder. A kill at any moment leaves the old file or the new
one, never half of one, and the rename itself survives a crash. Temporary files are named
`.<name>.tmp-<pid>.<random>` (unique, so two threads writing one path do not share one); a kill
can leave one behind, which `checkpoint.clean_temporaries` removes for checkpoints.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable

from . import storage

# mkstemp creates 0600; what the worker writes (checkpoints, exported models, specs) is meant to
# be read by the people sharing the run root, as a plain open() under the usual umask would allow.
MODE = 0o644


def atomic_write(path: Path | str, write: Callable[[IO[bytes]], None]) -> None:
    """Replaces `path` with what `write` writes to the binary file it is given (so a large file
    can be streamed). On failure the target is untouched and the temporary file removed; an
    OSError names the file it failed on."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, MODE)
        os.replace(tmp, path)
    except BaseException as e:
        # A full disk: the old file stays and the partial one goes, freeing its space.
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise storage.with_path(e, tmp) from None
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory
    finally:
        os.close(fd)
