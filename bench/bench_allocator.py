"""glibc's mmap threshold fixed at its starting value (128 KiB) against glibc's moving default,
for the training step, side by side (a benchmark, not a test). The question: would fixing it make
a process's peak RSS repeatable (it varies by up to 15 % from process to process with the moving
threshold, which test_memory_estimates has to allow for) at an acceptable cost?

Each variant trains in its own fresh process (the threshold is per process), alternating
variants round by round so a shared machine's drift hits both alike; per process: the training
seconds of the steps (the run's own accounting) and the peak RSS. The spec is the verdict
study's (Fashion-MNIST, convnet width 16, head [256, 256] -> 64, batch 128, bf16, one thread),
cut to --steps steps.

    python bench/bench_allocator.py [--steps 150] [--rounds 3] [--out bench/out/allocator.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = Path(__file__).resolve().parent.parent / "python_worker"
CHILD = """
import json, resource, sys
sys.path.insert(0, {worker!r})
import ctypes, ctypes.util
from projhead_worker.common.config import RunConfig
from projhead_worker.training.train import train
# mallopt(M_MMAP_THRESHOLD = -3, 128 KiB): fixed, so glibc no longer moves it
fixed = {fixed!r} and bool(ctypes.CDLL(ctypes.util.find_library("c")).mallopt(-3, 128 * 1024))
cfg = RunConfig.from_dict(json.loads({spec!r}))
summary = train(cfg, __import__("pathlib").Path({run!r}), lambda *a, **k: 0, lambda: None)
print(json.dumps({{"fixed": fixed, "train_seconds": summary["train_seconds"], "steps": summary["steps"],
                   "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def spec(steps: int) -> dict:
    return {"run_id": "bench-allocator", "seed": 0,
            "data": {"name": "fashion-mnist", "train_limit": 0, "test_limit": 1000},
            "model": {"backbone": "convnet", "width": 16, "head": {"hidden_dims": [256, 256], "out_dim": 64}},
            "method": {"name": "joint", "temperature": 0.2},
            "optim": {"name": "adamw", "lr": 0.003, "weight_decay": 0.0001},
            "augment": {"crop_min_scale": 0.4},
            "train": {"epochs": 1, "batch_size": 128, "max_steps": steps, "device": "cpu", "precision": "bf16",
                      "threads": 1, "knn_every_epochs": 0, "checkpoint_every_epochs": 0, "log_every_steps": 1000,
                      "eval_at_end": False}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for fixed in ((True, False) if r % 2 == 0 else (False, True)):
                run = Path(tmp) / f"r{r}-{int(fixed)}"
                run.mkdir()
                code = CHILD.format(worker=str(WORKER), fixed=fixed, spec=json.dumps(spec(a.steps)), run=str(run))
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
                rows.append({"round": r, **json.loads(out.strip().splitlines()[-1])})
                print(json.dumps(rows[-1]), flush=True)
    ratio = statistics.median(
        next(x["train_seconds"] for x in rows if x["round"] == r and x["fixed"]) /
        next(x["train_seconds"] for x in rows if x["round"] == r and not x["fixed"]) for r in range(a.rounds))
    result = {"steps": a.steps, "rows": rows, "step_time_ratio_fixed_over_dynamic": ratio}
    print(f"step time, fixed / dynamic threshold (median of {a.rounds} rounds): {ratio:.3f}")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
