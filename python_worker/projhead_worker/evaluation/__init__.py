"""Metrics on frozen feature tensors: weighted kNN, linear probe, spectrum / effective rank,
alignment / uniformity. `projhead_worker.evaluate` runs them on every layer of a model."""
from .geometry import align_uniform, rankme, spectrum
from .knn import knn_top1
from .probe import fit_linear_probe, linear_probe

__all__ = ["align_uniform", "rankme", "spectrum", "knn_top1", "fit_linear_probe", "linear_probe"]
