"""bilevel: the paper's scheme, the head as a parametric part of the loss,

    L~(theta) = min_phi L(g_phi o f_theta).

Per outer step:
  1. h = f_theta(x) for both views, once, keeping the graph;
  2. K inner steps on phi against h.detach(), with the head's own optimizer: by default the
     main optimizer's type and settings (lr, momentum, nesterov, weight decay, none on norms
     and biases), each method.bilevel.head_* value overriding one of them (see
     optim.resolve_head_optim), scaled by the same schedule factor as the main lr;
  3. one outer step on theta through g_phi with phi held fixed: by the envelope theorem
     dL~/dtheta = dL(g_phi* o f_theta)/dtheta at the inner solution, so nothing differentiates
     through the inner loop. The head's parameters have requires_grad switched off for this
     backward (no wasted head-weight gradients), unless head_in_outer, in which case they are
     also in the main optimizer and take its step too.

The head is warm-started (phi is kept from step to step); head_reset_every N re-initialises the
head and its optimizer at the start of every N-th epoch.

Metrics: `loss` (and `acc`) = InfoNCE of the first inner step, i.e. of the batch with the
parameters as they came into this step: the same quantity every other method logs as `loss`.
`head_loss` = InfoNCE after the K inner steps, of the updated head on the same features; the
outer forward computes exactly that value (same h, same head, same batch statistics), so it
costs nothing. `inner_gain` = loss - head_loss, what the inner solve gained on this batch.

The inner loop is written to be CUDA-graph friendly: fixed shapes, no .item() or other host
syncs, no Python-side bookkeeping besides keeping the first loss as a tensor.
"""
from __future__ import annotations

from typing import Any

import torch

from .. import dist
from ..optim import build_optimizer, resolve_head_optim
from .base import Method


class Bilevel(Method):
    name = "bilevel"

    def __init__(self, model, cfg):
        super().__init__(model, cfg)
        b = cfg.method.bilevel
        self.inner_steps = b.inner_steps
        self.head_in_outer = b.head_in_outer
        self.reset_every = b.head_reset_every
        self.head_optim_cfg = resolve_head_optim(cfg)
        self.head_lr = self.head_optim_cfg.lr
        self.head_params = list(model.head.parameters())
        self.head_optimizer = self._new_head_optimizer()
        self._last_reset_epoch = 0

    def _new_head_optimizer(self) -> torch.optim.Optimizer:
        opt = build_optimizer(self.head_params, self.head_optim_cfg)
        self._apply_head_lr(opt)
        return opt

    def _apply_head_lr(self, opt: torch.optim.Optimizer) -> None:
        for g in opt.param_groups:
            g["lr"] = self.head_lr * self._lr_scale

    # -- contract ----------------------------------------------------------------------------

    def outer_parameters(self):
        params = list(self.model.backbone.parameters())
        if self.head_in_outer:
            params += self.head_params
        return params

    def started_fields(self) -> dict[str, Any]:
        c = self.head_optim_cfg
        return {"head_optimizer": {"name": c.name, "lr": c.lr, "momentum": c.momentum,
                                   "nesterov": c.nesterov, "weight_decay": c.weight_decay}}

    def inner_solve(self, hd: torch.Tensor, autocast) -> tuple[torch.Tensor, torch.Tensor]:
        """K head steps on detached features hd [2B, feat_dim]; returns the first inner step's
        loss and contrastive accuracy (those of the head as it came in)."""
        head, opt = self.model.head, self.head_optimizer
        first = first_acc = None
        for k in range(self.inner_steps):
            with autocast():
                loss, acc = self.contrast(head(hd))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            self.sync_grads(self.head_params)
            opt.step()
            if k == 0:
                first, first_acc = loss.detach(), acc
        opt.zero_grad(set_to_none=True)
        return first, first_acc

    def train_step(self, x1, x2, optimizer, autocast):
        self.model.train()
        head = self.model.head
        with autocast():
            h = self.encode(x1, x2)
        loss_before, acc_before = self.inner_solve(h.detach(), autocast)

        if not self.head_in_outer:
            head.requires_grad_(False)  # phi held fixed: gradients flow through it to h only
        try:
            with autocast():
                loss, _ = self.contrast(head(h))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            if not self.head_in_outer:
                head.requires_grad_(True)
        if self.head_in_outer:
            self.sync_grads(self.head_params)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        head_loss = loss.detach()
        return self.metrics(loss_before, acc_before, head_loss=head_loss, inner_gain=loss_before - head_loss)

    def step_fields(self, values: dict[str, float]) -> dict[str, float]:
        return {"head_loss": values["head_loss"], "inner_gain": values["inner_gain"]}

    def inner_head_steps(self) -> int:
        return self.inner_steps

    def on_epoch_start(self, epoch: int) -> None:
        # Idempotent per epoch, so a run resumed in the middle of epoch e does not reset again.
        if self.reset_every and epoch > 0 and epoch % self.reset_every == 0 and epoch != self._last_reset_epoch:
            self.model.head.reset_parameters()
            dist.broadcast_(list(self.model.head.parameters()) + list(self.model.head.buffers()))
            self.head_optimizer = self._new_head_optimizer()
            self._last_reset_epoch = epoch

    def state_dict(self) -> dict[str, Any]:
        return {"head_optimizer": self.head_optimizer.state_dict(), "last_reset_epoch": self._last_reset_epoch}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.head_optimizer.load_state_dict(d["head_optimizer"])
        self._last_reset_epoch = int(d.get("last_reset_epoch", 0))
        self._apply_head_lr(self.head_optimizer)

    def set_lr_scale(self, scale: float) -> None:
        super().set_lr_scale(scale)
        self._apply_head_lr(self.head_optimizer)
