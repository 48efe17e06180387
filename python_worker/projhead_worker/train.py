"""The training loop. It knows nothing of gRPC: it reads a RunConfig, reports plain dict events
through `emit`, polls `should_stop` between steps, and writes checkpoints into run_dir.

Reproducibility: the data order of epoch e is a permutation seeded by (seed, e) and the
augmentations of step s are seeded by (seed, s), so a run resumed from a checkpoint at any step
replays exactly the batches and views an uninterrupted run would have seen.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from . import checkpoint, dist
from .config import RunConfig
from .data import Augment, load_dataset
from .dynamics import LayerDynamics, cadence as dynamics_cadence
from .evaluation import evaluate_layers, extract_features, knn_top1, untrained_layers
from .methods import build_method
from .models import build_model
from .optim import build_optimizer, lr_at

Emit = Callable[..., int]  # emit(type, **fields) -> seq of the event


class NonFiniteLoss(RuntimeError):
    pass


class Cancelled(Exception):
    """Raised after the cancel checkpoint was written."""

    def __init__(self, checkpoint: str, step: int):
        super().__init__(f"cancelled at step {step}")
        self.checkpoint = checkpoint
        self.step = step


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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"train.device: {name!r} requested but CUDA is not available on this worker")
    if name.startswith("cuda") and dist.world_size() > 1:
        # one GPU per rank: torchrun's LOCAL_RANK picks it (a cuda:N index does not apply)
        return torch.device("cuda", dist.local_rank())
    return torch.device(name)


def setup_process(device: torch.device, threads: int) -> None:
    """Process-wide torch settings of a training process (the benchmarks reuse them)."""
    if threads:
        torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        # Bitwise-identical CPU runs for the same seed (resume is compared against this).
        torch.use_deterministic_algorithms(True, warn_only=True)


# TEST-ONLY fault injection, for the end-to-end tests of named failures. Never set it in real
# use. PROJHEAD_FAULT=nan_loss_at_step:N fills the model's first parameter with NaN just before
# global step N (1-based), so that step's loss is NaN and the run must end as non_finite_loss
# with its last good checkpoint kept.
FAULT_ENV = "PROJHEAD_FAULT"


def fault_nan_step(value: str | None = None) -> int:
    """The step named by PROJHEAD_FAULT=nan_loss_at_step:N, else 0."""
    value = os.environ.get(FAULT_ENV, "") if value is None else value
    kind, _, arg = value.partition(":")
    if kind != "nan_loss_at_step":
        return 0
    try:
        return max(0, int(arg))
    except ValueError:
        return 0


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
    optimizer = build_optimizer(method.outer_parameters(), cfg.optim)
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


def train(
    cfg: RunConfig,
    run_dir: Path,
    emit: Emit,
    should_stop: Callable[[], str | None],
    resume_from: Path | None = None,
    last_seq: Callable[[], int] = lambda: 0,
) -> dict[str, Any]:
    """Runs (or resumes) training. Returns the finished summary. Raises Cancelled when
    should_stop() returns a reason (after writing a checkpoint)."""
    t_start = time.time()
    run_dir = Path(run_dir)
    device = resolve_device(cfg.train.device)
    setup_process(device, cfg.train.threads)

    ds = load_dataset(cfg.data, cfg.seed)
    state = build_training(cfg, device, ds.train_x.to(device))
    model, method, optimizer = state.model, state.method, state.optimizer
    out_size, world, n = state.out_size, state.world, int(state.train_x.shape[0])
    steps_per_epoch, total_steps = state.steps_per_epoch, state.total_steps
    if resume_from is not None:
        ckpt = checkpoint.load(resume_from, map_location=device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        method.load_state_dict(ckpt["method"])
        checkpoint.set_rng_state(ckpt["rng"])
        state.prog = Progress(**ckpt["progress"])
    prog = state.prog

    last_metrics: dict[str, Any] = {}

    def check_finite() -> None:
        # Never write a checkpoint that is not a "last good" one: the loss is only read on the
        # steps that log it, so look at the newest loss and at the weights before saving.
        if "loss" in last_metrics:
            loss = float(last_metrics["loss"])
            if not math.isfinite(loss):
                raise NonFiniteLoss(f"loss became {loss} by step {prog.step} (epoch {prog.epoch + 1})")
        params = [p.detach() for p in model.parameters()]
        if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            raise NonFiniteLoss(f"model weights became non-finite by step {prog.step} (epoch {prog.epoch + 1})")

    def save(reason: str) -> str:
        check_finite()
        if not dist.is_main():
            return ""
        state = {
            "spec": cfg.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "method": method.state_dict(),
            "rng": checkpoint.rng_state(),
            "progress": prog.__dict__.copy(),
            # The checkpoint event itself gets seq last_seq()+1: a resumed run continues after it.
            "seq": last_seq() + 1,
        }
        path, nbytes = checkpoint.save(run_dir, state)
        emit("checkpoint", path=path, step=prog.step, epoch=prog.epoch, reason=reason, bytes=nbytes)
        return path

    # Training dynamics of every layer on fixed subsets (drawn here, before any step).
    dyn_every = dynamics_cadence(cfg)
    dynamics = LayerDynamics(cfg, ds, out_size, device) if dyn_every and dist.is_main() else None

    def measure_dynamics(epoch: int) -> None:
        if dynamics is not None:
            emit("dynamics", epoch=epoch, step=prog.step, **dynamics.measure(model))

    backbone_params = sum(p.numel() for p in model.backbone.parameters())
    head_params = sum(p.numel() for p in model.head.parameters())
    # The same backbone at random initialisation: the baseline every kNN number is read against.
    initial_knn = -1.0
    if cfg.train.knn_every_epochs and resume_from is None and dist.is_main():
        initial_knn = knn_monitor(model, ds, out_size, device)
    emit(
        "started",
        resolved_spec=cfg.to_dict(),
        device=str(device),
        train_images=n,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        start_step=prog.step,
        resumed=resume_from is not None,
        backbone_params=backbone_params,
        head_params=head_params,
        world_size=world,
        initial_knn_top1=initial_knn,
        **method.started_fields(),
    )
    if resume_from is None:
        measure_dynamics(0)  # the layers at initialisation, before the first step

    nan_at = fault_nan_step()
    t_log, imgs_since_log = time.time(), 0
    last_ckpt = ""
    done = prog.step >= total_steps

    while not done and prog.epoch < cfg.train.epochs:
        if prog.epoch_step == 0:
            prog.epoch_loss_sum, prog.epoch_loss_count = 0.0, 0
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
        t_epoch = time.time()
        perm = state.start_epoch()
        while prog.epoch_step < steps_per_epoch:
            t_step = time.time()
            reason = _agreed_stop(should_stop()) if world > 1 else should_stop()
            if reason:
                path = save(reason)  # rank 0 only
                dist.barrier()  # the other ranks wait for the checkpoint, then all stop here
                raise Cancelled(path, prog.step)
            x1, x2 = state.next_views(perm)
            if nan_at and prog.step + 1 == nan_at:  # TEST-ONLY fault injection (see FAULT_ENV)
                with torch.no_grad():
                    next(model.parameters()).fill_(float("nan"))
            metrics = state.train_step(x1, x2)
            last_metrics = metrics
            imgs_since_log += cfg.train.batch_size
            last_step = prog.step >= total_steps
            if prog.step % cfg.train.log_every_steps == 0 or last_step or prog.epoch_step == steps_per_epoch:
                vals = _global_mean(metrics, device) if world > 1 else {k: float(v) for k, v in metrics.items()}
                if not math.isfinite(vals["loss"]):
                    raise NonFiniteLoss(f"loss became {vals['loss']} at step {prog.step} (epoch {prog.epoch + 1})")
                prog.last_loss = vals["loss"]
                prog.epoch_loss_sum += vals["loss"]
                prog.epoch_loss_count += 1
                now = time.time()
                emit(
                    "step",
                    step=prog.step,
                    epoch=prog.epoch + 1,
                    loss=vals["loss"],
                    lr=optimizer.param_groups[0]["lr"],
                    images_per_sec=imgs_since_log / max(now - t_log, 1e-9),
                    contrastive_acc=vals["acc"],
                    # only what the method measures (bilevel: head_loss, inner_gain)
                    **{k: vals[k] for k in ("head_loss", "inner_gain") if k in vals},
                )
                t_log, imgs_since_log = now, 0
            # The step with its logging (whose host sync waits for the device's work); not the
            # checkpoints, monitors or evaluation.
            prog.train_seconds += time.time() - t_step
            if cfg.train.checkpoint_every_steps and prog.step % cfg.train.checkpoint_every_steps == 0 and not last_step:
                last_ckpt = save("periodic")
            if last_step:
                done = True
                break

        epoch_done = prog.epoch_step >= steps_per_epoch
        epoch_seconds = time.time() - t_epoch
        finished_epoch = prog.epoch + 1
        knn = -1.0
        k_every = cfg.train.knn_every_epochs
        if k_every and (finished_epoch % k_every == 0 or done) and dist.is_main():
            knn = knn_monitor(model, ds, out_size, device)  # no collectives inside: plain modules
            prog.last_knn = knn
        if epoch_done:
            state.finish_epoch()
        emit(
            "epoch",
            epoch=finished_epoch,
            step=prog.step,
            loss=prog.epoch_loss_sum / max(prog.epoch_loss_count, 1),
            knn_top1=knn,
            epoch_seconds=epoch_seconds,
            images_per_sec=(steps_per_epoch * cfg.train.batch_size) / max(epoch_seconds, 1e-9),
            peak_memory_bytes=torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0,
        )
        if dyn_every and (finished_epoch % dyn_every == 0 or done):
            measure_dynamics(finished_epoch)
        ce = cfg.train.checkpoint_every_epochs
        if not done and ce and finished_epoch % ce == 0:
            last_ckpt = save("epoch")
        if world > 1 and not done:
            # Rank 0 may have spent a while on the kNN monitor and the checkpoint; the others
            # wait here rather than inside a training collective (whose timeout is the same
            # but whose failure would look like a training error).
            dist.barrier()
        if prog.step >= total_steps:
            done = True

    last_ckpt = save("final")
    evaluated = {}
    if cfg.train.eval_at_end and dist.is_main():
        evaluate_layers(model, ds, cfg, device, on_layer=lambda layer: emit("evaluation", **layer))
        evaluated = {"untrained_layers": untrained_layers(cfg)}
    inner = cfg.method.bilevel.inner_steps if cfg.method.name == "bilevel" else 0
    return {
        **evaluated,
        # Equal-compute accounting (whole run, across resumes).
        "train_seconds": prog.train_seconds,
        "images_seen": prog.step * cfg.train.batch_size,
        "optimizer_steps": prog.step,
        "inner_head_steps": prog.step * inner,
        "steps": prog.step,
        "epochs": prog.epoch,
        "final_loss": prog.last_loss,
        "knn_top1": prog.last_knn,
        "wall_seconds": time.time() - t_start,
        "checkpoint": last_ckpt,
    }


# Stop reasons in the order a disagreement resolves them (a user's cancel wins over a signal).
_STOP_REASONS = ("", "signal", "cancel")


def _agreed_stop(reason: str | None) -> str | None:
    """Every rank's should_stop() combined: all ranks stop at the same step when any rank was
    asked to (a signal reaches the ranks at slightly different times). Rank 0 keeps its own
    reason string for the checkpoint when it has one."""
    code = 0 if not reason else _STOP_REASONS.index(reason) if reason in _STOP_REASONS else 1
    agreed = dist.max_over_ranks(code)
    if not agreed:
        return None
    return reason or _STOP_REASONS[agreed]


def _global_mean(metrics: dict[str, Any], device: torch.device) -> dict[str, float]:
    """The mean over ranks of this step's metrics (each rank's are over its own rows): the logged
    loss is then the global-batch loss, and every rank sees the same values (a non-finite loss
    stops all ranks, not one)."""
    keys = list(metrics)
    t = torch.stack([torch.as_tensor(metrics[k], dtype=torch.float32).to(device).reshape(()) for k in keys])
    dist.all_reduce_mean_([t])
    return dict(zip(keys, t.tolist()))


# Larger training subsets make the kNN monitor slower without changing what it shows.
KNN_MONITOR_TRAIN = 10000


@torch.no_grad()
def knn_monitor(model, ds, out_size: int, device: torch.device) -> float:
    n = min(KNN_MONITOR_TRAIN, int(ds.train_x.shape[0]))
    train_f = extract_features(model, ds.train_x[:n], out_size, device)["h"]
    test_f = extract_features(model, ds.test_x, out_size, device)["h"]
    return float(knn_top1(train_f, ds.train_y[:n], test_f, ds.test_y, ds.num_classes))
