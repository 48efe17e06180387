"""What a run or an evaluation will need in memory, estimated from its spec before anything is
allocated (aimed at within 2x): the dataset at the size it is stored (uint8), the parameters
with their gradients and optimizer state, the activations of both views at the batch size, and
the runtime itself. The worker refuses a spec above its budget (serve --max-memory), naming the
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
RUNTIME_BYTES = 700 * 2**20  # python + torch + allocator slack of one process, measured ~0.5-0.7 GiB
PARAMS = {"resnet18": 11_200_000, "resnet50": 23_500_000}
FEAT_DIM = {"resnet18": 512, "resnet50": 2048}
# Saved activation elements per input pixel of one image (forward, for backward); the CIFAR stem
# keeps full resolution in the first stage, the ImageNet stem divides it by 4 in each direction.
ACT_PER_PIXEL = {("resnet18", True): 1600, ("resnet18", False): 100, ("resnet50", True): 4800, ("resnet50", False): 300}


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


def _model(cfg: RunConfig) -> tuple[int, int, int]:
    """(parameters, feature dim, activation elements per pixel per image)."""
    m = cfg.model
    if m.backbone == "convnet":
        w = m.width
        params, feat, act = 378 * w * w, 8 * w, 6 * w + 30
        if not m.cifar_stem:
            act = act // 4 + 30
    else:
        params, feat, act = PARAMS[m.backbone], FEAT_DIM[m.backbone], ACT_PER_PIXEL[(m.backbone, m.cifar_stem)]
    dims = [feat, *m.head.hidden_dims, m.head.out_dim]
    params += sum(a * b + b for a, b in zip(dims, dims[1:]))
    return params, feat, act


def estimate_run(cfg: RunConfig) -> Estimate:
    train, test, side, ch = _data(cfg)
    out = cfg.data.image_size or side
    nproc = max(1, cfg.train.nproc)
    params, _, act_px = _model(cfg)
    head_elems = sum(cfg.model.head.hidden_dims) + cfg.model.head.out_dim
    local_batch = max(1, cfg.train.batch_size // nproc)
    # every process holds the whole dataset (uint8) and its own model
    data = nproc * (train + test) * ch * side * side
    state = nproc * params * 4 * 4  # weights, gradients, two optimizer moments (fp32)
    acts = nproc * 2 * local_batch * (act_px * out * out + 3 * head_elems + 40 * out * out) * 4
    parts = {"dataset": data, "model and optimizer": state, "activations": acts, "runtime": nproc * RUNTIME_BYTES}
    fields = {
        "dataset": ["data.name", "data.synthetic_size" if cfg.data.name == "shapes" else "data.train_limit", "data.image_size"]
        + (["train.nproc"] if nproc > 1 else []),
        "model and optimizer": ["model.backbone", "model.width" if cfg.model.backbone == "convnet" else "model.backbone",
                                "model.head.hidden_dims", "model.head.out_dim"],
        "activations": ["train.batch_size", "data.image_size", "model.backbone", "model.head.hidden_dims"],
        "runtime": ["train.nproc"],
    }
    return Estimate(sum(parts.values()), parts, {k: list(dict.fromkeys(v)) for k, v in fields.items()})


def estimate_evaluation(cfg: RunConfig) -> Estimate:
    """Evaluate: the dataset, the model, and the features of every layer of every image."""
    train, test, side, ch = _data(cfg)
    params, feat, _ = _model(cfg)
    layer_dims = feat + sum(cfg.model.head.hidden_dims) + cfg.model.head.out_dim
    parts = {"dataset": (train + test) * ch * side * side, "features": (train + test) * layer_dims * 4,
             "model": params * 4, "runtime": RUNTIME_BYTES}
    fields = {"dataset": ["data.name", "data.image_size", "data.train_limit"], "features": ["data.train_limit", "model.head.hidden_dims"],
              "model": ["model.backbone", "model.head.hidden_dims"], "runtime": []}
    return Estimate(sum(parts.values()), parts, fields)
