"""What a run or an evaluation will need in memory, estimated from its spec before anything is
allocated: the dataset at the size it is stored (uint8), the parameters with their gradients and
optimizer state, the activations of both views at the batch size (an evaluation: of its largest
forward batch, the feature extraction's or the two augmented views'), and the runtime itself.
Measured against the real peak RSS of training and evaluation processes at three image sizes
(tests/test_memory_estimates.py: never below the largest of three, at most 35 % above). The worker refuses a spec above its budget (serve --max-memory), naming the
fields that drive the estimate. No torch here: it runs in the gRPC server.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .config import RunConfig

# (train images, test images, side, channels) as stored when image_size is 0.
NATIVE = {
    "mnist": (60_000, 10_000, 28, 1), "fashion-mnist": (60_000, 10_000, 28, 1),
    "fashion-mnist-mini": (10_000, 2_000, 28, 1),
    "cifar10": (50_000, 10_000, 32, 3), "cifar100": (50_000, 10_000, 32, 3), "stl10": (5_000, 8_000, 96, 3),
}
RUNTIME_BYTES = 1100 * 2**20  # python + torch (+ torchvision) + allocator slack of one process, measured 0.83-0.99 GiB
# (160 MiB more than the first fit: peaks of one spec vary by up to ~175 MiB from process to
# process, glibc's moving mmap threshold, and the base by ~10 % between machines; fixing the
# threshold made peaks repeat but cost 1.6x the step time: docs/BENCHMARKS.md)
LOADING_RUNTIME_BYTES = 800 * 2**20  # the same while the dataset loads, before training or evaluating (0.66-0.83 GiB)
PARAMS = {"resnet18": 11_200_000, "resnet50": 23_500_000}
FEAT_DIM = {"resnet18": 512, "resnet50": 2048}
# Saved activation elements per input pixel of one image (forward, for backward); the CIFAR stem
# keeps full resolution in the first stage, the ImageNet stem divides it by 4 in each direction.
ACT_PER_PIXEL = {("resnet18", True): 1600, ("resnet18", False): 100, ("resnet50", True): 4800, ("resnet50", False): 300}
# Elements per input pixel alive at once in a forward without gradients (evaluation): the
# largest stage's output twice (conv, then norm) and the float input (the views' augmentation is
# done by then).
EVAL_ACT_PER_PIXEL = {("resnet18", True): 131, ("resnet18", False): 35, ("resnet50", True): 515, ("resnet50", False): 35}
# The augmented views, float, per pixel of one view (measured with the convnet: ~4).
AUG_PER_PIXEL = 4
# Evaluation: images per forward of the feature extraction (evaluation/layers.py batch_size), and
# the test images whose two augmented views go through it together (layers.MAX_VIEW_IMAGES).
EVAL_BATCH = 512
MAX_VIEW_IMAGES = 2048
# The side pixel baselines are area-averaged to (evaluation/layers.py uses this one; it lives here
# because this module is torch-free and layers.py is not).
MAX_PIXEL_SIDE = 32
# `shapes` renders its images in chunks (data/shapes.py _CHUNK) with ~22 float elements per pixel
# of each image alive at once (measured at 256 px): before training starts, and often the peak.
SHAPES_CHUNK = 2048
SHAPES_RENDER_PER_PIXEL = 23.5  # measured 20-22.6 (64-640 images at 256 px)


def _rendering(cfg: RunConfig) -> int:
    """Bytes the generation of a `shapes` dataset holds at once (0 for datasets read from files)."""
    if cfg.data.name != "shapes":
        return 0
    n = cfg.data.synthetic_size or 6000  # rendered whole, limits are applied afterwards
    side = cfg.data.image_size or 32
    return int(min(n, SHAPES_CHUNK) * side * side * SHAPES_RENDER_PER_PIXEL * 4)


def _peak_of(parts: dict[str, int], work: list[str], rendering: int, nproc: int, fields: dict[str, list[str]]) -> Estimate:
    """The parts that live together: the `work` parts (training or evaluating) come after the
    dataset's rendering has been freed, so only the larger of the two phases counts."""
    loading = nproc * LOADING_RUNTIME_BYTES + rendering
    if loading > parts["runtime"] + sum(parts[k] for k in work):
        parts = {k: v for k, v in parts.items() if k not in work} | {"runtime": nproc * LOADING_RUNTIME_BYTES,
                                                                      "rendering the shapes": rendering}
        fields = fields | {"rendering the shapes": ["data.synthetic_size", "data.image_size"]}
    return Estimate(sum(parts.values()), parts, {k: list(dict.fromkeys(v)) for k, v in fields.items() if k in parts})


@dataclass
class Estimate:
    total: int
    parts: dict[str, int]
    fields: dict[str, list[str]]  # part -> the spec fields that drive it

    def words(self) -> str:
        big = sorted(self.parts.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{name} {gib(b)} ({', '.join(self.fields[name])})" for name, b in big if b >= self.total // 20)


def gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def default_budget() -> int:
    """The machine's physical memory."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def _data(cfg: RunConfig) -> tuple[int, int, int, int]:
    d = cfg.data
    if d.name == "shapes":
        n = d.synthetic_size or 6000
        train, test, side, ch = n, max(10, n // 5), d.image_size or 32, 3
    elif d.name == "imagefolder":
        # unknown until read: the limits bound it, else a folder of 100k images is assumed
        train, test, side, ch = d.train_limit or 100_000, d.test_limit or 10_000, d.image_size or 64, 3
    else:
        train, test, side, ch = NATIVE.get(d.name, (60_000, 10_000, 32, 3))
    if d.train_limit:
        train = min(train, d.train_limit)
    if d.test_limit:
        test = min(test, d.test_limit)
    return train, test, side, ch


def _model(cfg: RunConfig) -> tuple[int, int, int, int]:
    """(parameters, feature dim, activation elements per pixel per image saved for backward,
    the same alive at once in a forward without gradients)."""
    m = cfg.model
    if m.backbone == "convnet":
        # measured: ~6.3 w per pixel in training (widths 8 and 16); in evaluation 3 w + 6: the
        # peaks of test_memory_estimates at width 8 grew by 29-32 elements per pixel per image
        # from 64 to 256 px on three runs of two machines (2 w + 3, the first fit, fell under them)
        w = m.width
        params, feat, act, fwd = 378 * w * w, 8 * w, 6 * w + 8, 3 * w + 6
        if not m.cifar_stem:
            act, fwd = act // 4 + 4, (2 * w) // 4 + 3
    else:
        params, feat = PARAMS[m.backbone], FEAT_DIM[m.backbone]
        act, fwd = ACT_PER_PIXEL[(m.backbone, m.cifar_stem)], EVAL_ACT_PER_PIXEL[(m.backbone, m.cifar_stem)]
    dims = [feat, *m.head.hidden_dims, m.head.out_dim]
    params += sum(a * b + b for a, b in zip(dims, dims[1:]))
    return params, feat, act, fwd


def estimate_run(cfg: RunConfig) -> Estimate:
    train, test, side, ch = _data(cfg)
    out = cfg.data.image_size or side
    nproc = max(1, cfg.train.nproc)
    params, _, act_px, _ = _model(cfg)
    head_elems = sum(cfg.model.head.hidden_dims) + cfg.model.head.out_dim
    local_batch = max(1, cfg.train.batch_size // nproc)
    # every process holds the whole dataset (uint8) and its own model
    data = nproc * (train + test) * ch * side * side
    state = nproc * params * 4 * 4  # weights, gradients, two optimizer moments (fp32)
    acts = nproc * 2 * local_batch * (act_px * out * out + 3 * head_elems + AUG_PER_PIXEL * out * out) * 4
    parts = {"dataset": data, "model and optimizer": state, "activations": acts, "runtime": nproc * RUNTIME_BYTES}
    fields = {
        "dataset": ["data.name", "data.synthetic_size" if cfg.data.name == "shapes" else "data.train_limit", "data.image_size"]
        + (["train.nproc"] if nproc > 1 else []),
        "model and optimizer": ["model.backbone", "model.width" if cfg.model.backbone == "convnet" else "model.backbone",
                                "model.head.hidden_dims", "model.head.out_dim"],
        "activations": ["train.batch_size", "data.image_size", "model.backbone", "model.head.hidden_dims"],
        "runtime": ["train.nproc"],
    }
    return _peak_of(parts, ["model and optimizer", "activations"], nproc * _rendering(cfg), nproc, fields)


def estimate_evaluation(cfg: RunConfig) -> Estimate:
    """Evaluate: the dataset, the model, the features of every layer of every image, and its
    largest forward batch: the extraction's (EVAL_BATCH images) or the two augmented views of
    up to EVAL_BATCH test images together, at the output size."""
    train, test, side, ch = _data(cfg)
    out = cfg.data.image_size or side
    params, feat, _, fwd_px = _model(cfg)
    layer_dims = feat + sum(cfg.model.head.hidden_dims) + cfg.model.head.out_dim
    batch = max(min(EVAL_BATCH, train), 2 * min(EVAL_BATCH, test, MAX_VIEW_IMAGES))
    # The pixel baseline (eval.baselines): float32 features of at most MAX_PIXEL_SIDE px a side,
    # and the probe's float64 standardised copy of the training ones.
    pixel = ch * min(out, MAX_PIXEL_SIDE) ** 2 * (4 * (train + test) + 8 * train) if cfg.eval.baselines else 0
    # Its transform of one batch at the output size before the pooling (float, RGB, normalised:
    # three float copies alive at once), which comes after the model's forward batches, not with them.
    pixel_batch = 3 * min(EVAL_BATCH, max(train, test)) * 3 * out * out * 4 if cfg.eval.baselines else 0
    parts = {"dataset": (train + test) * ch * side * side, "features": (train + test) * layer_dims * 4 + pixel,
             "model": params * 4, "forward batch": max(batch * fwd_px * out * out * 4, pixel_batch), "runtime": RUNTIME_BYTES}
    fields = {"dataset": ["data.name", "data.image_size", "data.train_limit"], "features": ["data.train_limit", "model.head.hidden_dims", "eval.baselines"],
              "model": ["model.backbone", "model.head.hidden_dims"], "forward batch": ["data.image_size", "model.backbone", "model.width"],
              "runtime": []}
    return _peak_of(parts, ["features", "model", "forward batch"], _rendering(cfg), 1, fields)
