"""Batched on-device augmentation: shapes, determinism, each operation's semantics."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from projhead_worker.common.config import AugmentConfig
from projhead_worker.training.data import Augment, eval_transform, normalize, shapes
from projhead_worker.training.data.augment import _hue_matrix

OFF = dict(jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, flip_p=0.0)


@pytest.fixture(scope="module")
def imgs():
    return shapes.generate(16, 32, seed=3)[0]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("out", [32, 24, 48])
def test_shape_dtype_range(imgs, out):
    y = Augment(AugmentConfig(blur_p=0.5), out)(imgs, gen())
    assert y.shape == (16, 3, out, out) and y.dtype == torch.float32 and y.is_contiguous()
    assert y.min() >= -1 and y.max() <= 1 and torch.isfinite(y).all()


def test_deterministic_for_seed(imgs):
    aug = Augment(AugmentConfig(blur_p=0.5), 32)
    a, b = aug(imgs, gen(1)), aug(imgs, gen(1))
    assert torch.equal(a, b)
    assert not torch.equal(a, aug(imgs, gen(2)))
    g = gen(1)
    assert not torch.equal(aug(imgs, g), aug(imgs, g))  # two views from one stream differ


def test_stream_use_independent_of_config(imgs):
    g1, g2 = gen(4), gen(4)
    Augment(AugmentConfig(), 32)(imgs, g1)
    Augment(AugmentConfig(minimal=True), 32)(imgs, g2)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_samples_get_different_params(imgs):
    same = imgs[:1].expand(8, -1, -1, -1).contiguous()
    y = Augment(AugmentConfig(), 32)(same, gen())
    flat = y.flatten(1)
    assert all(not torch.allclose(flat[i], flat[j]) for i in range(8) for j in range(i + 1, 8))


def test_identity_crop_equals_eval_transform(imgs):
    aug = Augment(AugmentConfig(crop_min_scale=1.0, **OFF), 32, ratio=(1.0, 1.0))
    y = aug(imgs, gen())
    ref = eval_transform(imgs, 32)
    assert torch.allclose(y, ref, atol=1e-4)
    assert torch.allclose(ref, normalize(imgs.float() / 255), atol=1e-6)
    # Downscaling goes through the antialiased matrices: close to torch's antialiased resize.
    small = Augment(AugmentConfig(crop_min_scale=1.0, **OFF), 16, ratio=(1.0, 1.0))(imgs, gen())
    assert torch.allclose(small, eval_transform(imgs, 16), atol=1e-5)
    tv = normalize(F.interpolate(imgs.float() / 255, size=16, mode="bilinear", antialias=True, align_corners=False))
    assert (small - tv).abs().mean() < 0.02


def test_flip_p1_equals_flipped(imgs):
    aug = Augment(AugmentConfig(crop_min_scale=1.0, **{**OFF, "flip_p": 1.0}), 32, ratio=(1.0, 1.0))
    assert torch.allclose(aug(imgs, gen()), eval_transform(imgs, 32).flip(-1), atol=1e-4)


def test_flip_half_the_time(imgs):
    aug = Augment(AugmentConfig(crop_min_scale=1.0, **{**OFF, "flip_p": 0.5}), 32, ratio=(1.0, 1.0))
    x = imgs[:1].expand(400, -1, -1, -1)
    y = aug(x, gen())
    ref = eval_transform(x[:1], 32)
    flipped = (y - ref.flip(-1)).abs().flatten(1).amax(1) < 1e-4
    plain = (y - ref).abs().flatten(1).amax(1) < 1e-4
    assert (flipped ^ plain).all() and 150 < flipped.sum() < 250


def test_crop_zooms_in(imgs):
    aug = Augment(AugmentConfig(crop_min_scale=0.25, **OFF), 32, ratio=(1.0, 1.0))
    y = aug(imgs, gen())
    assert not torch.allclose(y, eval_transform(imgs, 32), atol=1e-2)


def test_grayscale_p1(imgs):
    y = Augment(AugmentConfig(**{**OFF, "grayscale_p": 1.0}), 32)(imgs, gen())
    assert torch.allclose(y[:, 0], y[:, 1], atol=1e-6) and torch.allclose(y[:, 1], y[:, 2], atol=1e-6)


def test_one_channel_input(imgs):
    gray = imgs[:, :1]
    y = Augment(AugmentConfig(blur_p=0.5), 32)(gray, gen())
    assert y.shape == (16, 3, 32, 32) and y.is_contiguous()
    assert Augment(AugmentConfig(minimal=True), 32)(gray, gen()).is_contiguous()
    # Grayscale in, every colour operation keeps it gray.
    assert (y[:, 0] - y[:, 1]).abs().max() < 1e-4 and (y[:, 1] - y[:, 2]).abs().max() < 1e-4
    e = eval_transform(gray, 28)
    assert e.shape == (16, 3, 28, 28) and torch.equal(e[:, 0], e[:, 2])


def test_jitter_changes_colour_only_where_drawn(imgs):
    base = Augment(AugmentConfig(crop_min_scale=1.0, **OFF), 32, ratio=(1.0, 1.0))(imgs, gen())
    y = Augment(AugmentConfig(crop_min_scale=1.0, **{**OFF, "jitter_p": 1.0}), 32, ratio=(1.0, 1.0))(imgs, gen())
    changed = (y - base).abs().flatten(1).amax(1) > 1e-3
    assert changed.all()
    y0 = Augment(AugmentConfig(crop_min_scale=1.0, **{**OFF, "jitter_p": 1.0, "jitter_strength": 0.0}), 32, ratio=(1.0, 1.0))(imgs, gen())
    assert torch.equal(y0, base)


def test_hue_matrix():
    m = _hue_matrix(torch.tensor([0.0, 0.3, math.pi]))
    assert torch.allclose(m[0], torch.eye(3), atol=1e-5)
    rgb = torch.rand(3, 5)
    luma = torch.tensor([0.299, 0.587, 0.114])
    assert torch.allclose(luma @ (m[1] @ rgb), luma @ rgb, atol=1e-5)  # luma preserved
    grey = torch.full((3, 1), 0.4)
    assert torch.allclose(m[2] @ grey, grey, atol=1e-5)


def test_blur():
    x = torch.zeros(4, 3, 96, 96, dtype=torch.uint8)
    x[..., ::2] = 255  # highest horizontal frequency
    ident = AugmentConfig(crop_min_scale=1.0, **OFF)
    sharp = Augment(ident, 96, ratio=(1.0, 1.0))(x, gen())
    blurred = Augment(AugmentConfig(crop_min_scale=1.0, **{**OFF, "blur_p": 1.0}), 96, ratio=(1.0, 1.0))(x, gen())
    assert blurred.std() < 0.8 * sharp.std()
    # blur_p < 0 means 0.5 at >= 96 px and off below.
    assert Augment(AugmentConfig(), 96).blur_p == 0.5 and Augment(AugmentConfig(), 32).blur_p == 0.0


def test_minimal_is_crop_and_flip(imgs):
    a = Augment(AugmentConfig(minimal=True, blur_p=1.0), 32)(imgs, gen(9))
    b = Augment(AugmentConfig(jitter_p=0.0, grayscale_p=0.0, blur_p=0.0), 32)(imgs, gen(9))
    assert torch.equal(a, b)


def test_eval_transform_no_randomness(imgs):
    state = torch.get_rng_state()
    a, b = eval_transform(imgs, 32), eval_transform(imgs, 40)
    assert torch.equal(a, eval_transform(imgs, 32)) and b.shape == (16, 3, 40, 40)
    assert torch.equal(state, torch.get_rng_state())


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="1|3"):
        Augment(AugmentConfig(), 32)(torch.zeros(2, 4, 8, 8, dtype=torch.uint8), gen())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(imgs):
    aug = Augment(AugmentConfig(blur_p=0.5), 32)
    cpu = aug(imgs, gen(5))
    cuda = aug(imgs.cuda(), gen(5))  # CPU generator: identical parameters on both devices
    assert cuda.device.type == "cuda" and (cuda.cpu() - cpu).abs().max() < 1e-3
    g = torch.Generator(device="cuda").manual_seed(5)
    assert aug(imgs.cuda(), g).shape == (16, 3, 32, 32)


def test_unselected_samples_exactly_untouched(imgs):
    # Coins that say "no" must leave a sample bit-identical to the crop-only pipeline.
    kw = dict(crop_min_scale=0.5, flip_p=0.5)
    crop_only = Augment(AugmentConfig(**{**OFF, **kw}), 32)(imgs, gen(11))
    y = Augment(AugmentConfig(**{**OFF, **kw, "jitter_p": 0.5, "grayscale_p": 0.3, "blur_p": 0.5}), 32)(imgs, gen(11))
    u = torch.rand(16, 31, generator=gen(11))
    untouched = (u[:, 1] >= 0.5) & (u[:, 6] >= 0.3) & (u[:, 7] >= 0.5)
    assert untouched.any() and (~untouched).any()
    assert torch.equal(y[untouched], crop_only[untouched])
    assert all(not torch.equal(y[i], crop_only[i]) for i in torch.nonzero(~untouched).flatten().tolist())
