"""Optimizers (SGD, LARS, AdamW), parameter groups and the learning-rate schedule.

Parameter groups: weight decay only on parameters with more than one dimension (conv and
linear weights); BatchNorm weights/biases and all linear/conv biases (the 1-D parameters) get
none. With LARS the 1-D parameters are also excluded from the trust-ratio adaptation.

The schedule is a factor in [0, 1] that the training loop multiplies into each group's base lr
(`lr_at`): linear warmup over warmup_epochs, then cosine decay to 0 (or constant).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch.optim import Optimizer

from ..common.config import OptimConfig, RunConfig, SpecError


class LARS(Optimizer):
    """Layer-wise Adaptive Rate Scaling (You et al. 2017), in the form SimCLR's reference
    implementation uses: for a parameter w with gradient g,

        d = g + wd * w
        d = d * eta * ||w|| / ||d||   (only in groups with lars=True, and when both norms > 0)
        buf = momentum * buf + d;  w -= lr * buf       (nesterov: w -= lr * (d + momentum * buf))

    No lr clipping. eta (the trust coefficient) defaults to 0.02, so the per-step relative change
    of an adapted weight is about lr * eta. Groups with lars=False (biases, norm parameters) are
    plain momentum SGD. The trust ratio stays on the device (no host sync)."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 eta: float = 0.02, nesterov: bool = False, eps: float = 1e-9):
        if lr < 0 or momentum < 0 or weight_decay < 0 or eta <= 0:
            raise ValueError("LARS: lr, momentum, weight_decay must be >= 0 and eta > 0")
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta,
                        nesterov=nesterov, eps=eps, lars=True)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if group["weight_decay"]:
                grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
            if group["lars"]:
                w_norms = torch._foreach_norm(params)
                g_norms = torch._foreach_norm(grads)
                ratios = [
                    torch.where((wn > 0) & (gn > 0), group["eta"] * wn / (gn + group["eps"]), torch.ones_like(wn))
                    for wn, gn in zip(w_norms, g_norms)
                ]
                grads = torch._foreach_mul(grads, ratios)
            m = group["momentum"]
            if m:
                bufs = []
                for p, d in zip(params, grads):
                    st = self.state[p]
                    if "momentum_buffer" not in st:
                        st["momentum_buffer"] = d.detach().clone()
                    else:
                        st["momentum_buffer"].mul_(m).add_(d)
                    bufs.append(st["momentum_buffer"])
                if group["nesterov"]:
                    grads = torch._foreach_add(grads, bufs, alpha=m)
                else:
                    grads = bufs
            torch._foreach_add_(params, grads, alpha=-group["lr"])
        return loss


def param_groups(params_or_named: Iterable[Any], weight_decay: float) -> list[dict[str, Any]]:
    """Splits parameters (or (name, parameter) pairs) into a decayed group (ndim > 1) and a
    non-decayed group (biases, norm weights). Duplicates are dropped; empty groups omitted."""
    decay, no_decay, seen = [], [], set()
    for item in params_or_named:
        p = item[1] if isinstance(item, tuple) else item
        if id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.ndim > 1 else no_decay).append(p)
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay, "lars": True})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0, "lars": False})
    return groups


def _all_cuda(groups: list[dict[str, Any]]) -> bool:
    return all(p.is_cuda and p.is_floating_point() for g in groups for p in g["params"])


def build_optimizer(params_or_named: Iterable[Any], cfg: OptimConfig, head: Iterable[Any] | None = None,
                    head_lr: float = 0.0) -> Optimizer:
    """sgd | lars | adamw with the parameter groups above; lr = cfg.lr (the schedule scales it).
    `head`: parameters in groups of their own (same decay rule) at base lr head_lr, the same
    schedule (joint's method.joint.head_lr). On CUDA the fused implementations are used (one
    kernel for all parameters)."""
    groups = param_groups(params_or_named, cfg.weight_decay)
    if head is not None:
        groups += [{**g, "lr": head_lr} for g in param_groups(head, cfg.weight_decay)]
    if not groups:
        raise ValueError("build_optimizer: no parameters to optimize")
    fused = {"fused": True} if _all_cuda(groups) else {}
    if cfg.name == "sgd":
        for g in groups:
            g.pop("lars")
        nesterov = cfg.nesterov and cfg.momentum > 0  # torch rejects nesterov without momentum
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=nesterov, **fused)
    if cfg.name == "adamw":
        for g in groups:
            g.pop("lars")
        return torch.optim.AdamW(groups, lr=cfg.lr, **fused)
    if cfg.name == "lars":
        return LARS(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
    raise SpecError("optim.name", cfg.name, "one of sgd, lars, adamw")


def resolve_head_optim(cfg: RunConfig) -> OptimConfig:
    """The optimizer of bilevel's inner head steps: the main optimizer (type, lr, momentum,
    nesterov, weight decay; build_optimizer then keeps norms and biases undecayed, as for the
    main one) with each method.bilevel.head_* override applied. By default the head is thus
    regularised exactly as joint's head, which the main optimizer steps."""
    b, o = cfg.method.bilevel, cfg.optim
    return OptimConfig(
        name=o.name if b.head_optimizer == "inherit" else b.head_optimizer,
        lr=b.head_lr or o.lr,
        momentum=o.momentum if b.head_momentum < 0 else b.head_momentum,
        nesterov=o.nesterov,
        weight_decay=o.weight_decay if b.head_weight_decay < 0 else b.head_weight_decay,
        warmup_epochs=o.warmup_epochs,
        schedule=o.schedule,
    )


def lr_at(step: int, total_steps: int, steps_per_epoch: int, cfg: OptimConfig) -> float:
    """Schedule factor for the step about to run (0-based): linear warmup from 1/W to 1 over the
    first W = round(warmup_epochs * steps_per_epoch) steps, then cosine from 1 down to 0 at
    total_steps (schedule "cosine") or 1 (schedule "constant")."""
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    if step < warmup:
        return (step + 1) / warmup
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule != "cosine":
        raise SpecError("optim.schedule", cfg.schedule, "cosine or constant")
    span = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    return 0.5 * (1.0 + math.cos(math.pi * progress))

