import pytest

from projhead_worker.common.config import RunConfig, SpecError


def test_defaults_fill_zero_values():
    cfg = RunConfig.from_dict({"run_id": "a", "method": {"name": "bilevel", "temperature": 0}, "train": {"epochs": 0}})
    assert cfg.method.name == "bilevel"
    assert cfg.method.temperature == 0.5
    assert cfg.train.epochs == 1


def test_zero_is_kept_where_it_means_something():
    cfg = RunConfig.from_dict({"optim": {"weight_decay": 0}, "model": {"head": {"hidden_dims": []}}, "seed": 0})
    assert cfg.optim.weight_decay == 0
    assert cfg.model.head.hidden_dims == []


@pytest.mark.parametrize(
    "spec, field, fragment",
    [
        ({"method": {"name": "bilevl"}}, "method.name", "one of joint"),
        ({"train": {"batch_size": 1}}, "train.batch_size", "[2, 65536]"),
        ({"optim": {"lr": float("nan")}}, "optim.lr", "finite"),
        ({"optim": {"lr": "fast"}}, "optim.lr", "a number"),
        ({"run_id": "../etc"}, "run_id", "not starting with"),
        ({"run_id": "a/b"}, "run_id", "A-Z"),
        ({"model": {"head": {"hidden_dims": [1, 2, 3, 4]}}}, "model.head.hidden_dims", "at most 3"),
        ({"train": {"device": "tpu"}}, "train.device", "auto, cpu"),
        ({"bogus": 1}, "bogus", "a known field"),
        ({"data": {"train_limit": -5}}, "data.train_limit", "[0,"),
        ({"train": {"compile": "yes"}}, "train.compile", "true or false"),
        ({"method": {"bilevel": {"head_weight_decay": -0.5}}}, "method.bilevel.head_weight_decay", "-1 (inherit)"),
        ({"method": {"bilevel": {"head_momentum": 1.5}}}, "method.bilevel.head_momentum", "-1 (inherit)"),
        ({"method": {"bilevel": {"head_optimizer": "adam"}}}, "method.bilevel.head_optimizer", "one of inherit"),
    ],
)
def test_errors_name_field_value_and_expectation(spec, field, fragment):
    with pytest.raises(SpecError) as e:
        RunConfig.from_dict(spec)
    assert e.value.field == field
    assert fragment in str(e.value)
    assert field in str(e.value)
