"""The training loop. It knows nothing of gRPC: it reads a RunConfig, reports plain dict events
through `emit`, polls `should_stop` between steps, and writes checkpoints into run_dir.

Its step is trainstate.py's (TrainState, build_training): what makes a resumed run replay the
uninterrupted one exactly is written there.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..common.config import RunConfig
from ..common.errors import NonFiniteLoss
from . import checkpoint, dist
from .data import load_dataset
from .dist import resolve_device
from .dynamics import LayerDynamics
from .dynamics import cadence as dynamics_cadence
from .evaluation import BASELINE_CACHE_DIR, evaluate_baselines, evaluate_layers, extract_features, knn_top1, protocol_of, untrained_layers
from .trainstate import Progress, TrainState, build_training

Emit = Callable[..., int]  # emit(type, **fields) -> seq of the event


class Cancelled(Exception):
    """Raised after the cancel checkpoint was written."""

    def __init__(self, checkpoint: str, step: int):
        super().__init__(f"cancelled at step {step}")
        self.checkpoint = checkpoint
        self.step = step


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


def train(
    cfg: RunConfig,
    run_dir: Path,
    emit: Emit,
    should_stop: Callable[[], str | None],
    resume_from: Path | None = None,
    last_seq: Callable[[], int] = lambda: 0,
    sync_events: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Runs (or resumes) training. Returns the finished summary. Raises Cancelled when
    should_stop() returns a reason (after writing a checkpoint). sync_events() makes the events
    emitted so far durable; it is called before each checkpoint is saved."""
    t_start = time.time()
    run_dir = Path(run_dir)
    device = resolve_device(cfg.train.device)
    setup_process(device, cfg.train.threads)

    ds = load_dataset(cfg.data, cfg.seed)
    state = build_training(cfg, device, ds.train_x.to(device))
    model, method = state.model, state.method
    out_size, world, n = state.out_size, state.world, int(state.train_x.shape[0])
    steps_per_epoch, total_steps = state.steps_per_epoch, state.total_steps
    if resume_from is not None:
        state.restore(resume_from)
    prog = state.prog

    last_metrics: dict[str, Any] = {}

    def save(reason: str) -> str:
        _check_finite(last_metrics, model, prog)
        if not dist.is_main():
            return ""
        # The checkpoint event itself gets seq last_seq()+1: a resumed run continues after it.
        ckpt = state.checkpoint_state(seq=last_seq() + 1)
        sync_events()  # the log holds every seq before the checkpoint's, whatever crashes next
        path, nbytes = checkpoint.save(run_dir, ckpt)
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
        initial_knn = knn_monitor(model, ds, out_size, device, cfg)
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
                now = time.time()
                _log_step(emit, state, vals, images_per_sec=imgs_since_log / max(now - t_log, 1e-9))
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
            knn = knn_monitor(model, ds, out_size, device, cfg)  # no collectives inside: plain modules
            prog.last_knn = knn
        if epoch_done:
            state.finish_epoch()
        _log_epoch(emit, state, finished_epoch, knn, epoch_seconds)
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
    evaluated = _evaluate_at_end(state, ds, run_dir, emit) if cfg.train.eval_at_end and dist.is_main() else {}
    return {**evaluated, **_accounting(state), "wall_seconds": time.time() - t_start, "checkpoint": last_ckpt}


def _check_finite(last_metrics: dict[str, Any], model: torch.nn.Module, prog: Progress) -> None:
    """Never write a checkpoint that is not a "last good" one: the loss is only read on the steps
    that log it, so look at the newest loss and at the weights before saving."""
    if "loss" in last_metrics:
        loss = float(last_metrics["loss"])
        if not math.isfinite(loss):
            raise NonFiniteLoss(f"loss became {loss} by step {prog.step} (epoch {prog.epoch + 1})")
    params = [p.detach() for p in model.parameters()]
    if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
        raise NonFiniteLoss(f"model weights became non-finite by step {prog.step} (epoch {prog.epoch + 1})")


def _log_step(emit: Emit, state: TrainState, vals: dict[str, float], images_per_sec: float) -> None:
    """A logged step: its global-mean metrics into the epoch's running loss and the `step` event."""
    prog = state.prog
    prog.last_loss = vals["loss"]
    prog.epoch_loss_sum += vals["loss"]
    prog.epoch_loss_count += 1
    emit(
        "step",
        step=prog.step,
        epoch=prog.epoch + 1,
        loss=vals["loss"],
        lr=state.optimizer.param_groups[0]["lr"],
        images_per_sec=images_per_sec,
        contrastive_acc=vals["acc"],
        **state.method.step_fields(vals),  # only what the method measures besides
    )


def _log_epoch(emit: Emit, state: TrainState, epoch: int, knn: float, seconds: float) -> None:
    prog, device = state.prog, state.device
    emit(
        "epoch",
        epoch=epoch,
        step=prog.step,
        loss=prog.epoch_loss_sum / max(prog.epoch_loss_count, 1),
        knn_top1=knn,
        epoch_seconds=seconds,
        images_per_sec=(state.steps_per_epoch * state.cfg.train.batch_size) / max(seconds, 1e-9),
        peak_memory_bytes=torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0,
    )


def _evaluate_at_end(state: TrainState, ds, run_dir: Path, emit: Emit) -> dict[str, Any]:
    """train.eval_at_end: every layer, or h alone (eval.layers; an `evaluation` event each), the
    protocol and the floors."""
    cfg, device = state.cfg, state.device
    evaluate_layers(state.model, ds, cfg, device, layers=["h"] if cfg.eval.layers == "h" else None,
                    on_layer=lambda layer: emit("evaluation", **layer))
    return {"untrained_layers": untrained_layers(cfg), "eval_protocol": protocol_of(ds, cfg),
            "baselines": evaluate_baselines(ds, cfg, device, cache_dir=run_dir.parent / BASELINE_CACHE_DIR)}


def _accounting(state: TrainState) -> dict[str, Any]:
    """Equal-compute accounting of the whole run, across resumes, and where it ended."""
    prog, batch = state.prog, state.cfg.train.batch_size
    return {
        "train_seconds": prog.train_seconds,
        "images_seen": prog.step * batch,
        "optimizer_steps": prog.step,
        "inner_head_steps": prog.step * state.method.inner_head_steps(),
        "steps": prog.step,
        "epochs": prog.epoch,
        "final_loss": prog.last_loss,
        "knn_top1": prog.last_knn,
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
def knn_monitor(model, ds, out_size: int, device: torch.device, cfg: RunConfig) -> float:
    n = min(KNN_MONITOR_TRAIN, int(ds.train_x.shape[0]))
    train_f = extract_features(model, ds.train_x[:n], out_size, device)["h"]
    test_f = extract_features(model, ds.test_x, out_size, device)["h"]
    return float(knn_top1(train_f, ds.train_y[:n], test_f, ds.test_y, ds.num_classes,
                          k=cfg.eval.knn_k, t=cfg.eval.knn_temperature))
