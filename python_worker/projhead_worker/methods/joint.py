"""joint: standard SimCLR. Backbone and head trained together by the main optimizer on
InfoNCE(z)."""
from __future__ import annotations

from .base import SingleLossMethod


class Joint(SingleLossMethod):
    name = "joint"

    def outer_parameters(self):
        return list(self.model.backbone.parameters()) + list(self.model.head.parameters())

    def head_parameters_to_sync(self):
        return list(self.model.head.parameters())

    def features(self, h):
        return self.model.head(h)
