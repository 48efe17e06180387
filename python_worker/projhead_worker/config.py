"""The run configuration as plain dataclasses: what the training loop, the models and the data
code read. It mirrors projhead.v1.RunSpec field for field (snake_case) but imports nothing from
gRPC; server.py translates messages into a dict and calls `RunConfig.from_dict`.

Zero values mean "use the default", as in the proto contract, so `resolve()` fills them in and
`validate()` names the field, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .echo import echo

RUN_ID_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")  # use fullmatch: "$" also matches before a final "\n"

METHODS = ("joint", "bilevel", "no_head", "fixed_head", "directclr")
BACKBONES = ("convnet", "resnet18", "resnet50")
DATASETS = ("shapes", "fashion-mnist-mini", "mnist", "fashion-mnist", "cifar10", "cifar100", "stl10", "imagefolder")
OPTIMIZERS = ("sgd", "lars", "adamw")
HEAD_OPTIMIZERS = ("inherit", "sgd", "lars", "adamw")  # inherit = optim.name
SCHEDULES = ("cosine", "constant")
ACTIVATIONS = ("relu", "gelu", "identity")
PRECISIONS = ("auto", "fp32", "bf16")


class SpecError(ValueError):
    """A configuration value is not allowed. `field` is the dotted path, e.g. `optim.lr`."""

    def __init__(self, field: str, value: Any, expected: str):
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field}: got {echo(value)}, expected {expected}")


@dataclass
class DataConfig:
    name: str = "shapes"
    root: str = ""
    train_limit: int = 0
    test_limit: int = 0
    image_size: int = 0
    synthetic_size: int = 0


@dataclass
class HeadConfig:
    hidden_dims: list[int] = field(default_factory=lambda: [512])
    out_dim: int = 128
    batch_norm: bool = True
    activation: str = "relu"
    last_batch_norm: bool = False


@dataclass
class ModelConfig:
    backbone: str = "convnet"
    cifar_stem: bool = True
    width: int = 32
    head: HeadConfig = field(default_factory=HeadConfig)


@dataclass
class BilevelConfig:
    # The head optimizer inherits optim.* (type, lr, momentum, nesterov, weight decay); each
    # head_* value below overrides one part (optim.resolve_head_optim applies them).
    inner_steps: int = 1
    head_lr: float = 0.0  # 0 = optim.lr
    head_optimizer: str = "inherit"  # inherit = optim.name
    head_weight_decay: float = -1.0  # < 0 = optim.weight_decay
    head_reset_every: int = 0
    head_in_outer: bool = False
    head_momentum: float = -1.0  # < 0 = optim.momentum


@dataclass
class MethodConfig:
    name: str = "joint"
    temperature: float = 0.5
    bilevel: BilevelConfig = field(default_factory=BilevelConfig)
    directclr_dim: int = 0  # 0 = round(360/2048 * feat_dim)


@dataclass
class OptimConfig:
    name: str = "sgd"
    lr: float = 0.06
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    schedule: str = "cosine"


@dataclass
class TrainConfig:
    epochs: int = 1
    batch_size: int = 256
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    max_steps: int = 0
    log_every_steps: int = 10
    knn_every_epochs: int = 1
    checkpoint_every_epochs: int = 1
    checkpoint_every_steps: int = 0
    nproc: int = 1
    nnodes: int = 1
    layer_eval_every_epochs: int = -1  # -1 = knn_every_epochs, 0 = never
    layer_eval_subset: int = 0  # 0 = min(512, the smaller split)
    eval_at_end: bool = False
    threads: int = 0


@dataclass
class AugmentConfig:
    crop_min_scale: float = 0.2
    jitter_strength: float = 1.0
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: float = -1.0  # < 0 = 0.5 for images >= 96 px, else 0
    flip_p: float = 0.5
    minimal: bool = False


@dataclass
class RunConfig:
    run_id: str = "run"
    name: str = ""
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "RunConfig":
        """Builds a config from a (possibly partial) nested dict; zero values keep defaults.
        Raises SpecError for unknown fields or values of the wrong type."""
        cfg = _build(cls, d or {}, "")
        cfg.validate()
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        if not RUN_ID_RE.fullmatch(self.run_id) or ".." in self.run_id:
            raise SpecError("run_id", self.run_id, "1-128 characters of A-Z a-z 0-9 . _ -, not starting with '.'")
        if len(self.name) > 256 or any(ord(c) < 32 for c in self.name):
            raise SpecError("name", self.name, "at most 256 printable characters")
        _choice("data.name", self.data.name, DATASETS)
        _choice("model.backbone", self.model.backbone, BACKBONES)
        _choice("model.head.activation", self.model.head.activation, ACTIVATIONS)
        _choice("method.name", self.method.name, METHODS)
        _choice("method.bilevel.head_optimizer", self.method.bilevel.head_optimizer, HEAD_OPTIMIZERS)
        _choice("optim.name", self.optim.name, OPTIMIZERS)
        _choice("optim.schedule", self.optim.schedule, SCHEDULES)
        _choice("train.precision", self.train.precision, PRECISIONS)
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.train.device):
            raise SpecError("train.device", self.train.device, "auto, cpu, cuda or cuda:N")
        _range("seed", self.seed, 0, 2**63 - 1)
        _range("data.train_limit", self.data.train_limit, 0, 10**8)
        _range("data.test_limit", self.data.test_limit, 0, 10**8)
        _range("data.image_size", self.data.image_size, 0, 1024)
        if 0 < self.data.image_size < 8:
            raise SpecError("data.image_size", self.data.image_size, "0 (native) or 8..1024")
        _range("data.synthetic_size", self.data.synthetic_size, 0, 10**7)
        _range("model.width", self.model.width, 1, 1024)
        if len(self.model.head.hidden_dims) > 3:
            raise SpecError("model.head.hidden_dims", self.model.head.hidden_dims, "at most 3 hidden blocks (head depth 0..3)")
        for i, w in enumerate(self.model.head.hidden_dims):
            _range(f"model.head.hidden_dims[{i}]", w, 1, 65536)
        _range("model.head.out_dim", self.model.head.out_dim, 1, 65536)
        _frange("method.temperature", self.method.temperature, 1e-3, 10.0)
        _range("method.bilevel.inner_steps", self.method.bilevel.inner_steps, 1, 100)
        _frange("method.bilevel.head_lr", self.method.bilevel.head_lr, 0.0, 100.0)
        _inherit_or_frange("method.bilevel.head_weight_decay", self.method.bilevel.head_weight_decay, 0.0, 1.0)
        _inherit_or_frange("method.bilevel.head_momentum", self.method.bilevel.head_momentum, 0.0, 0.9999)
        _range("method.bilevel.head_reset_every", self.method.bilevel.head_reset_every, 0, 10**6)
        _range("method.directclr_dim", self.method.directclr_dim, 0, 65536)
        _frange("optim.lr", self.optim.lr, 1e-8, 100.0)
        _frange("optim.momentum", self.optim.momentum, 0.0, 0.9999)
        _frange("optim.weight_decay", self.optim.weight_decay, 0.0, 1.0)
        _frange("optim.warmup_epochs", self.optim.warmup_epochs, 0.0, 10**6)
        _range("train.epochs", self.train.epochs, 1, 100000)
        _range("train.batch_size", self.train.batch_size, 2, 65536)
        _range("train.max_steps", self.train.max_steps, 0, 10**9)
        _range("train.log_every_steps", self.train.log_every_steps, 1, 10**6)
        _range("train.knn_every_epochs", self.train.knn_every_epochs, 0, 10**6)
        _range("train.checkpoint_every_epochs", self.train.checkpoint_every_epochs, 0, 10**6)
        _range("train.checkpoint_every_steps", self.train.checkpoint_every_steps, 0, 10**9)
        _range("train.nproc", self.train.nproc, 1, 64)
        _range("train.nnodes", self.train.nnodes, 1, 4096)
        if self.train.layer_eval_every_epochs != -1:
            try:
                _range("train.layer_eval_every_epochs", self.train.layer_eval_every_epochs, 0, 10**6)
            except SpecError:
                raise SpecError("train.layer_eval_every_epochs", self.train.layer_eval_every_epochs,
                                "-1 (the kNN monitor's cadence) or a non-negative integer in [0, 1000000]") from None
        _range("train.layer_eval_subset", self.train.layer_eval_subset, 0, 10**6)
        for split, limit in (("train", self.data.train_limit), ("test", self.data.test_limit)):
            if limit and self.train.layer_eval_subset > limit:
                raise SpecError("train.layer_eval_subset", self.train.layer_eval_subset,
                                f"at most the {split} split's {limit} images (data.{split}_limit)")
        _range("train.threads", self.train.threads, 0, 1024)
        _frange("augment.crop_min_scale", self.augment.crop_min_scale, 0.01, 1.0)
        _frange("augment.jitter_strength", self.augment.jitter_strength, 0.0, 2.0)
        for name in ("jitter_p", "grayscale_p", "flip_p"):
            _frange(f"augment.{name}", getattr(self.augment, name), 0.0, 1.0)
        _frange("augment.blur_p", self.augment.blur_p, -1.0, 1.0)


# -- helpers -----------------------------------------------------------------------------------

def _choice(path: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SpecError(path, value, "one of " + ", ".join(allowed))


def _range(path: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SpecError(path, value, f"an integer in [{lo}, {hi}]")


def _frange(path: str, value: float, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not lo <= value <= hi:
        raise SpecError(path, value, f"a finite number in [{lo}, {hi}]")


def _inherit_or_frange(path: str, value: float, lo: float, hi: float) -> None:
    """-1 (inherit the main optimizer's value) or a number in [lo, hi]."""
    if value != -1:
        try:
            _frange(path, value, lo, hi)
        except SpecError:
            raise SpecError(path, value, f"-1 (inherit) or a finite number in [{lo}, {hi}]") from None


def _is_zero(v: Any) -> bool:
    return v is None or v == "" or (not isinstance(v, bool) and isinstance(v, (int, float)) and v == 0) or v == []


# Fields whose zero value is meaningful and must not be replaced by the default.
_ZERO_IS_VALUE = {
    "seed", "data.train_limit", "data.test_limit", "data.image_size", "data.synthetic_size",
    "optim.weight_decay", "optim.warmup_epochs", "optim.momentum", "train.max_steps",
    "train.knn_every_epochs", "train.checkpoint_every_epochs", "train.checkpoint_every_steps",
    "train.threads", "method.bilevel.head_reset_every", "method.bilevel.head_weight_decay",
    "method.bilevel.head_momentum", "train.layer_eval_every_epochs",
    "method.bilevel.head_lr", "method.directclr_dim", "model.head.hidden_dims",
    "augment.jitter_strength", "augment.jitter_p", "augment.grayscale_p", "augment.blur_p", "augment.flip_p",
}
# Booleans are always taken as given (proto3 cannot tell unset from false); these default True
# and so the orchestrator always sends them explicitly.


def _build(cls: type, d: dict[str, Any], prefix: str):
    if not isinstance(d, dict):
        raise SpecError(prefix.rstrip(".") or "spec", d, "an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    obj = cls()
    for key, value in d.items():
        path = prefix + key
        if key not in fields:
            raise SpecError(path, value, "a known field (" + ", ".join(fields) + ")")
        default = getattr(obj, key)
        if dataclasses.is_dataclass(default):
            setattr(obj, key, _build(type(default), value or {}, path + "."))
            continue
        if _is_zero(value) and path not in _ZERO_IS_VALUE:
            continue
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise SpecError(path, value, "true or false")
        elif isinstance(default, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SpecError(path, value, "an integer")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SpecError(path, value, "a number")
            value = float(value)
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise SpecError(path, value, "a string")
        elif isinstance(default, list):
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise SpecError(path, value, "a list of integers")
            value = list(value)
        setattr(obj, key, value)
    return obj
