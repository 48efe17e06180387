"""The training step: `TrainState`, what one step touches, and `build_training`, which makes it
for a spec. The loop in train.py and the benchmarks (bench/bench_train.py,
bench/bench_cpu_precision.py) drive it with `start_epoch`, `next_views` (or `views`),
`train_step` and `finish_epoch`; `restore` and `checkpoint_state` are the checkpoint's side.

Reproducibility: the data order of epoch e is a permutation seeded by (seed, e) and the
augmentations of step s by (seed, s, rank), so a run resumed from a checkpoint at any step replays
exactly the batches and views an uninterrupted run would have seen.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..common.config import RunConfig
from . import checkpoint, dist
from .data import Augment
from .methods import build_method
from .models import build_model
from .optim import lr_at


@dataclass
class Progress:
    step: int = 0  # global steps done
    epoch: int = 0  # current epoch index (0-based)
    epoch_step: int = 0  # steps done inside the current epoch
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0
    last_knn: float = -1.0
    last_loss: float = float("nan")
    train_seconds: float = 0.0  # wall time inside training steps, summed over the run's lives


def seed_for(seed: int, *parts: int) -> int:
    """A stable mix of the run seed and a counter (the data order of an epoch, the views of a
    step); stays within torch's 64-bit seed range."""
    h = seed & 0xFFFFFFFFFFFF
    for p in parts:
        h = (h * 1000003 + p + 0x9E3779B1) & 0x7FFFFFFFFFFFFFFF
    return h


def autocast_for(device: torch.device, precision: str) -> Callable[[], Any]:
    """A factory of the autocast context of train.precision (bf16, or auto on CUDA) or of none."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use_bf16:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@dataclass
class TrainState:
    """What one training step touches: the model, its method and optimizer, the images on the
    device, the augmentation and its generator, the schedule, and the position (`prog`, saved in
    every checkpoint). Built by `build_training`; the loop in `train` and bench/bench_train.py
    drive it with `start_epoch`, `next_views` (or `views`), `train_step` and `finish_epoch`."""

    cfg: RunConfig
    device: torch.device
    model: torch.nn.Module
    method: Any
    optimizer: torch.optim.Optimizer
    base_lrs: list[float]
    augment: Augment
    autocast: Callable[[], Any]
    aug_gen: torch.Generator
    train_x: torch.Tensor  # uint8 images on the device
    out_size: int
    world: int
    rank: int
    local_bs: int  # each rank trains on its own slice of every global batch
    steps_per_epoch: int
    total_steps: int
    prog: Progress

    def start_epoch(self) -> torch.Tensor:
        """The data order of the current epoch (the same on every rank and on every resume);
        the method's epoch hook runs at the start of an epoch, not on a resume inside one."""
        if self.prog.epoch_step == 0:
            self.method.on_epoch_start(self.prog.epoch)
        gen = torch.Generator().manual_seed(seed_for(self.cfg.seed, 1, self.prog.epoch))
        perm = torch.randperm(int(self.train_x.shape[0]), generator=gen).to(self.device)
        self.model.train()
        return perm

    def views(self, xb: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The two augmented views of images `xb` at global step `step` (seeded by seed, step
        and rank), in the layout the model runs in."""
        self.aug_gen.manual_seed(seed_for(self.cfg.seed, 2, step, self.rank))
        x1 = self.augment(xb, self.aug_gen)
        x2 = self.augment(xb, self.aug_gen)
        if self.device.type == "cuda":
            x1 = x1.contiguous(memory_format=torch.channels_last)
            x2 = x2.contiguous(memory_format=torch.channels_last)
        return x1, x2

    def next_views(self, perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The views of this rank's slice of the next batch of the epoch ordered by `perm`."""
        lo = self.prog.epoch_step * self.cfg.train.batch_size + self.rank * self.local_bs
        return self.views(self.train_x[perm[lo : lo + self.local_bs]], self.prog.step)

    def train_step(self, x1: torch.Tensor, x2: torch.Tensor) -> dict[str, Any]:
        """One optimizer step at the scheduled learning rate; returns the method's metrics
        (tensors: reading them waits for the device)."""
        scale = lr_at(self.prog.step, self.total_steps, self.steps_per_epoch, self.cfg.optim)
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * scale
        self.method.set_lr_scale(scale)
        metrics = self.method.train_step(x1, x2, self.optimizer, self.autocast)
        self.prog.step += 1
        self.prog.epoch_step += 1
        return metrics

    def finish_epoch(self) -> None:
        self.prog.epoch += 1
        self.prog.epoch_step = 0

    def restore(self, path: Path) -> None:
        """Continues from checkpoint `path`: weights, optimizer and method state, the RNGs and
        the position."""
        ckpt = checkpoint.load(path, map_location=self.device)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.method.load_state_dict(ckpt["method"])
        checkpoint.set_rng_state(ckpt["rng"])
        self.prog = Progress(**ckpt["progress"])

    def checkpoint_state(self, seq: int) -> dict[str, Any]:
        """Everything `restore` needs, plus the spec and the event seq the checkpoint's own
        `checkpoint` event will get (a resumed run's events continue after it)."""
        return {
            "spec": self.cfg.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "method": self.method.state_dict(),
            "rng": checkpoint.rng_state(),
            "progress": self.prog.__dict__.copy(),
            "seq": seq,
        }


def build_training(cfg: RunConfig, device: torch.device, train_x: torch.Tensor) -> TrainState:
    """The training state of `cfg` on `device` for the images `train_x` (already on the device),
    at step 0 with fresh weights drawn from cfg.seed. The rank and world size are torch.distributed's."""
    world, rank = dist.world_size(), dist.rank()
    if cfg.train.batch_size % world:
        raise ValueError(f"train.batch_size: {cfg.train.batch_size} is not divisible by nproc={world}")
    n = int(train_x.shape[0])
    steps_per_epoch = n // cfg.train.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"train.batch_size: {cfg.train.batch_size} is larger than the {n} training images")
    total_steps = steps_per_epoch * cfg.train.epochs
    if cfg.train.max_steps:
        total_steps = min(total_steps, cfg.train.max_steps)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    method = build_method(model, cfg)
    optimizer = method.make_optimizer()
    out_size = cfg.data.image_size or int(train_x.shape[-1])
    if cfg.train.compile:
        model.compile()
    return TrainState(
        cfg=cfg, device=device, model=model, method=method, optimizer=optimizer,
        base_lrs=[g["lr"] for g in optimizer.param_groups], augment=Augment(cfg.augment, out_size),
        autocast=autocast_for(device, cfg.train.precision),
        aug_gen=torch.Generator(device=device if device.type == "cuda" else torch.device("cpu")),
        train_x=train_x, out_size=out_size, world=world, rank=rank, local_bs=cfg.train.batch_size // world,
        steps_per_epoch=steps_per_epoch, total_steps=total_steps, prog=Progress(),
    )
