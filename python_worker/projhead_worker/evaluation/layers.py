"""Layer-wise evaluation (the systematic study): for the backbone output h, every hidden
projection-head block and z, a linear probe (fitted to convergence), weighted kNN, the
covariance spectrum, the effective rank RankMe and Wang & Isola alignment / uniformity.

Layers a method never trains (the head of no_head and directclr, which is in no loss) are not
evaluated: `untrained_layers` names them, and the results list them as such.

Features are computed once per split, for all layers in one forward pass, in eval mode and
without augmentation; the metrics then only read those frozen tensors (the backbone is never
fine-tuned by any of them). The metrics themselves are knn.py, probe.py and geometry.py here.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
import torch.nn as nn

from ..config import RunConfig
from .geometry import MAX_UNIFORMITY_ROWS, align_uniform, spectrum
from .knn import knn_top1
from .probe import DEFAULT_EPOCHS as DEFAULT_PROBE_EPOCHS
from .probe import fit_linear_probe

DEFAULT_KNN_K = 200
# Test images given two augmented views for alignment / uniformity (uniformity subsamples to
# this many rows anyway; alignment's mean over 2048 pairs is already precise to ~1%).
MAX_VIEW_IMAGES = MAX_UNIFORMITY_ROWS
# Seed stream of the view augmentation, mixed with the run seed (see data.mix_seed).
_VIEW_STREAM = 0xE7A1


def layer_names(cfg: RunConfig) -> list[str]:
    """Every layer of the model cfg describes, in order: h, head.1 .. head.N-1, z."""
    return layers_of(len(cfg.model.head.hidden_dims))


def layers_of(hidden_blocks: int) -> list[str]:
    """h, then one name per hidden block of the head (head.1 ..), then z."""
    return ["h"] + [f"head.{i}" for i in range(1, hidden_blocks + 1)] + ["z"]


def untrained_layers(cfg: RunConfig) -> list[str]:
    """The layers cfg's method never trains: the whole head when the head is in no loss."""
    from ..methods import METHODS

    method = METHODS.get(cfg.method.name)
    return [] if method is None or method.uses_head else layer_names(cfg)[1:]


class _EvalMode:
    """model.eval() for the block, then every submodule's own train/eval flag back (a plain
    model.train(was) would wrongly flip submodules a method keeps in eval, e.g. a frozen head)."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.flags: list[tuple[nn.Module, bool]] = []

    def __enter__(self) -> nn.Module:
        self.flags = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        return self.model

    def __exit__(self, *exc) -> None:
        for m, flag in self.flags:
            m.training = flag


def _forward_layers(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    device: torch.device,
    layers: list[str] | None,
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Runs model.layer_features on each float batch; returns ({layer: fp32 [N, D] on device}
    for the selected layers, every layer name in model order)."""
    parts: dict[str, list[torch.Tensor]] = {}
    names: list[str] = []
    # no_grad rather than inference_mode: inference tensors cannot be saved for backward, and the
    # linear probe differentiates through x @ W with these features as x.
    with _EvalMode(model), torch.no_grad():
        for xb in batches:
            if device.type == "cuda":
                xb = xb.contiguous(memory_format=torch.channels_last)  # the layout training uses
            feats = model.layer_features(xb)
            if not names:
                names = list(feats)
                unknown = [n for n in (layers or []) if n not in feats]
                if unknown:
                    raise ValueError(f"unknown layer(s) {', '.join(unknown)}; this model has {', '.join(names)}")
            for name, f in feats.items():
                if layers is None or name in layers:
                    parts.setdefault(name, []).append(f.detach().reshape(f.shape[0], -1).float())
    return {n: torch.cat(p) for n, p in parts.items()}, names


def extract_features(
    model: nn.Module,
    x_uint8: torch.Tensor,
    out_size: int,
    device: torch.device | str,
    batch_size: int = 512,
    layers: list[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Frozen features of every layer (or of `layers`), {name: float32 [N, D] on device}, in
    model order ("h", "head.1", ..., "z"). Images go through data.eval_transform (resize +
    normalise, no augmentation) batch by batch on `device`; the model (already on `device`) runs
    in eval mode under no_grad, and each submodule's train/eval mode is restored afterwards."""
    return _extract(model, x_uint8, out_size, torch.device(device), batch_size, layers)[0]


def _extract(model, x_uint8, out_size, device, batch_size, layers):
    from ..data import eval_transform

    if int(x_uint8.shape[0]) == 0:
        raise ValueError("extract_features: no images")
    batches = (
        eval_transform(x_uint8[lo : lo + batch_size].to(device, non_blocking=True), out_size)
        for lo in range(0, int(x_uint8.shape[0]), batch_size)
    )
    return _forward_layers(model, batches, device, layers)


def view_features(model, x_uint8, augment, generator, device, batch_size, layers):
    """Features of two augmented views of each image: ({layer: view 1}, {layer: view 2})."""
    v1: dict[str, list[torch.Tensor]] = {}
    v2: dict[str, list[torch.Tensor]] = {}
    for lo in range(0, int(x_uint8.shape[0]), batch_size):
        xb = x_uint8[lo : lo + batch_size].to(device, non_blocking=True)
        # Both views of a batch drawn back to back, as in training.
        pair = torch.cat([augment(xb, generator), augment(xb, generator)])
        feats, _ = _forward_layers(model, [pair], device, layers)
        for name, f in feats.items():
            v1.setdefault(name, []).append(f[: xb.shape[0]])
            v2.setdefault(name, []).append(f[xb.shape[0] :])
    return {n: torch.cat(p) for n, p in v1.items()}, {n: torch.cat(p) for n, p in v2.items()}


def evaluate_layers(
    model: nn.Module,
    dataset: Any,
    cfg: RunConfig,
    device: torch.device | str,
    layers: list[str] | None = None,
    on_layer: Callable[[dict[str, Any]], None] | None = None,
    probe_epochs: int = 0,
    knn_k: int = DEFAULT_KNN_K,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 512,
) -> list[dict[str, Any]]:
    """Evaluates every layer of `model` (on `device`) on `dataset` (data.ImageDataset).

    Returns one dict per layer, in model order, with the LayerEval fields: layer, index (0 = h,
    position in the full model order even when `layers` selects a subset), dim, linear_top1 and
    knn_top1 (fractions in [0, 1], on the test split, classifiers fitted on the train split),
    probe_converged and probe_iterations (of the L-BFGS fit), effective_rank (RankMe of the train
    features) and singular_values (of the train features' covariance), alignment and
    uniformity (two augmented views of at most MAX_VIEW_IMAGES test images; `augment` defaults
    to data.Augment(cfg.augment, out_size), `generator` to a CPU generator seeded from
    cfg.seed). `on_layer` is called with each dict as soon as that layer is done.
    probe_epochs = the cap on L-BFGS iterations, 0 = the probe default (MAX_ITER); knn_k 0 = 200.
    Layers in untrained_layers(cfg) are left out (also when `layers` names them).
    """
    from ..data import Augment, mix_seed

    device = torch.device(device)
    out_size = cfg.data.image_size or int(dataset.train_x.shape[-1])
    knn_k = int(knn_k) or DEFAULT_KNN_K
    probe_epochs = int(probe_epochs) or DEFAULT_PROBE_EPOCHS
    if layers is not None:
        layers = list(dict.fromkeys(layers)) or None  # [] = all, as in the contract
    skip = untrained_layers(cfg)
    if skip:
        unknown = [n for n in (layers or []) if n not in layer_names(cfg)]
        if unknown:
            raise ValueError(f"unknown layer(s) {', '.join(unknown)}; this model has {', '.join(layer_names(cfg))}")
        layers = [n for n in (layers or layer_names(cfg)) if n not in skip]
        if not layers:
            return []
    if int(dataset.test_x.shape[0]) == 0 or int(dataset.train_x.shape[0]) == 0:
        raise ValueError("evaluate_layers: the dataset has an empty split")

    train, all_names = _extract(model, dataset.train_x, out_size, device, batch_size, layers)
    test = extract_features(model, dataset.test_x, out_size, device, batch_size, layers)
    train_y = dataset.train_y.to(device)
    test_y = dataset.test_y.to(device)

    if augment is None:
        augment = Augment(cfg.augment, out_size)
    if generator is None:
        # CPU generator: the same views on CPU and CUDA for the same seed (see data.augment).
        generator = torch.Generator().manual_seed(mix_seed(cfg.seed, _VIEW_STREAM))
    m = int(dataset.test_x.shape[0])
    view_idx = torch.arange(m)
    if m > MAX_VIEW_IMAGES:
        pick = torch.Generator().manual_seed(mix_seed(cfg.seed, _VIEW_STREAM, 1))
        view_idx = torch.randperm(m, generator=pick)[:MAX_VIEW_IMAGES].sort().values
    view1, view2 = view_features(model, dataset.test_x[view_idx], augment, generator, device, batch_size, layers)

    results = []
    for name in list(train):
        tr, te = train.pop(name), test.pop(name)  # release each layer's features once done
        values, erank = spectrum(tr)
        alignment, uniformity = align_uniform(view1.pop(name), view2.pop(name), seed=cfg.seed)
        probe = fit_linear_probe(tr, train_y, te, test_y, dataset.num_classes, epochs=probe_epochs, device=device)
        row = {
            "layer": name,
            "index": all_names.index(name),
            "dim": int(tr.shape[1]),
            "linear_top1": float(probe.top1),
            "probe_converged": probe.converged,
            "probe_iterations": probe.iterations,
            "knn_top1": float(knn_top1(tr, train_y, te, test_y, dataset.num_classes, k=knn_k)),
            "effective_rank": float(erank),
            "singular_values": values,
            "alignment": alignment,
            "uniformity": uniformity,
        }
        results.append(row)
        if on_layer is not None:
            on_layer(row)
    return results
