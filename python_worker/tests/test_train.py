"""The training loop on real (tiny) data: every method trains, runs are reproducible, resume
replays exactly, and cancellation writes a checkpoint first."""
import json

import pytest
import torch

from projhead_worker.common.config import RunConfig
from projhead_worker.server.service import event_to_proto
from projhead_worker.training import checkpoint
from projhead_worker.training.train import Cancelled, train

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
        # every key must be a field of its message (strict in the tests: conftest)
        event_to_proto({"seq": len(self.events), "time": 0.0, **self.events[-1]})
        return len(self.events)

    def losses(self):
        return [e["loss"] for e in self.events if e["type"] == "step"]


@pytest.mark.parametrize("method", ["joint", "bilevel", "no_head", "fixed_head", "directclr"])
def test_every_method_trains(tmp_path, method):
    rec = Recorder()
    summary = train(cfg_with(name=method), tmp_path, rec, lambda: None)
    assert summary["steps"] == 8 and summary["epochs"] == 2
    rec("finished", **summary)  # what trainproc.py emits
    types = [e["type"] for e in rec.events]
    assert types[0] == "started" and types.count("epoch") == 2 and "checkpoint" in types
    assert all(0 <= e["knn_top1"] <= 1 for e in rec.events if e["type"] == "epoch")
    if method == "bilevel":
        assert all(e["head_loss"] > 0 and "inner_gain" in e for e in rec.events if e["type"] == "step")
        assert rec.events[0]["head_optimizer"]["name"] == "sgd"
    else:
        assert not any("head_loss" in e or "inner_gain" in e for e in rec.events)
        assert "head_optimizer" not in rec.events[0]


def test_the_events_are_made_durable_before_every_checkpoint(tmp_path):
    rec, calls = Recorder(), []

    def sync_events():
        ckpt = tmp_path / "checkpoints" / "last.pt"
        saved = torch.load(ckpt, weights_only=True)["seq"] if ckpt.exists() else None
        calls.append((len(rec.events), saved))

    train(cfg_with(name="joint"), tmp_path, rec, lambda: None, last_seq=lambda: len(rec.events), sync_events=sync_events)
    ckpts = [i for i, e in enumerate(rec.events) if e["type"] == "checkpoint"]
    assert len(ckpts) == 2  # epoch 1, final
    # each time after every event before the checkpoint, and before last.pt holds the new one
    assert calls == [(ckpts[0], None), (ckpts[1], ckpts[0] + 1)]


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


def test_dynamics_of_every_layer_and_equal_compute_accounting(tmp_path):
    def run(every, name):
        d = json.loads(json.dumps(TINY))
        d["method"] = {"name": "bilevel", "bilevel": {"inner_steps": 2}}
        d["train"].update(knn_every_epochs=0, layer_eval_every_epochs=every, layer_eval_subset=64)
        rec = Recorder()
        return rec, train(RunConfig.from_dict(d), tmp_path / name, rec, lambda: None)

    rec, summary = run(1, "on")
    dyn = [e for e in rec.events if e["type"] == "dynamics"]
    # before the first step (epoch 0), then after every epoch
    assert [(e["epoch"], e["step"]) for e in dyn] == [(0, 0), (1, 4), (2, 8)]
    types = [e["type"] for e in rec.events]
    assert types.index("dynamics") < types.index("step")
    for e in dyn:
        assert e["subset_size"] == 64 and e["seconds"] > 0
        assert [(l["layer"], l["index"], l["dim"]) for l in e["layers"]] == [("h", 0, 32), ("head.1", 1, 32), ("z", 2, 16)]
        for l in e["layers"]:
            assert 0 <= l["knn_top1"] <= 1 and 1 <= l["effective_rank"] <= l["dim"]
            assert 0 <= l["alignment"] <= 4 and l["uniformity"] <= 0
    assert dyn[0]["layers"] != dyn[-1]["layers"]  # the model changed, the subsets did not
    # equal-compute accounting
    assert summary["optimizer_steps"] == 8 and summary["images_seen"] == 8 * 64 and summary["inner_head_steps"] == 16
    assert 0 < summary["train_seconds"] < summary["wall_seconds"]
    # measuring touches nothing training uses: the same losses with the dynamics off
    off, off_summary = run(0, "off")
    assert not any(e["type"] == "dynamics" for e in off.events)
    assert off.losses() == rec.losses()


def test_dynamics_leave_out_untrained_layers_and_check_the_subset():
    from projhead_worker.common.config import SpecError
    from projhead_worker.training.data import load_dataset
    from projhead_worker.training.dynamics import LayerDynamics, cadence
    from projhead_worker.training.models import build_model

    d = json.loads(json.dumps(TINY))
    d["method"] = {"name": "no_head"}
    cfg = RunConfig.from_dict(d)
    assert cadence(cfg) == 1  # -1 (the default) follows knn_every_epochs
    ds = load_dataset(cfg.data, cfg.seed)
    out = LayerDynamics(cfg, ds, 32, "cpu").measure(build_model(cfg.model))
    assert out["subset_size"] == 102 and [l["layer"] for l in out["layers"]] == ["h"]  # min(512, 256 train, 102 test)
    d["train"]["layer_eval_subset"] = 200
    d["data"]["test_limit"] = 0  # the split itself (not a limit) is what is too small
    with pytest.raises(SpecError, match="train.layer_eval_subset"):
        LayerDynamics(RunConfig.from_dict(d), load_dataset(RunConfig.from_dict(d).data, 0), 32, "cpu")
    d["data"]["test_limit"] = 100
    with pytest.raises(SpecError, match="at most the test split's 100 images"):
        RunConfig.from_dict(d)


@pytest.mark.parametrize("layers, expected", [("all", ["h", "head.1", "z"]), ("h", ["h"])])
def test_eval_layers_chooses_what_the_end_of_training_evaluation_scores(tmp_path, layers, expected):
    d = json.loads(json.dumps(TINY))
    d["method"] = {"name": "joint"}
    d["train"].update(epochs=1, knn_every_epochs=0, checkpoint_every_epochs=0, eval_at_end=True)
    d["eval"] = {"probe_max_iter": 20, "knn_k": 5, "baselines": False, "layers": layers}
    rec = Recorder()
    train(RunConfig.from_dict(d), tmp_path, rec, lambda: None)
    assert [e["layer"] for e in rec.events if e["type"] == "evaluation"] == expected


def test_eval_layers_refuses_what_it_does_not_know():
    d = json.loads(json.dumps(TINY))
    d["eval"] = {"layers": "head.1"}
    with pytest.raises(ValueError, match="eval.layers"):
        RunConfig.from_dict(d).validate()
