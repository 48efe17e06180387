"""Backbone export: the backbone's weights alone (projection head discarded) as a safetensors
file that loads straight into torchvision (resnet18/resnet50, fc = Identity, plus the CIFAR
stem when `cifar_stem` is "true"):

    m = torchvision.models.resnet18(); m.fc = torch.nn.Identity()
    if cifar_stem: m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False); m.maxpool = nn.Identity()
    m.load_state_dict(safetensors.torch.load_file(path))

Checkpoints are read with torch.load(weights_only=True): checkpoint.py stores only tensors,
numbers, strings and containers (RNG states included, as tensors), so nothing is unpickled that
could run code. mmap=True avoids reading the optimizer state into memory when the file allows it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..common.atomic import atomic_write_bytes
from ..common.config import RunConfig
from .checkpoint import CheckpointError, load_complete
from .models import build_backbone

FORMAT = "projhead.backbone.v1"
_PREFIX = "backbone."


def _load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    return load_complete(Path(path), mmap=True)  # CheckpointError names what is wrong with the file


def _backbone(ckpt: dict[str, Any], path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str], int]:
    """(tensors, metadata, feat_dim) of the checkpoint's backbone, checked by loading them
    strictly into a freshly built backbone of the checkpoint's own architecture."""


    try:
        cfg = RunConfig.from_dict(ckpt["spec"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: not a projhead checkpoint (its spec is invalid: {e})") from None
    tensors = {
        # clone: own, contiguous storage (safetensors refuses shared or strided tensors, and
        # the mmap'ed checkpoint must not stay referenced).
        k[len(_PREFIX):]: v.detach().to("cpu").contiguous().clone()
        for k, v in ckpt["model"].items()
        if k.startswith(_PREFIX)
    }
    if not tensors:
        raise CheckpointError(f"{path}: not a projhead checkpoint (its model has no '{_PREFIX}*' weights)")
    net, feat_dim = build_backbone(cfg.model.backbone, cifar_stem=cfg.model.cifar_stem, width=cfg.model.width)
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(f"{path}: not a projhead checkpoint (its backbone weights do not fit a {cfg.model.backbone} backbone: {first})") from None
    meta = {
        "architecture": cfg.model.backbone,
        "cifar_stem": "true" if cfg.model.cifar_stem else "false",
        "format": FORMAT,
        "feat_dim": str(feat_dim),
    }
    if cfg.model.backbone == "convnet":
        meta["width"] = str(cfg.model.width)  # not a torchvision model: the width rebuilds it
    return tensors, meta, feat_dim


def export_backbone_bytes(checkpoint_path: str | os.PathLike) -> tuple[bytes, dict[str, str]]:
    """The safetensors file of the checkpoint's backbone, in memory, and its metadata (for the
    ExportBackbone RPC, which streams it in chunks)."""
    from safetensors.torch import save

    tensors, meta, _ = _backbone(_load_checkpoint(checkpoint_path), checkpoint_path)
    return save(tensors, metadata=meta), meta


def export_backbone(checkpoint_path: str | os.PathLike, out_path: str | os.PathLike) -> dict[str, Any]:
    """Writes the checkpoint's backbone to `out_path` as safetensors, atomically (temporary file
    in the same folder, fsync, rename, fsync of the folder). Returns architecture, cifar_stem,
    feat_dim and bytes."""
    data, meta = export_backbone_bytes(checkpoint_path)
    atomic_write_bytes(Path(out_path), data)
    return {
        "architecture": meta["architecture"],
        "cifar_stem": meta["cifar_stem"] == "true",
        "feat_dim": int(meta["feat_dim"]),
        "bytes": len(data),
    }
