import random

import numpy as np
import torch

from projhead_worker.common import eventlog
from projhead_worker.training import checkpoint


def test_torn_last_line_is_ignored_and_repaired(tmp_path):
    p = tmp_path / "worker-events.jsonl"
    p.write_text('{"seq": 1, "type": "a"}\n{"seq": 2, "type": "b"}\n{"seq": 3, "ty')
    assert [e["seq"] for e in eventlog.read_events(p)] == [1, 2]
    assert eventlog.repair(p) == 2
    assert p.read_text().endswith('"b"}\n')
    assert eventlog.repair(p, keep_upto_seq=1) == 1


def test_checkpoint_is_atomic_and_restores_rng(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    state = {"model": {"w": torch.arange(4.0)}, "rng": checkpoint.rng_state(), "seq": 9}
    a = (torch.rand(2), np.random.rand(), random.random())
    path, nbytes = checkpoint.save(tmp_path, state)
    assert path == "checkpoints/last.pt" and nbytes > 0
    # a leftover temporary file from a killed save is cleaned up, the real one is untouched
    (tmp_path / "checkpoints" / ".last.pt.tmp-123").write_bytes(b"partial")
    checkpoint.clean_temporaries(tmp_path)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["last.pt"]
    ckpt = checkpoint.load(tmp_path / path)
    checkpoint.set_rng_state(ckpt["rng"])
    b = (torch.rand(2), np.random.rand(), random.random())
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    assert ckpt["seq"] == 9 and torch.equal(ckpt["model"]["w"], torch.arange(4.0))


def test_the_event_log_is_fsynced_at_checkpoint_and_terminal_events_only(tmp_path, monkeypatch):
    """One durability rule for both writers of the log (docs/INTERNALS.md, Durability)."""
    import os

    from projhead_worker.training.trainproc import Emitter

    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    path = tmp_path / eventlog.EVENTS_FILE
    emit = Emitter(path, 0)
    fd = emit._file.fileno()
    emit("started", device="cpu")
    emit("step", step=1, loss=1.0)
    emit("epoch", epoch=1, step=1)
    assert synced.count(fd) == 0
    assert [e["seq"] for e in eventlog.read_events(path)] == [1, 2, 3]  # flushed: the tail sees them
    emit("checkpoint", path="checkpoints/last.pt", step=1)
    assert synced.count(fd) == 1
    emit.sync()  # what train.py calls before a checkpoint is saved
    assert synced.count(fd) == 2
    emit("finished", steps=1)
    assert synced.count(fd) == 3
    # the worker's own events (all terminal) follow the same rule
    synced.clear()
    eventlog.append(path, {"seq": 6, "time": 0, "type": "interrupted", "reason": "worker_died"})
    assert len(synced) == 1
