"""The training dynamics of every layer: while a run trains, cheap metrics of h, each head block
and z on fixed, seeded subsets, so that a user sees what the head does over training (whether h
and z diverge, when the head starts absorbing invariances, whether bilevel changes that).

Per measurement, for every layer the method trains (see evaluate.untrained_layers): weighted
kNN top-1 of a test subset against a train subset (k = KNN_K), RankMe of the train subset's
features, and Wang & Isola alignment / uniformity on two augmented views of the test subset.
The subsets and the views are the same at every measurement (drawn once from the run seed), so
curves show the model changing, not the sample. The model runs in eval mode under no_grad and
every generator is its own: training's random streams and BatchNorm statistics are untouched,
so a run's training is bitwise the same with the dynamics on or off.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from ..common.config import RunConfig, check_layer_eval_subset
from .data import Augment, mix_seed
from .evaluation import align_uniform, extract_features, knn_top1, layer_names, rankme, untrained_layers, view_features

# Subset size when train.layer_eval_subset is 0 (capped by the smaller split).
DEFAULT_SUBSET = 512
# Neighbours of the subset kNN: 200 (the full-split monitor's k) would be most of a 512 bank.
KNN_K = 20
_STREAM = 0xD1A6  # seed stream of the subsets and views, mixed with the run seed


def cadence(cfg: RunConfig) -> int:
    """Epochs between measurements (0 = never); -1 in the spec follows the kNN monitor."""
    every = cfg.train.layer_eval_every_epochs
    return cfg.train.knn_every_epochs if every < 0 else every


class LayerDynamics:
    """Draws the subsets once (at construction) and measures a model on them (`measure`)."""

    def __init__(self, cfg: RunConfig, dataset: Any, out_size: int, device: torch.device | str, batch_size: int = 512):
        n_train, n_test = int(dataset.train_x.shape[0]), int(dataset.test_x.shape[0])
        size = cfg.train.layer_eval_subset or min(DEFAULT_SUBSET, n_train, n_test)
        check_layer_eval_subset(size, {"train": n_train, "test": n_test}, limits=False)
        g = torch.Generator().manual_seed(mix_seed(cfg.seed, _STREAM))
        tr = torch.randperm(n_train, generator=g)[:size].sort().values
        te = torch.randperm(n_test, generator=g)[:size].sort().values
        self.size = size
        self.train_x, self.train_y = dataset.train_x[tr], dataset.train_y[tr].to(device)
        self.test_x, self.test_y = dataset.test_x[te], dataset.test_y[te].to(device)
        self.num_classes = dataset.num_classes
        self.out_size, self.device, self.batch_size = out_size, torch.device(device), batch_size
        self.augment = Augment(cfg.augment, out_size)
        self.view_seed = mix_seed(cfg.seed, _STREAM, 1)
        self.seed = cfg.seed
        skip = set(untrained_layers(cfg))
        self.layers = [n for n in layer_names(cfg) if n not in skip]
        self.index = {n: i for i, n in enumerate(layer_names(cfg))}

    @torch.no_grad()
    def measure(self, model: torch.nn.Module) -> dict[str, Any]:
        """{subset_size, seconds, layers: [{layer, index, dim, knn_top1, effective_rank,
        alignment, uniformity}]}, layers in model order."""
        t0 = time.time()
        args = (self.out_size, self.device, self.batch_size)
        tr = extract_features(model, self.train_x, *args, layers=self.layers)
        te = extract_features(model, self.test_x, *args, layers=self.layers)
        views = torch.Generator().manual_seed(self.view_seed)  # the same views every time
        v1, v2 = view_features(model, self.test_x, self.augment, views, self.device, self.batch_size, self.layers)
        rows = []
        for name in self.layers:
            alignment, uniformity = align_uniform(v1[name], v2[name], seed=self.seed)
            rows.append({
                "layer": name,
                "index": self.index[name],
                "dim": int(tr[name].shape[1]),
                "knn_top1": float(knn_top1(tr[name], self.train_y, te[name], self.test_y, self.num_classes, k=KNN_K)),
                "effective_rank": rankme(tr[name]),
                "alignment": alignment,
                "uniformity": uniformity,
            })
        return {"subset_size": self.size, "seconds": time.time() - t0, "layers": rows}
