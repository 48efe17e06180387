"""Translation between projhead.v1 messages and the plain values the worker uses."""
import json
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
    ev = event_to_proto({"seq": 1, "time": 0, "type": "started", "resolved_spec": {"a": 1}, "device": "cpu"})
    assert json.loads(ev.started.resolved_spec_json) == {"a": 1}
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
