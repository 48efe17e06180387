"""directclr (Jing et al. 2022): no head; InfoNCE on the first d0 backbone features h[:, :d0].
d0 = method.directclr_dim, or round(360/2048 * feat_dim) when 0 (360 of ResNet-50's 2048, the
paper's setting, scaled to other widths: 90 for 512-d)."""
from __future__ import annotations

from ...common.config import SpecError
from .base import SingleLossMethod


def directclr_dim(requested: int, feat_dim: int) -> int:
    if requested > feat_dim:
        raise SpecError("method.directclr_dim", requested, f"at most the backbone's feature dimension {feat_dim}")
    return requested or max(1, round(360 / 2048 * feat_dim))


class DirectCLR(SingleLossMethod):
    name = "directclr"
    uses_head = False

    def __init__(self, model, cfg):
        super().__init__(model, cfg)
        self.d0 = directclr_dim(cfg.method.directclr_dim, model.feat_dim)

    def features(self, h):
        return h[:, : self.d0]
