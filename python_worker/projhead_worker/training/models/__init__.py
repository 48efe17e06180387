"""Backbones, projection heads and the ContrastiveModel that joins them."""
from .backbones import BACKBONE_BUILDERS, ConvNet, build_backbone
from .contrastive import ContrastiveModel, build_model
from .heads import ProjectionHead

__all__ = ["BACKBONE_BUILDERS", "ConvNet", "build_backbone", "ProjectionHead", "ContrastiveModel", "build_model"]
