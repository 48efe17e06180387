"""Evaluation of learned representations, in one place:

  knn.py, probe.py, geometry.py  the metrics on frozen feature tensors: weighted kNN, linear probe,
                                 spectrum / effective rank (RankMe), alignment / uniformity
  layers.py                      features of every layer of a model (one forward pass, eval mode,
                                 no augmentation) and the metrics on each layer
  job.py                         the Evaluate RPC's work in a process of its own
                                 (python -m projhead_worker.evaluation.job)
"""
from .geometry import align_uniform, rankme, spectrum
from .knn import knn_top1
from .layers import (DEFAULT_KNN_K, MAX_VIEW_IMAGES, evaluate_layers, extract_features, layer_names, untrained_layers,
                     view_features)
from .probe import DEFAULT_EPOCHS as DEFAULT_PROBE_EPOCHS
from .probe import DEFAULT_WEIGHT_DECAY as DEFAULT_PROBE_WEIGHT_DECAY
from .probe import fit_linear_probe, linear_probe

__all__ = [
    "DEFAULT_KNN_K", "DEFAULT_PROBE_EPOCHS", "DEFAULT_PROBE_WEIGHT_DECAY", "MAX_VIEW_IMAGES",
    "align_uniform", "rankme", "spectrum", "knn_top1", "fit_linear_probe", "linear_probe",
    "evaluate_layers", "extract_features", "layer_names", "untrained_layers", "view_features",
]
