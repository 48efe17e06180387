"""The configuration an evaluation of a stored checkpoint runs with: the checkpoint's own spec
(which must itself be valid: else the file is not a usable checkpoint, FAILED_PRECONDITION naming
it, as ExportBackbone says), the request's data fields over it (a bad one is the request's:
INVALID_ARGUMENT naming the field), and its data.root, wherever it came from, confined to the
worker's data roots like every path a client sends (PERMISSION_DENIED). Used by the server before
it starts the evaluation process and by that process (evaluation/job.py) on what it loads. No
torch here."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import paths
from .config import RunConfig, SpecError
from .errors import CheckpointError


def evaluation_config(stored_spec: Any, data_override: dict[str, Any], ckpt_path: Path,
                      data_roots: list[str] | list[Path], eval_override: dict[str, Any] | None = None) -> RunConfig:
    try:
        RunConfig.from_dict(stored_spec, training=False)
    except (SpecError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{ckpt_path}: not a projhead checkpoint (its spec is invalid: {e})") from None
    spec = json.loads(json.dumps(stored_spec))
    overridden = bool(data_override.get("name"))
    if overridden:
        spec["data"] = _laid_over(spec.get("data", {}), data_override)
    if eval_override:  # the request's probe / kNN settings; zero values (and false) keep the run's own
        spec["eval"] = _laid_over(spec.get("eval", {}), eval_override)
    cfg = RunConfig.from_dict(spec, training=False)  # SpecError: a data or eval field of the request
    if cfg.data.root:
        from_request = overridden and data_override.get("root") not in ("", None)
        field = "data.root" if from_request else f"{ckpt_path}: its stored data.root"
        cfg.data.root = str(paths.confine(cfg.data.root, [Path(r) for r in data_roots], field))
    return cfg


def _laid_over(section: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A request's fields over a stored section: zero values (and false) keep the stored ones."""
    return {**section, **{k: v for k, v in override.items() if v not in ("", 0, None)}}
