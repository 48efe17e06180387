"""Training methods, one module each, one registry (names as in config.METHODS)."""
from __future__ import annotations

from ...common.config import METHODS as _METHOD_NAMES
from ...common.config import RunConfig, SpecError
from ..models import ContrastiveModel
from .base import Method
from .bilevel import Bilevel
from .directclr import DirectCLR
from .fixed_head import FixedHead
from .joint import Joint
from .no_head import NoHead

METHODS: dict[str, type[Method]] = {m.name: m for m in (Joint, Bilevel, NoHead, FixedHead, DirectCLR)}
assert set(METHODS) == set(_METHOD_NAMES), "config.METHODS and the registry disagree"


def build_method(model: ContrastiveModel, cfg: RunConfig) -> Method:
    """Call after the model is on its device (and after torch.distributed is initialised)."""
    if cfg.method.name not in METHODS:
        raise SpecError("method.name", cfg.method.name, "one of " + ", ".join(METHODS))
    return METHODS[cfg.method.name](model, cfg)


__all__ = ["METHODS", "Method", "build_method", "Joint", "Bilevel", "NoHead", "FixedHead", "DirectCLR"]
