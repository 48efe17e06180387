"""Evaluation of a stored checkpoint, for the Evaluate RPC, in a process of its own (as training
is): the dataset and the model never live in the gRPC server, and a client that goes away stops
the work by ending the process.

    python -m projhead_worker.training.evaluation.job REQUEST_JSON

reads {"run_dir", "checkpoint", "data", "layers", "eval", "device"} and writes
one JSON object per line to stdout: {"type": "log", "message"}, {"type": "layer", ...LayerEval},
then {"type": "done", ...} or {"type": "error", "code", "message"} (code: the status
errors.classify gives, which the server answers the call with). The checkpoint and the layers
are checked against the checkpoint's own model before any data is loaded. No gRPC here.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ...common import errors
from ...common.errors import JobError, SpecError


def run_evaluation(run_dir: Path, ckpt_path: Path, *, data_override: dict[str, Any], layers: list[str],
                   eval_override: dict[str, Any], device: str,
                   on_layer: Callable[[dict], None], log: Callable[[str], None],
                   data_roots: list[str] | None = None) -> dict[str, Any]:
    # Imported here, inside main()'s try: a failing import (a broken torch, a missing CUDA
    # library) ends as one classified error line, not a traceback the server cannot read.
    import torch

    from ...common.evalspec import evaluation_config
    from .. import checkpoint
    from ..data import load_dataset
    from ..dist import resolve_device
    from .layers import BASELINE_CACHE_DIR, evaluate_baselines, evaluate_layers, layers_of, protocol_of, untrained_layers

    t0 = time.time()
    ckpt = checkpoint.load_complete(ckpt_path, map_location="cpu")
    spec = ckpt["spec"]
    model = checkpoint.model_from(ckpt, ckpt_path)
    valid = layers_of(len(model.head.blocks) - 1)  # the last block is z
    for i, layer in enumerate(layers):
        if layer not in valid:
            raise JobError(errors.INVALID_ARGUMENT, f"layers[{i}]: got {layer!r}, this checkpoint's model has the layers {', '.join(valid)}")
    try:
        # what the server checked, again on the file as loaded here (data.root confined)
        cfg = evaluation_config(spec, data_override, ckpt_path, data_roots or [], eval_override)
    except SpecError as e:
        raise JobError(errors.INVALID_ARGUMENT, str(e)) from None
    dev = resolve_device(device)
    model.to(dev)
    log(f"loading {cfg.data.name}")
    ds = load_dataset(cfg.data, cfg.seed)
    log(f"evaluating {len(ds.train_x)} train / {len(ds.test_x)} test images on {dev}")
    torch.manual_seed(cfg.seed)
    results = evaluate_layers(model, ds, cfg, dev, layers=layers or None, on_layer=on_layer)
    if cfg.eval.baselines:
        log("evaluating the baselines (raw pixels, the backbone at its random initialisation)")
    return {
        "layers": results,
        "baselines": evaluate_baselines(ds, cfg, dev, cache_dir=run_dir.parent / BASELINE_CACHE_DIR),
        "protocol": protocol_of(ds, cfg),
        "untrained_layers": untrained_layers(cfg),
        "step": int(ckpt["progress"]["step"]),
        "seconds": time.time() - t0,
        "train_images": int(len(ds.train_x)),
        "test_images": int(len(ds.test_x)),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = sys.stdout

    def emit(rec: dict[str, Any]) -> None:
        out.write(json.dumps(rec, allow_nan=True) + "\n")
        out.flush()

    try:
        req = json.loads(argv[0])
        res = run_evaluation(Path(req["run_dir"]), Path(req["checkpoint"]), data_override=req.get("data") or {},
                             layers=list(req.get("layers") or []), eval_override=dict(req.get("eval") or {}),
                             device=str(req.get("device") or "auto"),
                             on_layer=lambda layer: emit({"type": "layer", **layer}),
                             log=lambda m: emit({"type": "log", "message": m}), data_roots=req.get("data_roots"))
        emit({"type": "done", **res})
        return 0
    except BaseException as e:  # noqa: BLE001 - every end is one named line
        code, message = errors.classify(e, errors.EVALUATION)
        if code == errors.INTERNAL:
            import traceback

            traceback.print_exc()
        emit({"type": "error", "code": code, "message": message})
        return 1


if __name__ == "__main__":
    sys.exit(main())
