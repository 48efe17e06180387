"""Geometry of a feature set: the covariance spectrum (dimensional collapse, as plotted by Jing
et al. 2022), the effective rank RankMe (Garrido et al. 2023) and Wang & Isola (2020) alignment /
uniformity on the unit sphere."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Rows used by uniformity's all-pairs term: 2048 rows = ~2.1M pairs, cheap and low-variance.
MAX_UNIFORMITY_ROWS = 2048
_ROWS = 16384
# RankMe's epsilon (Garrido et al. 2023), added to every normalised singular value.
RANKME_EPS = 1e-7


@torch.no_grad()
def rankme(f: torch.Tensor, eps: float = RANKME_EPS) -> float:
    """Effective rank RankMe (Garrido et al. 2023) of an [N, D] embedding matrix: the singular
    values sigma of the matrix itself (not centred, not its covariance), p_k = sigma_k /
    ||sigma||_1 + eps, RankMe = exp(-sum_k p_k log p_k) over the min(N, D) singular values.

    From 1 (every row on one line) to min(N, D); all-zero features give 1.0. The singular values
    come from the D x D Gram matrix in float64 (accumulated in row chunks: never an N x D float64
    copy), sigma = sqrt(eig(F^T F))."""
    f = f.detach().reshape(f.shape[0], -1)
    n, d = int(f.shape[0]), int(f.shape[1])
    gram = torch.zeros(d, d, dtype=torch.float64, device=f.device)
    for lo in range(0, n, _ROWS):
        c = f[lo : lo + _ROWS].to(torch.float64)
        gram += c.T @ c
    return _rankme_of_gram(gram, n, eps)


def _rankme_of_gram(gram: torch.Tensor, n: int, eps: float = RANKME_EPS) -> float:
    ev = torch.linalg.eigvalsh(gram.cpu()).flip(0)[: min(n, int(gram.shape[0]))]
    s = ev.clamp(min=0).sqrt()
    total = float(s.sum())
    if total == 0.0:
        return 1.0
    p = s / total + eps
    return math.exp(float(-(p * p.log()).sum()))


@torch.no_grad()
def spectrum(f: torch.Tensor) -> tuple[list[float], float]:
    """Singular values of the feature covariance (largest first; the spectrum plotted for
    dimensional collapse) and the effective rank RankMe of the features (see `rankme`: of the
    embedding matrix, not of the covariance). Float64 throughout: the small values matter."""
    f = f.detach().reshape(f.shape[0], -1)
    n, d = int(f.shape[0]), int(f.shape[1])
    # Float64 in row chunks: a full float64 copy of 60k x 2048 features would be 1 GB.
    mean = torch.zeros(d, dtype=torch.float64, device=f.device)
    gram = torch.zeros(d, d, dtype=torch.float64, device=f.device)
    for lo in range(0, n, _ROWS):
        c = f[lo : lo + _ROWS].to(torch.float64)
        mean += c.sum(dim=0)
        gram += c.T @ c
    mean /= max(n, 1)
    cov = torch.zeros(d, d, dtype=torch.float64, device=f.device)
    for lo in range(0, n, _ROWS):
        c = f[lo : lo + _ROWS].to(torch.float64) - mean
        cov += c.T @ c
    cov /= max(n - 1, 1)
    s = torch.linalg.svdvals(cov.cpu())  # D x D: small, and CPU LAPACK is deterministic
    return [float(v) for v in s], _rankme_of_gram(gram, n)


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
