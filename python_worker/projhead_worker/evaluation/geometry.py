"""Geometry of a feature set: covariance spectrum / effective rank (dimensional collapse) and
Wang & Isola (2020) alignment / uniformity on the unit sphere."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Rows used by uniformity's all-pairs term: 2048 rows = ~2.1M pairs, cheap and low-variance.
MAX_UNIFORMITY_ROWS = 2048
_ROWS = 16384


@torch.no_grad()
def spectrum(f: torch.Tensor) -> tuple[list[float], float]:
    """Singular values of the feature covariance (largest first) and the effective rank
    exp(H(p)), p = s / sum(s) (Roy & Vetterli 2007; as in RankMe, applied to the covariance).

    Ranges from 1 (all variance along one direction) to D (isotropic). Features without any
    variance (every row identical: full collapse) give zero singular values and effective rank
    1.0, the exp of an empty entropy. Float64 throughout: the small singular values matter."""
    f = f.detach().reshape(f.shape[0], -1)
    n, d = int(f.shape[0]), int(f.shape[1])
    # Float64 in row chunks: a full float64 copy of 60k x 2048 features would be 1 GB.
    mean = torch.zeros(d, dtype=torch.float64, device=f.device)
    mean_sq = 0.0
    for lo in range(0, n, _ROWS):
        c = f[lo : lo + _ROWS].to(torch.float64)
        mean += c.sum(dim=0)
        mean_sq += float((c * c).sum())
    mean /= max(n, 1)
    mean_sq /= max(n, 1)
    cov = torch.zeros(d, d, dtype=torch.float64, device=f.device)
    for lo in range(0, n, _ROWS):
        c = f[lo : lo + _ROWS].to(torch.float64) - mean
        cov += c.T @ c
    cov /= max(n - 1, 1)
    s = torch.linalg.svdvals(cov.cpu())  # D x D: small, and CPU LAPACK is deterministic
    # Singular values at floating-point noise level carry no direction, yet they would turn an
    # exactly collapsed layer into a "high-rank" one. Fp32 features cannot resolve variance below
    # ~1e-10 of their mean square (a few ulps squared), nor LAPACK below ~D * eps64 * s_max. They
    # are still reported (log-spectrum plots show the noise floor), only not counted.
    tol = max(float(s[0]) * s.numel() * torch.finfo(torch.float64).eps, 1e-10 * mean_sq) if s.numel() else 0.0
    kept = s[s > tol]
    values = [float(v) for v in s]
    if kept.numel() == 0:
        return values, 1.0
    p = kept / kept.sum()
    return values, math.exp(float(-(p * p.log()).sum()))


@torch.no_grad()
def align_uniform(
    f1: torch.Tensor,
    f2: torch.Tensor,
    max_rows: int = MAX_UNIFORMITY_ROWS,
    seed: int = 0,
) -> tuple[float, float]:
    """Wang & Isola (2020) on L2-normalised features: alignment E||u - v||^2 over positive pairs
    (row i of f1 with row i of f2; 0 = views map to the same point, 4 = antipodal) and uniformity
    log E exp(-2 ||u - u'||^2) over all pairs of rows of f1 (0 = every row the same point,
    more negative = more uniform, bounded below by about -4 on a high-dimensional sphere).
    Uniformity uses a seeded subsample of at most `max_rows` rows."""
    if f1.shape != f2.shape:
        raise ValueError(f"align_uniform: views differ in shape, {tuple(f1.shape)} vs {tuple(f2.shape)}")
    u = F.normalize(f1.detach().reshape(f1.shape[0], -1).float(), dim=1)
    v = F.normalize(f2.detach().reshape(f2.shape[0], -1).to(u.device).float(), dim=1)
    alignment = float((u - v).pow(2).sum(dim=1).mean())
    n = int(u.shape[0])
    if n < 2:
        return alignment, float("nan")
    if n > max_rows:
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_rows]
        u = u[idx.to(u.device)]
    sq = torch.pdist(u, p=2).pow(2)
    # Mean over ~2M terms in float64: fp32 accumulation would wobble in the 4th digit.
    uniformity = float(sq.double().mul(-2.0).exp().mean().log())
    return alignment, uniformity
