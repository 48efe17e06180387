"""Metrics on frozen feature tensors: weighted kNN, linear probe, spectrum / effective rank,
alignment / uniformity. `projhead_worker.evaluate` runs them on every layer of a model."""
from .geometry import align_uniform, spectrum
from .knn import knn_top1
from .probe import linear_probe

__all__ = ["align_uniform", "spectrum", "knn_top1", "linear_probe"]
