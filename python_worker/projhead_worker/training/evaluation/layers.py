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

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn as nn

from ...common.atomic import atomic_write_text
from ...common.config import RunConfig

# Pixel baselines of larger images are area-averaged to this side (3 x 32 x 32 = 3072 features at
# most), so their probe costs what a CIFAR image's does; memory.py counts them with the same value.
from ...common.memory import MAX_PIXEL_SIDE
from ...common.runlock import hold
from ..data import Augment, eval_transform, mix_seed
from ..methods import METHODS
from ..models import build_model
from .geometry import MAX_UNIFORMITY_ROWS, align_uniform, spectrum
from .knn import knn_top1
from .probe import PROBE_L2_GRID, select_linear_probe, validation_split

# The folder of a run root that keeps evaluate_baselines' results (not a run: names starting with
# '.' are never run ids).
BASELINE_CACHE_DIR = ".baselines"
# What effective_rank means in every result (eval.json `protocol.rankDefinition`).
RANK_DEFINITION = "rankme"
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
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 512,
) -> list[dict[str, Any]]:
    """Evaluates every layer of `model` (on `device`) on `dataset` (data.ImageDataset), with the
    probe and kNN settings of cfg.eval.

    Returns one dict per layer, in model order, with the LayerEval fields: layer, index (0 = h,
    position in the full model order even when `layers` selects a subset), dim, linear_top1 and
    knn_top1 (fractions in [0, 1], on the test split, classifiers fitted on the train split),
    the probe protocol's probe_l2 / probe_val_top1 / linear_val_top1 and knn_val_top1 (on the
    validation split of `protocol_of`), probe_converged and probe_iterations (of the refit),
    effective_rank (RankMe of the train features) and singular_values (of the train features'
    covariance), alignment and uniformity (two augmented views of at most MAX_VIEW_IMAGES test
    images; `augment` defaults to data.Augment(cfg.augment, out_size), `generator` to a CPU
    generator seeded from cfg.seed). `on_layer` is called with each dict as soon as that layer
    is done. Layers in untrained_layers(cfg) are left out (also when `layers` names them).
    """
    device = torch.device(device)
    out_size = cfg.data.image_size or int(dataset.train_x.shape[-1])
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
    _check_splits(dataset)

    train, all_names = _extract(model, dataset.train_x, out_size, device, batch_size, layers)
    test = extract_features(model, dataset.test_x, out_size, device, batch_size, layers)

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

    scorer = _Scorer(dataset, cfg, device)
    results = []
    for name in list(train):
        tr, te = train.pop(name), test.pop(name)  # release each layer's features once done
        values, erank = spectrum(tr)
        alignment, uniformity = align_uniform(view1.pop(name), view2.pop(name), seed=cfg.seed)
        row = {
            "layer": name,
            "index": all_names.index(name),
            "dim": int(tr.shape[1]),
            **scorer.classify(tr, te),
            "effective_rank": float(erank),
            "singular_values": values,
            "alignment": alignment,
            "uniformity": uniformity,
        }
        results.append(row)
        if on_layer is not None:
            on_layer(row)
    return results


def _check_splits(dataset: Any) -> None:
    if int(dataset.test_x.shape[0]) == 0 or int(dataset.train_x.shape[0]) == 0:
        raise ValueError("evaluate_layers: the dataset has an empty split")


class _Scorer:
    """The two classifiers of every evaluated feature set, on one validation split: the linear
    probe by the probe protocol (probe.select_linear_probe) and weighted kNN with cfg.eval's
    fixed k and temperature (test: the whole training split as the bank; validation: the rest
    of it)."""

    def __init__(self, dataset: Any, cfg: RunConfig, device: torch.device):
        self.e = cfg.eval
        self.num_classes = dataset.num_classes
        self.train_y = dataset.train_y.to(device)
        self.test_y = dataset.test_y.to(device)
        self.split = validation_split(dataset.train_y, self.e.val_fraction, cfg.seed)
        self.device = device

    def classify(self, tr: torch.Tensor, te: torch.Tensor) -> dict[str, Any]:
        e, fit_idx, val_idx = self.e, *(i.to(tr.device) for i in self.split)
        probe = select_linear_probe(tr, self.train_y, te, self.test_y, self.num_classes, self.split,
                                    epochs=e.probe_max_iter, device=self.device)
        knn = dict(k=e.knn_k, t=e.knn_temperature)
        return {
            "linear_top1": float(probe.top1),
            "probe_converged": probe.converged,
            "probe_iterations": probe.iterations,
            "probe_l2": probe.l2,
            "probe_val_top1": probe.val_top1,
            "linear_val_top1": probe.chosen_val_top1,
            "knn_top1": float(knn_top1(tr, self.train_y, te, self.test_y, self.num_classes, **knn)),
            "knn_val_top1": float(knn_top1(tr[fit_idx], self.train_y[fit_idx], tr[val_idx], self.train_y[val_idx],
                                           self.num_classes, **knn)),
        }


def protocol_of(dataset: Any, cfg: RunConfig) -> dict[str, Any]:
    """The EvalProtocol fields of an evaluation of `dataset` under cfg."""
    _, val_idx = validation_split(dataset.train_y, cfg.eval.val_fraction, cfg.seed)
    return {
        "probe_l2_grid": list(PROBE_L2_GRID),
        "val_fraction": cfg.eval.val_fraction,
        "val_images": int(len(val_idx)),
        "split_seed": int(cfg.seed),
        "knn_k": cfg.eval.knn_k,
        "knn_temperature": cfg.eval.knn_temperature,
        "probe_max_iter": cfg.eval.probe_max_iter,
        "train_images": int(dataset.train_x.shape[0]),
        "test_images": int(dataset.test_x.shape[0]),
        "rank_definition": RANK_DEFINITION,
    }


def evaluate_baselines(dataset: Any, cfg: RunConfig, device: torch.device | str, batch_size: int = 512,
                       cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """The floors a representation must beat, scored exactly as the layers are (same splits,
    same probe protocol, same kNN): "pixels", the images as the model sees them (resized and
    normalised, area-averaged to at most MAX_PIXEL_SIDE px a side, flattened; the stored channels
    only, not the three copies of a grey one), and "h@init", the backbone output of the model as the run's seed
    initialises it (trainstate.build_training's torch.manual_seed(seed) then build_model), before
    any step. Empty when cfg.eval.baselines is off.

    cache_dir: where results are kept by what determines them (the data, the seed, the model,
    the eval settings and this package's evaluation code), so the runs of a study that share a
    seed (every method of one seed) compute their floors once."""

    if not cfg.eval.baselines:
        return []
    cached = _baseline_cache(cache_dir, cfg)
    try:
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        cached = None  # a cache that cannot be written costs time only
    if cached is None:
        return _compute_baselines(dataset, cfg, device, batch_size)
    # Runs of one seed side by side (every method of a seed) wait for the first one's floors
    # instead of computing them again.
    with hold(cached.with_suffix(".lock")):
        rows = _read_cache(cached)
        if rows is None:
            rows = _compute_baselines(dataset, cfg, device, batch_size)
            try:
                atomic_write_text(cached, json.dumps(rows))
            except OSError:
                pass  # a cache that cannot be written costs time only
    return rows


def _read_cache(path: Path) -> list[dict[str, Any]] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing or unreadable: computed (again) and rewritten


def _compute_baselines(dataset: Any, cfg: RunConfig, device: torch.device | str, batch_size: int) -> list[dict[str, Any]]:

    _check_splits(dataset)
    device = torch.device(device)
    out_size = cfg.data.image_size or int(dataset.train_x.shape[-1])
    scorer = _Scorer(dataset, cfg, device)

    def pixels(x: torch.Tensor) -> torch.Tensor:
        out = []
        for lo in range(0, int(x.shape[0]), batch_size):
            # The image's own channels: eval_transform repeats a grey channel three times for the
            # model, and three equal copies would only triple the probe's cost (784-d, not 2352-d,
            # for Fashion-MNIST; a per-feature standardised probe sees the same information).
            xb = eval_transform(x[lo : lo + batch_size].to(device), out_size)[:, : int(x.shape[1])]
            if xb.shape[-1] > MAX_PIXEL_SIDE:  # bounded cost: area-averaged to 32 px a side
                xb = torch.nn.functional.adaptive_avg_pool2d(xb, MAX_PIXEL_SIDE)
            out.append(xb.reshape(xb.shape[0], -1))
        return torch.cat(out)

    # The init is drawn from the global generator, as in training; the caller's state is kept.
    rng = torch.get_rng_state()
    try:
        torch.manual_seed(cfg.seed)
        init = build_model(cfg.model).to(device)
    finally:
        torch.set_rng_state(rng)
    feats = {
        "pixels": pixels,
        "h@init": lambda x: extract_features(init, x, out_size, device, batch_size, ["h"])["h"],
    }
    rows = []
    for index, (name, features) in enumerate(feats.items()):
        tr, te = features(dataset.train_x), features(dataset.test_x)
        # Classifiers only: the spectrum of a D x D pixel covariance would cost O(D^3).
        rows.append({"layer": name, "index": index, "dim": int(tr.shape[1]), **scorer.classify(tr, te)})
    return rows


@functools.cache
def _code_digest() -> str:
    """The evaluation's code (data readers, models, the metrics): a change invalidates the cache."""
    pkg = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for f in sorted([*pkg.glob("evaluation/*.py"), *pkg.glob("data/*.py"), *pkg.glob("models/*.py")]):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def _baseline_cache(cache_dir: Path | None, cfg: RunConfig) -> Path | None:
    if cache_dir is None:
        return None
    key = json.dumps({"data": dataclasses.asdict(cfg.data), "seed": cfg.seed, "model": dataclasses.asdict(cfg.model),
                      "eval": dataclasses.asdict(cfg.eval), "code": _code_digest()}, sort_keys=True)
    return Path(cache_dir) / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
