"""Evaluation of a stored checkpoint, for the Evaluate RPC: rebuilds the model from the
checkpoint's own spec, loads the dataset (or an override) and evaluates every layer. No gRPC."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from .config import RunConfig


def run_evaluation(run_dir: Path, ckpt_path: Path, *, data_override: dict[str, Any], layers: list[str],
                   probe_epochs: int, knn_k: int, device: str,
                   on_layer: Callable[[dict], None], log: Callable[[str], None]) -> dict[str, Any]:
    import torch

    from . import checkpoint
    from .data import load_dataset
    from .evaluate import evaluate_layers
    from .models import build_model
    from .train import resolve_device

    t0 = time.time()
    ckpt = checkpoint.load(ckpt_path, map_location="cpu")
    spec = ckpt["spec"]
    if data_override.get("name"):
        spec["data"] = {**spec["data"], **{k: v for k, v in data_override.items() if v not in ("", 0, None)}}
    cfg = RunConfig.from_dict(spec)
    dev = resolve_device(device)
    model = build_model(cfg.model)
    model.load_state_dict(ckpt["model"])
    model.to(dev)
    log(f"loading {cfg.data.name}")
    ds = load_dataset(cfg.data, cfg.seed)
    log(f"evaluating {len(ds.train_x)} train / {len(ds.test_x)} test images on {dev}")
    torch.manual_seed(cfg.seed)
    results = evaluate_layers(model, ds, cfg, dev, layers=layers or None, on_layer=on_layer,
                              probe_epochs=probe_epochs, knn_k=knn_k)
    return {
        "layers": results,
        "step": int(ckpt["progress"]["step"]),
        "seconds": time.time() - t0,
        "train_images": int(len(ds.train_x)),
        "test_images": int(len(ds.test_x)),
    }
