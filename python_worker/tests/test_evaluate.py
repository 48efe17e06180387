"""Layer-wise evaluation: each metric against a known answer or an independent reference, then
evaluate_layers end to end on a tiny real model and the embedded dataset."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sklearn.linear_model as sklearn_lm  # noqa: E402  (a dev dependency: never skipped)
import threadpoolctl  # noqa: E402
import torch

from projhead_worker.common.config import RunConfig
from projhead_worker.training.data import eval_transform, load_dataset
from projhead_worker.training.evaluation import (
    DEFAULT_PROBE_WEIGHT_DECAY,
    PROBE_L2_GRID,
    align_uniform,
    evaluate_baselines,
    evaluate_layers,
    extract_features,
    fit_linear_probe,
    knn_top1,
    linear_probe,
    protocol_of,
    rankme,
    select_linear_probe,
    spectrum,
    untrained_layers,
    validation_split,
)
from projhead_worker.training.models import build_model


@pytest.fixture(autouse=True)
def _one_thread():
    # These problems are small: one thread avoids the many-fold slowdown that oversubscribed
    # OpenMP/BLAS pools suffer on a busy 2-core machine, in torch and in sklearn's numpy alike.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpoolctl.threadpool_limits(1):
        yield
    torch.set_num_threads(before)


# -- linear probe -------------------------------------------------------------------------------

def _sklearn_top1(xtr, ytr, xte, yte, wd=DEFAULT_PROBE_WEIGHT_DECAY):
    """The same objective in sklearn: standardised features, mean CE + wd/2 |W|^2
    <=> sum CE + 1/(2C) |W|^2 with C = 1 / (wd * N)."""
    xtr, xte = xtr.double().numpy(), xte.double().numpy()
    mean, std = xtr.mean(0), xtr.std(0)
    std[std <= 1e-8] = 1.0
    clf = sklearn_lm.LogisticRegression(C=1.0 / (wd * len(xtr)), max_iter=3000, tol=1e-6)
    clf.fit((xtr - mean) / std, ytr.numpy())
    return float(clf.score((xte - mean) / std, yte.numpy()))


def _blobs(n_train=3000, n_test=1500, d=256, c=10, seed=0):
    # Overlapping classes (top-1 well below 100%), anisotropic scales and an offset so that the
    # standardisation matters, and a few dead (constant) dimensions.
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g) * 0.09
    scale = torch.rand(d, generator=g) * 3 + 0.05
    scale[:4] = 0.0

    def draw(n):
        y = torch.randint(0, c, (n,), generator=g)
        return (centers[y] + torch.randn(n, d, generator=g)) * scale + 2.0, y

    return (*draw(n_train), *draw(n_test))


def test_linear_probe_matches_sklearn_on_overlapping_blobs():
    xtr, ytr, xte, yte = _blobs()
    ours = linear_probe(xtr, ytr, xte, yte, 10)
    ref = _sklearn_top1(xtr, ytr, xte, yte)
    assert 0.3 < ref < 0.95, ref  # non-trivial
    assert abs(ours - ref) <= 0.01, (ours, ref)


@pytest.fixture(scope="module")
def digits_features():
    """Real images (sklearn's bundled 8x8 digits, no download) through a random-init conv net:
    correlated, non-Gaussian, partly dead-ReLU features like a real backbone's."""
    from sklearn.datasets import load_digits

    from projhead_worker.training.models import build_backbone

    digits = load_digits()
    x = torch.from_numpy(digits.images).float().div(16.0).unsqueeze(1).expand(-1, 3, -1, -1)
    y = torch.from_numpy(digits.target).long()
    torch.manual_seed(0)
    net, _ = build_backbone("convnet", cifar_stem=True, width=24)
    net.eval()
    with torch.no_grad():
        f = net((x - 0.5) / 0.5)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(1))
    tr, te = perm[:1200], perm[1200:]
    return f[tr], y[tr], f[te], y[te]


def test_linear_probe_matches_sklearn_on_real_features(digits_features):
    xtr, ytr, xte, yte = digits_features
    ours = linear_probe(xtr, ytr, xte, yte, 10)
    ref = _sklearn_top1(xtr, ytr, xte, yte)
    assert ref > 0.5
    assert abs(ours - ref) <= 0.01, (ours, ref)


def _correlated_512d(n_train=2000, n_test=1000, seed=0):
    # Backbone-like features: 512 correlated, partly dead ReLU units driven by 32 latent factors,
    # classes overlapping: an ill-conditioned probe problem that 100 L-BFGS iterations do not solve.
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n_train + n_test,), generator=g)
    latent = torch.randn(n_train + n_test, 32, generator=g) + torch.randn(10, 32, generator=g)[y] * 0.5
    x = (latent @ torch.randn(32, 512, generator=g) + 0.05 * torch.randn(n_train + n_test, 512, generator=g)).relu()
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def test_linear_probe_converges_and_matches_converged_sklearn_on_512d_features():
    xtr, ytr, xte, yte = _correlated_512d()
    fit = fit_linear_probe(xtr, ytr, xte, yte, 10)
    assert fit.converged and 100 < fit.iterations < 1000, fit
    ref = _sklearn_top1(xtr, ytr, xte, yte)
    assert 0.3 < ref < 0.95, ref
    assert abs(fit.top1 - ref) <= 0.002, (fit.top1, ref)  # within 0.2 points (2 of 1000 images)
    capped = fit_linear_probe(xtr, ytr, xte, yte, 10, epochs=20)
    assert not capped.converged and capped.iterations == 20


def test_linear_probe_converged_on_real_features(digits_features):
    xtr, ytr, xte, yte = digits_features
    fit = fit_linear_probe(xtr, ytr, xte, yte, 10)
    assert fit.converged
    assert abs(fit.top1 - _sklearn_top1(xtr, ytr, xte, yte)) <= 0.002


def test_linear_probe_is_deterministic_and_leaves_inputs_alone(digits_features):
    xtr, ytr, xte, yte = digits_features
    before = xtr.clone()
    a = linear_probe(xtr, ytr, xte, yte, 10, epochs=20)
    b = linear_probe(xtr, ytr, xte, yte, 10, epochs=20, seed=7)
    assert a == b
    assert torch.equal(xtr, before)


# -- kNN -----------------------------------------------------------------------------------------

def _knn_reference(train_f, train_y, test_f, num_classes, k, t):
    """Straightforward per-row numpy version of the weighted vote."""
    tr = train_f.numpy() / np.linalg.norm(train_f.numpy(), axis=1, keepdims=True)
    te = test_f.numpy() / np.linalg.norm(test_f.numpy(), axis=1, keepdims=True)
    preds = []
    for q in te:
        sim = tr @ q
        nn_idx = np.argsort(-sim, kind="stable")[:k]
        votes = np.zeros(num_classes)
        for i in nn_idx:
            votes[train_y[i]] += math.exp(sim[i] / t)
        preds.append(int(np.argmax(votes)))
    return np.array(preds)


def test_knn_weighting_and_temperature():
    # One very similar neighbour of class 0 against two less similar ones of class 1.
    train_f = torch.tensor([[1.0, 0.0], [0.5, math.sqrt(0.75)], [0.5, -math.sqrt(0.75)], [-1.0, 0.0]])
    train_y = torch.tensor([0, 1, 1, 2])
    test_f = torch.tensor([[2.0, 0.0]])  # cosine 1 with row 0, 0.5 with rows 1 and 2
    test0, test1 = torch.tensor([0]), torch.tensor([1])
    # t = 0.1: e^10 > 2 e^5, the close neighbour wins; t = 10: e^0.1 < 2 e^0.05, the majority.
    assert knn_top1(train_f, train_y, test_f, test0, 3, k=3, t=0.1) == 1.0
    assert knn_top1(train_f, train_y, test_f, test1, 3, k=3, t=10.0) == 1.0
    # k=1 is plain nearest neighbour; k larger than N is clipped (all 4 rows vote).
    assert knn_top1(train_f, train_y, test_f, test0, 3, k=1) == 1.0
    assert knn_top1(train_f, train_y, test_f, test0, 3, k=200) == 1.0


def test_knn_matches_reference_and_chunking():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(5, 16, generator=g)
    train_y = torch.randint(0, 5, (400,), generator=g)
    test_y = torch.randint(0, 5, (150,), generator=g)
    train_f = centers[train_y] + 1.2 * torch.randn(400, 16, generator=g)
    test_f = centers[test_y] + 1.2 * torch.randn(150, 16, generator=g)
    for k, t in ((20, 0.1), (200, 0.5)):
        ref = float((_knn_reference(train_f, train_y, test_f, 5, k, t) == test_y.numpy()).mean())
        assert knn_top1(train_f, train_y, test_f, test_y, 5, k=k, t=t) == pytest.approx(ref, abs=1.5 / 150)
        assert knn_top1(train_f, train_y, test_f, test_y, 5, k=k, t=t, chunk=7) == knn_top1(train_f, train_y, test_f, test_y, 5, k=k, t=t)
    assert 0.3 < ref < 1.0


# -- spectrum --------------------------------------------------------------------------------------

def _rankme_numpy(f):
    """RankMe as Garrido et al. (2023) define it, written independently: numpy SVD of the
    embedding matrix itself, p = s / ||s||_1 + 1e-7, exp of the entropy."""
    s = np.linalg.svd(f.double().numpy(), compute_uv=False)
    p = s / s.sum() + 1e-7
    return float(np.exp(-(p * np.log(p)).sum()))


@pytest.mark.parametrize("shape, offset, rank", [((3000, 64), 0.0, 64), ((3000, 64), 2.0, 64), ((200, 512), 0.0, 200),
                                                 ((2000, 128), 0.5, 7), ((1000, 32), 0.0, 1)])
def test_rankme_matches_an_independent_numpy_svd(shape, offset, rank):
    g = torch.Generator().manual_seed(shape[1] + rank)
    n, d = shape
    scales = torch.logspace(0, -3, rank)  # anisotropic: a spread-out spectrum, not all equal
    f = (torch.randn(n, rank, generator=g) * scales) @ torch.randn(rank, d, generator=g) + offset
    ours = rankme(f)
    # (float64 Gram eigenvalues resolve singular values down to ~1e-8 of the largest; below that
    # RankMe's epsilon dominates, so they move the value by less than 1e-5 relative)
    assert ours == pytest.approx(_rankme_numpy(f), rel=1e-5)
    assert spectrum(f)[1] == ours  # the effective rank evaluate_layers reports


def test_rankme_known_values():
    g = torch.Generator().manual_seed(0)
    q = torch.linalg.qr(torch.randn(64, 64, generator=g, dtype=torch.float64))[0]
    for k in (1, 5, 20):  # k orthogonal rows of equal norm: k equal singular values
        assert rankme(q[:k].float() * 3.0) == pytest.approx(k, rel=1e-4)
    assert rankme(torch.zeros(100, 16)) == 1.0  # full collapse
    assert rankme(torch.randn(1, 16).expand(500, -1).contiguous()) == pytest.approx(1.0, abs=1e-3)
    assert rankme(torch.randn(20000, 16, generator=g)) > 15.9


@pytest.mark.parametrize("k", [1, 3, 10])
def test_spectrum_of_rank_k_features(k):
    g = torch.Generator().manual_seed(k)
    d = 32
    basis = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))[0][:, :k]
    # k equal-variance directions (whitened coefficients), an offset, fp32 like real features.
    coef = torch.randn(4000, k, generator=g, dtype=torch.float64)
    coef = (coef - coef.mean(0)) @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(coef.T).reshape(k, k))).T
    f = (coef @ basis.T + 3.0).float()
    values, erank = spectrum(f)
    assert len(values) == d and values == sorted(values, reverse=True)
    assert erank == rankme(f)  # of the (offset) embedding matrix, not of this covariance
    assert values[k - 1] == pytest.approx(1.0, rel=1e-3)
    assert all(v < 1e-5 for v in values[k:])


def test_spectrum_full_collapse_and_isotropy():
    same = torch.randn(1, 16).expand(500, -1).contiguous()
    values, erank = spectrum(same)
    assert erank == pytest.approx(1.0, abs=1e-3) and max(values) == 0.0
    iso = torch.randn(20000, 16, generator=torch.Generator().manual_seed(0))
    assert spectrum(iso)[1] > 15.8 and min(spectrum(iso)[0]) > 0.9


# -- alignment / uniformity --------------------------------------------------------------------------

def test_align_uniform_sanity():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(1000, 64, generator=g)
    align, unif = align_uniform(f, f * 3.0)  # same directions: normalisation removes the scale
    assert align == pytest.approx(0.0, abs=1e-6)
    assert align_uniform(f, -f)[0] == pytest.approx(4.0, abs=1e-5)
    # Spread over a 64-d sphere: squared distances concentrate at 2, so about log(e^-4) = -4.
    assert -4.2 < unif < -3.5
    collapsed = torch.ones(1000, 64)
    assert align_uniform(collapsed, collapsed) == (pytest.approx(0.0, abs=1e-6), pytest.approx(0.0, abs=1e-6))
    # Two clusters: in between.
    two = torch.cat([torch.ones(500, 64), -torch.ones(500, 64)])
    same_pairs, cross_pairs = 2 * (500 * 499 // 2), 500 * 500  # d^2 = 0 and d^2 = 4
    expected = math.log((same_pairs + cross_pairs * math.exp(-8)) / (same_pairs + cross_pairs))
    assert align_uniform(two, two, max_rows=1000)[1] == pytest.approx(expected, abs=1e-5)


def test_align_uniform_subsamples_deterministically():
    f = torch.randn(5000, 32, generator=torch.Generator().manual_seed(0))
    a = align_uniform(f, f + 0.1, max_rows=512)
    assert a == align_uniform(f, f + 0.1, max_rows=512)
    assert a[1] == pytest.approx(align_uniform(f, f + 0.1)[1], abs=0.05)


# -- end to end --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    cfg = RunConfig.from_dict({
        "seed": 3,
        "data": {"name": "shapes", "synthetic_size": 400, "image_size": 16},
        "model": {"backbone": "convnet", "width": 4, "head": {"hidden_dims": [24, 20], "out_dim": 12}},
    })
    torch.manual_seed(0)
    model = build_model(cfg.model)
    ds = load_dataset(cfg.data, cfg.seed)
    return cfg, model, ds


def test_extract_features_matches_forward_and_restores_modes(tiny):
    cfg, model, ds = tiny
    model.train()
    model.head.eval()  # e.g. a method that keeps its head in eval mode
    feats = extract_features(model, ds.test_x, 16, "cpu", batch_size=33)
    assert list(feats) == ["h", "head.1", "head.2", "z"]
    assert [f.shape for f in feats.values()] == [(80, 32), (80, 24), (80, 20), (80, 12)]
    assert all(f.dtype == torch.float32 and not f.requires_grad for f in feats.values())
    assert model.training and model.backbone.training and not model.head.training
    assert not any(m.training for m in model.head.modules())
    model.eval()
    with torch.no_grad():
        h, z = model(eval_transform(ds.test_x, 16))
    torch.testing.assert_close(feats["h"], h, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(feats["z"], z, rtol=1e-5, atol=1e-5)
    only = extract_features(model, ds.test_x[:5], 16, "cpu", layers=["z"])
    assert list(only) == ["z"]


def test_evaluate_layers_end_to_end(tiny):
    cfg, model, ds = tiny
    model.train()
    streamed = []
    cfg = RunConfig.from_dict({**cfg.to_dict(), "eval": {"probe_max_iter": 30}})  # the fixture is shared
    rows = evaluate_layers(model, ds, cfg, "cpu", on_layer=streamed.append)
    assert model.training  # mode restored
    assert streamed == rows
    assert [r["layer"] for r in rows] == ["h", "head.1", "head.2", "z"]
    assert [r["index"] for r in rows] == [0, 1, 2, 3]
    assert [r["dim"] for r in rows] == [32, 24, 20, 12]
    keys = {"layer", "index", "dim", "linear_top1", "probe_converged", "probe_iterations", "knn_top1",
            "effective_rank", "singular_values", "alignment", "uniformity",
            "probe_l2", "probe_val_top1", "linear_val_top1", "knn_val_top1"}
    for r in rows:
        assert set(r) == keys
        assert 0.0 <= r["linear_top1"] <= 1.0 and 0.0 <= r["knn_top1"] <= 1.0
        assert isinstance(r["probe_converged"], bool) and 1 <= r["probe_iterations"] <= 30
        assert len(r["singular_values"]) == r["dim"] and 1.0 <= r["effective_rank"] <= r["dim"]
        assert 0.0 <= r["alignment"] <= 4.0 and -4.5 < r["uniformity"] <= 0.0
        assert all(isinstance(v, float) for v in r["singular_values"])
    # The numbers are those of the metric functions on the frozen features (the shapes dataset
    # is built so that a random-init backbone sits near chance, so no accuracy bar here).
    feats = extract_features(model, ds.train_x, 16, "cpu")
    test = extract_features(model, ds.test_x, 16, "cpu")
    assert rows[2]["knn_top1"] == knn_top1(feats["head.2"], ds.train_y, test["head.2"], ds.test_y, 10)
    # The probe: refitted on all training features at the L2 the validation split chose.
    assert rows[2]["probe_l2"] in PROBE_L2_GRID and len(rows[2]["probe_val_top1"]) == len(PROBE_L2_GRID)
    assert rows[2]["linear_val_top1"] == max(rows[2]["probe_val_top1"])
    chosen = select_linear_probe(feats["head.2"], ds.train_y, test["head.2"], ds.test_y, 10,
                                 validation_split(ds.train_y, cfg.eval.val_fraction, cfg.seed), epochs=30)
    assert (rows[2]["linear_top1"], rows[2]["probe_l2"], rows[2]["probe_val_top1"]) == (chosen.top1, chosen.l2, chosen.val_top1)
    assert rows[2]["effective_rank"] == spectrum(feats["head.2"])[1]

    again = evaluate_layers(model, ds, cfg, "cpu", layers=["z", "h"])
    assert [r["layer"] for r in again] == ["h", "z"] and [r["index"] for r in again] == [0, 3]
    assert again[0] == rows[0] and again[1] == rows[3]  # deterministic, independent of the subset

    with pytest.raises(ValueError, match="unknown layer"):
        evaluate_layers(model, ds, cfg, "cpu", layers=["head.7"])


@pytest.mark.parametrize("method, untrained", [("no_head", ["head.1", "head.2", "z"]), ("directclr", ["head.1", "head.2", "z"]),
                                               ("fixed_head", []), ("joint", []), ("bilevel", [])])
def test_layers_the_method_does_not_train_are_not_evaluated(tiny, method, untrained):
    cfg, model, ds = tiny
    cfg = RunConfig.from_dict({**cfg.to_dict(), "method": {"name": method}})
    assert untrained_layers(cfg) == untrained
    if untrained:  # evaluating only the head's layers is cheap: nothing runs at all
        cfg = RunConfig.from_dict({**cfg.to_dict(), "eval": {"probe_max_iter": 5}})
        assert evaluate_layers(model, ds, cfg, "cpu", layers=untrained) == []
        rows = evaluate_layers(model, ds, cfg, "cpu", layers=["h", "z"])
        assert [r["layer"] for r in rows] == ["h"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_metrics_on_cuda_match_cpu(digits_features):
    xtr, ytr, xte, yte = digits_features
    cpu = linear_probe(xtr, ytr, xte, yte, 10)
    gpu = linear_probe(xtr.cuda(), ytr.cuda(), xte.cuda(), yte.cuda(), 10)
    assert abs(cpu - gpu) <= 0.01
    assert knn_top1(xtr.cuda(), ytr, xte.cuda(), yte, 10) == pytest.approx(knn_top1(xtr, ytr, xte, yte, 10), abs=0.005)
    assert spectrum(xtr.cuda())[1] == pytest.approx(spectrum(xtr)[1], rel=1e-4)


# -- the probe protocol: L2 chosen on a validation split of the training features ----------------

def test_validation_split_is_stratified_seeded_and_disjoint():
    y = torch.arange(10).repeat_interleave(torch.tensor([50, 40, 30, 20, 10, 50, 40, 30, 20, 2]))
    fit, val = validation_split(y, 0.2, seed=3)
    assert len(set(fit.tolist()) & set(val.tolist())) == 0 and len(fit) + len(val) == len(y)
    per_class = torch.bincount(y[val], minlength=10).tolist()
    assert per_class == [10, 8, 6, 4, 2, 10, 8, 6, 4, 1]  # round(0.2 n), at least one, never the whole class
    again, other = validation_split(y, 0.2, seed=3)[1], validation_split(y, 0.2, seed=4)[1]
    assert torch.equal(val, again) and not torch.equal(val, other)


def test_probe_l2_is_chosen_without_the_test_labels():
    xtr, ytr, xte, yte = _blobs()
    split = validation_split(ytr, 0.2, seed=0)
    true = select_linear_probe(xtr, ytr, xte, yte, 10, split)
    permuted = select_linear_probe(xtr, ytr, xte, yte[torch.randperm(len(yte), generator=torch.Generator().manual_seed(1))], 10, split)
    # The choice and every validation number are the same; only the test score moves.
    assert (permuted.l2, permuted.val_top1) == (true.l2, true.val_top1)
    assert permuted.top1 < true.top1 - 0.2
    # The chosen value is the best on validation (ties: the stronger), and the reported test
    # score is the refit on all training features at that value.
    best = max(true.val_top1)
    assert true.l2 == max(l2 for l2, v in zip(PROBE_L2_GRID, true.val_top1) if v == best)
    assert true.chosen_val_top1 == best
    assert abs(true.top1 - linear_probe(xtr, ytr, xte, yte, 10, weight_decay=true.l2)) <= 0.002  # warm start, same optimum


def test_baselines_are_pixels_and_the_seeded_initial_backbone(tiny):
    cfg, _, ds = tiny
    cfg = RunConfig.from_dict({**cfg.to_dict(), "eval": {"probe_max_iter": 30}})  # the fixture is shared
    rng = torch.get_rng_state()
    rows = evaluate_baselines(ds, cfg, "cpu")
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's generator is left alone
    assert [r["layer"] for r in rows] == ["pixels", "h@init"]
    assert rows[0]["dim"] == 3 * 16 * 16 and rows[1]["dim"] == 32
    torch.manual_seed(cfg.seed)  # what build_training does before build_model
    init = evaluate_layers(build_model(cfg.model), ds, cfg, "cpu", layers=["h"])[0]
    assert "effective_rank" not in rows[0]  # classifiers only
    for key in ("linear_top1", "knn_top1", "probe_l2", "linear_val_top1", "knn_val_top1"):
        assert rows[1][key] == init[key], key
    px = eval_transform(ds.train_x, 16).reshape(len(ds.train_x), -1)
    pt = eval_transform(ds.test_x, 16).reshape(len(ds.test_x), -1)
    assert rows[0]["knn_top1"] == knn_top1(px, ds.train_y, pt, ds.test_y, 10)
    proto = protocol_of(ds, cfg)
    assert proto["val_images"] == len(validation_split(ds.train_y, 0.2, cfg.seed)[1])
    assert (proto["train_images"], proto["test_images"]) == (len(ds.train_x), len(ds.test_x))
    cfg.eval.baselines = False
    assert evaluate_baselines(ds, cfg, "cpu") == []


def test_pixel_baseline_of_grey_images_is_one_channel(tiny):
    # A grey dataset (Fashion-MNIST) is repeated to three channels for the model; its pixel
    # floor keeps one: H x W features, the same probe as on the image itself.
    import dataclasses

    cfg, _, ds = tiny
    cfg = RunConfig.from_dict({**cfg.to_dict(), "eval": {"probe_max_iter": 30}})
    grey = dataclasses.replace(ds, train_x=ds.train_x[:, :1].contiguous(), test_x=ds.test_x[:, :1].contiguous())
    row = evaluate_baselines(grey, cfg, "cpu")[0]
    assert row["layer"] == "pixels" and row["dim"] == 16 * 16
    px = eval_transform(grey.train_x, 16)
    assert torch.equal(px[:, 0], px[:, 1]) and torch.equal(px[:, 0], px[:, 2])  # why one is enough
    flat = lambda x: eval_transform(x, 16)[:, :1].reshape(len(x), -1)
    assert row["knn_top1"] == knn_top1(flat(grey.train_x), grey.train_y, flat(grey.test_x), grey.test_y, 10)


def test_baselines_are_cached_by_what_determines_them(tiny, tmp_path):
    cfg, _, ds = tiny
    cfg = RunConfig.from_dict({**cfg.to_dict(), "eval": {"probe_max_iter": 10}})  # the fixture is shared
    first = evaluate_baselines(ds, cfg, "cpu", cache_dir=tmp_path)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    # A planted value proves the second call reads the cache instead of computing again.
    planted = [{**first[0], "linear_top1": 0.123}, first[1]]
    files[0].write_text(json.dumps(planted))
    assert evaluate_baselines(ds, cfg, "cpu", cache_dir=tmp_path)[0]["linear_top1"] == 0.123
    # Anything that changes the result is another entry: the seed, the eval settings, the model.
    for change in ({"seed": 1}, {"eval": {"knn_k": 7, "probe_max_iter": 10}}, {"model": {**cfg.to_dict()["model"], "width": 3}}):
        other = RunConfig.from_dict({**cfg.to_dict(), **change})
        assert evaluate_baselines(ds, other, "cpu", cache_dir=tmp_path)[0]["linear_top1"] != 0.123
    assert len(list(tmp_path.glob("*.json"))) == 4
    files[0].write_text("{not json")  # a damaged entry is computed again
    assert evaluate_baselines(ds, cfg, "cpu", cache_dir=tmp_path) == first


def test_runs_side_by_side_compute_their_shared_floors_once(tiny, tmp_path, monkeypatch):
    # Two evaluations of one seed at once (two runs of a sweep): the second waits on the first's
    # lock and reads its entry. (flock: two opens conflict even within one process.)
    import threading
    import time

    from projhead_worker.training.evaluation import layers

    cfg, _, ds = tiny
    calls = []

    def slow(*args):
        calls.append(1)
        time.sleep(0.5)
        return [{"layer": "pixels", "index": 0, "dim": 1, "linear_top1": 0.5}]

    monkeypatch.setattr(layers, "_compute_baselines", slow)
    got = []
    threads = [threading.Thread(target=lambda: got.append(evaluate_baselines(ds, cfg, "cpu", cache_dir=tmp_path))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert got[0] == got[1] == slow()
