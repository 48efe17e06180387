"""info_nce against an independent float64 NumPy reference, plus stability, autocast and
gradient checks."""
import math

import numpy as np
import pytest
import torch

from projhead_worker.training.losses import info_nce


def reference_info_nce(z1: np.ndarray, z2: np.ndarray, t: float) -> tuple[float, float]:
    """Row-by-row NT-Xent in float64: for each of the 2B views, -log softmax of its positive
    among the other 2B-1 views (log-sum-exp with the max subtracted)."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n, b = len(z), len(z1)
    losses, correct = [], 0
    for i in range(n):
        pos = (i + b) % n
        others = [j for j in range(n) if j != i]
        logits = np.array([z[i] @ z[j] / t for j in others])
        m = logits.max()
        lse = m + math.log(np.exp(logits - m).sum())
        losses.append(lse - z[i] @ z[pos] / t)
        correct += others[int(logits.argmax())] == pos
    return float(np.mean(losses)), correct / n


@pytest.mark.parametrize("b", [2, 8, 33])
@pytest.mark.parametrize("d", [4, 64])
@pytest.mark.parametrize("t", [0.07, 0.5, 1.0])
def test_matches_numpy_reference(b, d, t):
    torch.manual_seed(b * 1000 + d)
    z1 = torch.randn(b, d)
    z2 = z1 + 0.8 * torch.randn(b, d)  # correlated views, so acc is not trivially 0 or 1
    loss, acc = info_nce(z1, z2, t)
    ref_loss, ref_acc = reference_info_nce(z1.numpy(), z2.numpy(), t)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    assert loss.item() == pytest.approx(ref_loss, rel=1e-5, abs=1e-5)
    assert acc.item() == pytest.approx(ref_acc)


def test_scale_invariant_and_stable_for_extreme_magnitudes():
    torch.manual_seed(0)
    z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
    base, _ = info_nce(z1, z2, 0.1)
    for scale in (1e-30, 1e-6, 1e6, 1e25):  # squares under/overflow fp32 without care
        loss, _ = info_nce(z1 * scale, z2 * scale, 0.1)
        assert torch.isfinite(loss) and loss.item() == pytest.approx(base.item(), rel=1e-5)


def test_large_logits_low_temperature():
    # Near-identical views at t = 0.001 give logits ~ 1000: exp overflows unless the loss is
    # computed in log-sum-exp form.
    torch.manual_seed(0)
    z1 = torch.randn(16, 8)
    z2 = z1 + 1e-3 * torch.randn(16, 8)
    loss, acc = info_nce(z1, z2, 0.001)
    ref, _ = reference_info_nce(z1.numpy(), z2.numpy(), 0.001)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(ref, rel=1e-3, abs=1e-3)
    assert acc.item() == 1.0


def test_bf16_autocast_computes_in_fp32():
    torch.manual_seed(0)
    z1, z2 = torch.randn(32, 64), torch.randn(32, 64)
    fp32, _ = info_nce(z1, z2, 0.5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto, _ = info_nce(z1, z2, 0.5)
        from_bf16, _ = info_nce(z1.bfloat16(), z2.bfloat16(), 0.5)
    assert auto.dtype == torch.float32 and from_bf16.dtype == torch.float32
    # A bf16 matmul would be off by ~1e-2; fp32 logits agree to rounding.
    assert auto.item() == pytest.approx(fp32.item(), abs=1e-6)
    ref, _ = reference_info_nce(z1.bfloat16().float().numpy(), z2.bfloat16().float().numpy(), 0.5)
    assert torch.isfinite(from_bf16) and from_bf16.item() == pytest.approx(ref, rel=1e-5)


def test_gradient_matches_finite_differences_of_reference():
    torch.manual_seed(0)
    b, d, t = 4, 5, 0.5
    z1 = torch.randn(b, d, requires_grad=True)
    z2 = torch.randn(b, d, requires_grad=True)
    loss, _ = info_nce(z1, z2, t)
    loss.backward()
    a1, a2 = z1.detach().numpy().astype(np.float64), z2.detach().numpy().astype(np.float64)
    eps = 1e-5
    for z, grad, which in ((a1, z1.grad, 0), (a2, z2.grad, 1)):
        num = np.zeros_like(z)
        for idx in np.ndindex(*z.shape):
            zp, zm = z.copy(), z.copy()
            zp[idx] += eps
            zm[idx] -= eps
            args_p = (zp, a2) if which == 0 else (a1, zp)
            args_m = (zm, a2) if which == 0 else (a1, zm)
            num[idx] = (reference_info_nce(*args_p, t)[0] - reference_info_nce(*args_m, t)[0]) / (2 * eps)
        np.testing.assert_allclose(grad.numpy(), num, rtol=1e-3, atol=1e-5)


def test_masked_self_similarity_gives_finite_gradients():
    torch.manual_seed(0)
    z = torch.randn(6, 8, requires_grad=True)
    loss, acc = info_nce(z, z.clone(), 0.07)  # identical views: the positive equals self
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    assert acc.item() == 1.0


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        info_nce(torch.randn(4, 8), torch.randn(5, 8), 0.5)


def test_stacked_form_equals_two_view_form():
    from projhead_worker.training.losses import info_nce_stacked

    torch.manual_seed(0)
    z1, z2 = torch.randn(5, 7), torch.randn(5, 7)
    a, acc_a = info_nce(z1, z2, 0.2)
    b, acc_b = info_nce_stacked(torch.cat([z1, z2]), 0.2)
    assert torch.equal(a, b) and torch.equal(acc_a, acc_b)
    with pytest.raises(ValueError):
        info_nce_stacked(torch.randn(5, 7), 0.2)
