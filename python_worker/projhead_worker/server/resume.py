"""Where a resumed run continues: the checkpoint's event seq (checked against the run's model:
weights that do not fit are a FAILED_PRECONDITION, not a crash inside the training process), the
seq of the event log the resume keeps, and the wait for the run's training lock. Part of
StartRun's resume path in jobs.py; torch (checkpoint.py) is imported only when a resume reads a
checkpoint, so the server starts fast."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..common import eventlog, runlock
from ..common.config import RunConfig
from ..common.errors import JobError
from ..common.eventlog import EVENTS_FILE


def checkpoint_seq(path: Path, model_spec: dict[str, Any] | None = None) -> int:
    """The seq stored in a checkpoint that this run can resume from (FAILED_PRECONDITION else)."""
    from ..training import checkpoint

    # mmap: reads the small metadata entries without loading the tensors into memory.
    try:
        ckpt = checkpoint.load(path, mmap=True)
        seq = ckpt.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise checkpoint.CheckpointError(f"{path}: not a projhead checkpoint (no event seq in it)")
        own = ckpt.get("spec", {}).get("model") if isinstance(ckpt.get("spec"), dict) else None
        if model_spec is not None and isinstance(own, dict) and weights_shape(own) != weights_shape(model_spec):
            def arch(m: dict[str, Any]) -> str:
                try:
                    return checkpoint.architecture(RunConfig.from_dict({"model": m}).model)
                except (ValueError, TypeError):
                    return "an unknown model"
            raise checkpoint.CheckpointError(f"checkpoint is for {arch(own)}, the request asks for {arch(model_spec)}")
        return seq
    except checkpoint.CheckpointError as e:
        raise JobError("failed_precondition", str(e)) from None


def weights_shape(model: dict[str, Any]) -> tuple:
    """What decides whether weights fit a model (newer spec fields with defaults do not)."""
    head = model.get("head") if isinstance(model.get("head"), dict) else {}
    return (model.get("backbone"), model.get("width"), model.get("cifar_stem"), tuple(head.get("hidden_dims") or ()),
            head.get("out_dim"), head.get("batch_norm"))


def resume_point(run_dir: Path, ckpt: Path, model_spec: dict[str, Any] | None = None) -> int:
    """The last seq a run resumed from `ckpt` keeps. The checkpoint holds the seq of its own
    `checkpoint` event; when the process died between the rename and that event, whatever has
    that seq now (e.g. a `failed` event written for the crash) belongs to the dead attempt."""
    if model_spec is not None:
        checkpoint_seq(ckpt, model_spec)  # the architecture check
    seq = checkpoint_seq(ckpt)
    at = next((e for e in eventlog.iter_events(run_dir / EVENTS_FILE, seq) if int(e["seq"]) == seq), None)
    return seq if at is not None and at.get("type") == "checkpoint" else seq - 1


def wait_for_training_lock(run_dir: Path, timeout: float, own_pid: int | None = None) -> None:
    """Waits until no training process holds the run's lock (runlock.py)."""
    try:
        runlock.wait_free(run_dir, timeout)
    except runlock.Held as e:
        if own_pid is not None and e.pid == str(own_pid):
            raise JobError("failed_precondition",
                           f"run {run_dir.name!r}: its training process {own_pid} has not exited yet; retry later") from None
        raise JobError("failed_precondition",
                       f"run {run_dir.name!r} is still being trained by process {e.pid} (not started by this worker)") from None
