"""ContrastiveModel = backbone f_theta + projection head g_phi; h = f(x), z = g(h)."""
from __future__ import annotations

import torch
import torch.nn as nn

from ...common.config import ModelConfig
from .backbones import build_backbone
from .heads import ProjectionHead


class ContrastiveModel(nn.Module):
    def __init__(self, backbone: nn.Module, head: ProjectionHead, feat_dim: int):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.feat_dim = feat_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(x)
        return h, self.head(h)

    def layer_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Representations at every layer, in order: "h", "head.1" .. "head.{n-1}" (outputs
        of the hidden head blocks), "z". The caller chooses the mode (eval) and no_grad."""
        h = self.backbone(x)
        outs = self.head.forward_layers(h)
        feats = {"h": h}
        for i, o in enumerate(outs[:-1], start=1):
            feats[f"head.{i}"] = o
        feats["z"] = outs[-1]
        return feats

    def compile(self, *args, **kwargs) -> None:
        """In-place torch.compile of the parts the methods call (backbone and head are invoked
        separately, so compiling this module's own forward would not be used)."""
        self.backbone.compile(*args, **kwargs)
        self.head.compile(*args, **kwargs)


def build_model(cfg: ModelConfig) -> ContrastiveModel:
    backbone, feat_dim = build_backbone(cfg.backbone, cifar_stem=cfg.cifar_stem, width=cfg.width)
    return ContrastiveModel(backbone, ProjectionHead(feat_dim, cfg.head), feat_dim)
