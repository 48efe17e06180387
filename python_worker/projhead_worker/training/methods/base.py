"""What every training method shares: the model, the temperature, the distributed plumbing and
the train_step contract (see docs/INTERNALS.md, Methods).

Distributed training (torch.distributed initialised, world size > 1): the backbone is wrapped in
DistributedDataParallel on the first train_step (after the loop has moved, converted and
possibly compiled the model); the head's gradients, which DDP does not own because bilevel
steps the head on its own, are averaged over ranks with one flattened all_reduce. Both average,
which together with the gathered InfoNCE gives the exact global-batch gradient.

Metrics: every method returns `loss` and `acc`, the InfoNCE and contrastive accuracy of the batch
with the parameters as they came into the step (comparable across methods), plus only what it
actually measures besides (bilevel: head_loss, inner_gain); nothing is padded with zeros.
They are returned as detached 0-d tensors (float(v) works): converting them on every step
would force a host-device sync; the loop converts only the steps it logs.
"""
from __future__ import annotations

from typing import Any, Callable, ContextManager

import torch
import torch.nn as nn

from ...common.config import RunConfig
from .. import dist
from ..losses import info_nce_stacked
from ..models import ContrastiveModel
from ..optim import build_optimizer

Autocast = Callable[[], ContextManager[Any]]


class Method:
    name = "base"
    # Whether the head takes part in the loss (fixed_head's frozen head does). When it does not
    # (no_head, directclr), its layers are random projections never trained: not evaluated.
    uses_head = True

    def __init__(self, model: ContrastiveModel, cfg: RunConfig):
        self.model = model
        self.cfg = cfg
        self.temperature = cfg.method.temperature
        self._backbone: nn.Module | None = None  # the callable used in train_step (maybe DDP)
        self._lr_scale = 1.0

    # -- the contract ------------------------------------------------------------------------

    def outer_parameters(self) -> list[nn.Parameter]:
        """The parameters the main optimizer updates (default: the backbone's)."""
        return list(self.model.backbone.parameters())

    def make_optimizer(self) -> torch.optim.Optimizer:
        """The main optimizer, over outer_parameters() with optim's settings."""
        return build_optimizer(self.outer_parameters(), self.cfg.optim)

    def train_step(self, x1: torch.Tensor, x2: torch.Tensor, optimizer: torch.optim.Optimizer,
                   autocast: Autocast) -> dict[str, Any]:
        raise NotImplementedError

    def on_epoch_start(self, epoch: int) -> None:
        pass

    def started_fields(self) -> dict[str, Any]:
        """Resolved settings of this method for the `started` event (bilevel: its head optimizer)."""
        return {}

    def step_fields(self, values: dict[str, float]) -> dict[str, float]:
        """What this method measures besides loss and acc, for the `step` event (bilevel:
        head_loss, inner_gain), from its metrics of the step as numbers."""
        return {}

    def inner_head_steps(self) -> int:
        """Head-only optimizer steps inside one training step (bilevel: inner_steps), for the
        run's equal-compute accounting."""
        return 0

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        pass

    def set_lr_scale(self, scale: float) -> None:
        self._lr_scale = scale

    # -- helpers -----------------------------------------------------------------------------

    def backbone(self) -> nn.Module:
        if self._backbone is None:
            self._backbone = self.model.backbone
            if dist.world_size() > 1:
                from torch.nn.parallel import DistributedDataParallel as DDP

                dev = next(self.model.backbone.parameters()).device
                # DDP broadcasts rank 0's backbone; give the head the same treatment.
                dist.broadcast_(list(self.model.head.parameters()) + list(self.model.head.buffers()))
                self._backbone = DDP(self.model.backbone, device_ids=[dev] if dev.type == "cuda" else None)
        return self._backbone

    def encode(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """h for both views in one backbone call ([2B, feat_dim]; BatchNorm sees both views)."""
        return self.backbone()(torch.cat([x1, x2], dim=0))

    def contrast(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """InfoNCE of stacked views [2B, D] (first half view 1, second half view 2)."""
        return info_nce_stacked(v, self.temperature)

    @staticmethod
    def sync_grads(params: list[nn.Parameter]) -> None:
        dist.all_reduce_mean_([p.grad for p in params if p.grad is not None])

    @staticmethod
    def metrics(loss: torch.Tensor, acc: torch.Tensor, **measured: torch.Tensor) -> dict[str, Any]:
        return {"loss": loss.detach(), "acc": acc.detach(), **measured}


class SingleLossMethod(Method):
    """Methods with one loss and one optimizer step: subclasses say which features the loss
    sees (`features`) and which parameters take part; joint also steps the head."""

    def features(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def head_parameters_to_sync(self) -> list[nn.Parameter]:
        return []

    def train_step(self, x1, x2, optimizer, autocast):
        self.model.train()
        with autocast():
            loss, acc = self.contrast(self.features(self.encode(x1, x2)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.sync_grads(self.head_parameters_to_sync())
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)  # frees the gradients until the next backward
        return self.metrics(loss, acc)
