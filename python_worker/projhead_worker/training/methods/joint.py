"""joint: standard SimCLR. Backbone and head trained together by the main optimizer on
InfoNCE(z). method.joint.head_lr gives the head a learning rate of its own (its own parameter
groups in the same optimizer, on the same schedule): the control that matches bilevel's head_lr."""
from __future__ import annotations

from ..optim import build_optimizer
from .base import SingleLossMethod


class Joint(SingleLossMethod):
    name = "joint"

    def outer_parameters(self):
        return list(self.model.backbone.parameters()) + list(self.model.head.parameters())

    def make_optimizer(self):
        head_lr = self.cfg.method.joint.head_lr
        if not head_lr:
            return super().make_optimizer()
        return build_optimizer(self.model.backbone.parameters(), self.cfg.optim, head=self.model.head.parameters(),
                               head_lr=head_lr)

    def head_parameters_to_sync(self):
        return list(self.model.head.parameters())

    def features(self, h):
        return self.model.head(h)
