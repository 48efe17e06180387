"""Evaluation of a stored checkpoint, for the Evaluate RPC, in a process of its own (as training
is): the dataset and the model never live in the gRPC server, and a client that goes away stops
the work by ending the process.

    python -m projhead_worker.evaluation.job REQUEST_JSON

reads {"run_dir", "checkpoint", "data", "layers", "probe_epochs", "knn_k", "device"} and writes
one JSON object per line to stdout: {"type": "log", "message"}, {"type": "layer", ...LayerEval},
then {"type": "done", ...} or {"type": "error", "code", "message"} (a JobError code). The
checkpoint and the layers are checked against the checkpoint's own model before any data is
loaded. No gRPC here.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ..config import RunConfig, SpecError


class EvaluateError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def run_evaluation(run_dir: Path, ckpt_path: Path, *, data_override: dict[str, Any], layers: list[str],
                   probe_epochs: int, knn_k: int, device: str,
                   on_layer: Callable[[dict], None], log: Callable[[str], None]) -> dict[str, Any]:
    import torch

    from .. import checkpoint
    from ..data import load_dataset
    from ..train import resolve_device
    from .layers import evaluate_layers, layers_of, untrained_layers

    t0 = time.time()
    ckpt = checkpoint.load_complete(ckpt_path, map_location="cpu")
    spec = ckpt["spec"]
    model = checkpoint.model_from(ckpt, ckpt_path)
    valid = layers_of(len(model.head.blocks) - 1)  # the last block is z
    for i, layer in enumerate(layers):
        if layer not in valid:
            raise EvaluateError("invalid_argument", f"layers[{i}]: got {layer!r}, this checkpoint's model has the layers {', '.join(valid)}")
    if data_override.get("name"):
        spec["data"] = {**spec["data"], **{k: v for k, v in data_override.items() if v not in ("", 0, None)}}
    try:
        cfg = RunConfig.from_dict(spec)
    except SpecError as e:
        raise EvaluateError("invalid_argument", str(e)) from None
    dev = resolve_device(device)
    model.to(dev)
    log(f"loading {cfg.data.name}")
    ds = load_dataset(cfg.data, cfg.seed)
    log(f"evaluating {len(ds.train_x)} train / {len(ds.test_x)} test images on {dev}")
    torch.manual_seed(cfg.seed)
    results = evaluate_layers(model, ds, cfg, dev, layers=layers or None, on_layer=on_layer,
                              probe_epochs=probe_epochs, knn_k=knn_k)
    return {
        "layers": results,
        "untrained_layers": untrained_layers(cfg),
        "step": int(ckpt["progress"]["step"]),
        "seconds": time.time() - t0,
        "train_images": int(len(ds.train_x)),
        "test_images": int(len(ds.test_x)),
    }


def _error_of(e: BaseException) -> tuple[str, str]:
    """(JobError code, message) of what ended an evaluation."""
    from ..checkpoint import CheckpointError
    from ..data import DatasetError
    from ..storage import describe
    from ..trainproc import is_out_of_memory

    if isinstance(e, EvaluateError):
        return e.code, str(e)
    if isinstance(e, CheckpointError):
        return "failed_precondition", str(e)
    if isinstance(e, DatasetError):
        return "failed_precondition", str(e)
    if isinstance(e, SpecError):
        return "invalid_argument", str(e)
    if is_out_of_memory(e):
        return "resource_exhausted", f"out of memory during the evaluation: {type(e).__name__}"
    if isinstance(e, OSError):
        return "failed_precondition", describe(e)
    return "internal", f"{type(e).__name__}: {e}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = sys.stdout

    def emit(rec: dict[str, Any]) -> None:
        out.write(json.dumps(rec, allow_nan=True) + "\n")
        out.flush()

    try:
        req = json.loads(argv[0])
        res = run_evaluation(Path(req["run_dir"]), Path(req["checkpoint"]), data_override=req.get("data") or {},
                             layers=list(req.get("layers") or []), probe_epochs=int(req.get("probe_epochs") or 0),
                             knn_k=int(req.get("knn_k") or 200), device=str(req.get("device") or "auto"),
                             on_layer=lambda layer: emit({"type": "layer", **layer}),
                             log=lambda m: emit({"type": "log", "message": m}))
        emit({"type": "done", **res})
        return 0
    except BaseException as e:  # noqa: BLE001 - every end is one named line
        code, message = _error_of(e)
        if code == "internal":
            import traceback

            traceback.print_exc()
        emit({"type": "error", "code": code, "message": message})
        return 1


if __name__ == "__main__":
    sys.exit(main())
