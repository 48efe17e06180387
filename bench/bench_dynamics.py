"""Cost of the training dynamics (`dynamics` events: kNN, RankMe, alignment and uniformity of
every layer on fixed subsets) as a fraction of training time, at the default cadence (a
benchmark, not a test).

Method: one real training run through train.train (the loop the worker runs) per preset, with
the dynamics at their defaults (train.layer_eval_every_epochs -1 = the kNN monitor's cadence,
train.layer_eval_subset 0 = min(512, the smaller split)). The baseline is the same run's own
training time: the summary's train_seconds (wall time inside the steps; monitors, evaluation and
checkpoints excluded), as seconds per training image. Per measurement the cost is its event's
`seconds`. The fraction is

    mean measurement seconds / (seconds per training image x images per epoch x cadence)

i.e. what the dynamics add to training at the default cadence. --max-steps shortens the run (a
shared CPU); the epoch is then the one the run would have (its `started` train_images).

Presets:
  quickstart   examples/quickstart.yaml as it is (fashion-mnist-mini: 10,000 images, convnet
               width 16, batch 64, kNN every epoch, so dynamics every epoch)
  resnet18-32  the same data and settings with ResNet-18 (CIFAR stem) at 32 px; also reported:
               the fraction for a 50,000-image epoch (CIFAR-10 size)

    python bench/bench_dynamics.py --preset quickstart --max-steps 40 --out bench/out/dynamics-quickstart.json
    python bench/bench_dynamics.py --preset resnet18-32 --max-steps 8 --out bench/out/dynamics-r18.json
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_worker"))

import torch  # noqa: E402
import yaml  # noqa: E402

from projhead_worker.common.config import RunConfig  # noqa: E402
from projhead_worker.training.dynamics import cadence  # noqa: E402
from projhead_worker.training.train import train  # noqa: E402


def _snake(d):
    if isinstance(d, dict):
        return {re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), k): _snake(v) for k, v in d.items()}
    return d


def preset(name: str, threads: int, max_steps: int) -> dict:
    exp = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    spec = _snake({k: v for k, v in exp.items() if k not in ("name", "runtime", "eval", "sweep", "report")})
    # The dynamics keep the default cadence (the kNN monitor's); the monitor itself, which is not
    # what is measured, is switched off so the run spends its time on training and dynamics.
    t = spec["train"]
    t.update(threads=threads, max_steps=max_steps, checkpoint_every_epochs=0,
             layer_eval_every_epochs=t.get("knn_every_epochs", 1), knn_every_epochs=0)
    if name == "resnet18-32":
        spec["model"] = {"backbone": "resnet18", "cifar_stem": True, "head": spec["model"]["head"]}
        spec["data"]["image_size"] = 32
    elif name != "quickstart":
        raise SystemExit(f"--preset: got {name!r}, expected quickstart or resnet18-32")
    return spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="quickstart")
    ap.add_argument("--max-steps", type=int, default=0, help="stop training after N steps (0 = the full run)")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", default="")
    a = ap.parse_args()

    cfg = RunConfig.from_dict({"run_id": f"bench-dynamics-{a.preset}", **preset(a.preset, a.threads, a.max_steps)})
    events: list[dict] = []

    def emit(type_: str, **fields) -> int:
        events.append({"type": type_, **fields})
        return len(events)

    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        summary = train(cfg, Path(d), emit, lambda: None)
    dyn = [e for e in events if e["type"] == "dynamics"]
    every = cadence(cfg)
    epoch_images = next(e["train_images"] for e in events if e["type"] == "started")
    mean_dyn = sum(e["seconds"] for e in dyn) / max(len(dyn), 1)
    per_image = summary["train_seconds"] / max(summary["images_seen"], 1)
    per_epoch = per_image * epoch_images
    out = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"host": platform.node(), "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "load_avg": os.getloadavg(), "torch": torch.__version__},
        "command": " ".join(["python", "bench/bench_dynamics.py", *sys.argv[1:]]),
        "preset": a.preset,
        "device": cfg.train.device,
        "threads": a.threads,
        "cadence_epochs": every,
        "subset_size": dyn[0]["subset_size"] if dyn else 0,
        "layers": [l["layer"] for l in dyn[0]["layers"]] if dyn else [],
        "steps": summary["steps"],
        "images_seen": summary["images_seen"],
        "epoch_images": epoch_images,
        "train_seconds_per_image": per_image,
        "train_seconds": summary["train_seconds"],
        "train_seconds_per_epoch": per_epoch,
        "dynamics_seconds": [e["seconds"] for e in dyn],
        "dynamics_seconds_mean": mean_dyn,
        "fraction_at_default_cadence": mean_dyn / (per_epoch * every) if every else 0.0,
        "fraction_for_50k_epoch": mean_dyn / (per_image * 50000 * every) if every else 0.0,
        "wall_seconds": time.time() - t0,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
