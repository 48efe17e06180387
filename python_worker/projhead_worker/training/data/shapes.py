"""`shapes`: a procedural, seeded, embedded dataset (no files).

Each image is one shape of one of ten kinds, drawn with random position, size, rotation,
foreground and background colour, a faint background gradient and mild pixel noise. The class
is the shape kind only, so colour and position are nuisances a good representation must ignore
and a random-init backbone (which mostly sees colour) does clearly worse than a trained one.

Rasterised in bulk: per class, signed distances of all pixel centres of all its images to the
shape, turned into anti-aliased coverage. No per-pixel or per-image Python loops.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ...common.config import DataConfig
from .base import ImageDataset, mix_seed

CLASS_NAMES = ["circle", "square", "triangle", "cross", "ring", "star", "ellipse", "bar", "crescent", "frame"]
NUM_CLASSES = len(CLASS_NAMES)
DEFAULT_TRAIN = 6000
NATIVE_SIZE = 32
# The dataset is the same for every run, like a real one: the run seed only picks limit subsets.
DATASET_SEED = 0
_CHUNK = 2048  # images rasterised at once; bounds memory for large synthetic_size


def load(root: Path, cfg: DataConfig, seed: int):
    n_train = cfg.synthetic_size or DEFAULT_TRAIN
    n_test = max(NUM_CLASSES, n_train // 5)
    size = cfg.image_size or NATIVE_SIZE
    tx, ty = generate(n_train, size, mix_seed(DATASET_SEED, 1))
    vx, vy = generate(n_test, size, mix_seed(DATASET_SEED, 2))
    return ImageDataset("shapes", NUM_CLASSES, tx, ty, vx, vy, list(CLASS_NAMES))


def generate(n: int, size: int = NATIVE_SIZE, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n images uint8 [n, 3, size, size] and labels int64 [n]; exactly balanced classes (to
    within one) in random order; a pure function of (n, size, seed)."""
    g = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % NUM_CLASSES)[torch.randperm(n, generator=g)]
    u = torch.rand(n, 11, generator=g)
    out = torch.empty(n, 3, size, size, dtype=torch.uint8)
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        noise = torch.randn(hi - lo, 3, size, size, generator=g)
        out[lo:hi] = _render(labels[lo:hi], u[lo:hi], noise, size)
    return out, labels


def _render(labels: torch.Tensor, u: torch.Tensor, noise: torch.Tensor, size: int) -> torch.Tensor:
    n = len(labels)
    scale = 0.4 + 0.4 * u[:, 0]                        # shape radius, in half-image units
    reach = (0.95 - 0.9 * scale).clamp(min=0.0)        # keep most of the shape in frame
    cx = (u[:, 1] * 2 - 1) * reach
    cy = (u[:, 2] * 2 - 1) * reach
    theta = u[:, 3] * 2 * math.pi
    bg = u[:, 4:7]
    # Each foreground channel differs from the background by 0.3..0.7 (mod 1): always visible.
    fg = torch.remainder(bg + 0.3 + 0.4 * u[:, 7:10], 1.0)
    grad_angle = u[:, 10] * 2 * math.pi

    # Pixel centres in [-1, 1].
    t = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    gy, gx = torch.meshgrid(t, t, indexing="ij")
    dx = gx - cx[:, None, None]
    dy = gy - cy[:, None, None]
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    s = scale[:, None, None]
    # Shape-local coordinates: unrotated, unit size.
    px = (cos * dx + sin * dy) / s
    py = (-sin * dx + cos * dy) / s

    sdf = torch.empty(n, size, size)
    for k, fn in enumerate(_SDFS):
        idx = (labels == k).nonzero().squeeze(1)
        if len(idx):
            sdf[idx] = fn(px[idx], py[idx])
    # Coverage with a one-pixel anti-aliasing ramp (distances scale back by the shape size).
    pixel = 2.0 / size
    alpha = (0.5 - sdf * s / pixel).clamp(0.0, 1.0)[:, None]

    ramp = 0.12 * (torch.cos(grad_angle)[:, None, None] * gx + torch.sin(grad_angle)[:, None, None] * gy)
    back = bg[:, :, None, None] + ramp[:, None]
    img = back * (1 - alpha) + fg[:, :, None, None] * alpha + 0.03 * noise
    return (img.clamp(0.0, 1.0) * 255).round().to(torch.uint8)


# -- signed distance functions in shape-local units (negative inside) ---------------------------

def _length(x, y):
    return torch.sqrt(x * x + y * y)


def _box(x, y, bx, by):
    qx, qy = x.abs() - bx, y.abs() - by
    return _length(qx.clamp(min=0), qy.clamp(min=0)) + torch.maximum(qx, qy).clamp(max=0)


def _circle(x, y):
    return _length(x, y) - 0.85


def _square(x, y):
    return _box(x, y, 0.7, 0.7)


def _triangle(x, y):
    # Equilateral, circumradius 1: intersection of three half-planes at distance 0.5.
    d = None
    for a in (math.pi / 2, math.pi / 2 + 2 * math.pi / 3, math.pi / 2 + 4 * math.pi / 3):
        e = x * math.cos(a) + y * math.sin(a) - 0.5
        d = e if d is None else torch.maximum(d, e)
    return d


def _cross(x, y):
    return torch.minimum(_box(x, y, 0.95, 0.3), _box(x, y, 0.3, 0.95))


def _ring(x, y):
    return (_length(x, y) - 0.7).abs() - 0.22


def _star(x, y):
    # Five points: the radius swings between 0.45 and 1.0 with the polar angle.
    phi = torch.atan2(y, x)
    tri = (torch.remainder(phi * (5 / (2 * math.pi)), 1.0) - 0.5).abs() * 2
    return (_length(x, y) - (0.45 + 0.55 * tri)) * 0.6


def _ellipse(x, y):
    a, b = 1.0, 0.5
    return (_length(x / a, y / b) - 1.0) * b


def _bar(x, y):
    return _box(x, y, 1.0, 0.25)


def _crescent(x, y):
    return torch.maximum(_length(x, y) - 0.9, 0.72 - _length(x - 0.45, y))


def _frame(x, y):
    return _box(x, y, 0.62, 0.62).abs() - 0.16


_SDFS = [_circle, _square, _triangle, _cross, _ring, _star, _ellipse, _bar, _crescent, _frame]
assert len(_SDFS) == NUM_CLASSES
