"""Parameter groups (no weight decay on norms and biases), LARS, and the lr schedule."""
import math

import pytest
import torch
import torch.nn as nn

from projhead_worker.common.config import OptimConfig
from projhead_worker.training.optim import LARS, build_optimizer, lr_at


def small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3))


@pytest.mark.parametrize("name", ["sgd", "lars", "adamw"])
def test_groups_no_weight_decay_on_norms_and_biases(name):
    torch.manual_seed(0)
    net = small_net()
    opt = build_optimizer(net.parameters(), OptimConfig(name=name, lr=0.1, weight_decay=0.5))
    by_id = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    for pname, p in net.named_parameters():
        assert by_id[id(p)] == (0.5 if p.ndim > 1 else 0.0), pname
    # Behaviour, not just bookkeeping: with zero gradients only weight decay moves parameters.
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in net.named_parameters():
        if p.ndim > 1:
            assert not torch.equal(p, before[n]), n
            assert p.norm() < before[n].norm()
        else:
            assert torch.equal(p, before[n]), n


def test_named_parameters_accepted_and_deduplicated():
    net = small_net()
    named = list(net.named_parameters())
    opt = build_optimizer(named + named[:2], OptimConfig(name="sgd"))
    assert sum(len(g["params"]) for g in opt.param_groups) == len(named)


def test_lars_step_matches_formula():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(3, 4))
    b = nn.Parameter(torch.randn(3))
    gw, gb = torch.randn(3, 4), torch.randn(3)
    w0, b0 = w.detach().clone(), b.detach().clone()
    opt = build_optimizer([w, b], OptimConfig(name="lars", lr=0.5, momentum=0.9, weight_decay=1e-2))
    assert isinstance(opt, LARS)
    for _ in range(2):
        w.grad, b.grad = gw.clone(), gb.clone()
        opt.step()
    # Expected, by hand: adapted matrix, plain momentum SGD for the bias (no decay).
    eta, lr, m, wd = 0.02, 0.5, 0.9, 1e-2
    ew, buf = w0.clone(), None
    for _ in range(2):
        d = gw + wd * ew
        d = d * eta * ew.norm() / d.norm()
        buf = d if buf is None else m * buf + d
        ew = ew - lr * buf
    eb = b0 - lr * gb - lr * (m * gb + gb)
    torch.testing.assert_close(w.detach(), ew, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(b.detach(), eb, rtol=1e-5, atol=1e-6)


def test_lars_minimises_a_quadratic():
    torch.manual_seed(0)
    lin = nn.Linear(8, 1)
    x = torch.randn(64, 8)
    y = x @ torch.randn(8, 1)
    opt = build_optimizer(lin.parameters(), OptimConfig(name="lars", lr=0.3, momentum=0.9, nesterov=True, weight_decay=0.0))
    first = None
    for _ in range(100):
        loss = ((lin(x) - y) ** 2).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


def test_lr_schedule_warmup_then_cosine():
    cfg = OptimConfig(warmup_epochs=2, schedule="cosine")
    spe, total = 10, 100
    assert lr_at(0, total, spe, cfg) == pytest.approx(1 / 20)
    assert lr_at(9, total, spe, cfg) == pytest.approx(10 / 20)
    assert lr_at(19, total, spe, cfg) == pytest.approx(1.0)
    assert lr_at(20, total, spe, cfg) == pytest.approx(1.0)
    assert lr_at(60, total, spe, cfg) == pytest.approx(0.5)
    assert lr_at(99, total, spe, cfg) == pytest.approx(0.5 * (1 + math.cos(math.pi * 79 / 80)))
    assert lr_at(100, total, spe, cfg) == pytest.approx(0.0, abs=1e-12)
    values = [lr_at(s, total, spe, cfg) for s in range(20, 100)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_lr_schedule_constant_and_no_warmup():
    assert lr_at(0, 100, 10, OptimConfig(warmup_epochs=0)) == 1.0
    cfg = OptimConfig(warmup_epochs=0.5, schedule="constant")
    assert lr_at(0, 100, 10, cfg) == pytest.approx(0.2)
    assert lr_at(5, 100, 10, cfg) == 1.0 and lr_at(99, 100, 10, cfg) == 1.0
