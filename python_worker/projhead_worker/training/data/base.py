"""What the dataset readers and the package share: the dataset they return, the error they
raise, and the seed mixer. The readers import it, never the package (`projhead_worker.training.data`,
which imports them); the package re-exports all of it."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...common.errors import DatasetError

__all__ = ["DatasetError", "ImageDataset", "mix_seed"]


@dataclass
class ImageDataset:
    name: str
    num_classes: int
    train_x: torch.Tensor  # uint8 [N, C, H, W]
    train_y: torch.Tensor  # int64 [N]
    test_x: torch.Tensor   # uint8 [M, C, H, W]
    test_y: torch.Tensor   # int64 [M]
    class_names: list[str] | None = None


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from several integers (splitmix-style), so seed streams never collide
    the way seed+1 / seed*2 would."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
        h = h * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h & 0x7FFFFFFFFFFFFFFF
