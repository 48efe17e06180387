"""The projection head g_phi: an MLP of len(hidden_dims) + 1 blocks.

Hidden block i: Linear(d_in, hidden_dims[i]) [+ BatchNorm1d] + activation.
Last block:     Linear(d_in, out_dim) [+ BatchNorm1d(affine=False) if last_batch_norm].
hidden_dims == [] gives a single linear layer (head depth 0). Linear layers followed by a
BatchNorm have no bias (the BatchNorm's shift or mean removal makes it redundant).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ...common.config import ACTIVATIONS, HeadConfig, SpecError

_ACTIVATIONS = {"relu": lambda: nn.ReLU(inplace=True), "gelu": nn.GELU, "identity": nn.Identity}
assert set(_ACTIVATIONS) == set(ACTIVATIONS)


class ProjectionHead(nn.Module):
    def __init__(self, in_dim: int, cfg: HeadConfig):
        super().__init__()
        if cfg.activation not in _ACTIVATIONS:
            raise SpecError("model.head.activation", cfg.activation, "one of " + ", ".join(_ACTIVATIONS))
        self.in_dim = in_dim
        self.out_dim = cfg.out_dim
        blocks, d = [], in_dim
        for width in cfg.hidden_dims:
            layers: list[nn.Module] = [nn.Linear(d, width, bias=not cfg.batch_norm)]
            if cfg.batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(_ACTIVATIONS[cfg.activation]())
            blocks.append(nn.Sequential(*layers))
            d = width
        last: list[nn.Module] = [nn.Linear(d, cfg.out_dim, bias=not cfg.last_batch_norm)]
        if cfg.last_batch_norm:
            last.append(nn.BatchNorm1d(cfg.out_dim, affine=False))
        blocks.append(nn.Sequential(*last))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h)
        return h

    def forward_layers(self, h: torch.Tensor) -> list[torch.Tensor]:
        """The output of every block, in order; the last one is z."""
        outs = []
        for block in self.blocks:
            h = block(h)
            outs.append(h)
        return outs

    def reset_parameters(self) -> None:
        """Fresh random weights and fresh BatchNorm statistics (bilevel head_reset_every)."""
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()
