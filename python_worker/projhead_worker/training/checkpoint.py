"""Atomic checkpoints of the full training state.

A checkpoint is written with atomic.py (temporary file, fsync, rename, fsync of the folder): a kill
at any moment leaves either the old or the new file, never half of one. Temporary files left by a
kill are removed on the next load.
"""
from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..common.atomic import atomic_write_bytes
from ..common.config import RunConfig, SpecError
from ..common.errors import CheckpointError
from .models import build_model

FORMAT = "projhead.ckpt.v1"
LAST = "last.pt"


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


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


def load_complete(path: Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict[str, Any]:
    """`load`, and the parts a model is rebuilt from are there (spec, model, progress.step)."""
    ckpt = load(path, map_location, mmap)
    for key, kind in (("spec", dict), ("model", dict), ("progress", dict)):
        if not isinstance(ckpt.get(key), kind):
            raise CheckpointError(f"{path}: not a projhead checkpoint ({key!r} missing or not a {kind.__name__})")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ckpt["model"].items()):
        raise CheckpointError(f"{path}: not a projhead checkpoint ('model' is not a map of names to tensors)")
    if not isinstance(ckpt["progress"].get("step"), int):
        raise CheckpointError(f"{path}: not a projhead checkpoint ('progress.step' missing)")
    return ckpt


def load(path: Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict[str, Any]:
    """Loads a checkpoint written by `save` (tensors, numbers, strings and containers only), or
    raises CheckpointError saying what is wrong with the file (never torch's own advice)."""
    _check_crc(path)
    try:
        try:
            ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
        except RuntimeError as e:
            if not mmap or "mmap" not in str(e):
                raise
            ckpt = torch.load(path, map_location=map_location, weights_only=True)  # old format: no mmap
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except OSError as e:
        raise CheckpointError(f"{path}: not a projhead checkpoint (truncated or corrupt file: {e.strerror or type(e).__name__})") from None
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise CheckpointError(f"{path}: not a projhead checkpoint ({_why_unloadable(e)})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a projhead checkpoint (no format {FORMAT!r} marker)")
    return ckpt


def _check_crc(path: Path) -> None:
    """torch.load does not check the CRC32 that its zip format stores for every entry: flipped
    bytes in the weights would load silently. zipfile does (reading the file once)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, RuntimeError):
        return  # not a (readable) zip: torch.load says what it is
    if bad is not None:
        raise CheckpointError(f"{path}: not a projhead checkpoint (corrupt file: checksum mismatch in {bad!r})")


def _why_unloadable(e: Exception) -> str:
    import pickle
    import zipfile

    text = str(e)
    if isinstance(e, pickle.UnpicklingError) or "weights_only" in text or "Unsupported global" in text:
        return "it holds objects other than tensors, numbers and strings; refused, loading it could run code"
    if isinstance(e, (EOFError, zipfile.BadZipFile)) or "zip archive" in text or "central directory" in text:
        return "truncated or corrupt file"
    return f"unreadable ({type(e).__name__})"


def model_from(ckpt: dict[str, Any], path: Path, model_cfg=None):
    """The checkpoint's model, built from its own spec (or from `model_cfg`, the architecture a
    request asks for) with the stored weights loaded strictly. CheckpointError when they do not fit."""

    try:
        own = RunConfig.from_dict(ckpt["spec"]).model
    except (SpecError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: not a projhead checkpoint (its spec is invalid: {e})") from None
    want = model_cfg or own
    model = build_model(want)
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except (RuntimeError, ValueError, KeyError) as e:
        if model_cfg is not None and architecture(own) != architecture(model_cfg):
            raise CheckpointError(f"checkpoint is for {architecture(own)}, the request asks for {architecture(model_cfg)}") from None
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a projhead checkpoint (its weights do not fit {architecture(own)}: {first})") from None
    return model


def architecture(model_cfg) -> str:
    """Words for a model architecture, for errors: 'resnet18 + head [512, 128]'."""
    head = model_cfg.head
    return f"{model_cfg.backbone} (width {model_cfg.width}) + head {list(head.hidden_dims) + [head.out_dim]}"


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
