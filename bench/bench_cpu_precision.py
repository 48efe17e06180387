"""bf16 autocast and channels_last for the convnet on CPU, side by side (a benchmark, not a test).

The question (the verdict study's budget): does either make a one-thread CPU run of the study's
model faster, at equal accuracy? Variants, all on the same images, seed and settings as the study
(convnet width 16, head [256, 256] -> 64, joint, AdamW 3e-3, batch 128, 28 px Fashion-MNIST):

  fp32        train.precision fp32, contiguous (what the study runs)
  bf16        train.precision bf16: torch.autocast(cpu, bfloat16) around the forward and loss
  fp32_cl     fp32, model and views in channels_last
  bf16_cl     both

Method: every variant keeps its own model and optimizer; rounds interleave the variants (the order
rotates every round) and each runs one epoch of the same N images per round; round 0 is the
warm-up and is not reported. Per round the step-time ratio to fp32 of the same round; the median
over rounds is reported, which cancels the drift of a shared machine. Accuracy: after the last
round, each variant's mean loss of its last epoch and the kNN top-1 of its h on the test images
(k 200, tau 0.1, the evaluation's kNN): equal within noise is what "at equal accuracy" means here
(a short run, not a full study run; a difference would need the full run to settle).

    python bench/bench_cpu_precision.py --threads 1 --n 2048 --rounds 4 --out bench/out/cpu-precision.json
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

_HERE = Path(__file__).resolve().parent
if str(_HERE.parent / "python_worker") not in sys.path:
    sys.path.insert(0, str(_HERE.parent / "python_worker"))

from projhead_worker.common.config import RunConfig  # noqa: E402
from projhead_worker.training.data import load_dataset  # noqa: E402
from projhead_worker.training.evaluation.layers import extract_features  # noqa: E402
from projhead_worker.training.evaluation.knn import knn_top1  # noqa: E402
from projhead_worker.training.trainstate import build_training  # noqa: E402

VARIANTS = ("fp32", "bf16", "fp32_cl", "bf16_cl")


def study_cfg(precision: str, n: int, seed: int) -> RunConfig:
    return RunConfig.from_dict({
        "seed": seed,
        "data": {"name": "fashion-mnist", "train_limit": n},
        "model": {"backbone": "convnet", "width": 16, "head": {"hidden_dims": [256, 256], "out_dim": 64}},
        "method": {"name": "joint", "temperature": 0.2},
        "optim": {"name": "adamw", "lr": 0.003, "weight_decay": 1e-4},
        "augment": {"crop_min_scale": 0.4},
        "train": {"epochs": 100, "batch_size": 128, "device": "cpu", "precision": precision},
    })


class Run:
    def __init__(self, name: str, cfg: RunConfig, train_x: torch.Tensor):
        self.name = name
        self.cl = name.endswith("_cl")
        self.state = build_training(cfg, torch.device("cpu"), train_x)
        if self.cl:
            self.state.model.to(memory_format=torch.channels_last)
        self.last_losses: list[float] = []

    def epoch(self) -> list[float]:
        """Step times (s) of one epoch; the epoch's losses kept."""
        st, times, losses = self.state, [], []
        perm = st.start_epoch()
        for _ in range(st.steps_per_epoch):
            t = time.perf_counter()
            x1, x2 = st.next_views(perm)
            if self.cl:
                x1 = x1.contiguous(memory_format=torch.channels_last)
                x2 = x2.contiguous(memory_format=torch.channels_last)
            losses.append(float(st.train_step(x1, x2)["loss"]))
            times.append(time.perf_counter() - t)
        st.finish_epoch()
        self.last_losses = losses
        return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2048, help="training images (a class-balanced Fashion-MNIST subset)")
    ap.add_argument("--rounds", type=int, default=4, help="timed rounds (plus one warm-up)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = load_dataset(study_cfg("fp32", a.n, a.seed).data, a.seed)
    runs = [Run(v, study_cfg("bf16" if v.startswith("bf16") else "fp32", a.n, a.seed), data.train_x) for v in VARIANTS]
    per_round: list[dict[str, float]] = []
    for r in range(a.rounds + 1):
        order = runs[r % len(runs):] + runs[: r % len(runs)]
        medians = {run.name: statistics.median(run.epoch()) for run in order}
        if r > 0:
            per_round.append(medians)
        print(f"round {r}{' (warm-up)' if r == 0 else ''}: " + ", ".join(f"{k} {1000 * v:.1f} ms" for k, v in medians.items()), flush=True)
    result = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.processor() or platform.machine(),
              "torch": torch.__version__, "threads": a.threads, "n": a.n, "rounds": a.rounds, "variants": {}}
    for run in runs:
        ratios = [rd[run.name] / rd["fp32"] for rd in per_round]
        feats = extract_features(run.state.model, data.train_x, 28, torch.device("cpu"), 512, ["h"])["h"]
        test = extract_features(run.state.model, data.test_x, 28, torch.device("cpu"), 512, ["h"])["h"]
        knn = knn_top1(feats, data.train_y, test, data.test_y, data.num_classes, k=200, t=0.1)
        result["variants"][run.name] = {
            "step_ms_median": 1000 * statistics.median(rd[run.name] for rd in per_round),
            "ratio_to_fp32_median": statistics.median(ratios),
            "ratio_to_fp32_per_round": ratios,
            "last_epoch_loss": statistics.fmean(run.last_losses),
            "knn_top1_h": float(knn),
        }
    for k, v in result["variants"].items():
        print(f"{k:8s} step {v['step_ms_median']:.1f} ms  x{v['ratio_to_fp32_median']:.3f} of fp32  "
              f"loss {v['last_epoch_loss']:.4f}  kNN(h) {100 * v['knn_top1_h']:.2f} %")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
