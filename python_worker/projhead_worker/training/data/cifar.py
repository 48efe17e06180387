"""CIFAR-10 and CIFAR-100 from the "python version" pickle batches.

  cifar-10-batches-py/  data_batch_1..5, test_batch, batches.meta   (keys data, labels)
  cifar-100-python/     train, test, meta                          (keys data, fine_labels)
The root may be that folder itself or its parent.

The batches are pickles, and unpickling can run arbitrary code; they are read with a
restricted unpickler that only rebuilds dicts, lists, strings/bytes, numbers and plain numpy
arrays (no object dtypes), so a tampered file fails with DatasetError instead of executing.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...common.config import DataConfig
from .base import DatasetError, ImageDataset

C10_DIR, C100_DIR = "cifar-10-batches-py", "cifar-100-python"
C10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
C10_FILES = C10_TRAIN + ["test_batch"]
C100_FILES = ["train", "test"]
BATCH_FORMAT = "a CIFAR python pickle batch: a dict with 'data' (uint8 array [N, 3072]) and '{}' (N ints)"


# -- restricted unpickling ------------------------------------------------------------------------

def _plain_dtype(*args):
    dt = np.dtype(*args)
    if dt.hasobject:
        raise pickle.UnpicklingError("object dtype refused")
    return dt


def _reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("only plain numpy arrays are allowed")
    return np.ndarray.__new__(np.ndarray, shape, _plain_dtype(dtype))


def _frombuffer(buf, dtype, shape, order):
    dt = _plain_dtype(dtype)
    return np.frombuffer(buf, dtype=dt).reshape(shape, order=order)


def _latin1_encode(s, encoding="latin1"):
    # Python 3 protocol-2 pickles spell bytes as _codecs.encode(str, "latin1").
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("unexpected codec")
    return s.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _plain_dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        fn = _ALLOWED.get((module, name))
        if fn is None:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return fn


def load_pickle(path: Path, expected: str) -> dict:
    """A dict from a pickle file, through the restricted unpickler; keys become str."""
    if not path.is_file():
        raise DatasetError(path, expected, "file not found")
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
    except Exception as e:  # any malformed pickle: EOFError, UnpicklingError, ValueError, ...
        raise DatasetError(path, expected, f"unreadable ({type(e).__name__}: {e})") from None
    if not isinstance(d, dict):
        raise DatasetError(path, expected, f"holds a {type(d).__name__}, not a dict")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}


# -- readers -----------------------------------------------------------------------------------

def _folder(root: Path, name: str, marker: str) -> Path:
    """The batch folder: root itself if it holds the marker file, else root/name."""
    return root if (root / marker).is_file() else root / name


def _batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    expected = BATCH_FORMAT.format(label_key)
    d = load_pickle(path, expected)
    if "data" not in d or label_key not in d:
        raise DatasetError(path, expected, f"keys are {sorted(map(str, d))}")
    x = d["data"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        desc = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise DatasetError(path, expected, f"'data' is {desc}")
    try:
        y = np.asarray(d[label_key], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DatasetError(path, expected, f"'{label_key}' is not a list of ints") from None
    if len(y) != len(x):
        raise DatasetError(path, expected, f"{len(x)} images but {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise DatasetError(path, expected, f"labels outside 0..{num_classes - 1}")
    return x, y


def _tensors(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.concatenate([p[0] for p in parts]).reshape(-1, 3, 32, 32)  # rows are R, G, B planes
    y = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


def _names(path: Path, key: str, n: int) -> list[str] | None:
    # The meta file is optional: the names are a nicety, the labels are what matter.
    if not path.is_file():
        return None
    d = load_pickle(path, f"a CIFAR meta pickle: a dict with '{key}'")
    names = d.get(key)
    if not isinstance(names, list) or len(names) != n:
        return None
    return [s.decode("latin1") if isinstance(s, bytes) else str(s) for s in names]


def _probe(root: Path, name: str, marker: str, files: list[str]) -> str:
    folder = _folder(root, name, marker)
    missing = [f for f in files if not (folder / f).is_file()]
    return "" if not missing else f"missing {', '.join(missing)} in {folder}"


def probe_cifar10(root: Path) -> str:
    return _probe(root, C10_DIR, "data_batch_1", C10_FILES)


def probe_cifar100(root: Path) -> str:
    return _probe(root, C100_DIR, "train", C100_FILES)


def load_cifar10(root: Path, cfg: DataConfig, seed: int):
    folder = _folder(root, C10_DIR, "data_batch_1")
    tx, ty = _tensors([_batch(folder / f, "labels", 10) for f in C10_TRAIN])
    vx, vy = _tensors([_batch(folder / "test_batch", "labels", 10)])
    names = _names(folder / "batches.meta", "label_names", 10)
    return ImageDataset("cifar10", 10, tx, ty, vx, vy, names)


def load_cifar100(root: Path, cfg: DataConfig, seed: int):
    folder = _folder(root, C100_DIR, "train")
    tx, ty = _tensors([_batch(folder / "train", "fine_labels", 100)])
    vx, vy = _tensors([_batch(folder / "test", "fine_labels", 100)])
    names = _names(folder / "meta", "fine_label_names", 100)
    return ImageDataset("cifar100", 100, tx, ty, vx, vy, names)
