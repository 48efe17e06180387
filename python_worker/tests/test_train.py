"""The training loop on real (tiny) data: every method trains, runs are reproducible, resume
replays exactly, and cancellation writes a checkpoint first."""
import json

import pytest

from projhead_worker import checkpoint
from projhead_worker.config import RunConfig
from projhead_worker.train import Cancelled, train

TINY = {
    "data": {"name": "shapes", "train_limit": 256, "test_limit": 128, "synthetic_size": 512},
    "model": {"backbone": "convnet", "width": 4, "head": {"hidden_dims": [32], "out_dim": 16}},
    "optim": {"lr": 0.1},
    "train": {"epochs": 2, "batch_size": 64, "device": "cpu", "precision": "fp32", "log_every_steps": 1,
              "knn_every_epochs": 1, "checkpoint_every_epochs": 1},
}


def cfg_with(**method):
    d = json.loads(json.dumps(TINY))
    d["method"] = method
    return RunConfig.from_dict(d)


class Recorder:
    def __init__(self):
        self.events = []

    def __call__(self, type_, **fields):
        self.events.append({"type": type_, **fields})
        return len(self.events)

    def losses(self):
        return [e["loss"] for e in self.events if e["type"] == "step"]


@pytest.mark.parametrize("method", ["joint", "bilevel", "no_head", "fixed_head", "directclr"])
def test_every_method_trains(tmp_path, method):
    rec = Recorder()
    summary = train(cfg_with(name=method), tmp_path, rec, lambda: None)
    assert summary["steps"] == 8 and summary["epochs"] == 2
    types = [e["type"] for e in rec.events]
    assert types[0] == "started" and types.count("epoch") == 2 and "checkpoint" in types
    assert all(0 <= e["knn_top1"] <= 1 for e in rec.events if e["type"] == "epoch")
    if method == "bilevel":
        assert all(e["head_loss"] > 0 and "inner_gain" in e for e in rec.events if e["type"] == "step")
        assert rec.events[0]["head_optimizer"]["name"] == "sgd"
    else:
        assert not any("head_loss" in e or "inner_gain" in e for e in rec.events)
        assert "head_optimizer" not in rec.events[0]


def test_same_seed_gives_identical_losses(tmp_path):
    a, b = Recorder(), Recorder()
    train(cfg_with(name="bilevel"), tmp_path / "a", a, lambda: None)
    train(cfg_with(name="bilevel"), tmp_path / "b", b, lambda: None)
    assert a.losses() == b.losses() and len(a.losses()) == 8


def test_resume_replays_the_uninterrupted_run(tmp_path):
    full = Recorder()
    train(cfg_with(name="bilevel", bilevel={"inner_steps": 2}), tmp_path / "full", full, lambda: None)
    # Cancel after 3 steps (mid-epoch): a checkpoint is written, then the run resumes from it.
    part, steps = Recorder(), {"n": 0}

    def stop():
        steps["n"] = sum(1 for e in part.events if e["type"] == "step")
        return "cancel" if steps["n"] >= 3 else None

    with pytest.raises(Cancelled):
        train(cfg_with(name="bilevel", bilevel={"inner_steps": 2}), tmp_path / "part", part, stop)
    rest = Recorder()
    train(cfg_with(name="bilevel", bilevel={"inner_steps": 2}), tmp_path / "part", rest, lambda: None,
          resume_from=checkpoint.latest(tmp_path / "part"))
    assert part.losses()[:3] + rest.losses() == full.losses()
