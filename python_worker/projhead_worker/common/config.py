"""The run configuration as plain dataclasses: what the training loop, the models and the data
code read. The dataclasses (one per projhead.v1 RunSpec message, snake_case), their defaults and
what each field allows are generated from the field rules in proto/projhead/v1/worker.proto into
runspec_gen.py (`npm run gen`); this module builds and checks a RunConfig with them. It imports
nothing from gRPC; server/service.py translates messages into a dict and calls `RunConfig.from_dict`.

Zero values mean "use the default" unless the field's rule allows them, as in the proto
contract, so `from_dict` fills them in and `validate()` names the field, the value and what is
allowed.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from .errors import SpecError
from .runspec_gen import (
    RULES,
    AugmentConfig,
    BilevelConfig,
    DataConfig,
    HeadConfig,
    MethodConfig,
    ModelConfig,
    OptimConfig,
    Rule,
    RunSpecConfig,
    TrainConfig,
)

__all__ = [
    "RunConfig", "SpecError", "RULES", "RUN_ID_RE", "DataConfig", "HeadConfig", "ModelConfig", "BilevelConfig",
    "MethodConfig", "OptimConfig", "TrainConfig", "AugmentConfig", "METHODS", "BACKBONES", "DATASETS", "OPTIMIZERS",
    "HEAD_OPTIMIZERS", "SCHEDULES", "ACTIVATIONS", "PRECISIONS",
]

RUN_ID_RE = re.compile(RULES["run_id"].pattern)  # use fullmatch: "$" also matches before a final "\n"

# The allowed values that code outside this module names (the registries check against them).
METHODS = RULES["method.name"].choices
BACKBONES = RULES["model.backbone"].choices
DATASETS = RULES["data.name"].choices
OPTIMIZERS = RULES["optim.name"].choices
HEAD_OPTIMIZERS = RULES["method.bilevel.head_optimizer"].choices  # inherit = optim.name
SCHEDULES = RULES["optim.schedule"].choices
ACTIVATIONS = RULES["model.head.activation"].choices
PRECISIONS = RULES["train.precision"].choices


@dataclass
class RunConfig(RunSpecConfig):
    """A run's whole configuration: run_id, name, seed and the sections (fields generated)."""

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, *, training: bool = True) -> "RunConfig":
        """Builds a config from a (possibly partial) nested dict; zero values keep defaults.
        Raises SpecError for unknown fields or values of the wrong type. training=False (an
        evaluation of a stored model, on data of its own) leaves out the rules of training alone."""
        cfg = _build(cls, d or {}, "")
        cfg.validate(training=training)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self, training: bool = True) -> None:
        if len(self.name) > 256 or any(ord(c) < 32 for c in self.name):
            raise SpecError("name", self.name, "at most 256 printable characters")
        for path, rule in RULES.items():
            check(path, _get(self, path), rule)
        # The rules across fields: each one a run would otherwise break only later, inside its
        # training process. The orchestrator checks the same (src/experiment/checks.ts,
        # crossFieldIssues), so a file is refused before any worker starts.
        t, m = self.train, self.method
        check_layer_eval_subset(t.layer_eval_subset, {"train": self.data.train_limit, "test": self.data.test_limit},
                                limits=True)
        feat = feature_dim(self.model)
        if m.name == "directclr" and m.directclr_dim > feat:
            raise SpecError("method.directclr_dim", m.directclr_dim,
                            f"at most the backbone's feature dimension {feat} ({_backbone_words(self.model)})")
        if t.device.startswith("cuda:") and t.nproc > 1:
            raise SpecError("train.device", t.device,
                            f"auto or cuda with train.nproc {t.nproc} (cuda:N is one GPU; each process gets its own)")
        if not training:
            return
        world = t.nproc * t.nnodes
        if t.batch_size % world:
            raise SpecError("train.batch_size", t.batch_size,
                            f"a multiple of train.nproc x train.nnodes = {world} (every process takes an equal share)")
        images = train_images_at_most(self.data)
        if images is not None and t.batch_size > images:
            raise SpecError("train.batch_size", t.batch_size, f"at most the {images} training images "
                            f"({'data.train_limit' if self.data.train_limit else 'data.synthetic_size'})")


def check_layer_eval_subset(subset: int, splits: dict[str, int], limits: bool) -> None:
    """The dynamics subsets are drawn from each split: not more images than a split has. Checked
    against the data limits at StartRun (limits=True; 0 = no limit) and against the splits' real
    sizes once the dataset is loaded (dynamics.py)."""
    for split, n in splits.items():
        if n and subset > n:
            raise SpecError("train.layer_eval_subset", subset,
                            f"at most the {split} split's {n} images" + (f" (data.{split}_limit)" if limits else ""))


def feature_dim(model: ModelConfig) -> int:
    """The backbone's feature dimension h (models/backbones.py)."""
    return {"resnet18": 512, "resnet50": 2048}.get(model.backbone, 8 * model.width)


def _backbone_words(model: ModelConfig) -> str:
    return f"convnet of model.width {model.width}" if model.backbone == "convnet" else model.backbone


def train_images_at_most(data: DataConfig) -> int | None:
    """An upper bound of the training images the spec's data gives, where the spec alone says it
    (data/shapes.py makes 6000 unless synthetic_size), else None."""
    n = (data.synthetic_size or 6000) if data.name == "shapes" else None
    if data.train_limit:
        n = min(n, data.train_limit) if n is not None else data.train_limit
    return n


# -- helpers -----------------------------------------------------------------------------------

def check(path: str, value: Any, rule: Rule) -> None:
    """Raises SpecError unless `value` is what `rule` allows (types are checked by _build)."""
    if rule.kind == "ints":
        if len(value) > rule.max_items:
            raise SpecError(path, value, rule.expected)
        for i, v in enumerate(value):
            if not _in_range(v, rule, integer=True):
                raise SpecError(f"{path}[{i}]", v, rule.item_expected)
    elif rule.kind in ("int", "num"):
        ok = _in_range(value, rule, integer=rule.kind == "int")
        if not ok and not (rule.special is not None and _is_number(value) and value == rule.special):
            raise SpecError(path, value, rule.expected)
    elif rule.choices and value not in rule.choices:
        raise SpecError(path, value, rule.expected)
    elif rule.pattern and not (isinstance(value, str) and re.fullmatch(rule.pattern, value)):
        raise SpecError(path, value, rule.expected)


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float))


def _in_range(v: Any, rule: Rule, integer: bool) -> bool:
    if not _is_number(v) or (integer and not isinstance(v, int)) or not math.isfinite(v):
        return False
    return rule.lo <= v <= rule.hi


def _get(cfg: Any, path: str) -> Any:
    for key in path.split("."):
        cfg = getattr(cfg, key)
    return cfg


def _is_zero(v: Any) -> bool:
    return v is None or v == "" or (not isinstance(v, bool) and isinstance(v, (int, float)) and v == 0) or v == []


def _zero_is_value(path: str, rule: Rule) -> bool:
    """Whether a received zero (proto3: also "unset") is the value: when the rule allows it.
    A field without limits (a free string) keeps its default."""
    if rule.lo is None and not rule.choices and rule.pattern is None:
        return False
    zero = [] if rule.kind == "ints" else "" if rule.kind == "str" else 0
    try:
        check(path, zero, rule)
    except SpecError:
        return False
    return True


_ZERO_IS_VALUE = frozenset(p for p, r in RULES.items() if _zero_is_value(p, r))
# Booleans are always taken as given (proto3 cannot tell unset from false); those that default
# True the orchestrator always sends explicitly.


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
