"""Training throughput, side by side in one process, on one device (a benchmark, not a test).

Variants (all on the same model, batch and images; the same optimizer settings):
  peer        the reference peer pipeline (bench/peer_simclr.py): torchvision PIL transforms in
              DataLoader workers, plain SGD; bf16 + channels_last on CUDA like projhead
  peer_fp32   the same peer without autocast and channels_last (what most public code runs)
  joint       projhead `joint`: the training loop's path, uint8 images on the device, batched
              Augment (two views), channels_last, lr schedule, method.train_step (fused SGD on CUDA)
  bilevel_k1  projhead `bilevel`, 1 inner head step per backbone step
  bilevel_k5  projhead `bilevel`, 5 inner head steps
  ceiling     the compute-only ceiling: joint's train_step on ready (pre-augmented) tensors

Method: every variant keeps its own model and optimizer for the whole run; rounds interleave the
variants (the order rotates every round) and each variant runs one whole epoch of the same N
images per round. Round 0 is the warm-up (DataLoader start-up, cudnn autotuning, torch.compile)
and is not reported. Per variant: images/s (median over the timed epochs), step time (median and
p90 over every timed step; on CUDA from events on the stream, so idle gaps waiting for data
count), peak GPU memory of its epoch (torch max_memory_allocated minus what the *other*
variants keep resident), and the time a 50k-image epoch takes at that rate. Ratios are computed
per round (variant / baseline in the same round) and the median is reported, which cancels
slow drifts of a shared machine.

Presets:
  cpu          convnet width 16, `shapes` (real procedural images) at 32 px, batch 256, fp32
  resnet18-32  ResNet-18 with the CIFAR stem, 32 px, batch 512, 50k synthetic uint8 images
  resnet50-96  ResNet-50 (ImageNet stem), 96 px, batch 256, 20k synthetic uint8 images
Synthetic images are uniform random uint8 pixels: the augmentation and training cost does not
depend on the content. Use --n / --rounds / --batch to override.

    python bench/bench_train.py --device cpu --preset cpu --out bench/out/train-cpu.json
    python bench/bench_train.py --device cuda --preset resnet18-32 --compile --out ...
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
if str(_HERE.parent / "python_worker") not in sys.path:
    sys.path.insert(0, str(_HERE.parent / "python_worker"))

import peer_simclr  # noqa: E402
from projhead_worker.common.config import RunConfig  # noqa: E402
from projhead_worker.training.train import setup_process  # noqa: E402
from projhead_worker.training.trainstate import build_training  # noqa: E402

PRESETS: dict[str, dict[str, Any]] = {
    "cpu": dict(backbone="convnet", width=16, cifar_stem=True, size=32, batch=256, data="shapes", n=1024,
                rounds=4, hidden=[512], out_dim=128),
    "resnet18-32": dict(backbone="resnet18", width=32, cifar_stem=True, size=32, batch=512, data="synthetic", n=50000,
                        rounds=3, hidden=[512], out_dim=128),
    "resnet50-96": dict(backbone="resnet50", width=32, cifar_stem=False, size=96, batch=256, data="synthetic", n=20480,
                        rounds=3, hidden=[2048], out_dim=128),
}
ALL_VARIANTS = ("peer", "peer_fp32", "joint", "bilevel_k1", "bilevel_k5", "ceiling")
DEFAULT_VARIANTS = ("peer", "joint", "bilevel_k1", "bilevel_k5", "ceiling")
LOG_EVERY = 10  # train.py's default log_every_steps: one host sync every 10 steps


# -- timing ---------------------------------------------------------------------------------------

class Clock:
    """Marks at the start of every step (and once at the end): step times from perf_counter on
    CPU, from CUDA events on the current stream on CUDA (no sync per step)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.device = device
        self.marks: list[Any] = []
        self.extra_cpu: Callable[[], float] = lambda: 0.0

    def start(self, extra_cpu: Callable[[], float] = lambda: 0.0) -> None:
        """extra_cpu: CPU seconds used so far by helper processes (the peer's loader workers)."""
        self.marks = []
        self.extra_cpu = extra_cpu
        if self.cuda:
            torch.cuda.synchronize(self.device)
        self.c0 = time.process_time() + extra_cpu()
        self.t0 = time.perf_counter()

    def mark(self) -> None:
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self.marks.append(ev)
        else:
            self.marks.append(time.perf_counter())

    def stop(self) -> tuple[float, list[float]]:
        """(wall seconds, step times in ms); self.cpu_seconds: CPU time of this process (all its
        threads) and of the helper processes over the same span."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
        wall = time.perf_counter() - self.t0
        self.cpu_seconds = time.process_time() + self.extra_cpu() - self.c0
        if self.cuda:
            steps = [a.elapsed_time(b) for a, b in zip(self.marks, self.marks[1:])]
        else:
            steps = [(b - a) * 1000.0 for a, b in zip(self.marks, self.marks[1:])]
        return wall, steps


def tensor_bytes(tensors, device: torch.device) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if torch.is_tensor(t) and t.device == device)


def optimizer_bytes(opt: torch.optim.Optimizer, device: torch.device) -> int:
    return sum(tensor_bytes(st.values(), device) for st in opt.state.values())


# -- variants -------------------------------------------------------------------------------------

def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (Linux /proc), 0 when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Variant:
    name = ""

    def run_epoch(self, clock: Clock) -> int:
        raise NotImplementedError

    def resident_bytes(self) -> int:
        return 0

    def helper_cpu_seconds(self) -> float:
        return 0.0


class PeerVariant(Variant):
    def __init__(self, name: str, images: torch.Tensor, p: dict[str, Any], device: torch.device, args, fp32: bool):
        self.name = name
        pin = device.type == "cuda"
        self.loader = peer_simclr.make_loader(images, size=p["size"], batch=p["batch"], workers=args.workers,
                                              pin_memory=pin, api=args.peer_api, seed=args.seed)
        self.trainer = peer_simclr.PeerTrainer(model_cfg(p), device, lr=0.06, temperature=0.5,
                                               precision="fp32" if fp32 else args.precision,
                                               channels_last=False if fp32 else None, compile=args.peer_compile)

    def run_epoch(self, clock: Clock) -> int:
        return peer_simclr.run_epoch(self.loader, self.trainer, clock.mark, LOG_EVERY)

    def resident_bytes(self) -> int:
        return self.trainer.resident_bytes()

    def helper_cpu_seconds(self) -> float:
        # The persistent DataLoader workers (started by the first epoch's iter()).
        it = getattr(self.loader, "_iterator", None)
        return sum(proc_cpu_seconds(w.pid) for w in getattr(it, "_workers", []) if w.pid)


class ProjheadVariant(Variant):
    """The training loop's own step (trainstate.TrainState, as train.train() drives it): the epoch's
    order of the on-device uint8 images, two Augment views from a per-step seeded generator,
    channels_last on CUDA, the lr schedule and method.train_step, and a host sync for the logged
    loss every LOG_EVERY steps. ready=True is the compute-only ceiling: the same train_step on a
    few pre-augmented batches, cycled."""

    def __init__(self, name: str, cfg: RunConfig, train_x: torch.Tensor, device: torch.device, ready: bool = False):
        self.name = name
        self.state = build_training(cfg, device, train_x)
        st = self.state
        self.ready = [st.views(train_x[i * st.local_bs:(i + 1) * st.local_bs], i) for i in range(min(4, st.steps_per_epoch))] \
            if ready else []

    def run_epoch(self, clock: Clock) -> int:
        st = self.state
        perm = st.start_epoch()
        for es in range(st.steps_per_epoch):
            clock.mark()
            x1, x2 = self.ready[es % len(self.ready)] if self.ready else st.next_views(perm)
            metrics = st.train_step(x1, x2)
            if (es + 1) % LOG_EVERY == 0 or es + 1 == st.steps_per_epoch:
                loss = float(metrics["loss"])
                if not math.isfinite(loss):
                    raise RuntimeError(f"{self.name}: non-finite loss at step {st.prog.step}")
        st.finish_epoch()
        return st.steps_per_epoch

    def resident_bytes(self) -> int:
        st = self.state
        dev = st.device
        n = tensor_bytes(list(st.model.parameters()) + list(st.model.buffers()), dev)
        n += optimizer_bytes(st.optimizer, dev)
        head_opt = getattr(st.method, "head_optimizer", None)
        if head_opt is not None:
            n += optimizer_bytes(head_opt, dev)
        n += tensor_bytes([t for pair in self.ready for t in pair], dev)
        n += tensor_bytes([st.train_x], dev)  # shared by the projhead variants; counted for each
        return n


def model_cfg(p: dict[str, Any]):
    return run_config(p, "joint", "cpu", "auto", False, 0, 1).model


def run_config(p: dict[str, Any], method: str, device: str, precision: str, compile: bool, threads: int, k: int,
               seed: int = 0, epochs: int = 1) -> RunConfig:
    return RunConfig.from_dict({
        "run_id": "bench", "seed": seed,
        "model": {"backbone": p["backbone"], "width": p["width"], "cifar_stem": p["cifar_stem"],
                  "head": {"hidden_dims": list(p["hidden"]), "out_dim": p["out_dim"]}},
        "method": {"name": method, "temperature": 0.5, "bilevel": {"inner_steps": k}},
        "optim": {"name": "sgd", "lr": 0.06, "momentum": 0.9, "weight_decay": 5e-4},
        "train": {"batch_size": p["batch"], "device": device, "precision": precision, "compile": compile,
                  "threads": threads, "epochs": epochs},  # epochs: the lr schedule spans every round
    })


# -- the run --------------------------------------------------------------------------------------

def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def machine_info(device: torch.device) -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu_model": cpu, "cpu_count": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version()}
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_memory_bytes"] = torch.cuda.get_device_properties(device).total_memory
    try:
        info["loadavg_start"] = os.getloadavg()
    except OSError:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="projhead training throughput, side by side (see the module docstring)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help="comma list of " + ", ".join(ALL_VARIANTS))
    ap.add_argument("--n", type=int, default=0, help="images per epoch (default: the preset's)")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=0, help="timed rounds (one epoch per variant each), after 1 warm-up")
    ap.add_argument("--warmup-rounds", type=int, default=1)
    ap.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 16), help="peer DataLoader workers")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads for the main process (0 = default)")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="auto = bf16 on CUDA, fp32 on CPU")
    ap.add_argument("--compile", action="store_true", help="model.compile() for the projhead variants (train.compile)")
    ap.add_argument("--peer-compile", action="store_true", help="also compile the peer's model")
    ap.add_argument("--peer-api", default="v1", choices=["v1", "v2"], help="torchvision.transforms API of the peer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="", help="write the results as JSON here")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    p = dict(PRESETS[args.preset])
    for key in ("n", "batch", "rounds"):
        if getattr(args, key):
            p[key] = getattr(args, key)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in ALL_VARIANTS:
            ap.error(f"--variants: unknown {v!r} (known: {', '.join(ALL_VARIANTS)})")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available")
    setup_process(device, args.threads)
    if args.compile or args.peer_compile:
        # Every variant compiles its own copy of the same modules: allow more cached graphs per
        # code object than the default before dynamo falls back to eager.
        import torch._dynamo as dynamo

        for knob in ("recompile_limit", "cache_size_limit"):
            if hasattr(dynamo.config, knob):
                setattr(dynamo.config, knob, max(64, getattr(dynamo.config, knob)))
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))

    t_setup = time.perf_counter()
    images = peer_simclr.bench_images(p["data"], p["n"], p["size"], seed=args.seed)
    train_x = images.to(device)
    steps_per_epoch = p["n"] // p["batch"]
    if steps_per_epoch < 1:
        ap.error(f"--n {p['n']} is smaller than one batch of {p['batch']}")
    rounds_total = args.warmup_rounds + p["rounds"]
    built: list[Variant] = []
    for name in variants:
        if name in ("peer", "peer_fp32"):
            built.append(PeerVariant(name, images, p, device, args, fp32=name == "peer_fp32"))
            continue
        method, k = {"joint": ("joint", 1), "bilevel_k1": ("bilevel", 1), "bilevel_k5": ("bilevel", 5),
                     "ceiling": ("joint", 1)}[name]
        cfg = run_config(p, method, str(device), args.precision, args.compile, args.threads, k, args.seed, rounds_total)
        built.append(ProjheadVariant(name, cfg, train_x, device, ready=name == "ceiling"))
    say(f"[bench_train] preset {args.preset} on {device}: {len(built)} variants, {p['n']} images/epoch, batch {p['batch']}, "
        f"{steps_per_epoch} steps/epoch, {args.warmup_rounds} warm-up + {p['rounds']} timed rounds "
        f"(set-up {time.perf_counter() - t_setup:.1f} s)")

    clock = Clock(device)
    per: dict[str, dict[str, list[Any]]] = {v.name: {"rate": [], "steps_ms": [], "peak": [], "wall": [], "cpu": []}
                                            for v in built}
    warm_seconds: dict[str, float] = {}
    t_run = time.perf_counter()
    info0 = machine_info(device)

    def run_round(r: int, after_timed_epoch: Callable[[int], None]) -> None:
        """One epoch of every variant; after each timed epoch the results so far are summarised
        (and written): a run cut short by a time limit keeps every epoch it finished."""
        timed = r >= args.warmup_rounds
        order = built[r % len(built):] + built[:r % len(built)]
        for v in order:
            others = 0
            if device.type == "cuda":
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
                others = torch.cuda.memory_allocated(device) - v.resident_bytes()
            clock.start(v.helper_cpu_seconds)
            steps = v.run_epoch(clock)
            wall, step_ms = clock.stop()
            rate = steps * p["batch"] / wall
            if not timed:
                warm_seconds[v.name] = warm_seconds.get(v.name, 0.0) + wall
                say(f"  warm-up  {v.name:<11} {wall:7.2f} s ({rate:8.1f} img/s)")
                continue
            rec = per[v.name]
            rec["rate"].append(rate)
            rec["wall"].append(wall)
            rec["steps_ms"].extend(step_ms)
            rec["cpu"].append(clock.cpu_seconds)
            if device.type == "cuda":
                rec["peak"].append(torch.cuda.max_memory_allocated(device) - others)
            say(f"  round {r - args.warmup_rounds + 1}  {v.name:<11} {wall:7.2f} s ({rate:8.1f} img/s, "
                f"step median {statistics.median(step_ms):.1f} ms)")
            after_timed_epoch(r - args.warmup_rounds + 1)

    def summarize(rounds_done: int) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for v in built:
            rec = per[v.name]
            if not rec["rate"]:
                continue
            ips = statistics.median(rec["rate"])
            results[v.name] = {
                "images_per_sec": ips,
                "images_per_sec_per_round": rec["rate"],
                "step_ms_median": statistics.median(rec["steps_ms"]),
                "step_ms_p90": pct(rec["steps_ms"], 0.9),
                "steps_timed": len(rec["steps_ms"]),
                "peak_memory_bytes": max(rec["peak"]) if rec["peak"] else None,
                "epoch_50k_seconds": 50000.0 / ips,
                "warmup_seconds": warm_seconds.get(v.name),
                # CPU seconds per image (this process's threads + the peer's loader workers): far
                # less sensitive than wall time to other load on a shared machine.
                "cpu_ms_per_image": 1000.0 * statistics.median(c / (w * ips_r) for c, w, ips_r in
                                                                zip(rec["cpu"], rec["wall"], rec["rate"])),
            }

        def round_ratio(a: str, b: str, key: str = "rate") -> dict[str, Any] | None:
            if a not in per or b not in per:
                return None
            rs = [x / y for x, y in zip(per[a][key], per[b][key])]  # rounds both have finished
            return {"median": statistics.median(rs), "per_round": rs} if rs else None

        ratios = {
            # throughput ratios (higher = the first is faster)
            "joint_vs_peer": round_ratio("joint", "peer"),
            "joint_vs_peer_fp32": round_ratio("joint", "peer_fp32"),
            "joint_vs_ceiling": round_ratio("joint", "ceiling"),
            # epoch-time ratios (higher = the first is slower): bilevel cost relative to joint
            "bilevel_k1_time_vs_joint": round_ratio("bilevel_k1", "joint", "wall"),
            "bilevel_k5_time_vs_joint": round_ratio("bilevel_k5", "joint", "wall"),
            # CPU-time ratios per image (higher = the first costs more CPU)
            "joint_cpu_vs_peer": round_ratio("joint", "peer", "cpu"),
            "joint_cpu_vs_ceiling": round_ratio("joint", "ceiling", "cpu"),
            "bilevel_k5_cpu_vs_joint": round_ratio("bilevel_k5", "joint", "cpu"),
        }
        if "bilevel_k5" in results and "joint" in results:
            ratios["bilevel_k5_step_median_vs_joint"] = results["bilevel_k5"]["step_ms_median"] / results["joint"]["step_ms_median"]
        if "bilevel_k1" in results and "joint" in results:
            ratios["bilevel_k1_step_median_vs_joint"] = results["bilevel_k1"]["step_ms_median"] / results["joint"]["step_ms_median"]
        ratios = {k: v for k, v in ratios.items() if v is not None}

        meta = {
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "device": str(device),
            "preset": args.preset,
            "config": {**p, "steps_per_epoch": steps_per_epoch, "warmup_rounds": args.warmup_rounds,
                       "precision": args.precision, "compile": args.compile, "peer_compile": args.peer_compile,
                       "peer_api": args.peer_api, "workers": args.workers,
                       "threads": args.threads or torch.get_num_threads(), "log_every": LOG_EVERY},
            "synthetic_images": p["data"] == "synthetic",
            "run_seconds": time.perf_counter() - t_run,
            "timed_rounds_started": rounds_done,
            **info0,
        }
        try:
            meta["loadavg_end"] = os.getloadavg()
        except OSError:
            pass
        doc = {"meta": meta, "variants": results, "ratios": ratios}
        if args.out:  # rewritten after every timed epoch
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
        return doc

    state: dict[str, Any] = {"doc": {}}
    for r in range(rounds_total):
        run_round(r, lambda done: state.__setitem__("doc", summarize(done)))
    doc = state["doc"]
    print(format_table(doc))
    return 0


def format_table(doc: dict[str, Any]) -> str:
    m = doc["meta"]
    lines = [f"preset {m['preset']} on {m.get('gpu', m['cpu_model'])} ({m['device']}), batch {m['config']['batch']}, "
             f"{m['config']['n']} images/epoch, {m['config']['rounds']} timed rounds, compile={m['config']['compile']}"]
    lines.append(f"{'variant':<12}{'img/s':>10}{'step med ms':>13}{'step p90 ms':>13}{'peak MiB':>10}{'50k epoch s':>13}"
                 f"{'CPU ms/img':>12}")
    for name, r in doc["variants"].items():
        peak = "-" if r["peak_memory_bytes"] is None else f"{r['peak_memory_bytes'] / 2**20:.0f}"
        lines.append(f"{name:<12}{r['images_per_sec']:>10.1f}{r['step_ms_median']:>13.1f}{r['step_ms_p90']:>13.1f}"
                     f"{peak:>10}{r['epoch_50k_seconds']:>13.1f}{r['cpu_ms_per_image']:>12.2f}")
    for k, v in doc["ratios"].items():
        val = v["median"] if isinstance(v, dict) else v
        lines.append(f"  {k:<34} {val:.3f}" + (" (median of per-round ratios)" if isinstance(v, dict) else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
