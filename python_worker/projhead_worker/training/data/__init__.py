"""Dataset readers (standard on-disk formats, no downloads) and on-device batched augmentation.

Every loader returns whole splits as uint8 tensors [N, C, H, W] so small datasets can live on
the training device; `load_dataset` then applies `train_limit` / `test_limit`.

Where files are looked for: the run's `data.root` when given (only there), otherwise the
dataset's default root (/usr/share/datasets/<name>, where Debian's `dataset-*` packages
install) and then `$PROJHEAD_DATA_ROOT/<name>`. Embedded datasets need no files from outside:
`shapes` is generated in memory, `fashion-mnist-mini` ships inside this package (see
fashion_mnist_mini/PROVENANCE.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ...common.config import DATASETS, DataConfig
from .augment import MEAN, STD, Augment, eval_transform, normalize
from .base import DatasetError, ImageDataset, mix_seed


# A loader reads one dataset from one root folder; `probe` says cheaply whether the files are
# there, returning "" when they are, else what is missing.
@dataclass(frozen=True)
class _Entry:
    load: Callable[[Path, DataConfig, int], ImageDataset]
    probe: Callable[[Path], str]
    embedded: bool = False  # needs no files from outside the package; `data.root` is ignored
    detail: str = ""        # what GetInfo says about an embedded dataset


DEFAULT_ROOT_BASE = "/usr/share/datasets"
ENV_ROOT = "PROJHEAD_DATA_ROOT"


def _registry() -> dict[str, _Entry]:
    # Imported lazily so `import projhead_worker.training.data` stays cheap.
    from . import cifar, idx, imagefolder, shapes, stl10

    return {
        "shapes": _Entry(shapes.load, lambda root: "", embedded=True,
                         detail="procedural, generated in memory (no files)"),
        "fashion-mnist-mini": _Entry(idx.load_fashion_mnist_mini, lambda root: "", embedded=True,
                                     detail="real Fashion-MNIST subset shipped with the worker "
                                            "(10 000 train + 2 000 test, class-balanced)"),
        "mnist": _Entry(idx.load_mnist, idx.probe),
        "fashion-mnist": _Entry(idx.load_fashion_mnist, idx.probe),
        "cifar10": _Entry(cifar.load_cifar10, cifar.probe_cifar10),
        "cifar100": _Entry(cifar.load_cifar100, cifar.probe_cifar100),
        "stl10": _Entry(stl10.load, stl10.probe),
        "imagefolder": _Entry(imagefolder.load, imagefolder.probe),
    }


DATASET_NAMES = DATASETS


def _entry(name: str) -> _Entry:
    reg = _registry()
    if name not in reg:
        raise DatasetError(name, "one of " + ", ".join(DATASET_NAMES), "unknown dataset")
    return reg[name]


def candidate_roots(name: str, root: str = "") -> list[Path]:
    """Folders searched for `name`, in order. An explicit root is the only candidate."""
    if root:
        return [Path(root).expanduser()]
    roots = [Path(DEFAULT_ROOT_BASE) / name]
    env = os.environ.get(ENV_ROOT, "")
    if env:
        roots.append(Path(env).expanduser() / name)
    return roots


def _pick_root(name: str, root: str) -> tuple[Path, str]:
    """The first candidate whose files are present, or (first candidate, what is missing)."""
    entry = _entry(name)
    cands = candidate_roots(name, root)
    first_missing = ""
    for c in cands:
        try:
            missing = entry.probe(c)
        except OSError as e:  # e.g. a folder we may not list
            missing = f"unreadable: {e}"
        if not missing:
            return c, ""
        first_missing = first_missing or missing
    return cands[0], first_missing


def dataset_status(name: str, root: str = "") -> tuple[bool, str, str]:
    """(available, default_root, detail) for WorkerInfo.datasets; never raises for a known name."""
    entry = _entry(name)
    if entry.embedded:
        return True, "", entry.detail
    found, missing = _pick_root(name, root)
    if not missing:
        return True, str(found), f"found at {found}"
    searched = ", ".join(str(c) for c in candidate_roots(name, root))
    return False, str(found), f"not found (searched {searched}): {missing}"


def load_dataset(cfg: DataConfig, seed: int) -> ImageDataset:
    """Reads the dataset named by cfg and applies the limits. Raises DatasetError."""
    entry = _entry(cfg.name)
    # When nothing is found, the reader runs on the first candidate and its error names the
    # missing file precisely.
    root = Path(cfg.root) if entry.embedded else _pick_root(cfg.name, cfg.root)[0]
    ds = entry.load(root, cfg, seed)
    if cfg.train_limit and cfg.train_limit < len(ds.train_y):
        keep = subset_indices(ds.train_y, cfg.train_limit, seed, stream=1)
        ds.train_x, ds.train_y = ds.train_x[keep], ds.train_y[keep]
    if cfg.test_limit and cfg.test_limit < len(ds.test_y):
        keep = subset_indices(ds.test_y, cfg.test_limit, seed, stream=2)
        ds.test_x, ds.test_y = ds.test_x[keep], ds.test_y[keep]
    return ds


def subset_indices(y: torch.Tensor, limit: int, seed: int, stream: int = 0) -> torch.Tensor:
    """`limit` indices into y, class-stratified (each class keeps its share, to within one
    image), chosen at random but deterministically from (seed, stream); returned sorted."""
    n = len(y)
    if limit >= n:
        return torch.arange(n)
    g = torch.Generator().manual_seed(mix_seed(seed, stream, 0x5EB5E7))
    perm = torch.randperm(n, generator=g)
    yp = y[perm].long()
    counts = torch.bincount(yp)
    # Rank of each element within its class, in permuted order (a stable sort by class keeps
    # the permuted order inside each class).
    by_class = torch.sort(yp, stable=True).indices
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty(n, dtype=torch.long)
    rank[by_class] = torch.arange(n) - starts[yp[by_class]]
    counts = counts.double()
    # Interleave classes proportionally: element r of a class of size c sits at (r + 0.5) / c.
    key = (rank.double() + 0.5) / counts[yp]
    order = torch.sort(key, stable=True).indices
    return torch.sort(perm[order[:limit]]).values


__all__ = [
    "DATASET_NAMES", "DatasetError", "ImageDataset", "load_dataset", "dataset_status",
    "candidate_roots", "subset_indices", "mix_seed", "Augment", "eval_transform", "normalize",
    "MEAN", "STD",
]
