"""Named failures and the safety nets around them: the cause every exception maps to (out of
memory included), the test-only NaN fault hook, checkpoints that are never written with
non-finite weights, where a resumed run's event log is cut, and the training-process lock."""
import json
import os
import subprocess
import sys

import pytest
import torch

from projhead_worker.common import errors, eventlog, runlock
from projhead_worker.common.config import RunConfig, SpecError
from projhead_worker.server import jobs, resume
from projhead_worker.training import checkpoint
from projhead_worker.training.data import DatasetError
from projhead_worker.training.train import NonFiniteLoss, fault_nan_step, train

TINY = {
    "data": {"name": "shapes", "train_limit": 128, "test_limit": 32, "synthetic_size": 256},
    "model": {"backbone": "convnet", "width": 4, "head": {"hidden_dims": [32], "out_dim": 16}},
    "optim": {"lr": 0.1},
    "train": {"epochs": 2, "batch_size": 32, "device": "cpu", "precision": "fp32", "log_every_steps": 3,
              "knn_every_epochs": 0, "checkpoint_every_epochs": 0, "checkpoint_every_steps": 1, "threads": 1},
}


@pytest.mark.parametrize("exc, cause", [
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"), "out_of_memory"),
    (MemoryError(), "out_of_memory"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 800000000000 bytes"), "out_of_memory"),
    (RuntimeError("CUDA error: out of memory"), "out_of_memory"),
    (NonFiniteLoss("loss became nan at step 3"), "non_finite_loss"),
    (DatasetError("/data/mnist/train-images-idx3-ubyte.gz", "an IDX file", "file not found"), "dataset"),
    (SpecError("train.batch_size", 0, "an integer"), "invalid_spec"),
    (ValueError("train.batch_size: 512 is larger than the 256 training images"), "invalid_spec"),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), "crash"),
    (KeyError("model"), "crash"),
])
def test_every_exception_maps_to_a_named_cause(exc, cause):
    got, message = errors.classify(exc, errors.TRAINING)
    assert got == cause
    assert message
    if cause == "out_of_memory":
        assert type(exc).__name__ in message


def test_fault_hook_parses_only_its_own_syntax():
    assert fault_nan_step("nan_loss_at_step:3") == 3
    assert fault_nan_step("") == 0
    assert fault_nan_step("nan_loss_at_step:x") == 0
    assert fault_nan_step("something_else:3") == 0


def test_nan_is_caught_before_it_is_checkpointed(tmp_path, monkeypatch):
    # Logged every 3 steps, saved every step: step 5 is never logged before its save.
    monkeypatch.setenv("PROJHEAD_FAULT", "nan_loss_at_step:5")
    events = []
    with pytest.raises(NonFiniteLoss, match="step 5"):
        train(RunConfig.from_dict(TINY), tmp_path, lambda t, **f: events.append({"type": t, **f}) or len(events), lambda: None)
    saved = [e["step"] for e in events if e["type"] == "checkpoint"]
    assert saved == [1, 2, 3, 4]
    ckpt = checkpoint.load(checkpoint.latest(tmp_path))
    assert ckpt["progress"]["step"] == 4
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())


def _write_events(path, types):
    path.write_text("".join(json.dumps({"seq": i + 1, "type": t}) + "\n" for i, t in enumerate(types)))


def test_resume_point_keeps_the_checkpoint_event_only_when_it_was_written(tmp_path, monkeypatch):
    log = tmp_path / eventlog.EVENTS_FILE
    ckpt = tmp_path / "last.pt"
    # The checkpoint (seq 3) was renamed into place and its event written, then the run was cancelled.
    _write_events(log, ["started", "step", "checkpoint", "cancelled"])
    monkeypatch.setattr(resume, "checkpoint_seq", lambda p: 3)
    assert resume.resume_point(tmp_path, ckpt) == 3
    # Killed between the rename and the event: seq 3 is the failed event the worker wrote.
    _write_events(log, ["started", "step", "failed"])
    assert resume.resume_point(tmp_path, ckpt) == 2


def test_unreadable_checkpoint_is_a_failed_precondition(tmp_path):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(jobs.JobError) as e:
        resume.checkpoint_seq(bad)
    assert e.value.code == "failed_precondition"


def test_a_locked_run_is_not_trained_twice(tmp_path, monkeypatch):
    monkeypatch.delenv("PROJHEAD_LOCK_FD", raising=False)
    # A process holding train.lock (as a training process does for its whole life) ...
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(tmp_path / 'train.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(jobs.JobError, match="still being trained") as e:
            resume.wait_for_training_lock(tmp_path, timeout=0.3)
        assert e.value.code == "failed_precondition"
        assert runlock.acquire(tmp_path, timeout=0.3) is None
    finally:
        holder.kill()
        holder.wait()
    # ... and free again once it is gone (the kernel drops the lock of a dead process).
    resume.wait_for_training_lock(tmp_path, timeout=5)
    fd = runlock.acquire(tmp_path, timeout=5)
    assert fd is not None and int((tmp_path / "train.lock").read_text()) == os.getpid()
    os.close(fd)
