"""MNIST and Fashion-MNIST from IDX files, gzipped or not.

Files (in the root, or in root/raw as torchvision lays them out):
  train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
  t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]
(the "train-images.idx3-ubyte" spelling of some unpacked copies is accepted too).
Debian's dataset-fashion-mnist installs the four .gz files flat in /usr/share/datasets/fashion-mnist.
`fashion-mnist-mini` is a class-balanced subset of the official splits in the same format,
shipped in fashion_mnist_mini/ next to this file (how it was made: PROVENANCE.md there).
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from ...common.config import DataConfig
from .base import DatasetError, ImageDataset

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dims
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dim
STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MNIST_CLASSES = [str(i) for i in range(10)]
MINI_ROOT = Path(__file__).resolve().parent / "fashion_mnist_mini"
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _candidates(root: Path, stem: str) -> list[Path]:
    alt = stem.replace("-idx", ".idx")  # train-images-idx3-ubyte -> train-images.idx3-ubyte
    out = []
    for d in (root, root / "raw"):
        for name in (stem, stem + ".gz", alt, alt + ".gz"):
            out.append(d / name)
    return out


def find_file(root: Path, stem: str) -> Path:
    for p in _candidates(root, stem):
        if p.is_file():
            return p
    raise DatasetError(root / (stem + ".gz"), f"the IDX file {stem} or {stem}.gz in {root}", "file not found")


def probe(root: Path) -> str:
    """"" when all four files are present, else what is missing."""
    missing = []
    for stem in STEMS.values():
        if not any(p.is_file() for p in _candidates(root, stem)):
            missing.append(stem + "[.gz]")
    return "" if not missing else f"missing {', '.join(missing)} in {root}"


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parses one IDX file of unsigned bytes (gzip detected by content) and checks its header."""
    kind = "images (magic 0x00000803, dims N,rows,cols)" if magic == IMAGES_MAGIC else "labels (magic 0x00000801, dim N)"
    expected = f"an IDX {kind}, big-endian header, optionally gzipped"
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(path, expected, f"unreadable ({e})") from None
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(path, expected, f"truncated header ({len(raw)} bytes)")
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise DatasetError(path, expected, f"wrong magic number 0x{got:08x}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    size = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != size:
        raise DatasetError(path, expected, f"header says {dims} = {size} bytes of data, file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _split(root: Path, images: str, labels: str) -> tuple[torch.Tensor, torch.Tensor]:
    ip, lp = find_file(root, STEMS[images]), find_file(root, STEMS[labels])
    x, y = read_idx(ip, IMAGES_MAGIC), read_idx(lp, LABELS_MAGIC)
    if len(x) != len(y):
        raise DatasetError(lp, f"as many labels as images in {ip.name} ({len(x)})", f"{len(y)} labels")
    if len(y) and y.max() > 9:
        raise DatasetError(lp, "labels 0..9", f"label {int(y.max())}")
    # Copy: frombuffer arrays are read-only views of the decompressed bytes.
    return torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def _load(name: str, classes: list[str], root: Path):
    if not root.is_dir():
        raise DatasetError(root, f"a folder with the four {name} IDX files ({', '.join(STEMS.values())}, optionally .gz)", "folder not found")
    tx, ty = _split(root, "train_images", "train_labels")
    vx, vy = _split(root, "test_images", "test_labels")
    return ImageDataset(name, 10, tx, ty, vx, vy, list(classes))


def load_mnist(root: Path, cfg: DataConfig, seed: int):
    return _load("mnist", MNIST_CLASSES, root)


def load_fashion_mnist(root: Path, cfg: DataConfig, seed: int):
    return _load("fashion-mnist", FASHION_CLASSES, root)


def load_fashion_mnist_mini(root: Path, cfg: DataConfig, seed: int):
    return _load("fashion-mnist-mini", FASHION_CLASSES, MINI_ROOT)
