"""bilevel: the paper's scheme, the head as a parametric part of the loss,

    L~(theta) = min_phi L(g_phi o f_theta).

Per outer step:
  1. h = f_theta(x) for both views, once, keeping the graph;
  2. K inner steps on phi against h.detach(), with the head's own optimizer (sgd with momentum
     0.9 or adamw; lr = bilevel.head_lr or optim.lr; bilevel.head_weight_decay on the head's
     matrices), scaled by the same schedule factor as the main lr;
  3. one outer step on theta through g_phi with phi held fixed: by the envelope theorem
     dL~/dtheta = dL(g_phi* o f_theta)/dtheta at the inner solution, so nothing differentiates
     through the inner loop. The head's parameters have requires_grad switched off for this
     backward (no wasted head-weight gradients), unless head_in_outer, in which case they are
     also in the main optimizer and take its step too.

The head is warm-started (phi is kept from step to step); head_reset_every N re-initialises the
head and its optimizer at the start of every N-th epoch.

Metrics: head_loss_before = InfoNCE of the first inner step (the head as it came into this
step); head_loss = InfoNCE after the K inner steps, i.e. of the updated head on the same
features. The outer forward computes exactly that value (same h, same head, same batch
statistics), so it costs nothing and equals `loss`. head_loss_before - head_loss is what the
inner solve gained on this batch.

The inner loop is written to be CUDA-graph friendly: fixed shapes, no .item() or other host
syncs, no Python-side bookkeeping besides keeping the first loss as a tensor.
"""
from __future__ import annotations

from typing import Any

import torch

from .. import dist
from ..config import OptimConfig
from ..optim import build_optimizer
from .base import Method


class Bilevel(Method):
    name = "bilevel"

    def __init__(self, model, cfg):
        super().__init__(model, cfg)
        b = cfg.method.bilevel
        self.inner_steps = b.inner_steps
        self.head_in_outer = b.head_in_outer
        self.reset_every = b.head_reset_every
        self.head_lr = b.head_lr or cfg.optim.lr
        self.head_optim_cfg = OptimConfig(name=b.head_optimizer, lr=self.head_lr, momentum=0.9,
                                          nesterov=False, weight_decay=b.head_weight_decay)
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

    def inner_solve(self, hd: torch.Tensor, autocast) -> torch.Tensor:
        """K head steps on detached features hd [2B, feat_dim]; returns the first inner loss."""
        head, opt = self.model.head, self.head_optimizer
        first = None
        for k in range(self.inner_steps):
            with autocast():
                loss, _ = self.contrast(head(hd))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            self.sync_grads(self.head_params)
            opt.step()
            if k == 0:
                first = loss.detach()
        opt.zero_grad(set_to_none=True)
        return first

    def train_step(self, x1, x2, optimizer, autocast):
        self.model.train()
        head = self.model.head
        with autocast():
            h = self.encode(x1, x2)
        head_loss_before = self.inner_solve(h.detach(), autocast)

        if not self.head_in_outer:
            head.requires_grad_(False)  # phi held fixed: gradients flow through it to h only
        try:
            with autocast():
                loss, acc = self.contrast(head(h))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            if not self.head_in_outer:
                head.requires_grad_(True)
        if self.head_in_outer:
            self.sync_grads(self.head_params)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return self.metrics(loss, acc, head_loss=loss.detach(), head_loss_before=head_loss_before)

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
