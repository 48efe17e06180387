"""memory.py's estimates against real peaks: a real training process (trainproc.py) and a real
evaluation process (evaluation/job.py) per image size, each the only child of a small parent
that reports the child's peak RSS (getrusage RUSAGE_CHILDREN). The estimate is never below the
peak and at most 50 % above it, for training and for evaluation, at three image sizes. Cheap on
purpose: the CPU, a small convnet, a batch of 16, two steps, 64 images.

One process's peak RSS is noisy: the same spec on the same 2-core machine has peaked anywhere in
1085-1261 MiB (training at 160 px) and 1123-1405 MiB (evaluating at 256 px), because glibc's
moving mmap threshold decides which freed tensors go back to the system (fixing the threshold
makes the peaks repeat to the MiB but costs 1.8x the step time: docs/BENCHMARKS.md). So each peak
is the largest of REPEATS fresh processes (what an admission check has to cover). The window is
50 %, not 25 %: "never under" is what admission needs, and on top of the process-to-process
spread the base (python, torch) differs between machines by ~10 %: one machine measured
estimate / largest peak 1.03-1.19 with these constants, another 1.26 with 160 MiB less."""
import json
import subprocess
import sys
from concurrent import futures

import pytest

from projhead_worker.common import memory
from projhead_worker.common.config import RunConfig

SIZES = (64, 160, 256)
REPEATS = 3
MAX_OVER = 1.5
PARENT = ("import json, resource, subprocess, sys\n"
          "r = subprocess.run(json.loads(sys.argv[1]), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
          "print(json.dumps([r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, "
          "r.stderr.decode(errors='replace')[-3000:]]))\n")


def _peak(cmd: list[str]) -> int:
    out = subprocess.run([sys.executable, "-c", PARENT, json.dumps(cmd)], capture_output=True, text=True, timeout=600)
    code, rss, err = json.loads(out.stdout)
    assert code == 0, err
    return rss  # Linux: ru_maxrss is in KiB


def _spec(size: int) -> dict:
    return {"run_id": f"px{size}", "data": {"name": "shapes", "synthetic_size": 64, "image_size": size},
            "model": {"backbone": "convnet", "width": 8, "head": {"hidden_dims": [64], "out_dim": 32}},
            "train": {"epochs": 1, "batch_size": 16, "max_steps": 2, "device": "cpu", "precision": "fp32",
                      "knn_every_epochs": 0, "threads": 2, "eval_at_end": False}}


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    root = tmp_path_factory.mktemp("memory")

    def one_sample(size: int, rep: int) -> dict:
        cfg = RunConfig.from_dict(_spec(size))
        run = root / f"{cfg.run_id}-{rep}"  # a fresh run each time: a second one would resume and not train
        run.mkdir()
        (run / "worker-spec.json").write_text(json.dumps(cfg.to_dict()))
        train = _peak([sys.executable, "-m", "projhead_worker.training.trainproc", "--run-dir", str(run)])
        req = {"run_dir": str(run), "checkpoint": str(run / "checkpoints" / "last.pt"), "data": {}, "layers": [],
               "eval": {"probe_max_iter": 1, "knn_k": 5}, "device": "cpu", "data_roots": []}
        evaluation = _peak([sys.executable, "-m", "projhead_worker.training.evaluation.job", json.dumps(req)])
        return {"train": train, "evaluate": evaluation}

    # Two processes at a time: each peak is its own process's (the parent reports its only child).
    jobs = [(size, rep) for rep in range(REPEATS) for size in SIZES]
    with futures.ThreadPoolExecutor(2) as pool:
        samples = list(pool.map(lambda job: one_sample(*job), jobs))
    out = {}
    for size in SIZES:
        cfg = RunConfig.from_dict(_spec(size))
        peaks = {what: [s[what] for (sz, _), s in zip(jobs, samples) if sz == size] for what in ("train", "evaluate")}
        out[size] = {"train": (memory.estimate_run(cfg).total, max(peaks["train"])),
                     "evaluate": (memory.estimate_evaluation(cfg).total, max(peaks["evaluate"]))}
        print(f"\n{size} px: " + ", ".join(f"{k} estimate {e / 2**20:.0f} MiB / peaks "
                                          f"{'/'.join(f'{p / 2**20:.0f}' for p in peaks[k])} MiB = {e / p:.2f}"
                                          for k, (e, p) in out[size].items()), end="")
    print()
    return out


@pytest.mark.parametrize("what", ["train", "evaluate"])
def test_estimates_are_never_under_and_within_half_again_of_the_real_peak(measured, what):
    for size in SIZES:
        est, peak = measured[size][what]
        assert peak <= est <= MAX_OVER * peak, f"{what} at {size} px: estimate {est / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB"
