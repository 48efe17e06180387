"""`imagefolder`: root/train/<class>/<image> and root/test/<class>/<image>.

Classes are the sorted folder names under train/. Without a test/ folder a deterministic 10% of
each class (at least one image when the class has two or more) is held out; without a train/
folder, the class folders may sit in the root itself. Images (png, jpg, jpeg, bmp, webp, gif)
are decoded to RGB once at load, resized so the shorter side is data.image_size (64 when 0) and
centre-cropped square, into uint8 tensors.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...common.config import DataConfig
from .base import DatasetError, ImageDataset, mix_seed

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"}
DEFAULT_SIZE = 64
HOLDOUT = 0.1
LAYOUT = "an image folder: root/train/<class>/*.png|jpg (and optionally root/test/<class>/...)"


def _classes(split: Path) -> dict[str, list[Path]]:
    out = {}
    for d in sorted(p for p in split.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in EXTENSIONS)
        if files:
            out[d.name] = files
    return out


def _train_dir(root: Path) -> Path:
    return root / "train" if (root / "train").is_dir() else root


def probe(root: Path) -> str:
    """Cheap: stops at the first class folder holding an image (never lists a whole tree)."""
    if not root.is_dir():
        return f"folder {root} not found"
    train = _train_dir(root)
    for d in train.iterdir():
        if d.is_dir() and not d.name.startswith("."):
            if any(f.suffix.lower() in EXTENSIONS and f.is_file() for f in d.iterdir()):
                return ""
    return f"no class folders with images in {train}"


def decode(path: Path, size: int) -> torch.Tensor:
    """One image as uint8 [3, size, size]: shorter side resized to size, centre crop."""
    img = _read_rgb(path)
    h, w = img.shape[-2:]
    s = size / min(h, w)
    nh, nw = max(size, round(h * s)), max(size, round(w * s))
    if (nh, nw) != (h, w):
        x = F.interpolate(img[None].float(), size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
        img = x[0].round().clamp(0, 255).to(torch.uint8)
    top, left = (nh - size) // 2, (nw - size) // 2
    return img[:, top : top + size, left : left + size].contiguous()


def _read_rgb(path: Path) -> torch.Tensor:
    """uint8 [3, H, W]. Pillow (a torchvision dependency) first: torchvision.io's decoders are
    deprecated since 0.29; they remain the fallback where Pillow is missing."""
    expected = "an image file (png, jpg, bmp, webp, gif)"
    try:
        from PIL import Image
    except ImportError:
        Image = None
    try:
        if Image is not None:
            with Image.open(path) as im:  # animated images: the first frame
                arr = np.asarray(im.convert("RGB"))
            return torch.from_numpy(arr.copy()).permute(2, 0, 1)
        from torchvision.io import ImageReadMode, decode_image, read_file

        img = decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
        return img[0] if img.ndim == 4 else img
    except Exception as e:
        raise DatasetError(path, expected, f"cannot decode ({type(e).__name__}: {e})") from None


def _stack(files: list[tuple[Path, int]], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.empty(len(files), 3, size, size, dtype=torch.uint8)
    for i, (f, _) in enumerate(files):
        x[i] = decode(f, size)
    return x, torch.tensor([c for _, c in files], dtype=torch.int64)


def load(root: Path, cfg: DataConfig, seed: int):
    if not root.is_dir():
        raise DatasetError(root, LAYOUT, "folder not found")
    try:
        return _load(root, cfg)
    except OSError as e:  # unreadable folder or file
        raise DatasetError(e.filename or root, LAYOUT, f"unreadable ({e.strerror or e})") from None


def _load(root: Path, cfg: DataConfig):
    train_dir = _train_dir(root)
    train = _classes(train_dir)
    if not train:
        raise DatasetError(train_dir, LAYOUT, "no class folders with images")
    names = list(train)
    index = {n: i for i, n in enumerate(names)}
    tr: list[tuple[Path, int]] = []
    te: list[tuple[Path, int]] = []
    test_dir = root / "test"
    if test_dir.is_dir() and train_dir != root:
        for cname, files in _classes(test_dir).items():
            if cname not in index:
                raise DatasetError(test_dir / cname, LAYOUT + f"; test classes must also be train classes ({', '.join(names)})", "unknown class")
            te += [(f, index[cname]) for f in files]
        for cname, files in train.items():
            tr += [(f, index[cname]) for f in files]
    else:
        # Fixed hold-out, independent of the run seed, so every run evaluates on the same images.
        for cname, files in train.items():
            g = torch.Generator().manual_seed(mix_seed(0x1F, index[cname]))
            perm = torch.randperm(len(files), generator=g).tolist()
            k = 0 if len(files) < 2 else max(1, round(HOLDOUT * len(files)))
            held = set(perm[:k])
            for j, f in enumerate(files):
                (te if j in held else tr).append((f, index[cname]))
    size = cfg.image_size or DEFAULT_SIZE
    tx, ty = _stack(tr, size)
    vx, vy = _stack(te, size)
    return ImageDataset("imagefolder", len(names), tx, ty, vx, vy, names)
