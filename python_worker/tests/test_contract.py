"""Translation between projhead.v1 messages and the plain values the worker uses."""
import math

from projhead.v1 import worker_pb2 as pb
from projhead_worker.common.config import RunConfig
from projhead_worker.server.service import event_to_proto, message_to_dict


def test_spec_message_to_config_keeps_every_field():
    spec = pb.RunSpec(run_id="r1", seed=7, data=pb.DataSpec(name="mnist", train_limit=100),
                      model=pb.ModelSpec(backbone="resnet18", head=pb.HeadSpec(hidden_dims=[64, 32], out_dim=16, batch_norm=True, activation="gelu")),
                      method=pb.MethodSpec(name="bilevel", temperature=0.2, bilevel=pb.BilevelOptions(inner_steps=5, head_lr=0.1)),
                      train=pb.TrainSpec(epochs=3, batch_size=64, precision=pb.PRECISION_BF16, device="cpu"))
    d = message_to_dict(spec)
    cfg = RunConfig.from_dict(d)
    assert cfg.seed == 7 and cfg.data.name == "mnist" and cfg.data.train_limit == 100
    assert cfg.model.head.hidden_dims == [64, 32] and cfg.model.head.activation == "gelu"
    assert cfg.method.bilevel.inner_steps == 5 and cfg.method.bilevel.head_lr == 0.1
    assert cfg.train.precision == "bf16" and cfg.train.epochs == 3


def test_every_proto_field_exists_in_config():
    # A field added to the contract but not to config.py would be silently rejected.
    d = message_to_dict(pb.RunSpec())
    cfg = RunConfig().to_dict()

    def walk(a, b, path=""):
        for k, v in a.items():
            assert k in b, f"{path}{k} missing from RunConfig"
            if isinstance(v, dict):
                walk(v, b[k], f"{path}{k}.")

    walk(d, cfg)


def test_events_become_messages():
    ev = event_to_proto({"seq": 3, "time": 1.5, "type": "step", "step": 10, "epoch": 1, "loss": 4.2, "lr": 0.1, "images_per_sec": 99.0})
    assert ev.WhichOneof("kind") == "step" and ev.seq == 3 and ev.step.loss == 4.2
    ev = event_to_proto({"seq": 1, "time": 0, "type": "started", "resolved_spec": {"train": {"epochs": 3, "precision": "bf16"}},
                         "device": "cpu"})
    assert ev.started.resolved_spec.train.epochs == 3 and ev.started.resolved_spec.train.precision == pb.PRECISION_BF16
    assert not ev.started.HasField("head_optimizer")
    ev = event_to_proto({"seq": 1, "time": 0, "type": "started", "head_optimizer": {"name": "lars", "lr": 0.3, "nesterov": True}})
    assert ev.started.head_optimizer.name == "lars" and ev.started.head_optimizer.nesterov
    ev = event_to_proto({"seq": 3, "time": 0, "type": "step", "loss": 2.0, "head_loss": 0.5, "inner_gain": 1.5})
    assert ev.step.HasField("head_loss") and ev.step.inner_gain == 1.5
    assert not event_to_proto({"seq": 3, "time": 0, "type": "step", "loss": 2.0}).step.HasField("head_loss")
    ev = event_to_proto({"seq": 2, "time": 0, "type": "finished", "final_loss": float("nan"), "steps": 0})
    assert ev.WhichOneof("kind") == "finished" and math.isnan(ev.finished.final_loss)
    ev = event_to_proto({"seq": 4, "time": 0, "type": "evaluation", "layer": "h", "singular_values": [3.0, 1.0], "linear_top1": 0.5})
    assert ev.evaluation.layer == "h" and list(ev.evaluation.singular_values) == [3.0, 1.0]


def test_the_resolved_spec_of_a_real_config_arrives_as_a_run_spec_with_every_field():
    from google.protobuf import json_format

    # Every section off its defaults where a rule allows it, an enum by its label: what train.py
    # sends as `started`'s resolved_spec (RunConfig.to_dict()).
    cfg = RunConfig.from_dict({
        "run_id": "r-1", "name": "full", "seed": 11,
        "data": {"name": "shapes", "root": "/data", "train_limit": 300, "test_limit": 100, "image_size": 16, "synthetic_size": 900},
        "model": {"backbone": "convnet", "cifar_stem": False, "width": 8,
                  "head": {"hidden_dims": [64, 32], "out_dim": 24, "batch_norm": False, "activation": "gelu", "last_batch_norm": True}},
        "method": {"name": "bilevel", "temperature": 0.2, "directclr_dim": 16, "joint": {"head_lr": 0.3},
                   "bilevel": {"inner_steps": 3, "head_lr": 0.05, "head_optimizer": "adamw", "head_weight_decay": 0.01,
                               "head_reset_every": 2, "head_in_outer": True, "head_momentum": 0.5}},
        "optim": {"name": "lars", "lr": 0.3, "momentum": 0.8, "nesterov": True, "weight_decay": 1e-5, "warmup_epochs": 0.5,
                  "schedule": "constant"},
        "train": {"epochs": 4, "batch_size": 60, "device": "cpu", "precision": "bf16", "compile": True, "max_steps": 7,
                  "log_every_steps": 2, "knn_every_epochs": 2, "checkpoint_every_epochs": 3, "checkpoint_every_steps": 5,
                  "nproc": 2, "eval_at_end": True, "threads": 3, "nnodes": 1, "layer_eval_every_epochs": 0, "layer_eval_subset": 50},
        "augment": {"crop_min_scale": 0.3, "jitter_strength": 0.5, "jitter_p": 0.7, "grayscale_p": 0.1, "blur_p": 0.4,
                    "flip_p": 0.25, "minimal": True},
        "eval": {"probe_max_iter": 30, "knn_k": 9, "knn_temperature": 0.2, "val_fraction": 0.3, "baselines": False, "layers": "h"},
    })
    ev = event_to_proto({"seq": 1, "time": 0, "type": "started", "resolved_spec": cfg.to_dict(), "device": "cpu"})
    spec = ev.started.resolved_spec
    # Back through StartRun's own translation (zero values kept, enums as labels): nothing lost.
    assert message_to_dict(spec) == cfg.to_dict()
    # And as protobuf itself reads the message: the enum travels as its number.
    by_protobuf = json_format.MessageToDict(spec, preserving_proto_field_name=True)
    assert by_protobuf["train"]["precision"] == "PRECISION_BF16" and by_protobuf["model"]["head"]["hidden_dims"] == [64, 32]
    # The defaults too: a config of nothing but defaults arrives whole ("auto" is the enum's zero).
    defaults = RunConfig.from_dict({})
    spec = event_to_proto({"seq": 1, "time": 0, "type": "started", "resolved_spec": defaults.to_dict()}).started.resolved_spec
    assert message_to_dict(spec) == defaults.to_dict() and spec.train.precision == pb.PRECISION_UNSPECIFIED


def test_an_enum_value_without_a_label_is_caught_or_logged(monkeypatch, capsys):
    import pytest

    from projhead_worker.server import service as server

    started = {"seq": 1, "time": 0, "type": "started", "resolved_spec": {"train": {"epochs": 2, "precision": "fp16"}}}
    with pytest.raises(server.UnknownField, match=r"^projhead.v1.TrainSpec.precision: 'fp16' is not a label of projhead.v1.Precision \(auto, fp32, bf16\)$"):
        event_to_proto(started)
    monkeypatch.delenv(server.STRICT_FIELDS_ENV)
    monkeypatch.setattr(server, "_unknown_logged", set())
    for _ in range(2):
        assert event_to_proto(started).started.resolved_spec.train.epochs == 2  # the rest still arrives
    lines = [l for l in capsys.readouterr().err.splitlines() if "fp16" in l]
    assert lines == ["[worker] dropped projhead.v1.TrainSpec.precision 'fp16': not a label of projhead.v1.Precision (auto, fp32, bf16) (logged once)"]


def test_an_unknown_event_key_is_caught():
    import pytest

    from projhead_worker.server.service import UnknownField

    # The tests run strict (conftest): a misspelt metric fails instead of vanishing.
    with pytest.raises(UnknownField, match=r"projhead.v1.StepMetrics has no field 'contrastive_accuracy'"):
        event_to_proto({"seq": 3, "time": 0, "type": "step", "loss": 2.0, "contrastive_accuracy": 0.5})
    with pytest.raises(UnknownField, match=r"projhead.v1.LayerEval has no field 'knn_top_1'"):  # inside a repeated message
        event_to_proto({"seq": 9, "time": 0, "type": "finished", "baselines": [{"layer": "pixels", "knn_top_1": 0.3}]})


def test_an_unknown_event_key_is_logged_once_in_production(monkeypatch, capsys):
    from projhead_worker.server import service as server

    monkeypatch.delenv(server.STRICT_FIELDS_ENV)
    monkeypatch.setattr(server, "_unknown_logged", set())
    for _ in range(3):
        ev = event_to_proto({"seq": 3, "time": 0, "type": "step", "loss": 2.0, "contrastive_accuracy": 0.5})
        assert ev.step.loss == 2.0  # the known fields still arrive
    event_to_proto({"seq": 4, "time": 0, "type": "epoch", "loss": 2.0, "contrastive_accuracy": 0.5})
    lines = [l for l in capsys.readouterr().err.splitlines() if "contrastive_accuracy" in l]
    assert lines == ["[worker] dropped 'contrastive_accuracy': not a field of projhead.v1.StepMetrics (logged once)",
                     "[worker] dropped 'contrastive_accuracy': not a field of projhead.v1.EpochSummary (logged once)"]
