"""Each method updates exactly what it should: joint both parts, bilevel the head only in its
inner loop and the backbone only in its outer step, the ablations the backbone only."""
import contextlib
import copy

import pytest
import torch

from projhead_worker.common import config
from projhead_worker.common.config import RunConfig, SpecError
from projhead_worker.training.losses import info_nce
from projhead_worker.training.methods import METHODS, Bilevel, build_method
from projhead_worker.training.models import build_model
from projhead_worker.training.optim import LARS, build_optimizer

NOCAST = contextlib.nullcontext


def setup(method: str, seed: int = 0, optim=None, **bilevel):
    torch.manual_seed(seed)
    cfg = RunConfig.from_dict({
        "method": {"name": method, "temperature": 0.5, "bilevel": bilevel},
        "model": {"backbone": "convnet", "width": 4, "head": {"hidden_dims": [16], "out_dim": 8}},
        "optim": optim or {"name": "sgd", "lr": 0.1},
    })
    model = build_model(cfg.model)
    m = build_method(model, cfg)
    opt = build_optimizer(m.outer_parameters(), cfg.optim)
    x1, x2 = torch.randn(8, 3, 16, 16), torch.randn(8, 3, 16, 16)
    return cfg, model, m, opt, x1, x2


def params(module):
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def state(module):
    return {n: t.detach().clone() for n, t in module.state_dict().items()}


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def all_differ(a, b):
    return all(not torch.equal(a[k], b[k]) for k in a)


def test_registry_matches_config():
    assert set(METHODS) == set(config.METHODS)
    cfg, model, *_ = setup("joint")
    cfg.method.name = "nope"
    with pytest.raises(SpecError):
        build_method(model, cfg)


@pytest.mark.parametrize("name", sorted(config.METHODS))
def test_metrics_contract(name):
    _, _, m, opt, x1, x2 = setup(name)
    out = m.train_step(x1, x2, opt, NOCAST)
    # Only what the method measures: no zero padding for methods without an inner head solve.
    assert set(out) == ({"loss", "acc", "head_loss", "inner_gain"} if name == "bilevel" else {"loss", "acc"})
    vals = {k: float(v) for k, v in out.items()}
    assert all(torch.isfinite(torch.tensor(v)) for v in vals.values())
    assert 0.0 <= vals["acc"] <= 1.0
    # bf16 autocast path runs too
    out = m.train_step(x1, x2, opt, lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    assert torch.isfinite(torch.as_tensor(out["loss"]))


def test_joint_changes_backbone_and_head():
    _, model, m, opt, x1, x2 = setup("joint")
    bb, hd = params(model.backbone), params(model.head)
    m.train_step(x1, x2, opt, NOCAST)
    assert all_differ(bb, params(model.backbone))
    assert all_differ(hd, params(model.head))


def test_no_head_ignores_head():
    _, model, m, opt, x1, x2 = setup("no_head")
    ref = copy.deepcopy(model).train()
    bb, hd = params(model.backbone), state(model.head)
    out = m.train_step(x1, x2, opt, NOCAST)
    assert all_differ(bb, params(model.backbone))
    assert same(hd, state(model.head))  # weights and BatchNorm statistics
    with torch.no_grad():
        h = ref.backbone(torch.cat([x1, x2]))
        expected, _ = info_nce(h[:8], h[8:], 0.5)
    assert float(out["loss"]) == pytest.approx(expected.item(), rel=1e-6)


def test_fixed_head_never_changes_head_parameters():
    _, model, m, opt, x1, x2 = setup("fixed_head")
    head_ids = {id(p) for p in model.head.parameters()}
    assert not head_ids & {id(p) for p in m.outer_parameters()}
    assert not any(p.requires_grad for p in model.head.parameters())
    bb, hd = params(model.backbone), params(model.head)
    for _ in range(4):
        m.train_step(x1, x2, opt, NOCAST)
    assert all_differ(bb, params(model.backbone))
    assert same(hd, params(model.head))
    assert all(p.grad is None for p in model.head.parameters())


def test_directclr_uses_exactly_first_d0_features():
    cfg, model, m, opt, x1, x2 = setup("directclr")
    assert m.d0 == round(360 / 2048 * 32) == 6
    torch.manual_seed(1)
    h = torch.randn(16, 32, requires_grad=True)
    loss, _ = m.contrast(m.features(h))
    loss.backward()
    assert h.grad[:, m.d0:].abs().max() == 0
    assert h.grad[:, : m.d0].abs().max() > 0
    h2 = h.detach().clone()
    h2[:, m.d0:] = torch.randn(16, 32 - m.d0) * 100
    assert m.contrast(m.features(h2))[0].item() == pytest.approx(loss.item(), abs=0)
    # and the step itself trains only the backbone
    bb, hd = params(model.backbone), state(model.head)
    m.train_step(x1, x2, opt, NOCAST)
    assert all_differ(bb, params(model.backbone)) and same(hd, state(model.head))


def test_directclr_dim_option():
    cfg, model, *_ = setup("directclr")
    cfg.method.directclr_dim = 10
    assert build_method(model, cfg).d0 == 10
    cfg.method.directclr_dim = 33
    with pytest.raises(SpecError):
        build_method(model, cfg)


@pytest.mark.parametrize("head_in_outer", [False, True])
def test_bilevel_outer_step_touches_head_only_with_head_in_outer(head_in_outer):
    _, model, m, opt, x1, x2 = setup("bilevel", inner_steps=3, head_lr=0.05, head_in_outer=head_in_outer)
    head_ids = {id(p) for p in model.head.parameters()}
    assert bool(head_ids & {id(p) for p in m.outer_parameters()}) == head_in_outer
    # Replay on a copy: the backbone forward (same batch statistics) and the inner loop alone.
    twin = copy.deepcopy(m)
    twin.model.train()
    with torch.no_grad():
        h = twin.model.backbone(torch.cat([x1, x2]))
    twin.inner_solve(h, NOCAST)
    bb, hd0 = params(model.backbone), params(model.head)
    m.train_step(x1, x2, opt, NOCAST)
    assert all_differ(bb, params(model.backbone))
    assert all_differ(hd0, params(model.head))  # the inner steps did move the head
    inner_only = params(twin.model.head)
    if head_in_outer:
        assert all_differ(inner_only, params(model.head))
    else:
        assert same(inner_only, params(model.head))
    assert all(p.requires_grad for p in model.head.parameters())  # restored after the outer step
    assert all(p.grad is None for p in model.parameters())


def _batch_loss(model, method, x1, x2):
    """An independent evaluation of the batch InfoNCE with model's current parameters (train
    mode, as in the step: BatchNorm on batch statistics)."""
    twin = copy.deepcopy(model).train()
    with torch.no_grad():
        h = twin.backbone(torch.cat([x1, x2]))
        f = {"no_head": h, "directclr": h[:, : getattr(method, "d0", 0)]}.get(method.name)
        f = twin.head(h) if f is None else f
        return info_nce(f[: x1.shape[0]], f[x1.shape[0] :], method.temperature)[0].item()


@pytest.mark.parametrize("name", sorted(config.METHODS))
def test_every_method_logs_the_loss_of_the_parameters_it_came_in_with(name):
    _, model, m, opt, x1, x2 = setup(name, inner_steps=3, head_lr=0.2)
    for _ in range(2):  # the second step starts from trained (and, for bilevel, warm) parameters
        expected = _batch_loss(model, m, x1, x2)
        out = m.train_step(x1, x2, opt, NOCAST)
        assert float(out["loss"]) == pytest.approx(expected, rel=1e-6)


def test_bilevel_head_loss_is_the_batch_loss_after_the_inner_steps():
    _, model, m, opt, x1, x2 = setup("bilevel", inner_steps=3, head_lr=0.2)
    twin = copy.deepcopy(m)  # replays the inner solve alone, then scores the solved head
    twin.model.train()
    with torch.no_grad():
        h = twin.model.backbone(torch.cat([x1, x2]))
    twin.inner_solve(h, NOCAST)
    solved = _batch_loss(twin.model, twin, x1, x2)
    out = m.train_step(x1, x2, opt, NOCAST)
    assert float(out["head_loss"]) == pytest.approx(solved, rel=1e-6)
    assert float(out["inner_gain"]) == pytest.approx(float(out["loss"]) - float(out["head_loss"]), abs=1e-6)


def test_bilevel_inner_steps_lower_the_loss_on_detached_features():
    gains = {}
    for k in (1, 5):
        _, model, m, opt, x1, x2 = setup("bilevel", inner_steps=k, head_lr=0.2)
        model.train()
        with torch.no_grad():
            h = model.backbone(torch.cat([x1, x2]))
        first, _ = copy.deepcopy(m).inner_solve(h, NOCAST)  # on a copy: m's head stays as it was
        out = m.train_step(x1, x2, opt, NOCAST)
        # The loss before the inner steps is the one the solve started from; after them it is lower.
        assert float(out["loss"]) == pytest.approx(first.item(), rel=1e-6)
        assert float(out["head_loss"]) < float(out["loss"]) - 1e-3
        gains[k] = float(out["inner_gain"])
    assert gains[5] > gains[1] > 0  # more inner steps, a larger gain on the same batch


def test_bilevel_head_lr_follows_schedule():
    cfg, model, m, opt, *_ = setup("bilevel", head_lr=0.2)
    m.set_lr_scale(0.5)
    assert all(g["lr"] == pytest.approx(0.1) for g in m.head_optimizer.param_groups)
    _, _, m2, *_ = setup("bilevel")  # head_lr 0 = optim.lr
    assert all(g["lr"] == pytest.approx(0.1) for g in m2.head_optimizer.param_groups)


def test_bilevel_adamw_head_optimizer_and_state_roundtrip():
    cfg, model, m, opt, x1, x2 = setup("bilevel", inner_steps=2, head_optimizer="adamw", head_lr=1e-3)
    assert isinstance(m.head_optimizer, torch.optim.AdamW)
    m.train_step(x1, x2, opt, NOCAST)
    sd = copy.deepcopy(m.state_dict())
    fresh = Bilevel(model, cfg)
    fresh.load_state_dict(sd)
    a, b = m.head_optimizer.state_dict()["state"], fresh.head_optimizer.state_dict()["state"]
    assert a.keys() == b.keys() and all(torch.equal(a[k]["exp_avg"], b[k]["exp_avg"]) for k in a)


def test_bilevel_head_reset_every():
    cfg, model, m, opt, x1, x2 = setup("bilevel", head_reset_every=2)
    m.train_step(x1, x2, opt, NOCAST)
    trained, old_opt = state(model.head), m.head_optimizer
    assert old_opt.state  # momentum buffers exist
    m.on_epoch_start(1)
    assert same(trained, state(model.head)) and m.head_optimizer is old_opt
    m.on_epoch_start(2)
    after = state(model.head)
    assert not torch.equal(trained["blocks.0.0.weight"], after["blocks.0.0.weight"])
    assert torch.equal(after["blocks.0.1.running_mean"], torch.zeros(16))
    assert m.head_optimizer is not old_opt and not m.head_optimizer.state
    # Idempotent within an epoch (a resumed run calls it again) and carried by state_dict.
    m.on_epoch_start(2)
    assert same(after, state(model.head))
    assert m.state_dict()["last_reset_epoch"] == 2


def test_bilevel_default_no_reset():
    _, model, m, opt, x1, x2 = setup("bilevel")
    m.train_step(x1, x2, opt, NOCAST)
    before = state(model.head)
    for e in range(1, 4):
        m.on_epoch_start(e)
    assert same(before, state(model.head))


MAIN_OPTIMIZERS = {
    "sgd": {"name": "sgd", "lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01},
    "lars": {"name": "lars", "lr": 0.3, "momentum": 0.85, "nesterov": False, "weight_decay": 1e-5},
    "adamw": {"name": "adamw", "lr": 2e-3, "weight_decay": 1e-4},
}


def _groups(opt):
    return [{k: v for k, v in g.items() if k != "params"} | {"n": len(g["params"])} for g in opt.param_groups]


@pytest.mark.parametrize("name", sorted(MAIN_OPTIMIZERS))
def test_bilevel_head_optimizer_inherits_the_main_optimizer(name):
    cfg, model, m, *_ = setup("bilevel", optim=MAIN_OPTIMIZERS[name])
    # Exactly what joint's head gets from the main optimizer: type, lr, momentum, nesterov,
    # weight decay on matrices only.
    joint_head = build_optimizer(model.head.parameters(), cfg.optim)
    assert type(m.head_optimizer) is type(joint_head)
    assert _groups(m.head_optimizer) == _groups(joint_head)
    decay = {id(p): g["weight_decay"] for g in m.head_optimizer.param_groups for p in g["params"]}
    assert all(decay[id(p)] == (cfg.optim.weight_decay if p.ndim > 1 else 0.0) for p in model.head.parameters())
    assert m.started_fields()["head_optimizer"] == {
        "name": name, "lr": cfg.optim.lr, "momentum": cfg.optim.momentum,
        "nesterov": cfg.optim.nesterov, "weight_decay": cfg.optim.weight_decay,
    }


def test_bilevel_head_settings_override_one_part_each():
    cfg, model, m, *_ = setup("bilevel", optim=MAIN_OPTIMIZERS["lars"], head_optimizer="sgd", head_lr=0.05,
                              head_momentum=0.0, head_weight_decay=0.0)
    assert type(m.head_optimizer) is torch.optim.SGD
    assert m.started_fields()["head_optimizer"] == {"name": "sgd", "lr": 0.05, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0}
    assert all(g["momentum"] == 0.0 and g["weight_decay"] == 0.0 for g in m.head_optimizer.param_groups)
    _, _, only_wd, *_ = setup("bilevel", optim=MAIN_OPTIMIZERS["sgd"], head_weight_decay=0.0)
    assert only_wd.started_fields()["head_optimizer"] == {"name": "sgd", "lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 0.0}
    assert isinstance(setup("bilevel", optim=MAIN_OPTIMIZERS["sgd"], head_optimizer="lars")[2].head_optimizer, LARS)
    assert setup("joint")[2].started_fields() == {}


def _joint_with_head_lr(head_lr: float, optim: dict):
    torch.manual_seed(0)
    cfg = RunConfig.from_dict({
        "method": {"name": "joint", "temperature": 0.5, "joint": {"head_lr": head_lr}},
        "model": {"backbone": "convnet", "width": 4, "head": {"hidden_dims": [16], "out_dim": 8}},
        "optim": optim,
    })
    model = build_model(cfg.model)
    m = build_method(model, cfg)
    return model, m, m.make_optimizer()


@pytest.mark.parametrize("optim", [{"name": "sgd", "lr": 0.1, "weight_decay": 1e-3}, {"name": "adamw", "lr": 0.01, "weight_decay": 1e-2}])
def test_joint_head_lr_is_the_head_groups_lr_and_equal_lr_changes_nothing(optim):
    x1, x2 = torch.randn(8, 3, 16, 16), torch.randn(8, 3, 16, 16)
    plain, pm, popt = _joint_with_head_lr(0.0, optim)
    same_lr, sm, sopt = _joint_with_head_lr(optim["lr"], optim)
    fast, fm, fopt = _joint_with_head_lr(optim["lr"] * 10, optim)
    head_ids = {id(p) for p in fast.head.parameters()}
    for g in fopt.param_groups:  # the head in groups of its own, the same decay rule as the rest
        in_head = {id(p) in head_ids for p in g["params"]}
        assert len(in_head) == 1
        assert g["lr"] == (optim["lr"] * 10 if in_head == {True} else optim["lr"])
    for _ in range(3):
        for m, opt in ((pm, popt), (sm, sopt), (fm, fopt)):
            m.train_step(x1, x2, opt, NOCAST)
    # head_lr = optim.lr is plain joint, step for step; 10x moves the head (and so the backbone) elsewhere.
    assert same(params(plain), params(same_lr))
    assert not same(params(plain.head), params(fast.head))
