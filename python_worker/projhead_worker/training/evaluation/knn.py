"""Weighted k-nearest-neighbour classification on frozen features (the InstDisc / solo-learn
monitor): cosine similarity, the k most similar training rows vote for their class with weight
exp(similarity / t)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Bound on the [chunk, N_train] similarity and [chunk, k, C] vote blocks (elements): ~256 MB.
_SIM_BLOCK_ELEMS = 1 << 26


@torch.no_grad()
def knn_top1(
    train_f: torch.Tensor,
    train_y: torch.Tensor,
    test_f: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int,
    k: int = 200,
    t: float = 0.1,
    chunk: int | None = None,
) -> float:
    """Top-1 accuracy (a fraction in [0, 1]) of weighted kNN of `test_f` against `train_f`.

    Runs on train_f's device. k is clipped to the number of training rows; test rows are
    processed `chunk` at a time (default: as many as keep the similarity block near 256 MB)."""
    n, m = int(train_f.shape[0]), int(test_f.shape[0])
    if n == 0 or m == 0:
        raise ValueError(f"knn_top1 needs training and test rows, got {n} and {m}")
    if k < 1:
        raise ValueError(f"knn_top1: k must be >= 1, got {k}")
    device = train_f.device
    k = min(int(k), n)
    # fp32 even for bf16 features: top-k ranks and exp(sim/t) weights are sensitive to rounding.
    bank = F.normalize(train_f.float(), dim=1)
    labels = train_y.to(device=device, dtype=torch.long)
    test_y = test_y.to(device=device, dtype=torch.long)
    if chunk is None:
        chunk = max(1, _SIM_BLOCK_ELEMS // max(n, k * num_classes))
    correct = 0
    for lo in range(0, m, chunk):
        q = F.normalize(test_f[lo : lo + chunk].to(device=device, dtype=torch.float32), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)
        # sim <= 1, so exp(sim / t) cannot overflow for any sensible t (t=0.1 gives <= e^10).
        weights = (sim / t).exp()
        # Vote as a batched matmul with one-hot labels rather than scatter_add_, whose CUDA
        # float atomics would make ties and near-ties run-to-run nondeterministic.
        onehot = F.one_hot(labels[idx], num_classes).to(weights.dtype)  # [c, k, C]
        votes = torch.bmm(weights.unsqueeze(1), onehot).squeeze(1)
        correct += int((votes.argmax(dim=1) == test_y[lo : lo + chunk]).sum())
    return correct / m
