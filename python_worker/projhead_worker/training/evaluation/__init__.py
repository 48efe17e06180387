"""Evaluation of learned representations, in one place:

  knn.py, probe.py, geometry.py  the metrics on frozen feature tensors: weighted kNN, linear probe,
                                 spectrum / effective rank (RankMe), alignment / uniformity
  layers.py                      features of every layer of a model (one forward pass, eval mode,
                                 no augmentation) and the metrics on each layer
  job.py                         the Evaluate RPC's work in a process of its own
                                 (python -m projhead_worker.training.evaluation.job)
"""
from .geometry import align_uniform, rankme, spectrum
from .knn import knn_top1
from .layers import (
                     BASELINE_CACHE_DIR,
                     MAX_VIEW_IMAGES,
                     RANK_DEFINITION,
                     evaluate_baselines,
                     evaluate_layers,
                     extract_features,
                     layer_names,
                     protocol_of,
                     untrained_layers,
                     view_features,
)
from .probe import DEFAULT_WEIGHT_DECAY as DEFAULT_PROBE_WEIGHT_DECAY
from .probe import PROBE_L2_GRID, fit_linear_probe, linear_probe, select_linear_probe, validation_split

__all__ = [
    "BASELINE_CACHE_DIR", "DEFAULT_PROBE_WEIGHT_DECAY", "MAX_VIEW_IMAGES", "PROBE_L2_GRID", "RANK_DEFINITION",
    "align_uniform", "rankme", "spectrum", "knn_top1", "fit_linear_probe", "linear_probe", "select_linear_probe",
    "validation_split", "evaluate_baselines", "evaluate_layers", "extract_features", "layer_names", "protocol_of",
    "untrained_layers", "view_features",
]
