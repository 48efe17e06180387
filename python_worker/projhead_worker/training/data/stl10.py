"""STL-10 binary version: stl10_binary/{train,test}_{X,y}.bin (the unlabeled split is not read).

X files are raw uint8, 3x96x96 per image, each channel stored column-major; y files are one
uint8 label 1..10 per image. The root may be the stl10_binary folder itself or its parent.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...common.config import DataConfig
from .base import DatasetError, ImageDataset

DIR = "stl10_binary"
SIDE = 96
IMAGE_BYTES = 3 * SIDE * SIDE
FILES = ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"]
X_FORMAT = f"STL-10 binary images: raw uint8, {IMAGE_BYTES} bytes (3x96x96, column-major) per image"
Y_FORMAT = "STL-10 binary labels: one uint8 per image, 1..10"
DEFAULT_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def _folder(root: Path) -> Path:
    return root if (root / "train_X.bin").is_file() else root / DIR


def probe(root: Path) -> str:
    folder = _folder(root)
    missing = [f for f in FILES if not (folder / f).is_file()]
    return "" if not missing else f"missing {', '.join(missing)} in {folder}"


def _read(path: Path, expected: str) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(path, expected, "file not found")
    try:
        return np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DatasetError(path, expected, f"unreadable ({e})") from None


def _split(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    xp, yp = folder / f"{split}_X.bin", folder / f"{split}_y.bin"
    x, y = _read(xp, X_FORMAT), _read(yp, Y_FORMAT)
    if len(x) % IMAGE_BYTES:
        raise DatasetError(xp, X_FORMAT, f"size {len(x)} is not a multiple of {IMAGE_BYTES}")
    n = len(x) // IMAGE_BYTES
    if len(y) != n:
        raise DatasetError(yp, Y_FORMAT + f" ({n} labels, one per image in {xp.name})", f"{len(y)} labels")
    if n and (y.min() < 1 or y.max() > 10):
        raise DatasetError(yp, Y_FORMAT, f"labels span {int(y.min())}..{int(y.max())}")
    # Column-major storage: reshaped row-major the last two axes come out as (x, y).
    imgs = x.reshape(n, 3, SIDE, SIDE).transpose(0, 1, 3, 2)
    return torch.from_numpy(np.ascontiguousarray(imgs)), torch.from_numpy(y.astype(np.int64) - 1)


def load(root: Path, cfg: DataConfig, seed: int):
    folder = _folder(root)
    if not folder.is_dir():
        raise DatasetError(folder, f"a folder with {', '.join(FILES)}", "folder not found")
    tx, ty = _split(folder, "train")
    vx, vy = _split(folder, "test")
    names = DEFAULT_CLASSES
    names_file = folder / "class_names.txt"
    if names_file.is_file():
        lines = [s.strip() for s in names_file.read_text(errors="replace").splitlines() if s.strip()]
        if len(lines) == 10:
            names = lines
    return ImageDataset("stl10", 10, tx, ty, vx, vy, list(names))
