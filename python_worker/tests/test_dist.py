"""Two gloo processes on CPU reproduce the single-process global-batch result: the InfoNCE
loss and gradients under DDP, and whole joint / bilevel steps (negatives gathered across
ranks with gradients, DDP averaging, head gradients averaged by hand): the gradients each
optimizer is about to apply, the logged (all-reduced) loss and the weights after two steps.
Also the loop's rank agreements: every rank stops at the same step, logs the same metrics."""
import contextlib
import os
import socket

import torch
import torch.distributed as td
import torch.multiprocessing as mp
import torch.nn as nn

from projhead_worker.common.config import HeadConfig, RunConfig
from projhead_worker.training import dist
from projhead_worker.training.losses import info_nce
from projhead_worker.training.methods import build_method
from projhead_worker.training.models import ContrastiveModel, ProjectionHead
from projhead_worker.training.optim import build_optimizer
from projhead_worker.training.train import _agreed_stop, _global_mean

WORLD, B, DIM = 2, 6, 12  # global batch B split over WORLD ranks


def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(B, DIM, generator=g), torch.randn(B, DIM, generator=g)


def linear_loss_and_grads(lin: nn.Module, x1, x2):
    # One forward for both views (DDP expects one forward per backward).
    z = lin(torch.cat([x1, x2]))
    n = x1.shape[0]
    loss, _ = info_nce(z[:n], z[n:], 0.3)
    loss.backward()
    return loss.detach()


def tiny_model():
    # No BatchNorm: batch statistics would (rightly) differ between local and global batches.
    torch.manual_seed(0)
    head = ProjectionHead(8, HeadConfig(hidden_dims=[7], out_dim=5, batch_norm=False))
    return ContrastiveModel(nn.Linear(DIM, 8), head, 8)


def run_method(name: str, x1, x2, steps: int = 2, **bilevel):
    cfg = RunConfig.from_dict({"method": {"name": name, "temperature": 0.3, "bilevel": bilevel},
                               "optim": {"name": "sgd", "lr": 0.5, "momentum": 0.9, "weight_decay": 1e-3}})
    model = tiny_model()
    m = build_method(model, cfg)
    opt = build_optimizer(m.outer_parameters(), cfg.optim)
    # The gradients each optimizer applies on its first step (the outer one, and bilevel's inner
    # head optimizer), recorded just before the step.
    names = {id(p): n for n, p in model.named_parameters()}
    grads = {}

    def record(o, tag):
        step = o.step

        def wrapped(*a, **k):
            if tag not in grads:
                grads[tag] = {names[id(p)]: p.grad.detach().clone()
                              for g in o.param_groups for p in g["params"] if p.grad is not None}
            return step(*a, **k)

        o.step = wrapped

    record(opt, "outer")
    if hasattr(m, "head_optimizer"):
        record(m.head_optimizer, "inner")
    losses = []
    for _ in range(steps):
        out = m.train_step(x1, x2, opt, contextlib.nullcontext)
        loss = torch.as_tensor(out["loss"]).clone()
        if dist.world_size() > 1:  # report the global mean, as the loop would
            td.all_reduce(loss)
            loss /= dist.world_size()
        losses.append(loss)
    assert grads["outer"], "the outer step saw gradients"
    return {"losses": torch.stack(losses), "grads": grads,
            **{k: v.detach().clone() for k, v in model.state_dict().items()}}


CASES = {
    "joint": dict(name="joint"),
    "bilevel": dict(name="bilevel", inner_steps=3, head_lr=0.2),
    "bilevel_in_outer": dict(name="bilevel", inner_steps=2, head_in_outer=True),
    "fixed_head": dict(name="fixed_head"),
}


def compute_all(x1, x2):
    torch.manual_seed(0)
    lin = nn.Linear(DIM, 5)
    ref = {}
    module = lin
    if dist.world_size() > 1:
        module = nn.parallel.DistributedDataParallel(lin)
    loss = linear_loss_and_grads(module, x1, x2)
    if dist.world_size() > 1:
        td.all_reduce(loss)
        loss /= dist.world_size()
    ref["lin_loss"] = loss
    ref["lin_grad_w"], ref["lin_grad_b"] = lin.weight.grad.clone(), lin.bias.grad.clone()
    for case, kw in CASES.items():
        kw = dict(kw)
        ref[case] = run_method(kw.pop("name"), x1, x2, **kw)
    return ref


def _worker(rank: int, port: int, out_dir: str):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    assert dist.init_from_env("gloo")
    try:
        x1, x2 = batch()
        lo, hi = rank * B // WORLD, (rank + 1) * B // WORLD
        res = compute_all(x1[lo:hi], x2[lo:hi])
        # The loop's agreements: a stop asked of one rank stops all at the same step, with the
        # stronger reason; logged metrics are the mean over ranks, identical on every rank.
        res["stop"] = [_agreed_stop(r) for r in (None, "cancel" if rank == 1 else None,
                                                  "signal" if rank == 0 else None,
                                                  "signal" if rank == 0 else "cancel")]
        res["mean"] = _global_mean({"loss": torch.tensor(float(rank)), "acc": 0.5}, torch.device("cpu"))
        torch.save(res, os.path.join(out_dir, f"rank{rank}.pt"))
        dist.barrier()
    finally:
        dist.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _close(a, b, path=""):
    if isinstance(a, dict):
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    else:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=lambda m: f"{path}: {m}")


def test_two_gloo_ranks_equal_single_process(tmp_path):
    assert not dist.is_dist()
    reference = compute_all(*batch())
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    for r in range(WORLD):
        got = torch.load(tmp_path / f"rank{r}.pt")
        assert got.pop("stop") == [None, "cancel", "signal", "signal" if r == 0 else "cancel"]
        assert got.pop("mean") == {"loss": 0.5, "acc": 0.5}
        _close(reference, got, f"rank{r}")
    assert set(reference["bilevel"]["grads"]) == {"outer", "inner"}
    assert set(reference["joint"]["grads"]["outer"]) >= {"backbone.weight", "head.blocks.0.0.weight"}
    # sanity: the methods actually trained (the comparison is not between untouched weights)
    init = tiny_model().state_dict()
    assert not torch.equal(init["backbone.weight"], reference["joint"]["backbone.weight"])


def test_helpers_are_identities_without_process_group():
    t = torch.randn(3, 2)
    assert dist.world_size() == 1 and dist.rank() == 0 and dist.is_main()
    assert dist.gather_with_grad(t) is t
    dist.all_reduce_mean_([t])
    dist.broadcast_([t])
    dist.barrier()
    assert not dist.init_from_env()  # WORLD_SIZE unset or 1
