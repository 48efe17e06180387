"""projhead worker: contrastive training with a parametric projection head."""
__version__ = "0.1.0"
