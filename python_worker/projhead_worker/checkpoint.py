"""Atomic checkpoints of the full training state.

A checkpoint is written to a temporary file in the same directory, flushed, fsynced and renamed
over the target, then the directory is fsynced: a kill at any moment leaves either the old or the
new file, never half of one. Temporary files left by a kill are removed on the next load.
"""
from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import storage

FORMAT = "projhead.ckpt.v1"
LAST = "last.pt"


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        # A full disk: the old checkpoint stays and the partial one goes, freeing its space.
        try:
            tmp.unlink()
        except OSError:
            pass
        raise storage.with_path(e, tmp) from None
    _fsync_dir(path.parent)


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems do not support fsync on directories
    finally:
        os.close(fd)


def save(run_dir: Path, state: dict[str, Any]) -> tuple[str, int]:
    """Writes checkpoints/last.pt atomically; returns (path relative to run_dir, bytes)."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    data = buf.getvalue()
    target = checkpoint_dir(run_dir) / LAST
    atomic_write_bytes(target, data)
    return str(target.relative_to(run_dir)), len(data)


def clean_temporaries(run_dir: Path) -> None:
    d = checkpoint_dir(run_dir)
    if d.is_dir():
        for p in d.glob(".*.tmp-*"):
            p.unlink(missing_ok=True)


def latest(run_dir: Path) -> Path | None:
    p = checkpoint_dir(run_dir) / LAST
    return p if p.is_file() else None


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Loads a checkpoint written by `save` (tensors, numbers, strings and containers only)."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not a projhead checkpoint (expected format {FORMAT})")
    return ckpt


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(np.frombuffer(_np_state_bytes(), dtype=np.uint8).copy()),
        "python": torch.tensor(list(_py_state()), dtype=torch.int64),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    _np_set_state_bytes(state["numpy"].numpy().tobytes())
    _py_set_state(state["python"].tolist())


# numpy and python RNG states are stored as tensors so that the checkpoint loads with
# torch.load(weights_only=True), which refuses arbitrary pickled objects.

def _np_state_bytes() -> bytes:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    header = np.array([pos, has_gauss], dtype=np.int64).tobytes() + np.array([cached], dtype=np.float64).tobytes()
    return header + np.asarray(keys, dtype=np.uint32).tobytes()


def _np_set_state_bytes(b: bytes) -> None:
    pos, has_gauss = np.frombuffer(b[:16], dtype=np.int64)
    cached = np.frombuffer(b[16:24], dtype=np.float64)[0]
    keys = np.frombuffer(b[24:], dtype=np.uint32)
    np.random.set_state(("MT19937", keys, int(pos), int(has_gauss), float(cached)))


def _py_state() -> list[int]:
    version, internal, gauss = random.getstate()
    return [version, *internal, 0 if gauss is None else 1]


def _py_set_state(v: list[int]) -> None:
    version, internal = v[0], tuple(v[1:-1])
    random.setstate((version, internal, None))
