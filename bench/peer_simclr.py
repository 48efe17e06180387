"""The reference peer pipeline: SimCLR as most public code writes it (a baseline, not projhead).

A torchvision-style Dataset holds the images as uint8 HWC numpy arrays (as torchvision's CIFAR10
does), turns each one into a PIL image in __getitem__ and applies the SimCLR recipe twice, in
DataLoader worker processes:

    RandomResizedCrop(S, scale=(0.2, 1)) -> RandomHorizontalFlip -> RandomApply(ColorJitter(0.4,
    0.4, 0.4, 0.1), p=0.8) -> RandomGrayscale(0.2) [-> RandomApply(GaussianBlur, p=0.5) for
    S >= 96, as SimCLR does on 96+ px images and as projhead's Augment does] -> ToTensor ->
    Normalize(0.5, 0.5)

The training step uses projhead's own model (build_model) and loss (losses.info_nce) with a
plain torch.optim.SGD over all parameters (momentum 0.9, weight decay 5e-4): only the data
pipeline and the step machinery differ from projhead. On CUDA the peer gets the same bf16 autocast
and channels_last as projhead (precision="fp32" and channels_last=False give the plainer
fp32 loop most repositories run), so a ratio against it measures the pipeline, not the precision.

Standalone use (steady state over whole epochs; the first epoch is a warm-up and not reported):

    python bench/peer_simclr.py --device cpu --data shapes --n 2048 --batch 256 --workers 2 --epochs 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

_HERE = Path(__file__).resolve().parent
_WORKER = _HERE.parent / "python_worker"
if str(_WORKER) not in sys.path:
    sys.path.insert(0, str(_WORKER))

from projhead_worker.common.config import HeadConfig, ModelConfig  # noqa: E402
from projhead_worker.training.losses import info_nce  # noqa: E402
from projhead_worker.training.models import build_model  # noqa: E402

MEAN = (0.5, 0.5, 0.5)  # the same normalisation projhead uses
STD = (0.5, 0.5, 0.5)


def simclr_transform(size: int, api: str = "v1", blur: bool | None = None) -> Callable[[Image.Image], torch.Tensor]:
    """The SimCLR augmentation recipe on PIL images (torchvision.transforms v1, or v2 on PIL).
    blur=None: Gaussian blur (p 0.5, kernel ~10% of the side) only for size >= 96."""
    if blur is None:
        blur = size >= 96
    if api == "v2":
        from torchvision.transforms import v2 as T

        tail = [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(MEAN, STD)]
    elif api == "v1":
        import torchvision.transforms as T

        tail = [T.ToTensor(), T.Normalize(MEAN, STD)]
    else:
        raise ValueError(f"api: {api!r}, expected v1 or v2")
    ops: list[Any] = [
        T.RandomResizedCrop(size, scale=(0.2, 1.0)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
    ]
    if blur:
        k = 2 * max(1, int(0.1 * size) // 2) + 1  # the kernel projhead's Augment uses (9 at 96 px)
        ops.append(T.RandomApply([T.GaussianBlur(k, sigma=(0.1, 2.0))], p=0.5))
    return T.Compose(ops + tail)


class TwoViewDataset(Dataset):
    """uint8 images [N, C, H, W] (C = 1 or 3) -> (view1, view2) float [3, S, S], via PIL."""

    def __init__(self, images: torch.Tensor, transform: Callable[[Image.Image], torch.Tensor]):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"expected uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
        x = images.cpu()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        self.data = np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())  # HWC, like torchvision's CIFAR10
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        img = Image.fromarray(self.data[i])
        return self.transform(img), self.transform(img)


def make_loader(images: torch.Tensor, *, size: int, batch: int, workers: int, pin_memory: bool, api: str = "v1",
                seed: int = 0) -> DataLoader:
    ds = TwoViewDataset(images, simclr_transform(size, api))
    return DataLoader(
        ds, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers, pin_memory=pin_memory,
        persistent_workers=workers > 0, prefetch_factor=2 if workers > 0 else None,
        generator=torch.Generator().manual_seed(seed),
    )


class PeerTrainer:
    """The plain SimCLR step: both views through the model in one batch, InfoNCE, SGD."""

    def __init__(self, model_cfg: ModelConfig, device: torch.device, *, lr: float = 0.06, temperature: float = 0.5,
                 precision: str = "auto", channels_last: bool | None = None, compile: bool = False):
        self.device = device
        self.model = build_model(model_cfg).to(device)
        cuda = device.type == "cuda"
        self.channels_last = cuda if channels_last is None else channels_last
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.bf16 = precision == "bf16" or (precision == "auto" and cuda)
        self.temperature = temperature
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
        if compile:
            self.model.compile()

    def step(self, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
        b = v1.shape[0]
        x = torch.cat([v1, v2], dim=0).to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        self.model.train()
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            z = self.model.head(self.model.backbone(x))
        loss, _ = info_nce(z[:b], z[b:], self.temperature)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def resident_bytes(self) -> int:
        n = sum(t.numel() * t.element_size() for t in list(self.model.parameters()) + list(self.model.buffers()))
        for st in self.optimizer.state.values():
            n += sum(v.numel() * v.element_size() for v in st.values() if torch.is_tensor(v) and v.device == self.device)
        return n


def run_epoch(loader: DataLoader, trainer: PeerTrainer, mark: Callable[[], None], log_every: int = 10) -> int:
    """One whole epoch; mark() is called before each batch is fetched (so data waits count in
    the step time) and once more at the end. Returns the number of steps."""
    it = iter(loader)
    steps = 0
    while True:
        mark()
        try:
            v1, v2 = next(it)
        except StopIteration:
            break
        loss = trainer.step(v1, v2)
        steps += 1
        if steps % log_every == 0:  # what a logging loop does: one host sync every few steps
            if not torch.isfinite(loss).item():
                raise RuntimeError(f"peer: non-finite loss at step {steps}")
    return steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data", default="shapes", choices=["shapes", "synthetic"])
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--n", type=int, default=2048, help="images per epoch")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 16))
    ap.add_argument("--epochs", type=int, default=3, help="including one warm-up epoch")
    ap.add_argument("--backbone", default="convnet")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--api", default="v1", choices=["v1", "v2"])
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    images = bench_images(args.data, args.n, args.size, seed=0)
    loader = make_loader(images, size=args.size, batch=args.batch, workers=args.workers, pin_memory=device.type == "cuda",
                         api=args.api)
    trainer = PeerTrainer(ModelConfig(backbone=args.backbone, width=args.width, cifar_stem=args.size <= 64), device,
                          precision=args.precision)
    rates = []
    for e in range(args.epochs):
        sync(device)
        t0 = time.perf_counter()
        steps = run_epoch(loader, trainer, lambda: None)
        sync(device)
        dt = time.perf_counter() - t0
        rate = steps * args.batch / dt
        print(json.dumps({"epoch": e + 1, "warmup": e == 0, "seconds": round(dt, 3), "images_per_sec": round(rate, 1)}), flush=True)
        if e > 0:
            rates.append(rate)
    if rates:
        print(json.dumps({"median_images_per_sec": round(statistics.median(rates), 1), "epochs_timed": len(rates)}))
    return 0


def bench_images(kind: str, n: int, size: int, seed: int = 0) -> torch.Tensor:
    """uint8 [n, 3, size, size]: projhead's procedural `shapes` (real images, any size) or
    uniform random pixels ("synthetic", instant at any n; the augmentation cost does not depend
    on the content)."""
    if kind == "shapes":
        from projhead_worker.training.data.shapes import generate

        return generate(n, size, seed)[0]
    if kind == "synthetic":
        g = torch.Generator().manual_seed(seed)
        return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    raise ValueError(f"data: {kind!r}, expected shapes or synthetic")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    sys.exit(main())
