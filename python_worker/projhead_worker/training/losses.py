"""InfoNCE / NT-Xent over the 2B views of a batch (SimCLR's loss), DDP-aware.

Layout: the rows are this rank's 2B views [z1; z2]; the candidate columns are the views of all
ranks, gathered in rank order as [z1_r0; z2_r0; z1_r1; z2_r1; ...]. Row j of rank r has its
self-similarity at column r*2B + j (masked out) and its positive at column r*2B + (j+B) mod 2B.

Gradient scaling under DDP: each rank returns the mean over its own 2B rows. The gather's
backward sums the column gradients of all ranks into each rank's slice, so every rank's
parameter gradient is d(sum_k L_k)/d(theta restricted to its inputs); DDP's averaging (1/W)
of sum_k L_k = W * L_global gives exactly the single-process gradient of L_global over the
global batch (no missing 1/W or W factor).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import dist


def _unit_rows(z: torch.Tensor) -> torch.Tensor:
    # fp32, and pre-scaled by the row max so that squaring cannot overflow (|z| ~ 1e20) or
    # underflow (|z| ~ 1e-30). The scale is detached: normalize(z / c) == normalize(z) for a
    # constant c, and so is its gradient.
    z = z.float()
    scale = z.detach().abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
    return F.normalize(z / scale, dim=1)


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent loss of two views z1, z2 [B, D] (row i of each is the same image).

    Returns (loss, acc): loss is the mean cross-entropy over this rank's 2B rows, with cosine
    similarities / temperature as logits (fp32, also under autocast) and self-similarity
    excluded; acc (detached) is the fraction of rows whose largest logit is the positive.
    Under torch.distributed with world size > 1 the negatives come from all ranks (every rank
    must pass the same B)."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"info_nce: z1 and z2 must both be [B, D], got {tuple(z1.shape)} and {tuple(z2.shape)}")
    return info_nce_stacked(torch.cat([z1, z2], dim=0), temperature)


def info_nce_stacked(z: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """info_nce of the views stacked as z = [z1; z2] ([2B, D]), saving the split and re-concat
    when the caller ran both views through one forward."""
    if z.dim() != 2 or z.shape[0] % 2:
        raise ValueError(f"info_nce_stacked: expected [2B, D], got {tuple(z.shape)}")
    b = z.shape[0] // 2
    # Autocast would run the matmul in bf16 again even on fp32 inputs: switch it off here.
    with torch.autocast(device_type=z.device.type, enabled=False):
        rows = _unit_rows(z)  # [2B, D] fp32
        cols = dist.gather_with_grad(rows)  # [2B*W, D]
        logits = (rows @ cols.T) * (1.0 / temperature)  # [2B, 2B*W]
        j = torch.arange(2 * b, device=rows.device)
        offset = dist.rank() * 2 * b
        self_idx = (j + offset).unsqueeze(1)
        target = (j + b) % (2 * b) + offset
        # Out-of-place scatter: differentiable, and the masked entries get zero gradient.
        logits = logits.scatter(1, self_idx, float("-inf"))
        loss = F.cross_entropy(logits, target)
        acc = (logits.detach().argmax(dim=1) == target).float().mean()
    return loss, acc
