"""fixed_head: the head keeps its random initial parameters (requires_grad=False, in no
optimizer); only the backbone is trained, through the frozen head.

BatchNorm choice: the head runs in train mode like the backbone, so its BatchNorm layers
normalise with batch statistics (the random head stays well-conditioned whatever the scale of h,
just as a trained head would see it) and keep tracking running statistics, so that eval-mode
features (kNN, probes) match what training saw. Only those running-statistics buffers change;
the affine parameters and the linear weights never do.
"""
from __future__ import annotations

from .base import SingleLossMethod


class FixedHead(SingleLossMethod):
    name = "fixed_head"

    def __init__(self, model, cfg):
        super().__init__(model, cfg)
        self.model.head.requires_grad_(False)

    def features(self, h):
        return self.model.head(h)
